"""Request guards: Host header (DNS rebinding), API key, and body size, as ASGI middleware."""

from __future__ import annotations

import json
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assay.server.errors import BodyTooLarge, error_body
from assay.server.metrics import ServerMetrics
from assay.server.settings import ServerSettings

_OPEN_PATHS = {"/health"}


async def _reject(
    send: Send, status: int, message: str, code: str, headers: dict[str, str]
) -> None:
    body = json.dumps(error_body(message, "invalid_request_error", code)).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class GuardMiddleware:
    """Refuses foreign Host headers, missing or wrong API keys, and oversized bodies."""

    def __init__(self, app: ASGIApp, settings: ServerSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if not self.settings.host_allowed(host):
            await _reject(
                send,
                403,
                f"Host '{host}' is not this server's; use http://{self.settings.host}:"
                f"{self.settings.port} or add --allowed-host",
                "host_not_allowed",
                {},
            )
            return
        if self.settings.api_key and scope["path"] not in _OPEN_PATHS:
            given = headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not secrets.compare_digest(given.encode(), self.settings.api_key.encode()):
                await _reject(
                    send,
                    401,
                    "missing or wrong API key; send 'Authorization: Bearer <key>'",
                    "invalid_api_key",
                    {"www-authenticate": "Bearer"},
                )
                return
        length = headers.get("content-length")
        limit = self.settings.max_body_bytes
        if length is not None and length.isdigit() and int(length) > limit:
            await _reject(
                send,
                413,
                f"the request body is larger than {limit} bytes",
                "request_too_large",
                {},
            )
            return
        await self.app(scope, _limited(receive, limit), send)


def _limited(receive: Receive, limit: int) -> Receive:
    """A receive that fails a chunked body once it passes the limit."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return wrapped


class RequestCounter:
    """Counts responses by route template and status for /metrics."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(route, str(status)).inc()
