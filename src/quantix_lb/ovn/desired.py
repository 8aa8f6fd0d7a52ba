"""A load balancer's desired state as the reconciler keeps it between plans.

At 10,000 load balancers of 2 listeners x 10 members the decoded records took
~67 MB of the realizer's heap, yet each is read only when its load balancer is
planned again (a change, its steering, its network, drift). So a load balancer
is kept as its stored document, compressed (~410 bytes instead of ~5.5 KB
decoded), and decoded when planned (~20 us). A document that arrives is not
decoded before its plan: decoding 10,000 at once and dropping them would leave
the heap fragmented. The Init's documents come compressed (`packed`, done by
the parent while the child reads the NB); an offer's is compressed once planned.
What every pass reads (id, revision, network) is kept plain.
"""

from __future__ import annotations

import threading

import zstandard

from quantix_lb import documents, model

Packed = tuple[str, int, str, bytes]  # id, revision, network id, compressed document


def _dictionary() -> bytes:
    """The compressor's preset dictionary: a document of the common shape (two listeners
    on one pool of ten members, as a create stores it), so a compressed document holds
    little but its own ids, names and addresses (~410 bytes at 2 listeners x 10 members,
    ~820 without: 4 MB less in the realizer at 10,000 load balancers). Compressed
    documents live only in memory and the pipe to the realizer, never on disk: the
    dictionary may change with any release, but both ends of the pipe must build the
    same one (no random ids or times here)."""
    zero = "00000000-0000-4000-8000-000000000000"
    members = tuple(
        model.Member(id=f"mem-{zero}", address=f"10.0.0.{i}", port=8080, name="") for i in range(10, 20)
    )
    pool = model.Pool(id=f"pool-{zero}", members=members)
    listeners = tuple(
        model.Listener(id=f"lis-{zero}", protocol=model.Protocol.TCP, port=port, default_pool_id=pool.id)
        for port in (80, 443)
    )
    lb = model.LoadBalancer(
        id=f"lb-{zero}", project_id="", network_id="", vip_address="10.0.0.1", created_at=1796000000.123456,
        updated_at=1796000000.123456, listeners=listeners, pools=(pool,),
    )  # fmt: skip
    return documents.encode(lb)


_ZDICT = _dictionary()
# zstd at level 1 with the dictionary digested once: ~12-20 us a document and ~6 us back,
# a third of zlib's time both ways (level 1, the same dictionary), and ~410 bytes against 520.
# A create packs its document once; a start packs every one (in serve) and unpacks
# every one (the realizer's first full pass).
_ZSTD_DICT = zstandard.ZstdCompressionDict(_ZDICT, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
_ZSTD_DICT.precompute_compress(level=1)
_codecs = threading.local()  # a compressor is not to be shared between threads


def _codec() -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
    try:
        return _codecs.pair
    except AttributeError:
        pair = (
            zstandard.ZstdCompressor(
                level=1, dict_data=_ZSTD_DICT, write_checksum=False, write_dict_id=False
            ),
            zstandard.ZstdDecompressor(dict_data=_ZSTD_DICT),
        )
        _codecs.pair = pair
        return pair


def _compress(doc: bytes) -> bytes:
    # Copied to its own size: zstd's output is a buffer of the worst case (~3.6 KB) shrunk
    # in place, and each kept one left its ~3.2 KB tail as a hole no later buffer fits
    # (+32 MB in the realizer after 10,000 creates; the copy is small, in Python's pools).
    return bytes(memoryview(_codec()[0].compress(doc)))


def _decompress(data: bytes) -> bytes:
    return _codec()[1].decompress(data)


def packed(doc: bytes) -> Packed:
    """A stored document, compressed, with what the reconciler reads of it plain."""
    desired = Desired.of_document(doc)
    desired.pack()
    return desired.id, desired.revision, desired.network_id, desired._doc


class Desired:
    """One load balancer's latest desired revision: a record, a document, or a packed document."""

    __slots__ = ("_doc", "_record", "_zipped", "id", "network_id", "revision")

    def __init__(self, lb: model.LoadBalancer) -> None:
        self.id = lb.id
        self.revision = lb.revision
        self.network_id = lb.network_id
        self._record: model.LoadBalancer | None = lb
        self._doc = b""
        self._zipped = False

    @classmethod
    def _of(cls, lb_id: str, revision: int, network_id: str, doc: bytes, zipped: bool) -> Desired:
        self = cls.__new__(cls)
        self.id, self.revision, self.network_id = lb_id, revision, network_id
        self._record, self._doc, self._zipped = None, doc, zipped
        return self

    @classmethod
    def of_document(cls, doc: bytes) -> Desired:
        """From a stored document (documents.encode's), read only as far as its head."""
        if not documents.is_current(doc):
            return cls(documents.load(doc))  # an older document: upgraded once, here
        head = documents.head(doc)
        return cls._of(head.id, head.revision, head.network_id, doc, False)

    @classmethod
    def of_packed(cls, p: Packed) -> Desired:
        return cls._of(*p, True)

    @property
    def packed(self) -> bool:
        return self._zipped

    def load(self) -> model.LoadBalancer:
        if self._record is not None:
            return self._record
        return documents.load(_decompress(self._doc) if self._zipped else self._doc)

    def pack(self) -> None:
        """Keeps it compressed from now on (idempotent)."""
        if not self._zipped:
            doc = self._doc if self._record is None else documents.encode(self._record)
            self._doc, self._record, self._zipped = _compress(doc), None, True
