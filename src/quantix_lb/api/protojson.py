"""proto3 JSON of the messages we answer with, as json_format writes them, faster.

Hand-written because it is the hot path of every JSON answer: json_format walks
each field through several layers of checks, ~0.5 ms a load balancer of 2
listeners x 10 members (~1.2 ms in REST's style), most of a JSON list's time.
Here each message type gets a plan once (its fields' JSON names, enum names,
how each value converts) and a message is read with ListFields, in C.

Messages with anything outside that plan (32-bit floats, well-known types other
than Timestamp and Empty) go to json_format whole, so the output is always
json_format's (tests/test_protojson.py compares the two).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from typing import Any

from google.protobuf import descriptor, json_format, message

FD = descriptor.FieldDescriptor
_INT64 = frozenset({FD.TYPE_INT64, FD.TYPE_UINT64, FD.TYPE_SINT64, FD.TYPE_FIXED64, FD.TYPE_SFIXED64})
_PLAIN = frozenset(
    {
        FD.TYPE_STRING,
        FD.TYPE_BOOL,
        FD.TYPE_INT32,
        FD.TYPE_UINT32,
        FD.TYPE_SINT32,
        FD.TYPE_FIXED32,
        FD.TYPE_SFIXED32,
    }
)
_FREE_WKT = frozenset({"google.protobuf.Timestamp", "google.protobuf.Empty"})

Convert = Callable[[Any], Any]


def _double(value: float) -> Any:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _bytes(value: bytes) -> str:
    return base64.b64encode(value).decode()


class _Style:
    """One way of writing JSON: field names as in the proto or lowerCamelCase, and
    whether fields without presence are written when they hold their default."""

    def __init__(self, proto_names: bool, always: bool) -> None:
        self.proto_names = proto_names
        self.always = always
        self._plans: dict[str, Plan | None] = {}

    def plan(self, desc: descriptor.Descriptor) -> Plan | None:
        """The message type's plan; None if json_format must write it."""
        name = desc.full_name
        if name not in self._plans:
            self._plans[name] = None  # a recursive type is planned before it is used
            self._plans[name] = Plan.of(self, desc)
        return self._plans[name]

    def to_dict(self, msg: message.Message) -> dict[str, Any]:
        plan = self.plan(msg.DESCRIPTOR)
        if plan is None:
            return json_format.MessageToDict(
                msg,
                preserving_proto_field_name=self.proto_names,
                always_print_fields_with_no_presence=self.always,
            )
        return plan.write(msg)


class Plan:
    """How one message type is written: each field's JSON name and converter, and
    (in the `always` style) the defaults of the fields ListFields leaves out."""

    def __init__(self) -> None:
        self.names: dict[int, tuple[str, Convert]] = {}  # field number -> (JSON name, converter)
        self.defaults: list[tuple[str, Callable[[], Any]]] = []
        self.special: Convert | None = None  # Timestamp, Empty

    @classmethod
    def of(cls, style: _Style, desc: descriptor.Descriptor) -> Plan | None:
        plan = cls()
        if desc.full_name == "google.protobuf.Timestamp":
            plan.special = lambda m: m.ToJsonString()
            return plan
        if desc.full_name == "google.protobuf.Empty":
            plan.special = lambda m: {}
            return plan
        for field in desc.fields:
            convert = _converter(style, field)
            if convert is None:
                return None
            name = field.name if style.proto_names else field.json_name
            plan.names[field.number] = (name, convert)
            if style.always and not field.has_presence:
                plan.defaults.append((name, _default(field)))
        return plan

    def write(self, msg: message.Message) -> Any:
        if self.special is not None:
            return self.special(msg)
        names = self.names
        out = {}
        for field, value in msg.ListFields():
            name, convert = names[field.number]
            out[name] = convert(value)
        for name, default in self.defaults:
            if name not in out:
                out[name] = default()
        return out


def _scalar(style: _Style, field: FD) -> Convert | None:
    t = field.type
    if t in _PLAIN:
        return _same
    if t in _INT64:
        return str
    if t == FD.TYPE_DOUBLE:
        return _double
    if t == FD.TYPE_BYTES:
        return _bytes
    if t == FD.TYPE_ENUM:
        names = {v.number: v.name for v in field.enum_type.values}
        return lambda v: names.get(v, v)
    if t == FD.TYPE_MESSAGE:
        desc = field.message_type
        if desc.full_name.startswith("google.protobuf.") and desc.full_name not in _FREE_WKT:
            return None
        if style.plan(desc) is None:
            return None
        return lambda m: _write(style, m)
    return None  # 32-bit floats: json_format's shortest-float rounding is its own


def _same(value: Any) -> Any:
    return value


def _write(style: _Style, msg: message.Message) -> Any:
    plan = style.plan(msg.DESCRIPTOR)
    assert plan is not None
    return plan.write(msg)


def _converter(style: _Style, field: FD) -> Convert | None:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        entry = field.message_type.fields_by_name
        key_field, value_field = entry["key"], entry["value"]
        value = _scalar(style, value_field)
        if value is None or key_field.type == FD.TYPE_BOOL or key_field.type not in _PLAIN | _INT64:
            return None
        return lambda m: {str(k): value(v) for k, v in m.items()}
    item = _scalar(style, field)
    if item is None:
        return None
    if field.is_repeated:
        if item is _same:
            return list
        return lambda values: [item(v) for v in values]
    return item


def _default(field: FD) -> Callable[[], Any]:
    if field.is_repeated:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            return dict
        return list
    t = field.type
    if t == FD.TYPE_ENUM:
        name = field.enum_type.values_by_number[0].name if 0 in field.enum_type.values_by_number else 0
        return lambda: name
    if t in _INT64:
        return lambda: "0"
    if t == FD.TYPE_STRING or t == FD.TYPE_BYTES:
        return str
    if t == FD.TYPE_BOOL:
        return bool
    if t == FD.TYPE_DOUBLE:
        return float
    return int


CONNECT = _Style(proto_names=False, always=False)  # Connect's JSON: lowerCamelCase, defaults left out
REST = _Style(proto_names=True, always=True)  # the design document's REST: proto names, every field


def connect_dict(msg: message.Message) -> dict[str, Any]:
    return CONNECT.to_dict(msg)


def rest_dict(msg: message.Message) -> dict[str, Any]:
    return REST.to_dict(msg)
