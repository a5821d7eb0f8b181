"""``POST /predict`` answered in plain ASGI, before FastAPI sees the request.

FastAPI's request machinery (middleware stack, routing, dependency solving, exit stacks,
exception wrappers) costs several times what the prediction itself does, so the hot
route is served here, with the same body limit, metrics and error shape as every other
route. The FastAPI route of the same path stays for the OpenAPI document, and answers
the same (``Serving.predict``) should a request reach it.
"""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI
from pydantic_core import to_json
from starlette.types import Receive, Scope, Send

from .metrics import Metrics
from .middleware import DRAIN_FACTOR, declared_length, drain
from .rules import Problem
from .service import Serving
from .validation import Invalid

logger = logging.getLogger("driftloop.serving")

PATH = "/predict"
_JSON = [(b"content-type", b"application/json")]


class ServingApp(FastAPI):
    """The FastAPI app, with ``POST /predict`` taken before its middleware stack."""

    predict_endpoint: PredictEndpoint | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.predict_endpoint
        if (
            endpoint is not None
            and scope["type"] == "http"
            and scope["path"] == PATH
            and scope["method"] == "POST"
        ):
            await endpoint(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class PredictEndpoint:
    def __init__(self, serving: Serving, metrics: Metrics, max_bytes: int) -> None:
        self.serving = serving
        self.metrics = metrics
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        answer = await self._answer(scope, receive)
        if answer is None:
            return  # the client left
        status, body = answer
        headers = [*_JSON, (b"content-length", str(len(body)).encode())]
        if status == 413:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.metrics.observe_request(PATH, status, time.perf_counter() - started)

    async def _answer(self, scope: Scope, receive: Receive) -> tuple[int, bytes] | None:
        try:
            request = await self._body(scope, receive)
            if request is None:
                return None
            return 200, to_json(await self.serving.predict(request))
        except Invalid as exc:
            return exc.status, _problem(exc.problem)
        except Exception:
            logger.exception("prediction failed")
            return 500, _problem(Problem("body", "the prediction failed; the error is logged"))

    async def _body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body, or None if the client left; Invalid(413) past the limit."""
        limit, cap = self.max_bytes, DRAIN_FACTOR * self.max_bytes
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            await drain(receive, declared <= cap, cap)
            raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            size += len(chunk)
            if size > limit:
                await drain(receive, more, cap)
                raise _too_large(limit)
            chunks.append(chunk)
            if not more:
                return b"".join(chunks)


def _too_large(limit: int) -> Invalid:
    return Invalid(Problem("body", f"larger than the limit of {limit} bytes"), 413)


def _problem(problem: Problem) -> bytes:
    return to_json({"detail": str(problem), "field": problem.field, "reason": problem.reason})
