"""The client commands' compact flag syntax, read into the API's messages:
PROTO:PORT[:POOL], NAME[:ALGORITHM], [POOL:]ADDRESS:PORT[:WEIGHT],
TYPE[:KEY=VALUE,...] and KEY=VALUE. Malformed flags are usage errors (exit 2) naming
the flag; what the server judges (port ranges, weights, addresses) it names itself."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import click
from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor

from limiquantix.network.v1 import network_pb2 as lbpb

_ADDRESS = r"\[[^\]]*\]|[^:\[\]]+"  # an IPv4 address or name, or an IPv6 address in brackets
_MEMBER = re.compile(rf"^(?P<address>{_ADDRESS}):(?P<port>[^:]+)(?::(?P<weight>[^:]+))?$")
# Options of a health monitor, split at commas that start the next KEY= (expected_codes=200,202).
_OPTION_SPLIT = re.compile(r",(?=\s*[a-z_]+=)")
_MONITOR_KEYS = tuple(f.name for f in lbpb.HealthMonitor.DESCRIPTOR.fields if f.name not in ("type", "id"))


def enum_value(enum: EnumDescriptor, text: str, what: str) -> int:
    """An enum value by name, any case, '-' for '_' (least-connections)."""
    name = text.strip().upper().replace("-", "_")
    if name not in enum.values_by_name:
        raise click.BadParameter(f"{what} {text!r} is not one of {', '.join(enum.values_by_name)}")
    return enum.values_by_name[name].number


def number(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise click.BadParameter(f"{what} {text!r} is not a whole number") from None


def protocol(text: str) -> int:
    return enum_value(lbpb.Listener.Protocol.DESCRIPTOR, text, "protocol")


def algorithm(text: str) -> int:
    return enum_value(lbpb.Pool.Algorithm.DESCRIPTOR, text, "algorithm")


def listener(text: str) -> tuple[lbpb.Listener, str]:
    """PROTO:PORT[:POOL] -> the listener and the pool it names (or "")."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise click.BadParameter(f"{text!r} is not PROTO:PORT[:POOL], e.g. TCP:80:web")
    result = lbpb.Listener(protocol=protocol(parts[0]), port=number(parts[1], "port"))
    return result, parts[2] if len(parts) == 3 else ""


def pool(text: str) -> lbpb.Pool:
    """NAME[:ALGORITHM]."""
    name, _, alg = text.partition(":")
    if not name:
        raise click.BadParameter(f"{text!r} is not NAME[:ALGORITHM], e.g. web:ROUND_ROBIN")
    return lbpb.Pool(name=name, algorithm=algorithm(alg) if alg else lbpb.Pool.ROUND_ROBIN)


def member(text: str) -> lbpb.PoolMember:
    """ADDRESS:PORT[:WEIGHT], IPv6 in brackets ([fd00::10]:8080)."""
    match = _MEMBER.match(text)
    if not match:
        raise click.BadParameter(f"{text!r} is not ADDRESS:PORT[:WEIGHT], e.g. 10.0.0.10:8080:2")
    result = lbpb.PoolMember(address=match["address"].strip("[]"), port=number(match["port"], "port"))
    if match["weight"] is not None:
        result.weight = number(match["weight"], "weight")
    return result


def split_pool(text: str, form: str) -> tuple[str, str]:
    """POOL:REST -> (POOL, REST)."""
    name, sep, rest = text.partition(":")
    if not (name and sep and rest):
        raise click.BadParameter(f"{text!r} is not {form}")
    return name, rest


def pool_member(text: str) -> tuple[str, lbpb.PoolMember]:
    """POOL:ADDRESS:PORT[:WEIGHT]."""
    name, rest = split_pool(text, "POOL:ADDRESS:PORT[:WEIGHT]")
    return name, member(rest)


def pool_monitor(text: str) -> tuple[str, lbpb.HealthMonitor]:
    """POOL:TYPE[:KEY=VALUE,...]."""
    name, rest = split_pool(text, "POOL:TYPE[:KEY=VALUE,...]")
    return name, health_monitor(rest)


def _option_value(field: FieldDescriptor, key: str, value: str) -> Any:
    if field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        if value.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise click.BadParameter(f"{key}={value!r}: give true or false")
        return value.lower() in ("true", "yes", "1")
    if field.cpp_type == FieldDescriptor.CPPTYPE_STRING:
        return value
    return number(value, key)


def health_monitor(text: str) -> lbpb.HealthMonitor:
    """TYPE[:KEY=VALUE,...]; KEY is a HealthMonitor field (delay, timeout, max_retries, url_path,
    http_method, expected_codes, ...). Fractional delay/timeout seconds set delay_ms/timeout_ms."""
    type_name, _, options = text.partition(":")
    result = lbpb.HealthMonitor(type=enum_value(lbpb.HealthMonitor.Type.DESCRIPTOR, type_name, "type"))
    for option in _OPTION_SPLIT.split(options) if options else ():
        key, sep, value = option.strip().partition("=")
        field = lbpb.HealthMonitor.DESCRIPTOR.fields_by_name.get(key)
        if not sep or key not in _MONITOR_KEYS or field is None:
            raise click.BadParameter(
                f"{option!r} is not KEY=VALUE with KEY one of {', '.join(_MONITOR_KEYS)}"
            )
        if key in ("delay", "timeout") and "." in value:
            try:
                setattr(result, f"{key}_ms", round(float(value) * 1000))
            except ValueError:
                raise click.BadParameter(f"{key} {value!r} is not a number of seconds") from None
            continue
        try:
            setattr(result, key, _option_value(field, key, value))
        except ValueError as exc:  # out of the field's range (negative, above 2**32)
            raise click.BadParameter(f"{key}={value}: {exc}") from None
    return result


def persistence(text: str) -> lbpb.SessionPersistence:
    """TYPE[:TIMEOUT] (SOURCE_IP:600, NONE)."""
    type_name, _, timeout = text.partition(":")
    result = lbpb.SessionPersistence(
        type=enum_value(lbpb.SessionPersistence.Type.DESCRIPTOR, type_name, "persistence")
    )
    if timeout:
        result.timeout = number(timeout, "timeout")
    return result


def label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not (key and sep):
        raise click.BadParameter(f"{text!r} is not KEY=VALUE")
    return key, value


def canonical(address: str) -> str:
    """An IP address as the server stores it (fd00:0::1 -> fd00::1); anything else as it is."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


def address_port(text: str) -> tuple[str, int] | None:
    """ADDRESS:PORT as a member reference, or None when `text` is not one."""
    match = _MEMBER.match(text)
    if not match or match["weight"] is not None or not match["port"].isdigit():
        return None
    return canonical(match["address"].strip("[]")), int(match["port"])


class Spec(click.ParamType):
    """A flag in one of the forms above, converted while click parses (so its errors name the flag)."""

    def __init__(self, name: str, parse: Any) -> None:
        self.name = name
        self._parse = parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self._parse(value)
        except click.BadParameter as exc:
            self.fail(exc.message, param, ctx)
