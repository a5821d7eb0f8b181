"""The drift service's handlers on FastStream's in-memory broker and a real PostgreSQL.

The evidently report is replaced by a fake passed in, so these stay fast; the journey
test builds real reports.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from psycopg.types.json import Jsonb
from pydantic import SecretStr

from driftloop.synthetic import FEATURES, Change, records
from driftloop_contracts import (
    DriftDetected,
    FeedbackReceived,
    PredictionLogged,
    RecordsIngested,
)
from driftloop_drift import Settings, store
from driftloop_drift.handlers import create_router
from driftloop_drift.report import Windows
from driftloop_drift.service import Drift
from driftloop_learn import Dataset, Row
from driftloop_runtime import Resources
from driftloop_spec import ExperimentSpec, load_spec
from driftloop_store import put_artifact, register_stream

CHANGE, LENGTH = 1500, 3000


@dataclass
class FakeReports:
    """Renders a tiny page, or fails when told to; keeps what it was asked to compare.
    While ``hold`` is clear a render waits for it (at most ``HOLD_SECONDS``), as a slow
    evidently would."""

    fail: bool = False
    asked: list[Windows] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)
    done: int = 0

    def __post_init__(self) -> None:
        self.hold.set()

    def render(self, windows: Windows, spec: ExperimentSpec) -> bytes:
        self.asked.append(windows)
        self.hold.wait(HOLD_SECONDS)
        self.done += 1
        if self.fail:
            raise RuntimeError("evidently fell over")
        return f"<html>{spec.stream}: {len(windows.current)} rows</html>".encode()


HOLD_SECONDS = 10.0


@dataclass
class Harness:
    broker: Any
    drift: Drift
    database_url: str
    reports: FakeReports
    published: list[DriftDetected]

    async def register(self, stream: str, *, spec: bool = True) -> None:
        text = load_spec("examples/agrawal.yaml").model_dump(mode="json")
        text |= {"stream": stream, "alerts": []}
        async with await psycopg.AsyncConnection.connect(self.database_url) as conn:
            await register_stream(
                conn, stream, FEATURES["agrawal"], "class", text if spec else None
            )

    async def store(self, stream: str, rows: Iterable[dict[str, Any]]) -> RecordsIngested:
        """Store rows as one batch, as ingestion does, and return its announcement."""
        batch_id, rows = uuid4(), list(rows)
        async with (
            await psycopg.AsyncConnection.connect(self.database_url) as conn,
            conn.cursor() as cur,
        ):
            await cur.executemany(
                "INSERT INTO records (stream, record_id, event_time, features, label,"
                " batch_id) VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    (
                        stream,
                        r["record_id"],
                        datetime.fromisoformat(r["event_time"]),
                        Jsonb(r["features"]),
                        Jsonb(r["label"]) if r["label"] is not None else None,
                        batch_id,
                    )
                    for r in rows
                ],
            )
        return ingested(stream, batch_id, len(rows))

    async def publish(self, event: Any, topic: str | None = None) -> None:
        await self.broker.publish(event, topic=topic or event.topic)

    async def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        async with await psycopg.AsyncConnection.connect(self.database_url) as conn:
            return await (await conn.execute(sql, params)).fetchall()


def ingested(stream: str, batch_id: UUID, count: int) -> RecordsIngested:
    return RecordsIngested(
        stream=stream, batch_id=batch_id, stored=count, duplicates=0, rejected=0, labelled=count
    )


def agrawal(stream: str, change: int | None = CHANGE) -> list[dict[str, Any]]:
    return list(
        records(stream, "agrawal", LENGTH, seed=7, changes=[Change(change)] if change else None)
    )


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    settings = Settings(database_url=SecretStr(database_url), report_delay_seconds=0)
    resources, reports = Resources(settings), FakeReports()
    drift = Drift(settings, render=reports.render)
    broker = KafkaBroker()
    broker.include_router(create_router(resources, drift))
    published: list[DriftDetected] = []

    @broker.subscriber(DriftDetected.topic)
    async def collect(event: DriftDetected) -> None:
        published.append(event)

    await resources.start()
    await drift.start()
    try:
        async with TestKafkaBroker(broker) as test_broker:
            yield Harness(test_broker, drift, database_url, reports, published)
    finally:
        await drift.stop()
        await resources.stop()


async def test_a_batch_with_a_change_publishes_one_alarm_stored_with_its_report(
    harness: Harness,
) -> None:
    await harness.register("agrawal")
    rows = agrawal("agrawal")
    for start in range(0, LENGTH, 1000):
        await harness.publish(await harness.store("agrawal", rows[start : start + 1000]))

    await harness.drift.settle()

    (event,) = harness.published
    assert (event.stream, event.source, event.detector) == ("agrawal", "errors", "adwin")
    ((event_id, evidence, uri),) = await harness.query(
        "SELECT event_id, evidence, report_uri FROM drift_events"
    )
    assert event_id == str(event.event_id)
    assert evidence["alarm_record_id"] == "agrawal-000001567"
    ((media_type, html),) = await harness.query(
        "SELECT media_type, bytes FROM artifacts WHERE sha256 = %s",
        uri.removeprefix("driftloop://artifacts/"),
    )
    (windows,) = harness.reports.asked
    assert media_type == "text/html" and bytes(html).startswith(b"<html>agrawal: ")
    assert evidence["report"] == {"sha256": uri[-64:], **windows.summary()}
    assert windows.kind == "before_change"
    assert len(windows.current) == evidence["values_after"]
    assert harness.drift.status()["agrawal"] == {
        "records": LENGTH,
        "alarms": 1,
        "watching": ["errors:adwin:sentinel", "features:page_hinkley:salary"],
    }


async def test_a_redelivered_batch_is_fed_once(harness: Harness) -> None:
    await harness.register("agrawal")
    batch = await harness.store("agrawal", agrawal("agrawal")[:500])

    await harness.publish(batch)
    await harness.publish(batch)

    assert harness.drift.status()["agrawal"]["records"] == 500


async def test_a_failed_report_still_raises_the_alarm_without_a_link(harness: Harness) -> None:
    harness.reports.fail = True
    await harness.register("agrawal")

    await harness.publish(await harness.store("agrawal", agrawal("agrawal")))
    await harness.drift.settle()

    (event,) = harness.published
    assert event.report_uri is None
    ((evidence, uri),) = await harness.query("SELECT evidence, report_uri FROM drift_events")
    assert uri is None
    assert evidence["report"] == {"error": "RuntimeError: evidently fell over"}


async def test_the_alarm_goes_out_before_its_slow_report_is_built(harness: Harness) -> None:
    harness.reports.hold.clear()  # evidently is still at work
    await harness.register("agrawal")

    await harness.publish(await harness.store("agrawal", agrawal("agrawal")))

    (event,) = harness.published
    assert harness.reports.done == 0, "the alarm waited for its report"
    ((evidence, uri),) = await harness.query("SELECT evidence, report_uri FROM drift_events")
    assert (event.report_uri, uri, evidence["report"]) == (None, None, {"pending": True})
    harness.reports.hold.set()
    await harness.drift.settle()
    ((evidence, uri),) = await harness.query("SELECT evidence, report_uri FROM drift_events")
    assert uri is not None and evidence["report"]["sha256"] == uri[-64:]


async def test_a_report_the_service_stopped_before_building_says_so(harness: Harness) -> None:
    harness.reports.hold.clear()  # evidently is still at work when the service stops
    await harness.register("agrawal")
    await harness.publish(await harness.store("agrawal", agrawal("agrawal")))

    await harness.drift.stop()
    harness.reports.hold.set()

    ((evidence, uri),) = await harness.query("SELECT evidence, report_uri FROM drift_events")
    assert uri is None
    assert evidence["report"] == {"error": "not built: the drift service stopped first"}


async def test_the_report_reads_labels_given_as_feedback(harness: Harness) -> None:
    await harness.register("agrawal")
    rows = agrawal("agrawal")[:100]
    await harness.store("agrawal", [{**r, "label": None} for r in rows])
    for r in rows[50:]:
        feedback = FeedbackReceived(stream="agrawal", record_id=r["record_id"], label=r["label"])
        await harness.publish(feedback)

    async with await psycopg.AsyncConnection.connect(harness.database_url) as conn:
        windows = await store.report_windows(
            conn,
            "agrawal",
            change=rows[50]["record_id"],
            alarm=rows[99]["record_id"],
            champion=None,
            rows=5000,
        )

    assert [y for _, y in windows.current] == [r["label"] for r in rows[99:49:-1]]
    assert [y for _, y in windows.reference] == [None] * 50


async def test_a_message_that_is_no_event_is_skipped_and_the_next_is_read(
    harness: Harness,
) -> None:
    await harness.register("agrawal")
    batch = await harness.store("agrawal", agrawal("agrawal")[:100])

    await harness.publish(b"{not json", topic=RecordsIngested.topic)
    await harness.publish(batch)

    assert harness.drift.status()["agrawal"]["records"] == 100


async def test_streams_without_a_spec_or_unregistered_are_not_watched(harness: Harness) -> None:
    await harness.register("bare", spec=False)
    await harness.publish(await harness.store("bare", agrawal("bare")[:100]))
    await harness.publish(ingested("nobody", uuid4(), 100))

    assert harness.drift.status() == {}
    assert harness.published == []


async def test_the_champions_predictions_joined_to_feedback_raise_the_alarm(
    harness: Harness,
) -> None:
    await harness.register("agrawal")
    for i, row in enumerate(agrawal("agrawal", change=None)):
        # The champion is right until the change, then wrong one time in two.
        label = row["label"]
        wrong = i >= CHANGE and i % 2 == 0
        await harness.publish(
            PredictionLogged(
                stream="agrawal",
                record_id=row["record_id"],
                model_id="m-1",
                model_version=1,
                features=row["features"],
                prediction=1 - label if wrong else label,
            )
        )
        await harness.publish(
            FeedbackReceived(stream="agrawal", record_id=row["record_id"], label=label)
        )

    (event,) = harness.published
    assert (event.source, event.model_id) == ("errors", "m-1")
    ((evidence,),) = await harness.query("SELECT evidence FROM drift_events")
    assert (evidence["errors_of"], evidence["alarm_record_id"]) == ("m-1", "agrawal-000001535")


async def test_the_report_on_the_champions_errors_holds_the_records_from_change_to_alarm(
    harness: Harness,
) -> None:
    # Records come unlabelled; labels come later as feedback, as in production.
    await harness.register("agrawal")
    rows = agrawal("agrawal", change=None)
    await harness.store("agrawal", [{**r, "label": None} for r in rows])
    for i, row in enumerate(rows):
        wrong = i >= CHANGE and i % 2 == 0
        await harness.publish(
            PredictionLogged(
                stream="agrawal",
                record_id=row["record_id"],
                model_id="m-1",
                model_version=1,
                features=row["features"],
                prediction=1 - row["label"] if wrong else row["label"],
            )
        )
        await harness.publish(
            FeedbackReceived(stream="agrawal", record_id=row["record_id"], label=row["label"])
        )
    await harness.drift.settle()

    ((evidence,),) = await harness.query("SELECT evidence FROM drift_events")
    first, last = (
        int(evidence[k].rsplit("-", 1)[1]) for k in ("change_record_id", "alarm_record_id")
    )
    (windows,) = harness.reports.asked
    assert [y for _, y in windows.current] == [r["label"] for r in rows[last : first - 1 : -1]]
    assert evidence["report"]["current_rows"] == last - first + 1


async def test_with_a_champion_the_report_compares_against_its_training_window(
    harness: Harness,
) -> None:
    await harness.register("agrawal")
    rows = agrawal("agrawal")
    await harness.store("agrawal", rows[:100])
    # The champion learned from rows 60..89: its snapshot, stored as its experiment took it.
    snapshot = Dataset.of(
        Row(r["record_id"], i, r["features"], r["label"]) for i, r in enumerate(rows[60:90])
    )
    async with await psycopg.AsyncConnection.connect(harness.database_url) as conn:
        digest = await put_artifact(conn, snapshot.to_bytes())
        for sql in CHAMPION_WITH_SNAPSHOT:
            await conn.execute(sql.replace("SNAPSHOT", digest))
        windows = await store.report_windows(
            conn,
            "agrawal",
            change=rows[90]["record_id"],
            alarm=rows[99]["record_id"],
            champion="m-1",
            rows=5000,
        )
        await conn.execute("DELETE FROM serving_history")
        fallback = await store.report_windows(
            conn,
            "agrawal",
            change=rows[90]["record_id"],
            alarm=rows[99]["record_id"],
            champion=None,
            rows=5000,
        )

    assert windows.kind == "champion_training_window"
    assert [x for x, _ in windows.reference] == [r["features"] for r in rows[89:59:-1]]
    assert len(windows.current) == 10
    assert (fallback.kind, len(fallback.reference), len(fallback.current)) == (
        "before_change",
        90,
        10,
    )


CHAMPION_WITH_SNAPSHOT = [
    "INSERT INTO snapshots (hash, stream, window_definition, row_count)"
    " VALUES ('SNAPSHOT', 'agrawal', '{\"last_labelled\": 30}', 30)",
    "INSERT INTO experiments (id, stream, trigger, spec, budget_trials, budget_seconds,"
    " status, snapshot_hash, requested_by) VALUES ('e-1', 'agrawal', 'manual', '{}', 1, 60,"
    " 'completed', 'SNAPSHOT', 'test')",
    f"INSERT INTO artifacts (sha256, bytes, size) VALUES ('{'a' * 64}', 'm', 1)",
    "INSERT INTO trials (id, experiment_id, family, seed) VALUES ('t-1', 'e-1', 'f', 0)",
    "INSERT INTO models (id, stream, version, trial_id, artifact_sha256, family)"
    f" VALUES ('m-1', 'agrawal', 1, 't-1', '{'a' * 64}', 'f')",
    "INSERT INTO serving_history (stream, model_id, reason, actor)"
    " VALUES ('agrawal', 'm-1', 'gate', 'evaluation')",
]


async def test_feedback_labels_are_stored_once_for_registered_streams(harness: Harness) -> None:
    await harness.register("agrawal")
    first = FeedbackReceived(stream="agrawal", record_id="r-1", label=1)
    again = FeedbackReceived(stream="agrawal", record_id="r-1", label=0)  # the first wins
    unknown = FeedbackReceived(stream="nobody", record_id="r-1", label=1)
    for event in (first, again, unknown):
        await harness.publish(event)

    assert await harness.query("SELECT stream, record_id, label, event_id FROM labels") == [
        ("agrawal", "r-1", 1, str(first.event_id))
    ]
