"""JSON request bodies into messages, with errors that name the field.

protobuf's own parser reports the first problem in its own words ("Failed to
parse port field: invalid literal for int() with base 10: 'eighty'"). Here the
JSON is first walked along the message's descriptor, so every wrong type,
unknown enum name and unknown field is reported at its path
(`spec.pools[0].members[1].port: must be a whole number`), all at once;
protobuf's parser then does the conversion.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import descriptor, json_format, message
from google.protobuf.descriptor import FieldDescriptor as F

from quantix_lb.errors import ApiError, Violation
from quantix_lb.model import field_path

_RANGES = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1),
    F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1),
    F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1),
    F.TYPE_SINT64: (-(2**63), 2**63 - 1),
    F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1),
    F.TYPE_FIXED64: (0, 2**64 - 1),
}
_FLOATS = (F.TYPE_DOUBLE, F.TYPE_FLOAT)
_SPECIAL_FLOATS = ("NaN", "Infinity", "-Infinity")
# Types with a JSON form of their own (strings, lists, any value): protobuf checks them.
_WELL_KNOWN = "google.protobuf."


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique: a key given twice is refused, not last-one-wins."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def loads(data: bytes | str, where: str = "body") -> Any:
    try:
        return json.loads(data, object_pairs_hook=_unique_keys)
    except UnicodeDecodeError:
        raise ApiError.invalid([Violation(where, "is not valid UTF-8")]) from None
    except RecursionError:
        raise ApiError.invalid([Violation(where, "is nested too deeply")]) from None
    except ValueError as exc:
        raise ApiError.invalid([Violation(where, f"is not valid JSON: {exc}")]) from None


def parse(
    data: Any, target: message.Message, *, prefix: str = "", ignore_unknown: bool = False
) -> message.Message:
    """Fills `target` from decoded JSON (which it may change: unknown fields are dropped
    when ignored); ApiError INVALID_ARGUMENT names each bad field."""
    problems: list[Violation] = []
    _object(data, target.DESCRIPTOR, prefix, ignore_unknown, problems)
    if problems:
        raise ApiError.invalid(problems)
    try:
        json_format.ParseDict(data, target, ignore_unknown_fields=ignore_unknown)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise ApiError.invalid([Violation(prefix or "body", str(exc))]) from None
    return target


def _object(
    value: Any, desc: descriptor.Descriptor, path: str, ignore_unknown: bool, out: list[Violation]
) -> None:
    if desc.full_name.startswith(_WELL_KNOWN):
        return
    if not isinstance(value, dict):
        out.append(Violation(path or "body", "must be a JSON object"))
        return
    fields = {f.json_name: f for f in desc.fields} | {f.name: f for f in desc.fields}
    for key, item in list(value.items()):
        f = fields.get(key)
        if f is None:
            if ignore_unknown:
                del value[key]  # dropped here: protobuf's own lookup chokes on some keys
            else:
                name = key if _encodable(key) else ascii(key)
                out.append(Violation(field_path(path, name), f"is not a field of {desc.name}"))
            continue
        fpath = field_path(path, f.name)
        if item is None:
            continue  # null: the default
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            if not isinstance(item, dict):
                out.append(Violation(fpath, "must be a JSON object"))
                continue
            value_field = f.message_type.fields_by_name["value"]
            for k, v in item.items():
                _value(v, value_field, f"{fpath}[{k!r}]", ignore_unknown, out)
        elif f.is_repeated:
            if not isinstance(item, list):
                out.append(Violation(fpath, "must be a JSON list"))
                continue
            for i, v in enumerate(item):
                _value(v, f, f"{fpath}[{i}]", ignore_unknown, out)
        else:
            _value(item, f, fpath, ignore_unknown, out)


def _value(value: Any, f: F, path: str, ignore_unknown: bool, out: list[Violation]) -> None:
    t = f.type
    if t == F.TYPE_MESSAGE:
        _object(value, f.message_type, path, ignore_unknown, out)
    elif t == F.TYPE_ENUM:
        if f.enum_type.full_name.startswith(_WELL_KNOWN):
            return
        names = [v.name for v in f.enum_type.values]
        if isinstance(value, str):
            if value not in names:
                out.append(Violation(path, f"unknown value {value!r}; one of {', '.join(names)}"))
        elif isinstance(value, bool) or not isinstance(value, int):
            out.append(Violation(path, f"must be one of {', '.join(names)}"))
    elif t in _RANGES:
        number = _whole(value)
        if number is None:
            out.append(Violation(path, "must be a whole number"))
            return
        low, high = _RANGES[t]
        if not low <= number <= high:
            out.append(Violation(path, f"must be from {low} to {high}"))
    elif t in _FLOATS:
        if isinstance(value, bool) or not (
            isinstance(value, int | float) or (isinstance(value, str) and _is_float(value))
        ):
            out.append(Violation(path, "must be a number"))
    elif t == F.TYPE_BOOL:
        if not isinstance(value, bool):
            out.append(Violation(path, "must be true or false"))
    elif t in (F.TYPE_STRING, F.TYPE_BYTES):
        if not isinstance(value, str):
            out.append(Violation(path, "must be a string"))
        elif not _encodable(value):
            out.append(Violation(path, "must be valid Unicode (no lone surrogates)"))


def _whole(value: Any) -> int | None:
    """A JSON integer (proto3 JSON also allows one in a string, and 1.0)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _is_float(text: str) -> bool:
    if text in _SPECIAL_FLOATS:
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
