"""The one domain error. Transports map it to their wire form at the edge."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Code(enum.Enum):
    """Status codes, named and numbered as in google.rpc.Code."""

    INVALID_ARGUMENT = 3
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    UNAUTHENTICATED = 16


@dataclass(frozen=True)
class Violation:
    """One bad field: `field` is the request's field path, as the client wrote it."""

    field: str
    description: str


class ApiError(Exception):
    def __init__(self, code: Code, message: str, violations: tuple[Violation, ...] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.violations = violations

    @classmethod
    def invalid(cls, violations: list[Violation]) -> ApiError:
        first = violations[0]
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        return cls(Code.INVALID_ARGUMENT, f"{first.field}: {first.description}{more}", tuple(violations))

    @classmethod
    def not_found(cls, kind: str, ident: str) -> ApiError:
        return cls(Code.NOT_FOUND, f"{kind} {ident!r} not found")
