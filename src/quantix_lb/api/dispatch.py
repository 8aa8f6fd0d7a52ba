"""The RPC table read from the proto, and the one call path every transport uses.

Authentication, logging and the last-resort error translation are built here
once, so each transport only decodes, calls `unary`/`stream`, and encodes.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import structlog
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor, message, message_factory
from google.rpc import error_details_pb2, status_pb2

from quantix_lb import metrics
from quantix_lb.auth import ALL_ROLES as ROLES
from quantix_lb.auth import Authenticator, Principal
from quantix_lb.errors import ApiError, Code, Violation

log = structlog.get_logger("quantix_lb.rpc")


@dataclass(frozen=True)
class Method:
    name: str  # CreateLoadBalancer
    attr: str  # create_load_balancer: the core's coroutine
    path: str  # /limiquantix.network.v1.LoadBalancerService/CreateLoadBalancer
    input: type[message.Message]
    output: type[message.Message]
    server_streaming: bool
    http: http_pb2.HttpRule | None
    client_streaming: bool = False


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def methods_of(service: descriptor.ServiceDescriptor) -> list[Method]:
    found = []
    for md in service.methods:
        options = md.GetOptions()
        rule = (
            options.Extensions[annotations_pb2.http] if options.HasExtension(annotations_pb2.http) else None
        )
        found.append(
            Method(
                name=md.name,
                attr=snake(md.name),
                path=f"/{service.full_name}/{md.name}",
                input=message_factory.GetMessageClass(md.input_type),
                output=message_factory.GetMessageClass(md.output_type),
                server_streaming=md.server_streaming,
                http=rule,
                client_streaming=md.client_streaming,
            )
        )
    return found


def to_status(err: ApiError) -> status_pb2.Status:
    """google.rpc.Status with BadRequest field violations, as every transport sends it."""
    status = status_pb2.Status(code=err.code.value, message=err.message)
    if err.violations:
        detail = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in err.violations
            ]
        )
        status.details.add().Pack(detail)
    return status


def undecodable(exc: Exception, where: str = "body") -> ApiError:
    """A request that is not the method's input message: bad JSON, wrong types, corrupt bytes."""
    if isinstance(exc, UnicodeDecodeError):
        return ApiError.invalid([Violation(where, "is not valid UTF-8")])
    return ApiError.invalid([Violation(where, str(exc))])


class Dispatcher:
    """`roles`: the roles whose tokens may call this service (a worker token opens
    the worker stream and nothing else)."""

    def __init__(
        self, core: Any, auth: Authenticator, methods: list[Method], roles: tuple[str, ...] = ROLES
    ) -> None:
        self._core = core
        self._auth = auth
        self._roles = roles
        self.methods = methods
        missing = [m.name for m in methods if not hasattr(core, m.attr)]
        if missing:
            raise TypeError(f"service core lacks RPCs: {', '.join(missing)}")

    def _authorize(self, method: Method, authorization: str | None) -> Principal:
        who = self._auth.authenticate(authorization)
        if who.role not in self._roles:
            raise ApiError(Code.PERMISSION_DENIED, f"a {who.role} token may not call {method.name}")
        return who

    async def unary(
        self, method: Method, request: message.Message, authorization: str | None, transport: str
    ) -> message.Message:
        started = time.perf_counter()
        code = "OK"
        try:
            who = self._authorize(method, authorization)
            return await getattr(self._core, method.attr)(request, who)
        except ApiError as err:
            code = err.code.name
            raise
        except Exception as exc:
            code = Code.INTERNAL.name
            log.exception("rpc.crashed", method=method.name, transport=transport)
            raise ApiError(Code.INTERNAL, "internal error") from exc
        finally:
            seconds = time.perf_counter() - started
            metrics.observe_rpc(method.name, transport, code, seconds)
            # Successes are debug: at a thousand calls a second a log line each
            # costs a tenth of the CPU (latency goes to the metrics instead).
            (log.debug if code == "OK" else log.info)(
                "rpc",
                method=method.name,
                transport=transport,
                code=code,
                ms=round(seconds * 1000, 2),
            )

    async def stream(
        self, method: Method, request: Any, authorization: str | None, transport: str
    ) -> AsyncIterator[message.Message]:
        """A server stream; for a bidirectional method `request` is the async
        iterator of the client's messages."""
        code = "OK"
        log.info("rpc.stream_open", method=method.name, transport=transport)
        try:
            who = self._authorize(method, authorization)
            async for item in getattr(self._core, method.attr)(request, who):
                yield item
        except ApiError as err:
            code = err.code.name
            raise
        except Exception as exc:
            code = Code.INTERNAL.name
            log.exception("rpc.crashed", method=method.name, transport=transport)
            raise ApiError(Code.INTERNAL, "internal error") from exc
        finally:
            metrics.count_stream(method.name, transport, code)
            log.info("rpc.stream_closed", method=method.name, transport=transport, code=code)
