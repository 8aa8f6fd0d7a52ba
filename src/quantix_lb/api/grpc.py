"""gRPC transport: a generic handler built from the method table."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf import message

from quantix_lb.api.dispatch import Dispatcher, Method, to_status, undecodable
from quantix_lb.errors import ApiError


def _authorization(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            return value if isinstance(value, str) else value.decode()
    return None


async def _abort(context: grpc.aio.ServicerContext, err: ApiError) -> None:
    await context.abort(
        grpc.StatusCode[err.code.name],
        err.message,
        trailing_metadata=(("grpc-status-details-bin", to_status(err).SerializeToString()),),
    )


class _Undecodable:
    """Stands in for a request whose bytes are not the input message (grpc would answer UNKNOWN)."""

    def __init__(self, error: ApiError) -> None:
        self.error = error


def _decoder(method: Method) -> Callable[[bytes], Any]:
    def decode(data: bytes) -> Any:
        try:
            return method.input.FromString(data)
        except message.DecodeError as exc:
            return _Undecodable(undecodable(exc))

    return decode


def _unary(dispatcher: Dispatcher, method: Method) -> grpc.RpcMethodHandler:
    async def behavior(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            if isinstance(request, _Undecodable):
                raise request.error
            return await dispatcher.unary(method, request, _authorization(context), "grpc")
        except ApiError as err:
            await _abort(context, err)

    return grpc.unary_unary_rpc_method_handler(
        behavior,
        request_deserializer=_decoder(method),
        response_serializer=method.output.SerializeToString,
    )


def _stream(dispatcher: Dispatcher, method: Method) -> grpc.RpcMethodHandler:
    async def behavior(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            if isinstance(request, _Undecodable):
                raise request.error
            async for item in dispatcher.stream(method, request, _authorization(context), "grpc"):
                yield item
        except ApiError as err:
            await _abort(context, err)

    return grpc.unary_stream_rpc_method_handler(
        behavior,
        request_deserializer=_decoder(method),
        response_serializer=method.output.SerializeToString,
    )


def _bidi(dispatcher: Dispatcher, method: Method) -> grpc.RpcMethodHandler:
    async def requests(iterator: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for request in iterator:
            if isinstance(request, _Undecodable):
                raise request.error
            yield request

    async def behavior(iterator: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async for item in dispatcher.stream(method, requests(iterator), _authorization(context), "grpc"):
                yield item
        except ApiError as err:
            await _abort(context, err)

    return grpc.stream_stream_rpc_method_handler(
        behavior,
        request_deserializer=_decoder(method),
        response_serializer=method.output.SerializeToString,
    )


def _handler_for(dispatcher: Dispatcher, method: Method) -> grpc.RpcMethodHandler:
    if method.client_streaming:
        return _bidi(dispatcher, method)
    return (_stream if method.server_streaming else _unary)(dispatcher, method)


def handler(service_name: str, dispatcher: Dispatcher) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        service_name,
        {m.name: _handler_for(dispatcher, m) for m in dispatcher.methods},
    )
