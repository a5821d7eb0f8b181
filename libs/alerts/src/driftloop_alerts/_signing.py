"""HMAC-SHA256 signatures on webhook bodies, in the form receivers already know from Stripe.

The header is ``X-Driftloop-Signature: t=<unix seconds>,v1=<hex digest>``, the digest being
``HMAC-SHA256(secret, f"{t}.".encode() + body)``. Signing the time with the body lets a
receiver refuse a replay of an old message, not just a forged one::

    if not verify(secret, request.headers[SIGNATURE_HEADER], await request.body()):
        return Response(status_code=400)
"""

from __future__ import annotations

import hashlib
import hmac
import time

from pydantic import SecretStr

SIGNATURE_HEADER = "X-Driftloop-Signature"
ALERT_ID_HEADER = "X-Driftloop-Alert-Id"
DEFAULT_TOLERANCE = 300.0

Secret = SecretStr | str | bytes


def _key(secret: Secret) -> bytes:
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    return secret.encode() if isinstance(secret, str) else secret


def _digest(secret: Secret, timestamp: int, body: bytes) -> str:
    return hmac.new(_key(secret), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: Secret, body: bytes, timestamp: int | None = None) -> str:
    """The signature header's value for ``body`` at ``timestamp`` (now by default)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_digest(secret, t, body)}"


def verify(
    secret: Secret,
    header: str | None,
    body: bytes | str,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """True when ``header`` signs exactly ``body`` with ``secret`` within ``tolerance`` seconds.

    Any ``v1`` in the header may match, so a sender can sign with an old and a new secret
    while receivers rotate. A malformed or missing header is simply not valid.
    """
    if not header:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    raw = body.encode() if isinstance(body, str) else body
    expected = _digest(secret, timestamp, raw)
    # Constant-time, and every candidate is compared, so timing tells nothing about which.
    matches = [hmac.compare_digest(expected, candidate) for candidate in candidates]
    return any(matches)
