"""Journey: batches announced on Kafka -> the drift service under uvicorn -> one alarm.

Two Agrawal streams of the same length go through the real embedded broker and a real
PostgreSQL, stored and announced batch by batch as ingestion does: one whose labelling
rule changes abruptly at record 10 000 of 20 000, one that never changes. The drift
service runs as its app, with the example spec's detectors (ADWIN on errors, Page-Hinkley
on salary). The stated bound: the alarm comes within 250 records of the change (it comes
47 records after it with this seed), and the steady stream raises none.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import uuid4

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker
from psycopg.types.json import Jsonb
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import driftloop_drift
from driftloop.synthetic import FEATURES, Change, records
from driftloop_alerts import SIGNATURE_HEADER, verify
from driftloop_contracts import DriftDetected, RecordsIngested
from driftloop_spec import load_spec
from driftloop_store import migrate, register_stream

from .helpers import eventually, running_server

pytestmark = pytest.mark.journey

LENGTH, CHANGE, BATCH = 20_000, 10_000, 500
# The stated bound: the alarm comes within this many records after the change.
WITHIN = 250
SECRET = "journey-secret"


class Receiver:
    """A webhook receiver that keeps what it was sent."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], bool]] = []

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        signed = verify(SECRET, request.headers.get(SIGNATURE_HEADER), body)
        self.received.append((json.loads(body), signed))
        return Response(status_code=204)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])


async def register(database_url: str, stream: str, hook: str) -> None:
    spec = load_spec("examples/agrawal.yaml").model_dump(mode="json")
    hooks = [{"url": hook, "events": ["drift"], "secret_env": "DRIFT_JOURNEY_SECRET"}]
    spec |= {"stream": stream, "alerts": hooks}
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await migrate(conn)
        await register_stream(conn, stream, FEATURES["agrawal"], "class", spec)


async def ingest(database_url: str, broker: KafkaBroker, stream: str, change: int | None) -> None:
    """Store the stream batch by batch and announce each batch, as ingestion does."""
    rows = list(
        records(stream, "agrawal", LENGTH, seed=7, changes=[Change(change)] if change else None)
    )
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for start in range(0, LENGTH, BATCH):
            batch, batch_id = rows[start : start + BATCH], uuid4()
            async with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY records (stream, record_id, event_time, features, label, batch_id)"
                    " FROM STDIN"
                ) as copy,
            ):
                for row in batch:
                    await copy.write_row(
                        (
                            stream,
                            row["record_id"],
                            datetime.fromisoformat(row["event_time"]),
                            Jsonb(row["features"]),
                            Jsonb(row["label"]),
                            batch_id,
                        )
                    )
            event = RecordsIngested(
                stream=stream,
                batch_id=batch_id,
                stored=len(batch),
                duplicates=0,
                rejected=0,
                labelled=len(batch),
            )
            await broker.publish(event, topic=RecordsIngested.topic, key=stream.encode())


async def published(kafka: str, streams: set[str]) -> list[DriftDetected]:
    """Every DriftDetected on the topic for ``streams``, read from the start to the end."""
    consumer = AIOKafkaConsumer(
        DriftDetected.topic, bootstrap_servers=kafka, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        found: list[DriftDetected] = []
        while batch := await consumer.getmany(timeout_ms=2000):
            for messages in batch.values():
                found += [DriftDetected.parse(m.value) for m in messages if m.value]
        return [event for event in found if event.stream in streams]
    finally:
        await consumer.stop()


def index(record_id: str) -> int:
    return int(record_id.rsplit("-", 1)[1])


@pytest.fixture
async def receiver(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Receiver, str]]:
    monkeypatch.setenv("DRIFT_JOURNEY_SECRET", SECRET)
    receiver = Receiver()
    async with running_server(receiver.app()) as url:
        yield receiver, f"{url}/hook"


async def test_one_abrupt_change_gives_one_alarm_and_a_steady_stream_none(
    kafka: str, database_url: str, receiver: tuple[Receiver, str]
) -> None:
    alerts, hook = receiver
    run = uuid4().hex[:8]  # the broker outlives each test: names must not repeat
    drifting, steady = f"drifting_{run}", f"steady_{run}"
    for stream in (drifting, steady):
        await register(database_url, stream, hook)
    settings = driftloop_drift.Settings(
        kafka_bootstrap_servers=kafka, database_url=SecretStr(database_url), report_delay_seconds=0
    )
    broker = KafkaBroker(kafka)
    await broker.start()
    try:
        async with (
            running_server(driftloop_drift.create_app(settings)) as url,
            httpx.AsyncClient(base_url=url) as client,
        ):
            await asyncio.gather(
                ingest(database_url, broker, drifting, CHANGE),
                ingest(database_url, broker, steady, None),
            )

            async def all_seen() -> bool:
                status = (await client.get("/streams")).json()
                return all(status.get(s, {}).get("records") == LENGTH for s in (drifting, steady))

            async def alerted() -> bool:
                return bool(alerts.received)

            await eventually(all_seen, timeout=180, what="drift to read both streams")
            await eventually(alerted, timeout=30, what="the drift alert")

            async def reported() -> bool:
                async with await psycopg.AsyncConnection.connect(database_url) as conn:
                    cur = await conn.execute(
                        "SELECT 1 FROM drift_events WHERE stream = %s"
                        " AND evidence->'report' ? 'sha256'",
                        (drifting,),
                    )
                    return await cur.fetchone() is not None

            # evidently is built after the alarm, and takes its time to import.
            await eventually(reported, timeout=180, what="the drift report")
            status = (await client.get("/streams")).json()
    finally:
        await broker.stop()

    events = await published(kafka, {drifting, steady})
    assert [e.stream for e in events] == [drifting]
    (event,) = events
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT event_id, evidence, report_uri FROM drift_events WHERE stream = ANY(%s)",
            ([drifting, steady],),
        )
        ((event_id, evidence, report_uri),) = await cur.fetchall()
        cur = await conn.execute(
            "SELECT media_type, size FROM artifacts WHERE sha256 = %s",
            (report_uri.removeprefix("driftloop://artifacts/") if report_uri else "",),
        )
        report = await cur.fetchone()

    alarm_at = index(evidence["alarm_record_id"])
    assert CHANGE <= alarm_at <= CHANGE + WITHIN, f"alarm at record {alarm_at}"
    assert event_id == str(event.event_id)
    assert (event.source, event.detector, event.features) == ("errors", "adwin", ())
    assert event.severity == "high" and event.statistic > 0.2
    assert event.window_start <= event.window_end
    assert abs(index(evidence["change_record_id"]) - CHANGE) <= 50
    assert evidence["errors_of"] == "sentinel"
    assert report is not None and report[0] == "text/html" and report[1] > 0
    assert status[drifting]["alarms"] == 1 and status[steady]["alarms"] == 0
    assert [(a["kind"], a["stream"], signed) for a, signed in alerts.received] == [
        ("drift", drifting, True)
    ]
    # The alarm went out before its report was built; the report's link is on its row.
    assert event.report_uri is None
