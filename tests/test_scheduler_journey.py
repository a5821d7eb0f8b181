"""Journey: the scheduler under uvicorn, on the real embedded broker and a real PostgreSQL.

Triggers go in as events; what it publishes is read back from the topics, what it
records from the store. Training is played by the test: it writes a trial's row as the
training service does (completed, metrics, an artifact) and publishes TrialCompleted.
One scheduler serves the whole module; each test has its own stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import NAMESPACE_URL, uuid4, uuid5

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker
from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import SecretStr

from driftloop_contracts import (
    ControlAction,
    DriftDetected,
    DriftSource,
    Event,
    ExperimentCompleted,
    ExperimentControlRequested,
    ExperimentRequested,
    ExperimentStarted,
    ExperimentStatus,
    Severity,
    TrialCompleted,
    TrialRequested,
    Trigger,
)
from driftloop_learn import Dataset, Row, dump, get_family, sha256
from driftloop_scheduler import Settings, create_app
from driftloop_spec import validate_spec
from driftloop_store import migrate, put_artifact, register_stream

from .helpers import eventually, running_server

pytestmark = pytest.mark.journey

EventT = TypeVar("EventT", bound=Event)
PUBLISHED = (ExperimentStarted, TrialRequested, ExperimentCompleted)
FEATURES = {"x": "float", "z": "float"}
MODEL = "application/vnd.driftloop.model+pickle"
Sent = DriftDetected | ExperimentRequested | ExperimentControlRequested | TrialCompleted


class Collector:
    """Everything published on the scheduler's topics since the module began."""

    def __init__(self, kafka: str) -> None:
        self._consumer = AIOKafkaConsumer(
            *(event.topic for event in PUBLISHED),
            bootstrap_servers=kafka,
            auto_offset_reset="earliest",  # filtered by stream, so no race with the start
        )
        self._kinds = {event.topic: event for event in PUBLISHED}
        self.seen: list[tuple[bytes | None, Event]] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for message in self._consumer:
            if message.value:
                event = self._kinds[message.topic].parse(message.value)
                self.seen.append((message.key, event))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    def of(self, kind: type[EventT], stream: str) -> list[EventT]:
        return [
            e for _, e in self.seen if isinstance(e, kind) and getattr(e, "stream", None) == stream
        ]

    def key_of(self, event: Event) -> bytes | None:
        return next(key for key, seen in self.seen if seen.event_id == event.event_id)


@dataclass
class Harness:
    database_url: str
    broker: KafkaBroker
    published: Collector

    async def send(self, event: Sent) -> None:
        await self.broker.publish(event, topic=event.topic, key=event.stream.encode())

    async def query(self, text: str, *args: Any) -> list[tuple[Any, ...]]:
        async with await psycopg.AsyncConnection.connect(self.database_url) as conn:
            cur = await conn.execute(text, args)
            return await cur.fetchall()

    async def execute(self, text: str, *args: Any) -> None:
        async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as c:
            await c.execute(text, args)

    async def handled(self, event: Event) -> bool:
        found = await self.query(
            "SELECT 1 FROM handled_events WHERE consumer = 'scheduler' AND event_id = %s",
            str(event.event_id),
        )
        return bool(found)

    async def requested(self, stream: str, count: int) -> list[TrialRequested]:
        async def enough() -> list[TrialRequested] | None:
            found = self.published.of(TrialRequested, stream)
            return found if len(found) >= count else None

        found: list[TrialRequested] = await eventually(
            enough, timeout=30, what=f"{count} trial requests of {stream}"
        )
        return found

    async def in_order(self, requests: list[TrialRequested]) -> list[TrialRequested]:
        numbers = dict(
            await self.query(
                "SELECT id, number FROM trials WHERE id = ANY(%s)", [r.trial_id for r in requests]
            )
        )
        return sorted(requests, key=lambda r: numbers[r.trial_id])

    async def completed(self, stream: str) -> ExperimentCompleted:
        async def one() -> ExperimentCompleted | None:
            found = self.published.of(ExperimentCompleted, stream)
            return found[-1] if found else None

        found: ExperimentCompleted = await eventually(
            one, timeout=30, what=f"an experiment of {stream} to complete"
        )
        return found

    async def train(self, request: TrialRequested, accuracy: float) -> TrialCompleted:
        """What the training service does: the trial's row, then TrialCompleted."""
        metrics = {"accuracy": accuracy, "train_rows": 120.0}
        async with await psycopg.AsyncConnection.connect(self.database_url) as conn:
            sha = await put_artifact(conn, f"model of {request.trial_id}".encode(), MODEL)
            await conn.execute(
                "UPDATE trials SET status = 'completed', metrics = %s, artifact_sha256 = %s,"
                " duration_seconds = 0.1, worker = 'test', finished_at = now()"
                " WHERE id = %s AND status = 'requested'",
                (Jsonb(metrics), sha, request.trial_id),
            )
            await conn.commit()
        done = request.then(
            TrialCompleted,
            metrics=metrics,
            artifact_sha256=sha,
            duration_seconds=0.1,
            worker="test",
            attempt=request.attempt,
        )
        await self.send(done)
        return done


def labelled(n: int, *, flipped: bool = False, seed: int = 1) -> list[Row]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        x, z = rng.random(), rng.random()
        rows.append(Row(f"r{seed}-{i}", i, {"x": x, "z": z}, int((x > 0.5) != flipped)))
    return rows


START = datetime(2026, 1, 5, 9, tzinfo=UTC)  # the first record's time; one a second after


async def new_stream(h: Harness, rows: int = 300, **spec: Any) -> str:
    name = f"j_{uuid4().hex[:8]}"  # the broker outlives each test: names must not repeat
    document = {
        "stream": name,
        "task": "classification",
        "target": "y",
        "features": FEATURES,
        "window": {"last_labelled": 200},
        "holdout": {"fraction": 0.25},
        "families": [
            {"name": "sklearn.logistic_regression", "space": {"C": {"float": [0.01, 10]}}}
        ],
        "budget": {"trials": 4, "parallel": 2, "wall_time": "60s", "trial_timeout": "30s"},
        "promotion": {"first_model_threshold": 0.8},
        "seed": 11,
        **spec,
    }
    stored = validate_spec(document).model_dump(mode="json")
    async with await psycopg.AsyncConnection.connect(h.database_url) as conn:
        await register_stream(conn, name, FEATURES, "y", stored)
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO records (stream, record_id, event_time, features, label)"
                " VALUES (%s, %s, %s, %s, %s)",
                [
                    (
                        name,
                        r.record_id,
                        START + timedelta(seconds=i),
                        Jsonb(r.features),
                        Jsonb(r.label),
                    )
                    for i, r in enumerate(labelled(rows))
                ],
            )
        await conn.commit()
    return name


def drift(stream: str) -> DriftDetected:
    now = datetime.now(UTC)
    return DriftDetected(
        stream=stream,
        source=DriftSource.ERRORS,
        detector="adwin",
        statistic=0.2,
        window_start=now - timedelta(minutes=1),
        window_end=now,
        records_seen=300,
        severity=Severity.HIGH,
    )


@pytest.fixture(scope="module")
async def h(kafka: str, postgres_server_url: str) -> AsyncIterator[Harness]:
    name = f"driftloop_test_{uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(postgres_server_url, dbname=name)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await migrate(conn)
    settings = Settings(
        kafka_bootstrap_servers=kafka,
        database_url=SecretStr(url),
        loop_seconds=0.2,
        outbox_sweep_seconds=1.0,
    )
    published, broker = Collector(kafka), KafkaBroker(kafka)
    await published.start()
    await broker.start()
    try:
        async with running_server(create_app(settings)):
            yield Harness(url, broker, published)
    finally:
        await broker.stop()
        await published.stop()
        with psycopg.connect(postgres_server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


async def test_drift_starts_an_experiment_that_runs_to_its_best_trial(h: Harness) -> None:
    stream = await new_stream(h)
    alarm = drift(stream)
    await h.send(alarm)

    first = await h.requested(stream, 2)
    experiment_id = str(alarm.event_id)
    assert {r.experiment_id for r in first} == {experiment_id}
    assert [h.published.key_of(r) for r in first] == [r.trial_id.encode() for r in first]
    assert all(r.attempt == 1 and r.timeout_seconds == 30 for r in first)
    (started,) = h.published.of(ExperimentStarted, stream)
    assert started.trigger == Trigger.DRIFT and started.causation_id == alarm.event_id
    assert (started.budget_trials, started.budget_seconds) == (4, 60)

    [(status, trigger, ref, snapshot_hash)] = await h.query(
        "SELECT status, trigger, trigger_ref, snapshot_hash FROM experiments WHERE stream = %s",
        stream,
    )
    assert (status, trigger, ref) == ("running", "drift", experiment_id)
    assert snapshot_hash == started.snapshot_hash == first[0].snapshot_hash
    [(definition, rows, meta, content, media_type)] = await h.query(
        "SELECT s.window_definition, s.row_count, s.meta_features, a.bytes, a.media_type"
        " FROM snapshots s JOIN artifacts a ON a.sha256 = s.hash WHERE s.hash = %s",
        snapshot_hash,
    )
    # The newest 200 of the 300 labelled records: seq 101..300.
    assert sha256(bytes(content)) == snapshot_hash and rows == 200 == meta["rows"]
    assert media_type == "application/vnd.driftloop.snapshot+json+gzip"
    assert definition["kind"] == "records" and definition["rows"] == 200
    assert definition["seq_high"] - definition["seq_low"] == 199
    assert len(Dataset.from_bytes(bytes(content))) == 200

    await h.train(first[0], 0.7)
    await h.train(first[1], 0.9)
    more = (await h.requested(stream, 4))[2:]
    await h.train(more[0], 0.8)
    await h.train(more[1], 0.6)
    completed = await h.completed(stream)

    assert completed.status == ExperimentStatus.COMPLETED
    assert completed.best_trial_id == first[1].trial_id
    assert completed.best_metrics["accuracy"] == 0.9
    assert (completed.snapshot_hash, completed.trials_run) == (snapshot_hash, 4)
    trials = await h.query(
        "SELECT number, seed, source, status FROM trials WHERE experiment_id = %s ORDER BY number",
        experiment_id,
    )
    assert trials == [(n, 11 + n, "search", "completed") for n in range(4)]
    [(status, best)] = await h.query(
        "SELECT status, best_trial_id FROM experiments WHERE id = %s", experiment_id
    )
    assert (status, best) == ("completed", first[1].trial_id)
    assert len(h.published.of(TrialRequested, stream)) == 4


async def test_a_redelivered_alarm_starts_no_second_experiment(h: Harness) -> None:
    stream = await new_stream(h)
    alarm, later = drift(stream), drift(stream)
    for event in (alarm, alarm, later):  # one partition (keyed by stream): handled in order
        await h.send(event)
    await eventually(lambda: h.handled(later), what="the later alarm to be handled")

    assert await h.query("SELECT id FROM experiments WHERE stream = %s", stream) == [
        (str(alarm.event_id),)
    ]
    assert len(await h.requested(stream, 2)) == 2
    assert len(h.published.of(ExperimentStarted, stream)) == 1


async def test_a_trial_past_its_timeout_is_requested_again_once_then_failed(h: Harness) -> None:
    budget = {"trials": 2, "parallel": 1, "wall_time": "60s", "trial_timeout": "1s"}
    stream = await new_stream(h, budget=budget)
    await h.send(drift(stream))

    (first,) = await h.requested(stream, 1)
    again = (await h.requested(stream, 2))[1]
    assert (again.trial_id, again.attempt, first.attempt) == (first.trial_id, 2, 1)
    assert (again.params, again.seed) == (first.params, first.seed)

    nxt = (await h.requested(stream, 3))[2]
    assert nxt.trial_id != first.trial_id and nxt.attempt == 1
    [(status, attempt, error)] = await h.query(
        "SELECT status, attempt, error FROM trials WHERE id = %s", first.trial_id
    )
    assert (status, attempt, error) == ("failed", 2, "timed out twice after 1s")

    await h.train(nxt, 0.75)
    completed = await h.completed(stream)
    assert completed.best_trial_id == nxt.trial_id and completed.trials_run == 2


async def test_pause_holds_new_trials_resume_continues_and_stop_ends_it(h: Harness) -> None:
    stream = await new_stream(h, budget={"trials": 3, "parallel": 1, "wall_time": "60s"})
    request = ExperimentRequested(
        stream=stream, trigger=Trigger.MANUAL, requested_by="ana", reason="try it"
    )
    await h.send(request)
    experiment_id = str(request.event_id)
    (first,) = await h.requested(stream, 1)

    def control(action: ControlAction) -> ExperimentControlRequested:
        return ExperimentControlRequested(
            stream=stream, experiment_id=experiment_id, action=action, requested_by="ana"
        )

    async def state() -> str:
        [(found,)] = await h.query("SELECT status FROM experiments WHERE id = %s", experiment_id)
        return str(found)

    # Controls and trial outcomes travel on different topics: no order between them.
    pause = control(ControlAction.PAUSE)
    await h.send(pause)
    await eventually(lambda: h.handled(pause), what="the pause to be handled")
    assert await state() == "paused"
    told = await h.train(first, 0.8)
    await eventually(lambda: h.handled(told), what="the trial outcome to be told")
    # Nor does the background pass (every 0.2 s) ask for one while paused: a negative,
    # so it can only be watched for a while.
    await asyncio.sleep(1.0)
    assert len(h.published.of(TrialRequested, stream)) == 1
    assert await state() == "paused"
    refused = ExperimentRequested(stream=stream, trigger=Trigger.MANUAL, requested_by="bo")
    await h.send(refused)  # one experiment per stream at a time
    await eventually(lambda: h.handled(refused), what="the second request to be handled")
    assert await h.query("SELECT id FROM experiments WHERE stream = %s", stream) == [
        (experiment_id,)
    ]

    await h.send(control(ControlAction.RESUME))
    second = (await h.requested(stream, 2))[1]
    await h.send(control(ControlAction.STOP))
    completed = await h.completed(stream)
    assert completed.status == ExperimentStatus.STOPPED and completed.reason == "stopped by ana"
    assert (completed.best_trial_id, completed.trials_run) == (first.trial_id, 1)
    [(status, error)] = await h.query(
        "SELECT status, error FROM trials WHERE id = %s", second.trial_id
    )
    assert (status, error) == ("failed", "abandoned: the experiment was stopped")


async def test_a_prior_experiment_on_a_near_window_seeds_the_first_trials(h: Harness) -> None:
    stream = await new_stream(h, budget={"trials": 2, "parallel": 2, "wall_time": "60s"})
    prior = drift(stream)
    await h.send(prior)
    one, two = await h.requested(stream, 2)
    await h.train(one, 0.6)
    await h.train(two, 0.95)
    await h.completed(stream)

    alarm = drift(stream)
    await h.send(alarm)
    # Trial requests spread over partitions (keyed by trial id): order them by number.
    seeded, searched = await h.in_order((await h.requested(stream, 4))[2:])
    assert (seeded.family, seeded.params) == (two.family, two.params)
    assert searched.params != two.params
    started = h.published.of(ExperimentStarted, stream)[-1]
    assert started.seeded_from == (str(prior.event_id),)

    seeds = await h.query(
        "SELECT kind, source_id, source_experiment_id, score FROM experiment_seeds"
        " WHERE experiment_id = %s ORDER BY kind, score",
        str(alarm.event_id),
    )
    prior_id = str(prior.event_id)
    assert seeds == [
        ("prior_config", two.trial_id, prior_id, 0.95),
        ("prior_observation", one.trial_id, prior_id, 0.6),
        ("prior_observation", two.trial_id, prior_id, 0.95),
    ]
    trials = await h.query("SELECT source, seeded_from FROM trials WHERE id = %s", seeded.trial_id)
    assert trials == [("seed", two.trial_id)]


async def add_model(h: Harness, stream: str, version: int, rows: list[Row]) -> str:
    model = get_family("sklearn.logistic_regression").build({}, 0, "classification")
    content, _ = dump(model.fit(Dataset.of(rows)))
    model_id = f"m-{uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(h.database_url) as conn:
        sha = await put_artifact(conn, content, MODEL)
        await conn.execute(
            "INSERT INTO models (id, stream, version, artifact_sha256, family)"
            " VALUES (%s, %s, %s, %s, 'sklearn.logistic_regression')",
            (model_id, stream, version, sha),
        )
        await conn.commit()
    return model_id


async def test_an_archived_model_that_fits_the_new_window_answers_at_once(h: Harness) -> None:
    stream = await new_stream(h)
    recurring = await add_model(h, stream, 1, labelled(300, seed=5))
    champion = await add_model(h, stream, 2, labelled(300, flipped=True, seed=6))
    tampered = await add_model(h, stream, 3, labelled(300, seed=7))
    await h.execute(  # the stored bytes no longer match the recorded hash
        "UPDATE artifacts SET bytes = bytes || 'x'::bytea, size = size + 1"
        " WHERE sha256 = (SELECT artifact_sha256 FROM models WHERE id = %s)",
        tampered,
    )
    await h.execute(
        "INSERT INTO serving_history (stream, model_id, reason, actor)"
        " VALUES (%s, %s, 'first_model', 'test')",
        stream,
        champion,
    )
    alarm = drift(stream)
    await h.send(alarm)
    completed = await h.completed(stream)

    assert completed.status == ExperimentStatus.COMPLETED
    assert (completed.candidate_model_id, completed.trials_run) == (recurring, 0)
    assert completed.best_trial_id is None and completed.reason.startswith("recurring concept")
    assert h.published.of(TrialRequested, stream) == []
    assert len(h.published.of(ExperimentStarted, stream)) == 1
    [(candidate, status)] = await h.query(
        "SELECT candidate_model_id, status FROM experiments WHERE id = %s", str(alarm.event_id)
    )
    assert (candidate, status) == (recurring, "completed")
    seeds = await h.query(
        "SELECT kind, source_id, score, detail FROM experiment_seeds WHERE experiment_id = %s",
        str(alarm.event_id),
    )
    # The champion is not re-scored; the tampered artifact is refused, not loaded.
    [(kind, source, score, detail)] = seeds
    assert (kind, source) == ("rescored_model", recurring) and score > 0.9
    assert detail["gate"]["passed"] and detail["gate"]["champion"] == champion


async def test_too_few_labelled_records_fail_the_experiment_with_the_reason(h: Harness) -> None:
    stream = await new_stream(h, rows=30)
    alarm = drift(stream)
    await h.send(alarm)
    completed = await h.completed(stream)
    reason = "only 30 labelled records in the window; at least 50 are needed"
    assert (completed.status, completed.reason, completed.trials_run) == (
        ExperimentStatus.FAILED,
        reason,
        0,
    )
    assert await h.query("SELECT status, reason FROM experiments WHERE stream = %s", stream) == [
        ("failed", reason)
    ]


async def test_a_schedule_starts_experiments_one_at_a_time(h: Harness) -> None:
    budget = {"trials": 1, "parallel": 1, "wall_time": "60s"}
    stream = await new_stream(h, budget=budget, triggers={"schedule": {"every": "1s"}})
    try:
        (first,) = await h.requested(stream, 1)
        [(experiment_id, trigger, ref, by)] = await h.query(
            "SELECT id, trigger, trigger_ref, requested_by FROM experiments WHERE stream = %s",
            stream,
        )
        assert (trigger, by) == ("schedule", "schedule")
        assert experiment_id == str(uuid5(NAMESPACE_URL, f"{stream}@{ref}"))
        await h.train(first, 0.9)
        await h.completed(stream)
        await h.requested(stream, 2)  # the next tick, once the first has ended
        # Ticks came every second; those while the first ran were covered by it.
        (one, _, ended), (two, created, _) = await h.query(
            "SELECT trigger_ref, created_at, ended_at FROM experiments"
            " WHERE stream = %s ORDER BY created_at",
            stream,
        )
        assert one == ref and two > one and created >= ended
    finally:
        await h.execute(
            "UPDATE streams SET spec = spec #- '{triggers,schedule}' WHERE name = %s", stream
        )
        await h.execute("UPDATE experiments SET status = 'stopped' WHERE stream = %s", stream)


async def test_a_manual_request_may_bring_its_own_spec(h: Harness) -> None:
    stream = await new_stream(h)
    own = f"""
stream: {stream}
task: classification
target: y
features: {{x: float, z: float}}
families: [sklearn.knn]
budget: {{trials: 1, parallel: 1, wall_time: 60s}}
"""
    request = ExperimentRequested(
        stream=stream, trigger=Trigger.MANUAL, requested_by="ana", spec=own
    )
    await h.send(request)
    (only,) = await h.requested(stream, 1)
    assert only.family == "sklearn.knn"
    [(budget, spec, by)] = await h.query(
        "SELECT budget_trials, spec, requested_by FROM experiments WHERE id = %s",
        str(request.event_id),
    )
    assert (budget, spec["families"][0]["name"], by) == (1, "sklearn.knn", "ana")
    await h.train(only, 0.8)
    assert (await h.completed(stream)).trials_run == 1


async def test_a_time_window_snapshots_the_labelled_records_in_its_span(h: Harness) -> None:
    since, until = START + timedelta(seconds=100), START + timedelta(seconds=250)
    window = {"since": since.isoformat(), "until": until.isoformat()}
    stream = await new_stream(h, window=window, budget={"trials": 1, "wall_time": "60s"})
    await h.send(drift(stream))
    (only,) = await h.requested(stream, 1)
    [(definition, rows)] = await h.query(
        "SELECT window_definition, row_count FROM snapshots WHERE hash = %s", only.snapshot_hash
    )
    assert rows == 150 == definition["rows"]  # records 100..249: until is exclusive
    assert definition["kind"] == "range"
    assert datetime.fromisoformat(definition["since"]) == since
    await h.train(only, 0.8)
    await h.completed(stream)


async def add_rows(h: Harness, stream: str, rows: list[Row], *, after: int) -> None:
    """Labelled records arriving after the ``after`` already stored (one a second)."""
    async with await psycopg.AsyncConnection.connect(h.database_url) as conn:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO records (stream, record_id, event_time, features, label)"
                " VALUES (%s, %s, %s, %s, %s)",
                [
                    (
                        stream,
                        r.record_id,
                        START + timedelta(seconds=after + i),
                        Jsonb(r.features),
                        Jsonb(r.label),
                    )
                    for i, r in enumerate(rows)
                ],
            )
        await conn.commit()


async def placed(h: Harness, alarm: DriftDetected, change_record: str) -> None:
    """The drift event's row, as the drift service stores it before publishing the alarm."""
    await h.execute(
        "INSERT INTO drift_events (event_id, stream, source, detector, statistic, severity,"
        " window_start, window_end, evidence) VALUES (%s, %s, 'errors', 'adwin', 0.4, 'high',"
        " now(), now(), %s)",
        str(alarm.event_id),
        alarm.stream,
        Jsonb({"change_record_id": change_record}),
    )


async def snapshot_rows(h: Harness, snapshot_hash: str) -> list[str]:
    [(content,)] = await h.query("SELECT bytes FROM artifacts WHERE sha256 = %s", snapshot_hash)
    return [row.record_id for row in Dataset.from_bytes(bytes(content)).rows]


async def test_a_drift_learns_the_records_since_its_change_then_refits_on_a_full_window(
    h: Harness,
) -> None:
    # 300 records of one concept, then the change: 50 labelled records of a new one.
    stream = await new_stream(h)
    new = labelled(250, flipped=True, seed=9)
    await add_rows(h, stream, new[:50], after=300)
    alarm = drift(stream)
    await placed(h, alarm, new[0].record_id)
    await h.send(alarm)
    await eventually(lambda: h.handled(alarm), what="the alarm to be handled")

    # Too few labels of the new concept to learn from yet: the experiment waits for them.
    [(status,)] = await h.query("SELECT status FROM experiments WHERE stream = %s", stream)
    assert status == "pending" and h.published.of(TrialRequested, stream) == []
    await add_rows(h, stream, new[50:110], after=350)
    first = await h.requested(stream, 2)
    assert await snapshot_rows(h, first[0].snapshot_hash) == [r.record_id for r in new[:110]]
    [(definition,)] = await h.query(
        "SELECT window_definition FROM snapshots WHERE hash = %s", first[0].snapshot_hash
    )
    assert definition["rows"] == 110 and definition["after_seq"] == definition["seq_low"] - 1
    # Short of its window (200): one round of trials gives the quick model, then it ends.
    [(budget,)] = await h.query("SELECT budget_trials FROM experiments WHERE stream = %s", stream)
    assert budget == 2
    for request in first:
        await h.train(request, 0.8)
    assert (await h.completed(stream)).trials_run == 2
    # Its model, registered as evaluation would: good on the new concept, but a stop-gap.
    quick = await add_model(h, stream, 1, new[:110])
    await h.execute("UPDATE models SET trial_id = %s WHERE id = %s", first[0].trial_id, quick)

    # Once the window (200) holds only records since the change, the experiment runs again,
    # and trains: the quick model is not taken for a concept that came back.
    await add_rows(h, stream, new[110:], after=410)
    refit_id = str(uuid5(NAMESPACE_URL, f"driftloop:refit:{alarm.event_id}"))
    again = [r for r in await h.requested(stream, 4) if r.experiment_id == refit_id]
    assert await snapshot_rows(h, again[0].snapshot_hash) == [r.record_id for r in new[50:]]
    [(trigger, ref, by)] = await h.query(
        "SELECT trigger, trigger_ref, requested_by FROM experiments WHERE id = %s", refit_id
    )
    assert (trigger, ref, by) == ("drift", str(alarm.event_id), "scheduler")
    for request in again:
        await h.train(request, 0.9)
    for request in (await h.requested(stream, 6))[4:]:
        await h.train(request, 0.9)

    async def refitted() -> ExperimentCompleted | None:
        ends = h.published.of(ExperimentCompleted, stream)
        return next((e for e in ends if e.experiment_id == refit_id), None)

    done = await eventually(refitted, timeout=30, what="the refit to complete")
    assert done.status == ExperimentStatus.COMPLETED
    # Full now: no refit of the refit.
    assert len(await h.query("SELECT id FROM experiments WHERE stream = %s", stream)) == 2


async def test_a_recurring_concept_is_answered_from_the_first_labels_since_the_change(
    h: Harness,
) -> None:
    stream = await new_stream(h)
    recurring = await add_model(h, stream, 1, labelled(300, flipped=True, seed=5))
    champion = await add_model(h, stream, 2, labelled(300, seed=6))
    await h.execute(
        "INSERT INTO serving_history (stream, model_id, reason, actor)"
        " VALUES (%s, %s, 'first_model', 'test')",
        stream,
        champion,
    )
    back = labelled(60, flipped=True, seed=10)  # fewer than the 100 a new concept waits for
    await add_rows(h, stream, back, after=300)
    alarm = drift(stream)
    await placed(h, alarm, back[0].record_id)
    await h.send(alarm)
    completed = await h.completed(stream)

    assert (completed.candidate_model_id, completed.trials_run) == (recurring, 0)
    assert completed.snapshot_hash is not None
    assert await snapshot_rows(h, completed.snapshot_hash) == [r.record_id for r in back]
