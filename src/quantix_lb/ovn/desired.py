"""A load balancer's desired state as the reconciler keeps it between plans.

At 10,000 load balancers of 2 listeners x 10 members the decoded records took
~67 MB of the realizer's heap, yet each is read only when its load balancer is
planned again (a change, its steering, its network, drift). So a load balancer
is kept as its stored document, compressed (~515 bytes instead of ~5.5 KB
decoded), and decoded when planned (~40 us). A document that arrives is not
decoded before its plan: decoding 10,000 at once and dropping them would leave
the heap fragmented. The Init's documents come compressed (`packed`, done by
the parent while the child reads the NB); an offer's is compressed once planned.
What every pass reads (id, revision, network) is kept plain.
"""

from __future__ import annotations

import zlib

from quantix_lb import documents, model

Packed = tuple[str, int, str, bytes]  # id, revision, network id, compressed document


def _dictionary() -> bytes:
    """zlib's preset dictionary: a document of the common shape (two listeners on one
    pool of ten members, as a create stores it), so a compressed document holds little
    but its own ids, names and addresses (~515 bytes at 2 listeners x 10 members, ~850
    without: 3.3 MB less in the realizer at 10,000 load balancers). Compressed
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
# Primed once, and copied per document: cheaper than a new compressor given the
# dictionary. An 8 KB window (the dictionary and a document) and a small hash keep
# its state (~60 KB) under glibc's mmap threshold: zlib's default state (~260 KB) was
# mapped and unmapped per document, 129 us a document against 55 (and 58 for
# zlib.compress without a dictionary).
_PACKER = zlib.compressobj(1, zlib.DEFLATED, 13, 6, zdict=_ZDICT)


def _compress(doc: bytes) -> bytes:
    packer = _PACKER.copy()
    return packer.compress(doc) + packer.flush()


def _decompress(data: bytes) -> bytes:
    unpacker = zlib.decompressobj(zdict=_ZDICT)
    return unpacker.decompress(data) + unpacker.flush()


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
