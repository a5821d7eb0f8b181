"""The training worker against a real PostgreSQL: a requested trial becomes a stored model,
a trials row with its lineage and a TrialCompleted; a broken one becomes a recorded reason.

The rows are those the scheduler writes (a stream with its spec, a snapshot artifact, an
experiment, a trial 'requested'); events go through the outbox to a recording ``send``.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from psycopg.types.json import Jsonb
from pydantic import SecretStr

from driftloop_contracts import TrialCompleted, TrialFailed, TrialRequested
from driftloop_learn import Dataset, Row, load
from driftloop_runtime import Resources
from driftloop_spec import parse_spec
from driftloop_store import get_artifact, migrate, put_artifact, register_stream
from driftloop_training import Settings
from driftloop_training.worker import Trainer

SNAPSHOT_MEDIA_TYPE = "application/vnd.driftloop.snapshot+json+gzip"
SCHEMA = {"x1": "float", "x2": "float", "colour": "category"}
Sent = list[tuple[str, bytes | None, dict[str, Any]]]


def spec_for(stream: str) -> dict[str, Any]:
    """A validated spec, stored as the registry stores it."""
    text = f"""
stream: {stream}
task: classification
target: y
features: {{x1: float, x2: float, colour: category}}
families: [sklearn.random_forest, river.hoeffding_tree]
holdout: {{fraction: 0.2}}
objective: accuracy
"""
    return parse_spec(text, "yaml").model_dump(mode="json")


def dataset(rows: int, seed: int = 3) -> Dataset:
    """Labelled rows a forest can learn (mostly the sign of x1 + x2), oldest first."""
    rng = random.Random(seed)
    made = []
    for i in range(rows):
        x1, x2 = rng.uniform(-1, 1), rng.uniform(-1, 1)
        noisy = rng.random() < 0.1
        label = int((x1 + x2 > 0) != noisy)
        colour = rng.choice(["red", "green", "blue"])
        made.append(Row(f"r-{i:05d}", i, {"x1": x1, "x2": x2, "colour": colour}, label))
    return Dataset.of(made)


@dataclass(frozen=True)
class Seeded:
    stream: str
    experiment_id: str
    snapshot_hash: str

    def request(
        self,
        trial_id: str,
        family: str,
        params: dict[str, Any],
        seed: int = 42,
        attempt: int = 1,
        timeout: float = 60.0,
    ) -> TrialRequested:
        return TrialRequested(
            stream=self.stream,
            experiment_id=self.experiment_id,
            trial_id=trial_id,
            snapshot_hash=self.snapshot_hash,
            family=family,
            params=params,
            seed=seed,
            attempt=attempt,
            timeout_seconds=timeout,
        )


async def seed_experiment(
    conn: psycopg.AsyncConnection[Any], stream: str, snapshot: Dataset
) -> Seeded:
    """The rows the scheduler has written when it asks for trials."""
    await migrate(conn)
    spec = spec_for(stream)
    await register_stream(conn, stream, SCHEMA, "y", spec)
    digest = await put_artifact(conn, snapshot.to_bytes(), SNAPSHOT_MEDIA_TYPE)
    window = {"kind": "last_labelled", "rows": len(snapshot)}
    await conn.execute(
        "INSERT INTO snapshots (hash, stream, window_definition, row_count)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (digest, stream, Jsonb(window), len(snapshot)),
    )
    experiment_id = str(uuid4())
    await conn.execute(
        "INSERT INTO experiments (id, stream, trigger, spec, budget_trials, budget_seconds,"
        " status, snapshot_hash, requested_by) VALUES (%s, %s, 'manual', %s, 20, 600,"
        " 'running', %s, 'test')",
        (experiment_id, stream, Jsonb(spec), digest),
    )
    return Seeded(stream, experiment_id, digest)


async def add_trial(
    conn: psycopg.AsyncConnection[Any],
    seeded: Seeded,
    family: str,
    params: dict[str, Any],
    seed: int = 42,
    attempt: int = 1,
) -> TrialRequested:
    """A trial row as the scheduler inserts it, and the request it publishes."""
    trial_id = str(uuid4())
    await conn.execute(
        "INSERT INTO trials (id, experiment_id, family, params, seed, status, attempt, number)"
        " VALUES (%s, %s, %s, %s, %s, 'requested', %s,"
        " (SELECT count(*) FROM trials WHERE experiment_id = %s))",
        (
            trial_id,
            seeded.experiment_id,
            family,
            Jsonb(params),
            seed,
            attempt,
            seeded.experiment_id,
        ),
    )
    return seeded.request(trial_id, family, params, seed, attempt)


async def trial_row(conn: psycopg.AsyncConnection[Any], trial_id: str) -> dict[str, Any]:
    cur = await conn.execute(
        "SELECT status, metrics, duration_seconds, cpu_seconds, artifact_sha256, code_version,"
        " library_versions, worker, error, finished_at, seed, params FROM trials WHERE id = %s",
        (trial_id,),
    )
    row = await cur.fetchone()
    assert row is not None and cur.description is not None
    return {column.name: value for column, value in zip(cur.description, row, strict=True)}


async def predictions(
    conn: psycopg.AsyncConnection[Any], event: TrialCompleted, rows: list[Any] | None = None
) -> list[Any]:
    stored = await get_artifact(conn, event.artifact_sha256)
    assert stored is not None
    return list(load(stored, event.artifact_sha256).predict(rows or dataset(200, seed=5).X))


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
async def seeded(conn: psycopg.AsyncConnection[Any]) -> Seeded:
    return await seed_experiment(conn, "trials", dataset(300))


@pytest.fixture
async def worker(database_url: str) -> AsyncIterator[tuple[Trainer, Sent]]:
    settings = Settings(database_url=SecretStr(database_url), instance="worker-1")
    resources = Resources(settings)
    await resources.start()
    sent: Sent = []

    async def send(topic: str, key: bytes | None, payload: dict[str, Any]) -> None:
        sent.append((topic, key, payload))

    trainer = Trainer(settings)
    trainer.bind(resources, send, (TrialCompleted.topic, TrialFailed.topic))
    try:
        yield trainer, sent
    finally:
        await resources.stop()


FOREST = {"n_estimators": 10, "max_depth": 5}


async def test_a_requested_trial_completes_with_its_model_and_lineage(
    conn: psycopg.AsyncConnection[Any], seeded: Seeded, worker: tuple[Trainer, Sent]
) -> None:
    trainer, sent = worker
    request = await add_trial(conn, seeded, "sklearn.random_forest", FOREST, seed=7)

    event = await trainer.handle(request)

    assert isinstance(event, TrialCompleted)
    row = await trial_row(conn, request.trial_id)
    assert row["status"] == "completed" and row["error"] is None
    assert row["metrics"] == event.metrics and event.metrics["accuracy"] > 0.65
    # 300 rows: 60 held out for the gate, the other 240 split 192 / 48.
    assert (event.metrics["train_rows"], event.metrics["validation_rows"]) == (192, 48)
    assert row["artifact_sha256"] == event.artifact_sha256
    assert row["duration_seconds"] == event.duration_seconds > 0
    assert row["cpu_seconds"] > 0
    assert (row["seed"], row["params"], row["worker"]) == (7, FOREST, "worker-1")
    assert row["code_version"] and row["finished_at"] is not None
    assert set(row["library_versions"]) >= {"scikit-learn", "river", "numpy"}
    stored = await get_artifact(conn, event.artifact_sha256)
    assert stored is not None
    model = load(stored, event.artifact_sha256)  # refuses bytes whose hash differs
    assert len(model.predict(dataset(5, seed=9).X)) == 5
    cur = await conn.execute(
        "SELECT media_type FROM artifacts WHERE sha256 = %s", (event.artifact_sha256,)
    )
    assert await cur.fetchone() == ("application/vnd.driftloop.model+pickle",)
    # Published after the commit, keyed by stream, and gone from the outbox.
    assert sent == [(TrialCompleted.topic, b"trials", event.model_dump(mode="json"))]
    assert (event.trial_id, event.experiment_id, event.attempt) == (
        request.trial_id,
        request.experiment_id,
        1,
    )
    assert event.causation_id == request.event_id
    cur = await conn.execute("SELECT count(*) FROM outbox")
    assert await cur.fetchone() == (0,)


@pytest.mark.parametrize(
    ("family", "params"),
    [
        ("sklearn.random_forest", FOREST),
        ("river.hoeffding_tree", {"grace_period": 50}),
    ],
)
async def test_the_same_trial_twice_gives_the_same_metrics_and_model(
    conn: psycopg.AsyncConnection[Any],
    seeded: Seeded,
    worker: tuple[Trainer, Sent],
    family: str,
    params: dict[str, Any],
) -> None:
    trainer, _ = worker
    first = await trainer.handle(await add_trial(conn, seeded, family, params, seed=11))
    second = await trainer.handle(await add_trial(conn, seeded, family, params, seed=11))
    other_seed = await trainer.handle(await add_trial(conn, seeded, family, params, seed=12))

    assert isinstance(first, TrialCompleted) and isinstance(second, TrialCompleted)
    assert first.trial_id != second.trial_id
    assert first.metrics == second.metrics
    unseen = dataset(200, seed=5).X
    assert await predictions(conn, first) == await predictions(conn, second, unseen)
    assert isinstance(other_seed, TrialCompleted)
    if family == "sklearn.random_forest":
        assert first.artifact_sha256 == second.artifact_sha256
        assert other_seed.artifact_sha256 != first.artifact_sha256  # the seed is used
    # river's Gaussian leaf statistics each hold an unseeded random.Random that prediction
    # never draws from, so a river model's pickle differs from run to run: same model,
    # other bytes (reported to libs/learn).


@pytest.mark.parametrize(
    ("family", "params", "rows", "expected"),
    [
        ("sklearn.random_forest", {"n_estimatorz": 5}, 300, "TypeError: "),
        ("sklearn.random_forest", {"max_depth": -3}, 300, "InvalidParameterError: "),
        ("no.such_family", {}, 300, "UnknownFamily: unknown family 'no.such_family'"),
        ("sklearn.random_forest", FOREST, 3, "ValueError: too few labelled rows"),
    ],
)
async def test_a_trial_that_raises_is_failed_with_its_reason(
    conn: psycopg.AsyncConnection[Any],
    worker: tuple[Trainer, Sent],
    family: str,
    params: dict[str, Any],
    rows: int,
    expected: str,
) -> None:
    trainer, sent = worker
    seeded = await seed_experiment(conn, "broken", dataset(rows))
    request = await add_trial(conn, seeded, family, params)

    event = await trainer.handle(request)

    assert isinstance(event, TrialFailed)
    assert event.reason.startswith(expected), event.reason
    assert "\n" not in event.reason and len(event.reason) <= 500
    if "n_estimatorz" in params:
        assert "n_estimatorz" in event.reason  # the estimator names what it refused
    row = await trial_row(conn, request.trial_id)
    assert (row["status"], row["error"], row["worker"]) == ("failed", event.reason, "worker-1")
    assert row["artifact_sha256"] is None and row["finished_at"] is not None
    assert sent == [(TrialFailed.topic, b"broken", event.model_dump(mode="json"))]
    assert (event.attempt, event.worker) == (1, "worker-1")


async def test_a_tampered_snapshot_is_refused(
    conn: psycopg.AsyncConnection[Any], seeded: Seeded, worker: tuple[Trainer, Sent]
) -> None:
    trainer, _ = worker
    other = dataset(300, seed=99).to_bytes()
    await conn.execute(
        "UPDATE artifacts SET bytes = %s, size = %s WHERE sha256 = %s",
        (other, len(other), seeded.snapshot_hash),
    )
    request = await add_trial(conn, seeded, "sklearn.random_forest", FOREST)

    event = await trainer.handle(request)

    assert isinstance(event, TrialFailed)
    assert event.reason.startswith("ArtifactMismatch: "), event.reason
    assert seeded.snapshot_hash[:12] in event.reason
    cur = await conn.execute(
        "SELECT count(*) FROM artifacts WHERE media_type = 'application/vnd.driftloop.model+pickle'"
    )
    assert await cur.fetchone() == (0,)


async def test_a_finished_trial_delivered_again_is_skipped(
    conn: psycopg.AsyncConnection[Any], seeded: Seeded, worker: tuple[Trainer, Sent]
) -> None:
    trainer, sent = worker
    request = await add_trial(conn, seeded, "sklearn.random_forest", FOREST)
    assert isinstance(await trainer.handle(request), TrialCompleted)
    before = await trial_row(conn, request.trial_id)

    assert await trainer.handle(request) is None

    assert await trial_row(conn, request.trial_id) == before
    assert len(sent) == 1


async def test_an_attempt_older_than_the_trials_is_skipped_for_the_newer_one(
    conn: psycopg.AsyncConnection[Any], seeded: Seeded, worker: tuple[Trainer, Sent]
) -> None:
    trainer, sent = worker
    # The scheduler re-queued the trial after its deadline: both requests are on Kafka.
    retried = await add_trial(conn, seeded, "sklearn.random_forest", FOREST, attempt=2)
    stale = retried.model_copy(update={"attempt": 1, "event_id": uuid4()})

    assert await trainer.handle(stale) is None
    assert sent == []
    event = await trainer.handle(retried)

    assert isinstance(event, TrialCompleted) and event.attempt == 2


async def test_a_trial_not_in_the_store_is_skipped(
    seeded: Seeded, worker: tuple[Trainer, Sent]
) -> None:
    trainer, sent = worker
    assert await trainer.handle(seeded.request(str(uuid4()), "sklearn.random_forest", {})) is None
    assert sent == []


async def test_a_store_error_raises_and_the_request_runs_when_read_again(
    conn: psycopg.AsyncConnection[Any], seeded: Seeded, worker: tuple[Trainer, Sent]
) -> None:
    trainer, sent = worker
    request = await add_trial(conn, seeded, "sklearn.random_forest", FOREST)
    await conn.execute("ALTER TABLE outbox RENAME TO outbox_away")

    # The trial ran, but its result could not be committed: not the trial's failure.
    with pytest.raises(psycopg.errors.UndefinedTable):
        await trainer.handle(request)
    row = await trial_row(conn, request.trial_id)
    assert (row["status"], row["artifact_sha256"], sent) == ("requested", None, [])

    await conn.execute("ALTER TABLE outbox_away RENAME TO outbox")
    assert isinstance(await trainer.handle(request), TrialCompleted)
    assert (await trial_row(conn, request.trial_id))["status"] == "completed"


async def test_the_experiments_spec_decides_the_metric_over_the_streams(
    conn: psycopg.AsyncConnection[Any], seeded: Seeded, worker: tuple[Trainer, Sent]
) -> None:
    trainer, _ = worker
    spec = spec_for(seeded.stream) | {"objective": {"metric": "f1"}}
    await conn.execute(
        "UPDATE experiments SET spec = %s WHERE id = %s", (Jsonb(spec), seeded.experiment_id)
    )
    event = await trainer.handle(await add_trial(conn, seeded, "sklearn.random_forest", FOREST))

    assert isinstance(event, TrialCompleted)
    assert "f1" in event.metrics and "accuracy" not in event.metrics


async def test_the_streams_spec_serves_when_the_experiment_holds_none(
    conn: psycopg.AsyncConnection[Any], seeded: Seeded, worker: tuple[Trainer, Sent]
) -> None:
    trainer, _ = worker
    await conn.execute("UPDATE experiments SET spec = '{}' WHERE id = %s", (seeded.experiment_id,))
    event = await trainer.handle(await add_trial(conn, seeded, "sklearn.random_forest", FOREST))

    assert isinstance(event, TrialCompleted) and "accuracy" in event.metrics
