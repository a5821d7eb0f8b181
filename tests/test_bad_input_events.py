"""Bad events on every topic a service consumes, each in a batch with a valid neighbour,
through the service's real handler on FastStream's in-memory broker and a real PostgreSQL.

For every message Hypothesis makes: no exception leaves the handler (under the test broker
it would reach ``publish``; under Kafka it would nack the batch and redeliver it forever);
a message the contract refuses is skipped with its reason logged; one the contract reads is
handled, or skipped with the store's reason logged; and the valid neighbour is handled.

Each test's harness is built once and shared by its examples (hence the suppressed
function-scoped-fixture check): every example uses fresh ids, so examples do not meet.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb
from pydantic import SecretStr, ValidationError

from driftloop.synthetic import FEATURES, records
from driftloop_contracts import (
    EVENTS,
    ApprovalGiven,
    ApprovalRequested,
    DriftDetected,
    DriftSource,
    Event,
    ExperimentCompleted,
    ExperimentControlRequested,
    ExperimentRequested,
    ExperimentStarted,
    ExperimentStatus,
    FeedbackReceived,
    ModelPromoted,
    PredictionLogged,
    PromotionDecided,
    PromotionReason,
    RecordRejected,
    RecordsIngested,
    RollbackRequested,
    Severity,
    TrialCompleted,
    TrialFailed,
    TrialRequested,
    Trigger,
    Verdict,
)
from driftloop_runtime import Message, Resources, parse_event
from driftloop_spec import load_spec
from driftloop_store import register_stream

from .bad_input_strategies import NUL, bad_messages, encode
from .test_serving_setup import register, store_model, train
from .test_training_worker import add_trial, dataset, seed_experiment

EXAMPLES = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
T0 = datetime(2026, 11, 23, 12, tzinfo=UTC)
SHA = "ab" * 32


def valid(kind: type[Event], stream: str = "bad_input") -> Event:
    """A valid event of ``kind`` with fresh ids, so it is never taken for one handled
    before; the service fixtures point its ids at rows of their own."""
    ids = {"experiment_id": str(uuid4()), "trial_id": str(uuid4())}
    fields: dict[type[Event], dict[str, Any]] = {
        RecordsIngested: {"batch_id": uuid4(), "stored": 0, "duplicates": 0, "rejected": 0,
                          "labelled": 0},
        PredictionLogged: {"record_id": f"r-{uuid4()}", "model_id": "m", "model_version": 1,
                           "features": {"x": 1.0}, "prediction": 1},
        FeedbackReceived: {"record_id": f"r-{uuid4()}", "label": 1},
        DriftDetected: {"source": DriftSource.FEATURES, "detector": "adwin", "statistic": 0.5,
                        "window_start": T0, "window_end": T0, "records_seen": 10,
                        "severity": Severity.LOW},
        ExperimentRequested: {"trigger": Trigger.MANUAL, "requested_by": "ada"},
        ExperimentControlRequested: {**ids, "action": "pause", "requested_by": "ada"},
        TrialCompleted: {**ids, "metrics": {"accuracy": 0.5}, "artifact_sha256": SHA,
                         "duration_seconds": 1.0, "worker": "w"},
        TrialFailed: {**ids, "reason": "boom", "attempt": 1},
        ExperimentCompleted: {**ids, "status": ExperimentStatus.COMPLETED, "trials_run": 1},
        ApprovalGiven: {"model_id": "m", "decision_id": str(uuid4()), "approved": True,
                        "actor": "ada"},
        RollbackRequested: {"actor": "ada"},
        ModelPromoted: {"model_id": "m", "version": 1, "artifact_sha256": SHA, "serving_id": 1,
                        "reason": PromotionReason.GATE},
        RecordRejected: {"reason": "not JSON", "payload": "{"},
        ExperimentStarted: {**ids, "trigger": Trigger.DRIFT, "snapshot_hash": SHA,
                            "budget_trials": 2, "budget_seconds": 60.0},
        TrialRequested: {**ids, "snapshot_hash": SHA, "family": "river.naive_bayes",
                         "params": {}, "seed": 1, "timeout_seconds": 60.0},
        PromotionDecided: {"model_id": "m", "verdict": Verdict.PROMOTE, "metric": "accuracy",
                           "candidate_score": 0.9, "test": "mcnemar", "alpha": 0.05,
                           "min_gain": 0.0, "holdout_hash": SHA},
        ApprovalRequested: {"model_id": "m", "decision_id": str(uuid4())},
    }  # fmt: skip
    return kind(stream=stream, **fields[kind])


def readable(kind: type[Event], raw: bytes) -> Event | None:
    """The event the contract reads from ``raw``, or None when it refuses it."""
    try:
        return kind.parse(raw)
    except ValidationError:
        return None


def skipped(caplog: pytest.LogCaptureFixture, *words: str) -> list[str]:
    """The reasons logged for skipping something, naming all of ``words``."""
    return [
        text
        for r in caplog.records
        if r.levelno >= logging.WARNING
        and "skip" in (text := r.getMessage())
        and all(word in text for word in words)
    ]


# -- the contract, for every event type ----------------------------------------------------


@EXAMPLES
@given(data=st.data())
def test_an_event_the_contract_reads_carries_no_nul_and_a_known_version(
    data: st.DataObject,
) -> None:
    kind = data.draw(st.sampled_from(EVENTS))
    raw = data.draw(bad_messages(valid(kind).model_dump(mode="json")))
    event = readable(kind, raw)
    if event is not None:
        assert event.schema_version == 1
        assert NUL not in event.model_dump_json().replace("\\u0000", NUL)


@pytest.mark.parametrize("version", [0, 2, 99, -1])
def test_a_version_nobody_knows_is_refused_naming_the_field(
    version: int, caplog: pytest.LogCaptureFixture
) -> None:
    raw = valid(RollbackRequested).model_copy(update={"schema_version": version})
    message = Message(RollbackRequested.topic, 0, 7, raw.model_dump_json().encode())

    assert parse_event({RollbackRequested.topic: RollbackRequested}, message) is None
    (reason,) = skipped(caplog, RollbackRequested.topic)
    assert "schema_version" in reason and f"{version}" in reason


def test_a_nul_anywhere_in_an_event_is_refused_naming_the_field() -> None:
    raw = valid(FeedbackReceived).model_dump(mode="json") | {"extra": {"note": f"a{NUL}b"}}
    with pytest.raises(ValidationError, match=r"extra\.note"):
        FeedbackReceived.parse(encode(raw))


# -- the services ---------------------------------------------------------------------------

Make = Callable[[type[Event]], Awaitable[Event]]


@dataclass
class Consumer:
    """A service's handler on the test broker, and what the tests ask of it."""

    broker: Any
    conn: psycopg.AsyncConnection[Any]
    consumed: tuple[type[Event], ...]
    make: Make
    """A valid event of a kind, about rows made for it (a running experiment, a pending
    decision, a stored batch): the service acts on it for real rather than dismissing an
    id it does not know."""
    handled: Callable[[Event], Awaitable[bool]]
    handled_count: Callable[[], Awaitable[int]]
    batched: bool = True

    async def feed(self, kind: type[Event], *values: bytes | Event) -> None:
        raw = [v if isinstance(v, bytes) else v.model_dump_json().encode() for v in values]
        if self.batched:
            await self.broker.publish_batch(*raw, topic=kind.topic)
        else:
            for value in raw:
                await self.broker.publish(value, topic=kind.topic)


def marked(conn: psycopg.AsyncConnection[Any], consumer: str) -> dict[str, Any]:
    """``handled`` and ``handled_count`` read from the notes a consumer keeps in its store."""

    async def handled(event: Event) -> bool:
        cur = await conn.execute(
            "SELECT 1 FROM handled_events WHERE consumer = %s AND event_id = %s",
            (consumer, str(event.event_id)),
        )
        return await cur.fetchone() is not None

    async def handled_count() -> int:
        cur = await conn.execute(
            "SELECT count(*) FROM handled_events WHERE consumer = %s", (consumer,)
        )
        (count,) = await cur.fetchone() or (0,)
        return int(count)

    return {"handled": handled, "handled_count": handled_count}


def noted(seen: list[Any], same: Callable[[Any, Event], bool]) -> dict[str, Any]:
    """``handled`` and ``handled_count`` read from what the test saw the service do."""

    async def handled(event: Event) -> bool:
        return any(same(done, event) for done in seen)

    async def handled_count() -> int:
        return len(seen)

    return {"handled": handled, "handled_count": handled_count}


@asynccontextmanager
async def running(
    database_url: str,
    settings: Any,
    router: Callable[[Resources[Any]], Any],
    listen: Callable[[KafkaBroker], None] = lambda broker: None,
) -> AsyncIterator[tuple[Any, psycopg.AsyncConnection[Any]]]:
    resources = Resources(settings)
    broker = KafkaBroker()
    broker.include_router(router(resources))
    listen(broker)
    await resources.start()
    try:
        async with (
            await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn,
            TestKafkaBroker(broker) as test_broker,
        ):
            yield test_broker, conn
    finally:
        await resources.stop()


@pytest.fixture
async def scheduler(database_url: str) -> AsyncIterator[Consumer]:
    """A stream with a spec and a snapshot; each event gets an experiment of its own,
    running, with one trial completed."""
    from driftloop_scheduler import Settings
    from driftloop_scheduler.handlers import CONSUMED, create_router

    settings = Settings(database_url=SecretStr(database_url), min_snapshot_rows=10)
    async with running(database_url, settings, create_router) as (broker, conn):
        seeded = await seed_experiment(conn, "sched_bad", dataset(60))

        async def make(kind: type[Event]) -> Event:
            experiment_id, trial_id = str(uuid4()), str(uuid4())
            await conn.execute(
                "INSERT INTO experiments (id, stream, trigger, spec, budget_trials,"
                " budget_seconds, status, snapshot_hash, requested_by) SELECT %s, stream,"
                " trigger, spec, budget_trials, budget_seconds, status, snapshot_hash,"
                " requested_by FROM experiments WHERE id = %s",
                (experiment_id, seeded.experiment_id),
            )
            await conn.execute(
                "INSERT INTO trials (id, experiment_id, family, params, seed, status, metrics)"
                " VALUES (%s, %s, 'river.hoeffding_tree', '{}', 1, 'completed',"
                " '{\"accuracy\": 0.8}')",
                (trial_id, experiment_id),
            )
            ids = {"experiment_id": experiment_id, "trial_id": trial_id}
            return valid(kind, seeded.stream).model_copy(update=ids)

        yield Consumer(broker, conn, tuple(CONSUMED.values()), make, **marked(conn, "scheduler"))


@pytest.fixture
async def evaluation(database_url: str) -> AsyncIterator[Consumer]:
    """A stream served by its second model, the first to roll back to; each event gets an
    ended experiment and a pending decision of its own."""
    from driftloop_evaluation import Settings
    from driftloop_evaluation.handlers import CONSUMED, create_router

    stream = "eval_bad"
    await register(database_url, stream, online=False)
    await store_model(database_url, stream, train(), 1)
    second = await store_model(database_url, stream, train(flip=True), 2)
    settings = Settings(database_url=SecretStr(database_url))
    async with running(database_url, settings, create_router) as (broker, conn):
        await conn.execute(
            "INSERT INTO artifacts (sha256, bytes, size) VALUES (%s, 'h', 1)", (SHA,)
        )
        await conn.execute("INSERT INTO holdouts (hash, stream) VALUES (%s, %s)", (SHA, stream))

        async def make(kind: type[Event]) -> Event:
            experiment_id, decision_id = str(uuid4()), str(uuid4())
            await conn.execute(
                "INSERT INTO experiments (id, stream, trigger, spec, budget_trials,"
                " budget_seconds, status, requested_by) VALUES (%s, %s, 'manual', '{}', 5, 60,"
                " 'completed', 'ada')",
                (experiment_id, stream),
            )
            await conn.execute(
                "INSERT INTO decisions (id, stream, model_id, verdict, metric, candidate_score,"
                " test, alpha, min_gain, holdout_hash, status) VALUES (%s, %s, %s,"
                " 'await_approval', 'accuracy', 0.9, 'mcnemar', 0.05, 0, %s, 'pending')",
                (decision_id, stream, second.model_id, SHA),
            )
            ids = {"experiment_id": experiment_id, "decision_id": decision_id}
            return valid(kind, stream).model_copy(update={**ids, "model_id": second.model_id})

        yield Consumer(broker, conn, tuple(CONSUMED.values()), make, **marked(conn, "evaluation"))


@pytest.fixture
async def drift(database_url: str) -> AsyncIterator[Consumer]:
    """A watched stream; each batch announced is a few rows stored for it."""
    from driftloop_drift import Settings
    from driftloop_drift.handlers import CONSUMED, create_router
    from driftloop_drift.service import Drift

    seen: list[Event] = []

    class Watching(Drift):
        async def handle(self, event: Event) -> list[DriftDetected]:
            found = await super().handle(event)
            seen.append(event)
            return found

    def no_report(windows: Any, spec: Any) -> bytes:
        return b"<html></html>"  # evidently takes seconds: not what these tests are about

    settings = Settings(database_url=SecretStr(database_url))
    service = Watching(settings, render=no_report)

    def router(resources: Resources[Any]) -> Any:
        return create_router(resources, service)

    async with running(database_url, settings, router) as (broker, conn):
        await service.start()
        spec = load_spec("examples/agrawal.yaml").model_dump(mode="json") | {"stream": "drift_bad"}
        await register_stream(conn, "drift_bad", FEATURES["agrawal"], "class", spec)
        rows = records("drift_bad", "agrawal", 100_000, seed=7)

        async def make(kind: type[Event]) -> Event:
            if kind is not RecordsIngested:
                return valid(kind, "drift_bad")
            batch = valid(RecordsIngested, "drift_bad").model_copy(update={"stored": 3})
            for row in itertools.islice(rows, 3):  # stored as ingestion stores a batch
                await conn.execute(
                    "INSERT INTO records (stream, record_id, event_time, features, label,"
                    " batch_id) VALUES (%s, %s, %s, %s, %s, %s)",
                    (
                        "drift_bad",
                        row["record_id"],
                        datetime.fromisoformat(row["event_time"]),
                        Jsonb(row["features"]),
                        Jsonb(row["label"]),
                        getattr(batch, "batch_id", None),
                    ),
                )
            return batch

        try:
            same = noted(seen, lambda done, event: done.event_id == event.event_id)
            yield Consumer(broker, conn, tuple(CONSUMED.values()), make, **same)
        finally:
            await service.stop()


@pytest.fixture
async def training(database_url: str) -> AsyncIterator[Consumer]:
    """An experiment with a snapshot; each request is for a trial of its own."""
    from driftloop_training import Settings
    from driftloop_training.handlers import CONSUMED, create_router

    settings = Settings(database_url=SecretStr(database_url), retry_pause_seconds=0)
    seen: list[Event] = []

    def listen(broker: KafkaBroker) -> None:
        @broker.subscriber(TrialCompleted.topic)
        async def completed(event: TrialCompleted) -> None:
            seen.append(event)

        @broker.subscriber(TrialFailed.topic)
        async def failed(event: TrialFailed) -> None:
            seen.append(event)

    async with running(database_url, settings, create_router, listen) as (broker, conn):
        seeded = await seed_experiment(conn, "train_bad", dataset(60))

        async def make(kind: type[Event]) -> Event:
            return await add_trial(conn, seeded, "river.naive_bayes", {})

        same = noted(seen, lambda done, event: done.trial_id == getattr(event, "trial_id", 0))
        yield Consumer(broker, conn, tuple(CONSUMED.values()), make, **same, batched=False)


@pytest.fixture
async def serving(database_url: str) -> AsyncIterator[Consumer]:
    """A served stream; each promotion is of a model stored and appointed for it."""
    from driftloop_serving import Settings
    from driftloop_serving.champions import Appointment
    from driftloop_serving.handlers import create_router
    from driftloop_serving.service import Serving

    stream, model = "serve_bad", train()
    await register(database_url, stream)
    await store_model(database_url, stream, model, 1)
    versions = itertools.count(2)
    resources = Resources(Settings(database_url=SecretStr(database_url)))
    broker = KafkaBroker()
    service = Serving(resources, broker)
    appointed: list[Appointment] = []

    async def appoint(appointment: Appointment) -> bool:
        if done := await service.appoint(appointment):
            appointed.append(appointment)
        return done

    broker.include_router(create_router(service.champions, appoint))
    await resources.start()
    try:
        await service.start_store()
        async with (
            await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn,
            TestKafkaBroker(broker) as test_broker,
        ):

            async def make(kind: type[Event]) -> Event:
                return await store_model(database_url, stream, model, next(versions))

            def same(done: Appointment, event: Event) -> bool:
                return done.serving_id == getattr(event, "serving_id", 0)

            yield Consumer(
                test_broker, conn, (ModelPromoted,), make, **noted(appointed, same), batched=False
            )
    finally:
        await resources.stop()


async def bad_then_neighbour(
    consumer: Consumer, caplog: pytest.LogCaptureFixture, data: st.DataObject
) -> None:
    """One bad message and a valid neighbour: the neighbour is handled, and the bad one is
    handled too or skipped with its reason logged."""
    caplog.clear()
    kind = data.draw(st.sampled_from(consumer.consumed))
    template = (await consumer.make(kind)).model_dump(mode="json")
    bad = data.draw(bad_messages(template))
    neighbour = await consumer.make(kind)
    before = await consumer.handled_count()

    await consumer.feed(kind, bad, neighbour)

    assert await consumer.handled(neighbour)
    if await consumer.handled_count() - before < 2:  # the bad one was not handled
        assert skipped(caplog)


@EXAMPLES
@given(data=st.data())
async def test_the_scheduler_skips_bad_events_and_handles_their_neighbours(
    scheduler: Consumer, caplog: pytest.LogCaptureFixture, data: st.DataObject
) -> None:
    await bad_then_neighbour(scheduler, caplog, data)


@EXAMPLES
@given(data=st.data())
async def test_evaluation_skips_bad_events_and_handles_their_neighbours(
    evaluation: Consumer, caplog: pytest.LogCaptureFixture, data: st.DataObject
) -> None:
    await bad_then_neighbour(evaluation, caplog, data)


@EXAMPLES
@given(data=st.data())
async def test_drift_skips_bad_events_and_handles_their_neighbours(
    drift: Consumer, caplog: pytest.LogCaptureFixture, data: st.DataObject
) -> None:
    await bad_then_neighbour(drift, caplog, data)


@settings(EXAMPLES, max_examples=20)
@given(data=st.data())
async def test_training_skips_bad_requests_and_runs_their_neighbours(
    training: Consumer, caplog: pytest.LogCaptureFixture, data: st.DataObject
) -> None:
    await bad_then_neighbour(training, caplog, data)


@settings(EXAMPLES, max_examples=20)
@given(data=st.data())
async def test_serving_skips_bad_promotions_and_obeys_their_neighbours(
    serving: Consumer, caplog: pytest.LogCaptureFixture, data: st.DataObject
) -> None:
    await bad_then_neighbour(serving, caplog, data)


# -- what the properties found, pinned --------------------------------------------------------


async def experiment_status(scheduler: Consumer, event: Event) -> str:
    cur = await scheduler.conn.execute(
        "SELECT status FROM experiments WHERE id = %s", (getattr(event, "experiment_id", ""),)
    )
    (status,) = await cur.fetchone() or ("",)
    return str(status)


async def test_an_event_of_a_version_nobody_knows_is_skipped_not_acted_on(
    scheduler: Consumer, caplog: pytest.LogCaptureFixture
) -> None:
    future = await scheduler.make(ExperimentControlRequested)
    neighbour = await scheduler.make(ExperimentControlRequested)
    raw = future.model_dump(mode="json") | {"schema_version": 2, "action": "stop"}

    await scheduler.feed(ExperimentControlRequested, encode(raw), neighbour)

    assert await experiment_status(scheduler, future) == "running"
    assert await experiment_status(scheduler, neighbour) == "paused"
    (reason,) = skipped(caplog, ExperimentControlRequested.topic)
    assert "schema_version" in reason and "version 2 is not understood" in reason


async def nul_in(
    service: Consumer, kind: type[Event], name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Feed ``kind`` with a NUL in its field ``name``, then a valid neighbour."""
    poisoned = await service.make(kind)
    raw = poisoned.model_dump(mode="json") | {name: f"{getattr(poisoned, name)}{NUL}"}
    neighbour = await service.make(kind)

    await service.feed(kind, encode(raw), neighbour)

    assert await service.handled(neighbour)
    (reason,) = skipped(caplog, kind.topic)
    assert name in reason and "NUL" in reason


# PostgreSQL's text cannot hold a NUL: every lookup by such an id raised, and the batch was
# read again, forever.


async def test_a_control_with_a_nul_in_its_experiment_id_is_skipped_not_retried_forever(
    scheduler: Consumer, caplog: pytest.LogCaptureFixture
) -> None:
    await nul_in(scheduler, ExperimentControlRequested, "experiment_id", caplog)


async def test_an_approval_with_a_nul_in_its_decision_id_is_skipped_not_retried_forever(
    evaluation: Consumer, caplog: pytest.LogCaptureFixture
) -> None:
    await nul_in(evaluation, ApprovalGiven, "decision_id", caplog)


async def test_a_request_with_a_nul_in_its_trial_id_is_skipped_not_retried_forever(
    training: Consumer, caplog: pytest.LogCaptureFixture
) -> None:
    await nul_in(training, TrialRequested, "trial_id", caplog)


async def test_a_label_the_store_refuses_costs_no_other_label_its_place(
    drift: Consumer, caplog: pytest.LogCaptureFixture
) -> None:
    nan = await drift.make(FeedbackReceived)
    neighbour = await drift.make(FeedbackReceived)
    raw = nan.model_dump(mode="json") | {"label": math.nan}

    await drift.feed(FeedbackReceived, encode(raw), neighbour)

    assert isinstance(nan, FeedbackReceived) and isinstance(neighbour, FeedbackReceived)
    cur = await drift.conn.execute("SELECT record_id FROM labels")
    assert [row[0] for row in await cur.fetchall()] == [neighbour.record_id]
    refusals = [r.getMessage() for r in caplog.records if "the store refused it" in r.getMessage()]
    assert [nan.record_id in refusal for refusal in refusals] == [True]


async def test_a_made_up_promotion_blocks_no_real_one(
    serving: Consumer, caplog: pytest.LogCaptureFixture
) -> None:
    real = await serving.make(ModelPromoted)
    # The real artifact, under a model id and a serving id serving history never gave.
    forged = real.model_copy(update={"model_id": "forged", "serving_id": 2**62})
    later = await serving.make(ModelPromoted)

    await serving.feed(ModelPromoted, forged, later)

    assert not await serving.handled(forged)
    assert await serving.handled(later)
    assert any("no such appointment" in r.getMessage() for r in caplog.records)


async def test_a_promotion_that_is_not_json_is_skipped_and_the_next_obeyed(
    serving: Consumer, caplog: pytest.LogCaptureFixture
) -> None:
    later = await serving.make(ModelPromoted)

    await serving.feed(ModelPromoted, b"\xff{not json", later)

    assert await serving.handled(later)
    assert skipped(caplog, ModelPromoted.topic)


async def test_an_event_the_store_refuses_is_skipped_and_its_neighbours_handled(
    scheduler: Consumer, caplog: pytest.LogCaptureFixture
) -> None:
    # Whatever the store will never take (here a rule this test adds) fails the same way
    # on every delivery: it is skipped, with the store's reason, instead of stalling.
    await scheduler.conn.execute(
        "ALTER TABLE experiments ADD CONSTRAINT reason_short CHECK (length(reason) < 100)"
    )
    refused = await scheduler.make(ExperimentControlRequested)
    neighbour = await scheduler.make(ExperimentControlRequested)
    raw = refused.model_dump(mode="json") | {"action": "stop", "reason": "x" * 200}

    await scheduler.feed(ExperimentControlRequested, encode(raw), neighbour)

    assert not await scheduler.handled(refused)
    assert await experiment_status(scheduler, refused) == "running"
    assert await experiment_status(scheduler, neighbour) == "paused"
    (reason,) = skipped(caplog, ExperimentControlRequested.topic)
    assert "the store refused it" in reason and "reason_short" in reason
