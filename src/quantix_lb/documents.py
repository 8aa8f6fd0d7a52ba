"""The stored document of a load balancer: compact JSON, its version first.

Kept apart from the store (SQLite) because the realizer's child reads and
writes documents too and needs none of the store's imports.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from quantix_lb import model

DOC_VERSION = 2  # of the stored load balancer documents (see `upgrade`)


def upgrade(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document brought to DOC_VERSION, one step per version.

    1 -> 2: pools belong to the load balancer. A listener held its pool inline
    (`default_pool`); now the load balancer lists its pools and a listener
    names its own by `default_pool_id`. A member's `admin_state` (ONLINE,
    OFFLINE, DRAIN) became the API's two flags, `admin_state_up` and `drain`."""
    version = doc.get("v", 1)
    if version > DOC_VERSION:
        raise ValueError(f"document version {version} is newer than this release ({DOC_VERSION})")
    if version < 2:
        pools = list(doc.get("pools", []))
        listeners = []
        for listener in doc.get("listeners", []):
            listener = dict(listener)
            pool = listener.pop("default_pool", None)
            if pool is not None:
                pools.append({**pool, "members": [_member_v2(m) for m in pool.get("members", [])]})
                listener["default_pool_id"] = pool["id"]
            listeners.append(listener)
        doc = {**doc, "listeners": listeners, "pools": pools}
    return {**doc, "v": DOC_VERSION}


def _member_v2(member: dict[str, Any]) -> dict[str, Any]:
    member = dict(member)
    state = member.pop("admin_state", "ONLINE")
    return {**member, "admin_state_up": state != "OFFLINE", "drain": state == "DRAIN"}


_HEAD = b'{"v":%d,' % DOC_VERSION  # every current document starts so: see `dump`
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(model.LoadBalancer)


def encode(lb: model.LoadBalancer) -> bytes:
    # The version goes first, so `load` can tell a current document by its prefix.
    return _HEAD + _encoder.encode(lb)[1:]


def dump(lb: model.LoadBalancer) -> str:
    return encode(lb).decode()


class Head(msgspec.Struct):
    """What a document says first-hand of its load balancer, read without the rest."""

    id: str
    revision: int
    network_id: str
    provisioning_status: model.ProvisioningStatus = model.ProvisioningStatus.PENDING_CREATE
    status_reason: str = ""


_head = msgspec.json.Decoder(Head)


def head(doc: bytes) -> Head:
    """A document's head: of a current one (see `is_current`) read alone, ~3 us, not
    the ~17 us of `load`; an older one is upgraded whole."""
    if not is_current(doc):
        lb = load(doc)
        return Head(lb.id, lb.revision, lb.network_id, lb.provisioning_status, lb.status_reason)
    return _head.decode(doc)


def is_current(doc: bytes) -> bool:
    """Whether a document is of this version (else `load` upgrades it)."""
    return doc.startswith(_HEAD)


def load(doc: str | bytes) -> model.LoadBalancer:
    raw = doc.encode() if isinstance(doc, str) else doc
    if raw.startswith(_HEAD):
        # Decoded in C straight into the records (unknown keys, such as "v", ignored).
        return _decoder.decode(raw)
    data = json.loads(raw)
    if data.get("v") != DOC_VERSION:
        data = upgrade(data)
    return msgspec.convert(data, model.LoadBalancer)
