"""Who may use the admin API: a bearer token compared in constant time, and who they say they are.

No token configured: 503, the API is off. No ``Authorization: Bearer`` header: 401. A
wrong token: 403. ``AdminGate`` checks before routing, so a refused request is never
parsed and changes nothing; the routes' ``HTTPBearer`` dependency documents the scheme
in OpenAPI and checks again. The token itself is never logged or echoed.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from .metrics import Metrics

logger = logging.getLogger("driftloop.serving.admin")

PREFIX = "/admin"
DISABLED = "admin API disabled: set DRIFTLOOP_ADMIN_TOKEN"
_bearer = HTTPBearer(auto_error=False, description="DRIFTLOOP_ADMIN_TOKEN")

Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
Actor = Annotated[
    str,
    Header(
        alias="X-Driftloop-Actor",
        min_length=1,
        max_length=128,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="Who acts, for the audit trail.",
    ),
]


def refusal(expected: bytes | None, authorization: str | None) -> tuple[int, str] | None:
    """The status and reason to refuse with, or None to let the request through."""
    if expected is None:
        return 503, DISABLED
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return 401, "missing bearer token"
    if not hmac.compare_digest(given.strip().encode(), expected):
        return 403, "wrong token"
    return None


def _expected(token: SecretStr | None) -> bytes | None:
    return token.get_secret_value().encode() if token is not None else None


class AdminGate:
    """Refuse ``/admin`` requests without the token before anything reads them."""

    def __init__(self, app: ASGIApp, token: SecretStr | None, metrics: Metrics) -> None:
        self.app = app
        self._expected = _expected(token)
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        refused = refusal(self._expected, header.decode("latin-1") if header else None)
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, reason = refused
        self._metrics.admin.labels("auth", str(status)).inc()
        if status == 403:
            logger.warning("admin request with a wrong token refused: %s %s", scope["method"], path)
        body = json.dumps({"detail": reason}).encode()
        headers = [(b"content-type", b"application/json")]
        if status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def require_token(token: SecretStr | None) -> Callable[[Credentials], Awaitable[None]]:
    expected = _expected(token)

    async def check(credentials: Credentials) -> None:
        given = f"Bearer {credentials.credentials}" if credentials else None
        refused = refusal(expected, given)
        if refused is not None:
            status, reason = refused
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            raise HTTPException(status, detail=reason, headers=headers)

    return check


async def actor(x_driftloop_actor: Actor = "admin") -> str:
    return x_driftloop_actor
