"""Connect transport: connect-python's generated ASGI app over the dispatcher."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from connectrpc._codec import ProtoJSONCodec
from connectrpc.code import Code as ConnectCode
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from google.protobuf import json_format, message

from limiquantix.network.v1.network_service_connect import LoadBalancerServiceASGIApplication
from quantix_lb.api import jsonbody
from quantix_lb.api.dispatch import Dispatcher, Method, to_status, undecodable
from quantix_lb.errors import ApiError


def to_connect_error(err: ApiError) -> ConnectError:
    return ConnectError(ConnectCode[err.code.name], err.message, details=to_status(err).details)


class _Service:
    """Answers the generated app's `svc.<rpc_name>` lookups from the method table."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher
        self._by_attr = {m.attr: m for m in dispatcher.methods}

    def __getattr__(self, attr: str) -> Callable[..., Any]:
        try:
            method = self._by_attr[attr]
        except KeyError:
            raise AttributeError(attr) from None
        return (self._stream if method.server_streaming else self._unary)(method)

    def _unary(self, method: Method) -> Callable[..., Any]:
        async def call(request: Any, ctx: RequestContext) -> Any:
            try:
                return await self._dispatcher.unary(
                    method, request, ctx.request_headers().get("authorization"), "connect"
                )
            except ApiError as err:
                raise to_connect_error(err) from err

        return call

    def _stream(self, method: Method) -> Callable[..., Any]:
        async def call(request: Any, ctx: RequestContext) -> AsyncIterator[Any]:
            try:
                async for item in self._dispatcher.stream(
                    method, request, ctx.request_headers().get("authorization"), "connect"
                ):
                    yield item
            except ApiError as err:
                raise to_connect_error(err) from err

        return call


class _JsonCodec(ProtoJSONCodec):
    """Connect JSON as the cloud's own Connect server reads it: unknown fields are
    ignored (a newer dashboard must not break an older quantix-lb), and a wrong
    type or enum name is INVALID_ARGUMENT naming the field."""

    def decode(self, data: bytes | bytearray, message: Any) -> Any:
        jsonbody.parse(jsonbody.loads(bytes(data) or b"{}"), message, ignore_unknown=True)
        return message


_JSON = _JsonCodec()


class _App(LoadBalancerServiceASGIApplication):
    """connect-python decodes a unary request before calling the service and answers a
    decode failure as UNKNOWN (HTTP 500); here it is INVALID_ARGUMENT, as on REST and gRPC.
    Its JSON codec is a process-wide default; ours is handed to each request instead."""

    async def _handle_unary_connect(self, http_method: str, headers: Any, codec: Any, *rest: Any) -> None:
        await super()._handle_unary_connect(
            http_method, headers, _JSON if codec.name() == "json" else codec, *rest
        )

    async def _handle_stream(
        self, receive: Any, send: Any, protocol: Any, endpoint: Any, codec: Any, *rest: Any
    ) -> None:
        json = codec.name() == "json"
        await super()._handle_stream(receive, send, protocol, endpoint, _JSON if json else codec, *rest)

    async def _handle_error(self, exc: Exception, ctx: Any, send: Any) -> None:
        if isinstance(exc, ApiError):
            exc = to_connect_error(exc)
        elif isinstance(exc, json_format.ParseError | message.DecodeError | UnicodeDecodeError):
            exc = to_connect_error(undecodable(exc))
        await super()._handle_error(exc, ctx, send)


def app(dispatcher: Dispatcher, read_max_bytes: int) -> LoadBalancerServiceASGIApplication:
    return _App(_Service(dispatcher), read_max_bytes=read_max_bytes)
