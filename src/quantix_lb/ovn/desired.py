"""A load balancer's desired state as the reconciler keeps it between plans.

At 10,000 load balancers of 2 listeners x 10 members the decoded records took
~67 MB of the realizer's heap, yet each is read only when its load balancer is
planned again (a change, its steering, its network, drift). So a load balancer
is kept as its stored document, compressed (~850 bytes instead of ~5.5 KB
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
        return documents.load(zlib.decompress(self._doc) if self._zipped else self._doc)

    def pack(self) -> None:
        """Keeps it compressed from now on (idempotent)."""
        if not self._zipped:
            doc = self._doc if self._record is None else documents.encode(self._record)
            self._doc, self._record, self._zipped = zlib.compress(doc, 1), None, True
