"""Journey: the experiment loop across services, on the real embedded broker and PostgreSQL.

Scheduler, two training replicas, evaluation and serving run as their own apps under
uvicorn. The test plays ingestion and drift: it stores labelled records of one river
Agrawal concept and publishes ``DriftDetected``. The loop must answer on its own: an
experiment whose trials both replicas share, a gate, a promotion that serving swaps to.
Then the concept changes (a second experiment, seeded by the first, promotes a new
model) and comes back (the first model is re-scored and promoted again, with no
training). Finally a trial is replayed bit for bit.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import uuid4

import httpx
import psycopg
import pytest
from faststream.kafka import KafkaBroker
from psycopg.types.json import Jsonb
from pydantic import SecretStr

import driftloop_evaluation
import driftloop_scheduler
import driftloop_serving
import driftloop_training
from driftloop.synthetic import FEATURES, examples
from driftloop_contracts import DriftDetected, DriftSource, Severity
from driftloop_learn import Dataset, HoldoutSize, run_trial
from driftloop_spec import ExperimentSpec, validate_spec
from driftloop_store import get_artifact, migrate, register_stream

from .helpers import eventually, running_server

pytestmark = pytest.mark.journey

SCHEMA = FEATURES["agrawal"]
ROWS = 1200  # labelled records per concept: enough for a window of 1000 and a holdout


def spec(stream: str) -> dict[str, Any]:
    return validate_spec(
        {
            "stream": stream,
            "task": "classification",
            "target": "class",
            "features": SCHEMA,
            "window": {"last_labelled": 1000},
            "holdout": {"fraction": 0.3},
            "families": [
                {
                    "name": "sklearn.random_forest",
                    "space": {
                        "n_estimators": {"int": [5, 30]},
                        "max_depth": {"int": [2, 12]},
                    },
                },
                {"name": "sklearn.logistic_regression", "space": {"C": {"float": [0.01, 10]}}},
            ],
            "budget": {"trials": 10, "parallel": 2, "wall_time": "120s", "trial_timeout": "60s"},
            "promotion": {"first_model_threshold": 0.6, "alpha": 0.05},
            # No distance gate: Agrawal 0 -> 2 is far apart, and this journey checks that
            # a prior experiment's best configuration reaches the next one's first trial.
            "seeding": {"k": 3, "rescore_archived": True, "max_distance": None},
            "seed": 5,
        }
    ).model_dump(mode="json")


class Loop:
    def __init__(self, database_url: str, kafka: str, stream: str) -> None:
        self.database_url = database_url
        self.kafka = kafka
        self.stream = stream
        self.stored = 0

    async def query(self, text: str, *args: Any) -> list[tuple[Any, ...]]:
        async with await psycopg.AsyncConnection.connect(self.database_url) as conn:
            cur = await conn.execute(text, args)
            return await cur.fetchall()

    async def store(self, concept: int, seed: int) -> None:
        """Labelled records of one Agrawal concept, as ingestion would have stored them."""
        start = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=self.stored)
        rows = [
            (self.stream, f"r{self.stored + i}", start + timedelta(seconds=i), Jsonb(x), Jsonb(y))
            for i, (x, y) in enumerate(examples("agrawal", ROWS, seed=seed, concepts=[concept]))
        ]
        self.stored += ROWS
        async with await psycopg.AsyncConnection.connect(self.database_url) as conn:
            async with conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO records (stream, record_id, event_time, features, label)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    rows,
                )
            await conn.commit()

    async def drift(self, broker: KafkaBroker) -> str:
        """Raise an alarm; the experiment it starts takes the alarm's event id."""
        now = datetime.now(UTC)
        alarm = DriftDetected(
            stream=self.stream,
            source=DriftSource.ERRORS,
            detector="adwin",
            statistic=0.3,
            window_start=now - timedelta(minutes=1),
            window_end=now,
            records_seen=self.stored,
            severity=Severity.HIGH,
        )
        await broker.publish(alarm, topic=alarm.topic, key=self.stream.encode())
        return str(alarm.event_id)

    async def experiment_ended(self, experiment_id: str) -> tuple[str, str | None, str | None]:
        async def ended() -> tuple[str, str | None, str | None] | None:
            found = await self.query(
                "SELECT status, best_trial_id, candidate_model_id FROM experiments WHERE id = %s",
                experiment_id,
            )
            return found[0] if found and found[0][0] not in ("pending", "running") else None

        return cast(
            tuple[str, str | None, str | None],
            await eventually(ended, timeout=240, what=f"experiment {experiment_id} to end"),
        )

    async def serving(self, client: httpx.AsyncClient, model_id: str) -> dict[str, Any]:
        async def swapped() -> dict[str, Any] | None:
            response = await client.get("/models/current", params={"stream": self.stream})
            if response.status_code != 200:
                return None
            current: dict[str, Any] = response.json()[0]
            return current if current["model_id"] == model_id else None

        return cast(
            dict[str, Any], await eventually(swapped, timeout=60, what=f"{model_id} to serve")
        )

    async def promoted_for(self, experiment_id: str) -> tuple[str, str]:
        """The model the experiment's decision promoted, and the serving row's reason."""

        async def found() -> tuple[str, str] | None:
            rows = await self.query(
                "SELECT d.model_id, h.reason FROM decisions d"
                " JOIN serving_history h ON h.decision_id = d.id"
                " WHERE d.experiment_id = %s AND h.ended_at IS NULL",
                experiment_id,
            )
            return rows[0] if rows else None

        return cast(
            tuple[str, str],
            await eventually(found, timeout=60, what=f"a promotion from {experiment_id}"),
        )


@contextlib.asynccontextmanager
async def services(kafka: str, database_url: str) -> AsyncIterator[str]:
    """Every experiment service, each its own app; yields serving's URL."""
    secret = SecretStr(database_url)
    common: dict[str, Any] = {"kafka_bootstrap_servers": kafka, "database_url": secret}
    apps = [
        driftloop_scheduler.create_app(driftloop_scheduler.Settings(**common, loop_seconds=0.3)),
        driftloop_training.create_app(driftloop_training.Settings(**common, instance="trainer-a")),
        driftloop_training.create_app(driftloop_training.Settings(**common, instance="trainer-b")),
        driftloop_evaluation.create_app(driftloop_evaluation.Settings(**common)),
    ]
    serving = driftloop_serving.create_app(driftloop_serving.Settings(**common))
    async with contextlib.AsyncExitStack() as stack:
        for app in apps:
            await stack.enter_async_context(running_server(app))
        yield await stack.enter_async_context(running_server(serving))


async def test_drift_trains_on_two_workers_promotes_and_recurring_concepts_come_back(
    kafka: str, database_url: str
) -> None:
    stream = f"loop_{uuid4().hex[:8]}"
    loop = Loop(database_url, kafka, stream)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await migrate(conn)
        await register_stream(conn, stream, SCHEMA, "class", spec(stream))
    await loop.store(concept=0, seed=1)
    broker = KafkaBroker(kafka)
    await broker.start()
    try:
        async with (
            services(kafka, database_url) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as client,
        ):
            # 1. A drift alarm: an experiment whose trials both replicas share, then a first
            # model that passes the absolute threshold and serves.
            first = await loop.drift(broker)
            status, best_trial, _ = await loop.experiment_ended(first)
            assert status == "completed" and best_trial is not None
            trials = await loop.query(
                "SELECT status, worker FROM trials WHERE experiment_id = %s", first
            )
            assert len(trials) == 10 and {s for s, _ in trials} == {"completed"}
            assert {w for _, w in trials} == {"trainer-a", "trainer-b"}
            model_a, reason = await loop.promoted_for(first)
            assert reason == "first_model"
            await loop.serving(client, model_a)

            # 2. The concept changes: a second experiment, whose first trial repeats the
            # first experiment's best configuration, promotes a better model.
            await loop.store(concept=2, seed=2)
            second = await loop.drift(broker)
            status, _, candidate = await loop.experiment_ended(second)
            assert status == "completed" and candidate is None
            seeded = await loop.query(
                "SELECT t.source, t.seeded_from, t.family, t.params FROM trials t"
                " WHERE t.experiment_id = %s AND t.number = 0",
                second,
            )
            prior = await loop.query(
                "SELECT id, family, params FROM trials WHERE id = %s", best_trial
            )
            assert seeded[0] == ("seed", prior[0][0], prior[0][1], prior[0][2])
            model_b, reason = await loop.promoted_for(second)
            assert model_b != model_a and reason == "gate"
            await loop.serving(client, model_b)

            # 3. The first concept comes back: model A is re-scored on the new window and
            # promoted again without a single trial.
            await loop.store(concept=0, seed=3)
            third = await loop.drift(broker)
            status, _, candidate = await loop.experiment_ended(third)
            assert (status, candidate) == ("completed", model_a)
            assert await loop.query("SELECT 1 FROM trials WHERE experiment_id = %s", third) == []
            model, reason = await loop.promoted_for(third)
            assert (model, reason) == (model_a, "recurring")
            await loop.serving(client, model_a)
    finally:
        await broker.stop()

    # 4. Replay: the first experiment's best trial, re-run from its snapshot and seed,
    # gives identical metrics.
    (family, params, seed, metrics, snapshot_hash, stored_spec) = (
        await loop.query(
            "SELECT t.family, t.params, t.seed, t.metrics, e.snapshot_hash, e.spec"
            " FROM trials t JOIN experiments e ON e.id = t.experiment_id WHERE t.id = %s",
            best_trial,
        )
    )[0]
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        data = await get_artifact(conn, snapshot_hash)
    assert data is not None
    effective = ExperimentSpec.model_validate(stored_spec)
    replayed = run_trial(
        Dataset.from_bytes(data),
        family=family,
        params=params,
        seed=seed,
        task=effective.task,
        metric=effective.objective.metric,
        holdout=HoldoutSize(effective.holdout.fraction, effective.holdout.count),
    )
    assert replayed.metrics == metrics
