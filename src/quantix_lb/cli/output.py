"""What the client commands print: openstack-style ASCII tables for people, proto3 JSON
(snake_case, every field) or YAML of the same for scripts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import click
from google.protobuf import json_format
from google.protobuf.message import Message

FORMATS = ("table", "json", "yaml")
VALUE_WIDTH = 72  # a Field/Value table's long values (status reasons) wrap


def to_dict(message: Message) -> dict[str, Any]:
    """proto3 JSON as REST answers it: snake_case names, fields at their defaults included,
    optional fields left out when unset (a counter nobody measures stays absent)."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], widths: Sequence[int | None] | None = None
) -> str:
    """`widths`: the widest each column may be (longer text wraps)."""
    from tabulate import tabulate

    return tabulate(
        [["" if v is None else v for v in row] for row in rows],
        headers=list(headers),
        tablefmt="pretty",
        stralign="left",
        numalign="left",
        disable_numparse=True,
        maxcolwidths=list(widths) if widths else None,
    )


def field_table(pairs: Iterable[tuple[str, Any]]) -> str:
    return table(("Field", "Value"), pairs, widths=(None, VALUE_WIDTH))


class Output:
    """One command's output format (-o)."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt

    @property
    def is_table(self) -> bool:
        return self.fmt == "table"

    def data(self, data: Any, stream: bool = False) -> None:
        """JSON or YAML of `data` (dicts and lists of to_dict results). `stream`: one item of
        many as they come: a JSON line, or a YAML document."""
        if self.fmt == "json":
            click.echo(json.dumps(data, separators=(",", ":")) if stream else json.dumps(data, indent=2))
        else:
            import yaml

            text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
            click.echo(("---\n" if stream else "") + text, nl=False)

    def message(self, message: Message | Sequence[Message], render: Any = None, stream: bool = False) -> None:
        """A message (or a list of them): `render()`'s text as a table, else its data."""
        if self.is_table:
            click.echo(render() if callable(render) else render)
        elif isinstance(message, Message):
            self.data(to_dict(message), stream)
        else:
            self.data([to_dict(m) for m in message], stream)
