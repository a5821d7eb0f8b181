"""Plain ASGI middleware around the whole app: a body size limit and request metrics.

Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``, which costs a task and a
stream per request on the prediction path.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .metrics import Metrics

# A refused body is still read, up to this many times the limit, before the answer: a
# socket closed with unread bytes is reset, and the reset can swallow the 413.
DRAIN_FACTOR = 16


def declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


async def drain(receive: Receive, more: bool, limit: int) -> None:
    """Read and drop the rest of a refused body, up to ``limit`` bytes."""
    seen = 0
    while more and seen <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        more = message.get("more_body", False)


def too_large(limit: int) -> bytes:
    reason = f"larger than the limit of {limit} bytes"
    return json.dumps({"detail": f"body: {reason}", "field": "body", "reason": reason}).encode()


class BodyLimit:
    """Answer 413 to a body over ``max_bytes``, whether Content-Length says so or the
    streamed body passes the limit; the app never sees more than the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            await drain(receive, declared <= DRAIN_FACTOR * limit, DRAIN_FACTOR * limit)
            await self._refuse(send)
            return
        seen = 0
        started = refused = False

        async def limited_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Answered here; the app sees the client gone and stops reading.
                    refused = True
                    await drain(receive, message.get("more_body", False), DRAIN_FACTOR * limit)
                    if not started:
                        await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:
                raise

    async def _refuse(self, send: Send) -> None:
        body = too_large(self.max_bytes)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class RequestMetrics:
    """Count every answer by route template (not raw path: ids would explode the labels)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def status_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, status_send)
        finally:
            self.metrics.observe_request(_route(scope), status, time.perf_counter() - started)


def _route(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
