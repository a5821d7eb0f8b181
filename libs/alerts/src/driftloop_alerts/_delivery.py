"""One delivery of one alert to one hook: a single HTTP attempt, its verdict, and the backoff.

2xx is delivered. 408, 429, 5xx, timeouts and network errors may pass, so they are retried;
every other answer (4xx, and 3xx since a signed body must not follow a redirect elsewhere)
will not change by asking again, so it fails at once.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Literal

import httpx

from ._alert import Alert
from ._hooks import Hook
from ._signing import ALERT_ID_HEADER, SIGNATURE_HEADER, sign

Status = Literal["pending", "delivered", "failed"]
_RETRYABLE_STATUS = frozenset({408, 429})
_ERROR_TEXT_LIMIT = 200


@dataclass
class Delivery:
    """Mutable progress of one alert to one hook; ``row_id`` is its row in ``alerts``."""

    alert: Alert
    hook: Hook
    body: bytes
    attempts: int = 0
    last_error: str | None = None
    status: Status = "pending"
    row_id: int | None = None


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    retry: bool = False
    error: str | None = None
    retry_after: float | None = None


def headers(delivery: Delivery, timestamp: int) -> dict[str, str]:
    found = {
        "Content-Type": "application/json",
        "User-Agent": "driftloop-alerts",
        ALERT_ID_HEADER: str(delivery.alert.id),
    }
    if delivery.hook.secret is not None:
        found[SIGNATURE_HEADER] = sign(delivery.hook.secret, delivery.body, timestamp)
    return found


async def attempt(client: httpx.AsyncClient, delivery: Delivery, timeout: float) -> Outcome:
    """POST once. Signed afresh each time, so a late retry is not refused as a replay."""
    sent = headers(delivery, int(time.time()))
    try:
        # httpx's timeout bounds each phase; this one bounds the whole attempt, so a
        # receiver that trickles bytes cannot hold the hook's lane indefinitely.
        async with asyncio.timeout(timeout):
            response = await client.post(
                delivery.hook.url, content=delivery.body, headers=sent, timeout=timeout
            )
    except (TimeoutError, httpx.TimeoutException):
        return Outcome(delivered=False, retry=True, error=f"timed out after {timeout:g}s")
    except httpx.UnsupportedProtocol as exc:
        return Outcome(delivered=False, error=f"{type(exc).__name__}: {exc}")
    except httpx.TransportError as exc:
        return Outcome(delivered=False, retry=True, error=f"{type(exc).__name__}: {exc}")
    return verdict(response)


def verdict(response: httpx.Response) -> Outcome:
    status = response.status_code
    if 200 <= status < 300:
        return Outcome(delivered=True)
    # The receiver's own words (often "bad signature") make the record worth reading.
    text = response.text.strip().replace("\n", " ")[:_ERROR_TEXT_LIMIT]
    error = f"HTTP {status}" + (f": {text}" if text else "")
    retry = status >= 500 or status in _RETRYABLE_STATUS
    return Outcome(delivered=False, retry=retry, error=error, retry_after=_retry_after(response))


def backoff(failures: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Seconds before the next attempt after ``failures`` failed ones.

    Exponential, capped, with jitter in its upper half so hooks that failed together do
    not all retry in the same instant, yet every wait still grows. A receiver's
    ``Retry-After`` is honoured up to the cap.
    """
    ceiling = min(cap, base * 2 ** (failures - 1))
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay


def _retry_after(response: httpx.Response) -> float | None:
    # Only the seconds form: the HTTP-date form is rare from webhook receivers.
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None
