"""Alerts to webhooks: real local receivers, signatures, retries, records, and no blocking."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import driftloop_alerts
from driftloop.embedded import free_port
from driftloop_alerts import (
    ALERT_ID_HEADER,
    ALERT_KINDS,
    SIGNATURE_HEADER,
    Alert,
    AlertConfigError,
    Hook,
    Notifier,
    hooks_from_env,
    hooks_from_spec,
    sign,
    verify,
)
from driftloop_alerts._delivery import backoff
from driftloop_spec import ALERT_EVENTS, parse_spec
from driftloop_store import Pool, open_pool, register_stream
from tests.helpers import eventually, running_server

SECRET = "whsec-test-0123456789"


def fast(
    pool: Pool | None, client: httpx.AsyncClient | None = None, queue_size: int = 100
) -> Notifier:
    """A notifier whose waits are short enough for tests: 1 s attempts, backoff 0.05-0.2 s."""
    return Notifier(
        pool,
        client,
        timeout=1.0,
        backoff_base=0.05,
        backoff_cap=0.2,
        queue_size=queue_size,
        drain_timeout=0.5,
    )


# -- a real receiver -------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """Answers POST /hook with the scripted statuses (then 200), or hangs until released."""

    answers: list[int] = field(default_factory=list)
    hang: bool = False
    requests: list[Received] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def hook(self, request: Request) -> Response:
        self.requests.append(
            Received(dict(request.headers), await request.body(), time.monotonic())
        )
        if self.hang:
            await self.release.wait()
        status = self.answers.pop(0) if self.answers else 200
        return Response("bad signature" if status == 400 else "", status_code=status)


@contextlib.asynccontextmanager
async def serving(receiver: Receiver) -> AsyncIterator[str]:
    """The receiver under uvicorn; yields its hook URL."""
    app = Starlette(routes=[Route("/hook", receiver.hook, methods=["POST"])])
    async with running_server(app) as base:
        try:
            yield f"{base}/hook"
        finally:
            receiver.release.set()  # hung requests end, so uvicorn can stop


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    async with open_pool(database_url, max_size=4, migrate=True) as pool:
        async with pool.connection() as conn:
            await register_stream(conn, "orders", {"amount": "float"}, "fraud")
        yield pool


async def rows(pool: Pool) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT kind, stream, url, payload, status, attempts, last_error, delivered_at"
            " FROM alerts ORDER BY id"
        )
        names = [column.name for column in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]


def drift(stream: str | None = "orders") -> Alert:
    return Alert(kind="drift", stream=stream, summary="adwin on amount", details={"p": 0.01})


async def settled(pool: Pool, count: int = 1) -> list[dict[str, Any]]:
    """The rows once ``count`` of them are no longer pending."""

    async def check() -> list[dict[str, Any]] | None:
        found = await rows(pool)
        done = [row for row in found if row["status"] != "pending"]
        return found if len(done) >= count else None

    result: list[dict[str, Any]] = await eventually(check, timeout=30, what="settled alerts")
    return result


# -- delivery to real receivers ---------------------------------------------------------------


async def test_real_receiver_gets_a_correctly_signed_alert(
    pool: Pool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = Receiver()
    alert = drift()
    async with serving(receiver) as url, fast(pool) as notifier:
        assert notifier.notify(alert, [Hook(url=url, secret=SECRET)]) == 1
        [row] = await settled(pool)

    [request] = receiver.requests
    assert verify(SECRET, request.headers[SIGNATURE_HEADER.lower()], request.body)
    assert Alert.parse(request.body) == alert
    assert request.headers[ALERT_ID_HEADER.lower()] == str(alert.id)
    assert request.headers["content-type"] == "application/json"
    assert row["status"] == "delivered"
    assert row["attempts"] == 1
    assert row["delivered_at"] is not None
    assert row["last_error"] is None
    assert (row["kind"], row["stream"], row["url"]) == ("drift", "orders", url)
    assert row["payload"] == json.loads(alert.body())
    assert SECRET not in caplog.text


@pytest.mark.parametrize("status", [500, 503, 408, 429])
async def test_retryable_answers_are_retried_with_backoff_until_delivered(
    pool: Pool, status: int
) -> None:
    receiver = Receiver(answers=[status, status, 200])
    async with serving(receiver) as url, fast(pool) as notifier:
        notifier.notify(drift(), [Hook(url=url, secret=SECRET)])
        [row] = await settled(pool)

    assert row["status"] == "delivered"
    assert row["attempts"] == 3
    assert row["last_error"].startswith(f"HTTP {status}")
    first, second, third = receiver.requests
    # Same alert each time, each signed afresh; waits at least the jitter's lower half.
    assert len({r.headers[ALERT_ID_HEADER.lower()] for r in receiver.requests}) == 1
    assert all(verify(SECRET, r.headers[SIGNATURE_HEADER.lower()], r.body) for r in (first, third))
    assert second.at - first.at >= 0.05 / 2
    assert third.at - second.at >= 0.1 / 2


@pytest.mark.parametrize("status", [400, 401, 404, 410])
async def test_client_errors_fail_at_once_with_the_status_recorded(pool: Pool, status: int) -> None:
    receiver = Receiver(answers=[status])
    async with serving(receiver) as url, fast(pool) as notifier:
        notifier.notify(drift(), [Hook(url=url, secret=SECRET)])
        [row] = await settled(pool)

    assert len(receiver.requests) == 1
    assert (row["status"], row["attempts"], row["delivered_at"]) == ("failed", 1, None)
    assert row["last_error"].startswith(f"HTTP {status}")
    if status == 400:
        assert row["last_error"] == "HTTP 400: bad signature"


async def test_a_dead_hook_blocks_neither_notify_nor_the_other_hooks(pool: Pool) -> None:
    hanging, healthy = Receiver(hang=True), Receiver()
    refused = Hook(url=f"http://127.0.0.1:{free_port()}/hook", secret=SECRET)
    async with serving(hanging) as hanging_url, serving(healthy) as healthy_url:
        hooks = [refused, Hook(url=hanging_url, secret=SECRET), Hook(url=healthy_url)]
        async with fast(pool) as notifier:
            first, second = drift(), drift()
            assert notifier.notify(first, hooks) == 3
            # notify returned before any receiver was even contacted.
            assert hanging.requests == healthy.requests == []

            await eventually(lambda: _got(healthy, first), what="the healthy hook's alert")
            await eventually(lambda: _retrying(pool, hanging_url), what="a timed-out attempt")
            notifier.notify(second, hooks)
            await eventually(lambda: _got(healthy, second), what="the second alert")
            by_url = {
                row["url"]: row for row in await rows(pool) if row["payload"]["id"] == str(first.id)
            }
            assert by_url[hanging_url]["status"] == "pending"
            assert by_url[healthy_url]["status"] == "delivered"
        # stop waited drain_timeout, then recorded what it could not deliver.

    final = await rows(pool)
    assert {row["status"] for row in final if row["url"] == healthy_url} == {"delivered"}
    stuck = [row for row in final if row["url"] == hanging_url]
    assert {row["status"] for row in stuck} == {"failed"}
    assert all("notifier stopped" in row["last_error"] for row in stuck)
    assert any("timed out" in row["last_error"] for row in stuck)
    gone = [row for row in final if row["url"] == refused.url]
    assert {row["status"] for row in gone} == {"failed"}
    assert any("ConnectError" in row["last_error"] for row in gone)


async def _retrying(pool: Pool, url: str) -> bool:
    return any(
        row["url"] == url and row["status"] == "pending" and row["attempts"] >= 1
        for row in await rows(pool)
    )


async def _got(receiver: Receiver, alert: Alert) -> bool:
    return any(Alert.parse(r.body).id == alert.id for r in receiver.requests)


async def test_a_full_queue_drops_and_records_instead_of_waiting(pool: Pool) -> None:
    hanging = Receiver(hang=True)
    async with serving(hanging) as url, fast(pool, queue_size=1) as notifier:
        hook = Hook(url=url, secret=SECRET)
        assert [notifier.notify(drift(), [hook]) for _ in range(3)] == [1, 0, 0]
        dropped = [row for row in await settled(pool, count=2) if row["status"] != "pending"]

    assert [(r["status"], r["attempts"]) for r in dropped] == [("failed", 0)] * 2
    assert all(r["last_error"].startswith("dropped") for r in dropped)


async def test_an_alert_for_an_unregistered_stream_is_still_recorded(pool: Pool) -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(204)))
    async with client, fast(pool, client) as notifier:
        notifier.notify(drift(stream="nobody"), [Hook(url="http://receiver.test/hook")])
        [row] = await settled(pool)

    assert (row["status"], row["stream"], row["payload"]["stream"]) == ("delivered", None, "nobody")


async def test_without_a_store_alerts_are_still_delivered_and_unsigned_hooks_get_no_signature() -> (
    None
):
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    async with client, fast(None, client) as notifier:
        notifier.notify(drift(), [Hook(url="http://receiver.test/hook")])
        await eventually(lambda: _nonempty(seen), what="the request")

    assert SIGNATURE_HEADER not in seen[0].headers
    assert Alert.parse(seen[0].content).kind == "drift"


async def _nonempty(items: list[Any]) -> bool:
    return bool(items)


# -- hooks ----------------------------------------------------------------------------------


async def test_hooks_receive_only_the_kinds_they_want() -> None:
    everything = Hook(url="http://a.test/hook")
    failures = Hook(url="http://b.test/hook", kinds=frozenset({"failure"}))
    notifier = Notifier()  # never started: queued deliveries are recorded as failed at stop
    assert notifier.notify(drift(), [everything, failures]) == 1
    failure = Alert(kind="failure", summary="training crashed")
    assert notifier.notify(failure, [everything, failures, everything]) == 2
    await notifier.stop()


SPEC = """
stream: orders
task: classification
target: fraud
features: {amount: float}
families: [sklearn.random_forest]
alerts:
  - url: http://ops.test/hooks/driftloop
    events: [drift, failure]
    secret_env: ORDERS_WEBHOOK_SECRET
  - url: http://chat.test/hook
"""


def test_hooks_from_a_spec_read_their_secret_from_the_named_variable() -> None:
    signed, unsigned = hooks_from_spec(parse_spec(SPEC, "yaml"), {"ORDERS_WEBHOOK_SECRET": "s3"})
    assert signed.kinds == {"drift", "failure"}
    assert signed.secret is not None and signed.secret.get_secret_value() == "s3"
    assert "s3" not in repr(signed)
    assert unsigned.kinds == set(ALERT_KINDS) and unsigned.secret is None


def test_a_missing_secret_variable_is_named_in_the_error() -> None:
    with pytest.raises(AlertConfigError, match="ORDERS_WEBHOOK_SECRET is not set"):
        hooks_from_spec(parse_spec(SPEC, "yaml"), {})


def test_service_wide_hooks_come_from_the_environment() -> None:
    assert hooks_from_env({}) == ()
    env = {
        "DRIFTLOOP_ALERT_WEBHOOKS": "http://a.test/h, http://b.test/h",
        "DRIFTLOOP_ALERT_SECRET": "shared",
        "DRIFTLOOP_ALERT_EVENTS": "failure,rollback",
    }
    a, b = hooks_from_env(env)
    assert (a.url, b.url) == ("http://a.test/h", "http://b.test/h")
    assert a.kinds == b.kinds == {"failure", "rollback"}
    assert a.secret is not None and a.secret.get_secret_value() == "shared"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DRIFTLOOP_ALERT_WEBHOOKS": "http://a.test/h"}, "DRIFTLOOP_ALERT_SECRET"),
        (
            {"DRIFTLOOP_ALERT_WEBHOOKS": "ftp://tok3n@a.test", "DRIFTLOOP_ALERT_SECRET": "x"},
            "DRIFTLOOP_ALERT_WEBHOOKS: entry 1",
        ),
        (
            {
                "DRIFTLOOP_ALERT_WEBHOOKS": "http://a.test/h",
                "DRIFTLOOP_ALERT_SECRET": "x",
                "DRIFTLOOP_ALERT_EVENTS": "drift,oops",
            },
            "DRIFTLOOP_ALERT_EVENTS: unknown kind oops",
        ),
    ],
)
def test_bad_service_wide_settings_fail_naming_the_variable(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(AlertConfigError, match=named) as caught:
        hooks_from_env(env)
    assert "tok3n" not in str(caught.value)


def test_a_hook_refuses_credentials_in_its_url() -> None:
    with pytest.raises(ValueError, match="credentials"):
        Hook(url="https://user:pw@a.test/hook")


# -- signatures -------------------------------------------------------------------------------


BODY = drift().body()


def test_a_signature_verifies_only_the_exact_body_secret_and_recent_time() -> None:
    now = 1_800_000_000
    header = sign(SECRET, BODY, timestamp=now)
    assert verify(SECRET, header, BODY, now=now + 299)
    assert verify(SECRET, header, BODY.decode(), now=now - 299)
    assert not verify(SECRET, header, BODY.replace(b"orders", b"orderz"), now=now)
    assert not verify("another-secret", header, BODY, now=now)
    assert not verify(SECRET, header, BODY, now=now + 301)
    assert not verify(SECRET, header, BODY, tolerance=10, now=now + 11)
    forged_time = header.replace(f"t={now}", f"t={now + 1}")
    assert not verify(SECRET, forged_time, BODY, now=now)


@pytest.mark.parametrize("header", [None, "", "t=1", "v1=abc", "t=x,v1=abc", "garbage"])
def test_a_missing_or_malformed_signature_does_not_verify(header: str | None) -> None:
    assert not verify(SECRET, header, BODY)


def test_any_listed_signature_may_match_while_secrets_rotate() -> None:
    old, new = sign("old", BODY, 100), sign("new", BODY, 100)
    both = f"{new},{old.split(',')[1]}"
    assert verify("old", both, BODY, now=100)
    assert verify("new", both, BODY, now=100)


# -- the rest ---------------------------------------------------------------------------------


def test_backoff_grows_with_jitter_up_to_the_cap_and_honours_retry_after() -> None:
    for failures, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (10, 60.0), (30, 60.0)]:
        assert ceiling / 2 <= backoff(failures, 0.5, 60.0) <= ceiling
    assert backoff(1, 0.5, 60.0, retry_after=30) == 30
    assert backoff(1, 0.5, 60.0, retry_after=3600) == 60


def test_alert_kinds_are_the_spec_alert_events() -> None:
    assert ALERT_KINDS == ALERT_EVENTS


def test_alerts_parse_from_json_and_ignore_unknown_fields() -> None:
    alert = drift()
    data = {**json.loads(alert.body()), "added_later": 1}
    assert Alert.parse(json.dumps(data)) == alert


def test_the_public_surface_is_exactly_all() -> None:
    public = {name for name in vars(driftloop_alerts) if not name.startswith("_")}
    assert public == set(driftloop_alerts.__all__)
