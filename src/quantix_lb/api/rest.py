"""REST transport: routes come from the proto's google.api.http rules.

A path template becomes a Starlette route; the body and path/query parameters
become the request message through protobuf's own JSON mapping, so a new RPC
with an http rule needs nothing here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from google.protobuf import empty_pb2, json_format
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from quantix_lb import metrics
from quantix_lb.api import jsonbody, protojson
from quantix_lb.api.dispatch import Dispatcher, Method, to_status
from quantix_lb.auth import Authenticator
from quantix_lb.errors import ApiError, Code, Violation

HTTP_STATUS = {
    Code.INVALID_ARGUMENT: 400,
    Code.UNAUTHENTICATED: 401,
    Code.PERMISSION_DENIED: 403,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.ABORTED: 409,
    Code.FAILED_PRECONDITION: 412,
    Code.RESOURCE_EXHAUSTED: 413,
    Code.UNIMPLEMENTED: 405,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
}
_VERBS = ("get", "put", "post", "delete", "patch")


def error_response(err: ApiError) -> Response:
    status = to_status(err)
    body = {
        "code": err.code.name,
        "message": err.message,
        "details": [json_format.MessageToDict(d, preserving_proto_field_name=True) for d in status.details],
    }
    # ASCII-escaped: a client's text echoed in a message (a lone surrogate, say) still encodes.
    return Response(json.dumps(body), HTTP_STATUS.get(err.code, 500), media_type="application/json")


def to_json(message: Any) -> dict[str, Any]:
    """json_format's dict with proto field names and every field (protojson.REST)."""
    return protojson.rest_dict(message)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(Code.RESOURCE_EXHAUSTED, f"request body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(Code.RESOURCE_EXHAUSTED, f"request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(method: Method, request: Request, body: bytes) -> Any:
    msg = method.input()
    rule = method.http
    assert rule is not None
    if rule.body:
        target = msg if rule.body == "*" else getattr(msg, rule.body)
        prefix = "" if rule.body == "*" else rule.body
        jsonbody.parse(jsonbody.loads(body or b"{}", prefix or "body"), target, prefix=prefix)
    elif body.strip():
        raise ApiError.invalid([Violation("body", "this method takes no request body")])
    params: dict[str, Any] = {} if rule.body == "*" else dict(request.query_params)
    params.update(request.path_params)
    # Path and query values are strings; the walk says which field would not take one.
    merged = method.input()
    jsonbody.parse(params, merged)
    msg.MergeFrom(merged)
    return msg


def _endpoint(dispatcher: Dispatcher, by_verb: dict[str, Method], limit: int) -> Any:
    """One path template's endpoint: each HTTP verb is an RPC."""

    async def endpoint(request: Request) -> Response:
        verb = request.method.lower()
        method = by_verb["get" if verb == "head" else verb]  # Starlette adds HEAD to GET
        try:
            msg = _parse(method, request, await _read_body(request, limit))
            reply = await dispatcher.unary(method, msg, request.headers.get("authorization"), "rest")
        except ApiError as err:
            return error_response(err)
        if isinstance(reply, empty_pb2.Empty):
            return Response(status_code=204)
        return JSONResponse(to_json(reply), status_code=201 if verb == "post" else 200)

    return endpoint


def routes(dispatcher: Dispatcher, limit: int) -> list[BaseRoute]:
    by_template: dict[str, dict[str, Method]] = {}
    for method in dispatcher.methods:
        if method.http is None or method.server_streaming:
            continue
        verb = method.http.WhichOneof("pattern")
        if verb not in _VERBS:
            raise ValueError(f"{method.name}: unsupported http pattern {verb}")
        template = getattr(method.http, verb)
        if "=" in template or "*" in template:
            raise ValueError(f"{method.name}: only simple {{field}} path variables are supported")
        by_template.setdefault(template, {})[verb] = method
    # One route per path, so a verb it lacks answers 405 naming every verb it has.
    return [
        Route(template, _endpoint(dispatcher, verbs, limit), methods=[v.upper() for v in verbs])
        for template, verbs in by_template.items()
    ]


def metrics_route(auth: Authenticator) -> Route:
    """GET /metrics, Prometheus text format. With auth on it takes an admin token."""

    async def endpoint(request: Request) -> Response:
        # On the event loop: the callback gauges read state the loop owns.
        try:
            if not auth.authenticate(request.headers.get("authorization")).admin:
                raise ApiError(Code.PERMISSION_DENIED, "/metrics needs an admin token")
        except ApiError as err:
            return error_response(err)
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    return Route("/metrics", endpoint, methods=["GET"])


def healthz_route(ready: Callable[[], dict[str, Any]]) -> Route:
    """GET /healthz: 200 while the service serves (the cloud's dashboard checks it
    before it lists anything); the body says what the service is connected to."""

    async def endpoint(request: Request) -> Response:
        return JSONResponse({"status": "SERVING", **ready()})

    return Route("/healthz", endpoint, methods=["GET"])


def readyz_route(readiness: Callable[[], tuple[bool, dict[str, Any]]]) -> Route:
    """GET /readyz: 200 when the service can do its work (store open, Northbound read,
    health workers connected), else 503; the body says what is and is not ready."""

    async def endpoint(request: Request) -> Response:
        ready, parts = readiness()
        return JSONResponse({"ready": ready, **parts}, status_code=200 if ready else 503)

    return Route("/readyz", endpoint, methods=["GET"])


async def http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer JSON like every other error."""
    assert isinstance(exc, HTTPException)
    code = {404: Code.NOT_FOUND, 405: Code.UNIMPLEMENTED}.get(exc.status_code, Code.INVALID_ARGUMENT)
    response = error_response(ApiError(code, f"{request.method} {request.url.path}: {exc.detail}"))
    response.status_code = exc.status_code
    if exc.headers:
        response.headers.update(exc.headers)
    return response
