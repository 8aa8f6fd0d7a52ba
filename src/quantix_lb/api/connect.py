"""Connect transport: connect-python's generated ASGI app over the dispatcher."""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from connectrpc._codec import ProtoBinaryCodec, ProtoJSONCodec
from connectrpc.code import Code as ConnectCode
from connectrpc.compression.gzip import GzipCompression
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from google.protobuf import json_format
from google.protobuf import message as message_

from limiquantix.network.v1.network_service_connect import LoadBalancerServiceASGIApplication
from quantix_lb.api import jsonbody, protojson
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


def _invalid(exc: Exception, where: str = "body") -> ConnectError:
    return to_connect_error(exc if isinstance(exc, ApiError) else undecodable(exc, where))


class _JsonCodec(ProtoJSONCodec):
    """Connect JSON as the cloud's own Connect server reads it: unknown fields are
    ignored (a newer dashboard must not break an older quantix-lb), and a wrong
    type or enum name is INVALID_ARGUMENT naming the field. Written compact, by
    protojson (json_format's indented text costs ~1.7 ms a load balancer)."""

    def encode(self, message: Any) -> bytes:
        return json.dumps(protojson.connect_dict(message), separators=(",", ":"), ensure_ascii=False).encode()

    def decode(self, data: bytes | bytearray, message: Any) -> Any:
        try:
            jsonbody.parse(jsonbody.loads(bytes(data) or b"{}"), message, ignore_unknown=True)
        except ApiError as err:  # a ConnectError, so a stream ends with it too
            raise _invalid(err) from None
        return message


class _ProtoCodec(ProtoBinaryCodec):
    def decode(self, data: bytes | bytearray, message: Any) -> Any:
        try:
            return super().decode(data, message)
        except message_.DecodeError as exc:
            raise _invalid(exc) from None


class _Gzip(GzipCompression):
    def decompress(self, data: bytes | bytearray | memoryview) -> bytes:
        try:
            return super().decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise _invalid(ValueError(f"is not valid gzip: {exc}")) from None


# Connect-python's codecs and compressions are process-wide defaults; ours are handed to
# each request instead, so a bad body is INVALID_ARGUMENT on unary and stream alike.
_CODECS = {"json": _JsonCodec(), "proto": _ProtoCodec()}


class _App(LoadBalancerServiceASGIApplication):
    """connect-python answers a body it cannot decode, or a gRPC content type it cannot
    serve over ASGI, as UNKNOWN (HTTP 500); here they are client errors, as on REST."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            content_type = dict(scope.get("headers", ())).get(b"content-type", b"").decode("latin-1")
            if content_type.lower().startswith("application/grpc"):
                await _refuse_grpc(send, content_type)
                return
        await super().__call__(scope, receive, send)

    async def _handle_unary_connect(self, http_method: str, headers: Any, codec: Any, *rest: Any) -> None:
        await super()._handle_unary_connect(http_method, headers, _CODECS.get(codec.name(), codec), *rest)

    async def _handle_stream(
        self, receive: Any, send: Any, protocol: Any, endpoint: Any, codec: Any, *rest: Any
    ) -> None:
        await super()._handle_stream(
            receive, send, protocol, endpoint, _CODECS.get(codec.name(), codec), *rest
        )

    async def _handle_error(self, exc: Exception, ctx: Any, send: Any) -> None:
        if isinstance(exc, ApiError):
            exc = to_connect_error(exc)
        elif isinstance(exc, json_format.ParseError | message_.DecodeError | UnicodeDecodeError):
            exc = _invalid(exc)
        elif isinstance(exc, ConnectError) and exc.code is ConnectCode.UNIMPLEMENTED:
            # An encoding we do not speak is the client's to change (415, not 501).
            exc = ConnectError(ConnectCode.INVALID_ARGUMENT, exc.message)
        await super()._handle_error(exc, ctx, send)


async def _refuse_grpc(send: Any, content_type: str) -> None:
    body = json.dumps(
        {"code": "invalid_argument", "message": f"{content_type}: gRPC is served on the gRPC port, not here"}
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"accept-post", b"application/json, application/proto"),
    ]
    await send({"type": "http.response.start", "status": 415, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def app(dispatcher: Dispatcher, read_max_bytes: int) -> LoadBalancerServiceASGIApplication:
    return _App(_Service(dispatcher), read_max_bytes=read_max_bytes, compressions=[_Gzip()])
