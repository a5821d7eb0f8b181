"""Journey: ended experiments, approvals and rollbacks on the real broker -> the evaluation
service under uvicorn -> decisions, serving history and promotions, with alerts.

The store is seeded as the scheduler and training leave it: a stream with its spec,
labelled records, a snapshot artifact, an experiment and its best trial with a real model
(logistic regression from ``run_trial``). The stream's concept is y = x > 0.5 with 5%
noise; "flipped" records follow the opposite concept, as after a drift.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

import psycopg
import pytest
from faststream.kafka import KafkaBroker
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import driftloop_evaluation
from driftloop_contracts import (
    ApprovalGiven,
    ApprovalRequested,
    Event,
    ExperimentCompleted,
    ExperimentStatus,
    ModelPromoted,
    PromotionDecided,
    RollbackRequested,
)
from driftloop_learn import Dataset, Features, HoldoutSize, Row, dump, rows_from, run_trial
from driftloop_spec import ExperimentSpec
from driftloop_store import migrate, put_artifact, register_stream

from .helpers import eventually, read_topic, running_server

pytestmark = pytest.mark.journey

SNAPSHOT = "application/vnd.driftloop.snapshot+json+gzip"
MODEL = "application/vnd.driftloop.model+pickle"
FAMILY = "sklearn.logistic_regression"
FEATURES = {"x": "float", "z": "float"}
E = TypeVar("E", bound=Event)


def concept(n: int, *, flipped: bool, seed: int) -> list[tuple[Features, int]]:
    rng = random.Random(seed)
    made = []
    for _ in range(n):
        x = rng.random()
        y = int((x > 0.5) != flipped)
        features: Features = {"x": x, "z": rng.random()}
        made.append((features, 1 - y if rng.random() < 0.05 else y))
    return made


def offline(n: int, *, flipped: bool) -> Dataset:
    """Rows that are not in the store: what an old model learned from."""
    found = concept(n, flipped=flipped, seed=99)
    return Dataset.of(Row(f"old-{i}", i, x, y) for i, (x, y) in enumerate(found))


class Receiver:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    async def hook(self, request: Request) -> Response:
        self.received.append(json.loads(await request.body()))
        return Response(status_code=204)

    def kinds(self, stream: str) -> list[str]:
        return [alert["kind"] for alert in self.received if alert["stream"] == stream]


@dataclass
class Stream:
    """One stream's store, seeded as the scheduler and training would leave it."""

    url: str
    name: str
    spec: dict[str, Any]
    records: int = 0
    experiments: list[str] = field(default_factory=list)

    @classmethod
    async def register(cls, url: str, hook: str, **promotion: Any) -> Stream:
        budget = promotion.pop("reuse_budget", 10)
        spec = ExperimentSpec.model_validate(
            {
                "stream": f"ev_{uuid4().hex[:8]}",  # the broker outlives each test
                "task": "classification",
                "features": FEATURES,
                "target": "y",
                "families": [FAMILY],
                "holdout": {"fraction": 0.25, "reuse_budget": budget},
                "promotion": {"first_model_threshold": 0.8, **promotion},
                "alerts": [{"url": hook}],
                "seed": 5,
            }
        ).model_dump(mode="json")
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await migrate(conn)
            await register_stream(conn, spec["stream"], FEATURES, "y", spec)
        return cls(url, spec["stream"], spec)

    async def add(self, n: int, *, flipped: bool = False) -> None:
        now = datetime.now(UTC)
        found = concept(n, flipped=flipped, seed=self.records)
        async with await psycopg.AsyncConnection.connect(self.url) as conn, conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO records (stream, record_id, event_time, features, label)"
                " VALUES (%s, %s, %s, %s, %s)",
                [
                    (self.name, f"r{self.records + i}", now, Jsonb(x), Jsonb(y))
                    for i, (x, y) in enumerate(found)
                ],
            )
        self.records += n

    async def snapshot(self, last: int) -> tuple[Dataset, str]:
        """The newest ``last`` labelled records, stored as the scheduler stores a snapshot."""
        async with await psycopg.AsyncConnection.connect(self.url) as conn:
            cur = await conn.execute(
                "SELECT record_id, seq, features, label FROM records WHERE stream = %s"
                " ORDER BY seq DESC LIMIT %s",
                (self.name, last),
            )
            data = rows_from(await cur.fetchall())
            low, high = data.seq_range or (0, 0)
            window = {"kind": "records", "seq_low": low, "seq_high": high, "rows": len(data)}
            digest = await put_artifact(conn, data.to_bytes(), SNAPSHOT)
            await conn.execute(
                "INSERT INTO snapshots (hash, stream, window_definition, row_count)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (digest, self.name, Jsonb(window), len(data)),
            )
            await conn.commit()
        return data, digest

    async def experiment(
        self, snapshot: tuple[Dataset, str], *, trained_on: Dataset | None = None
    ) -> ExperimentCompleted:
        """A completed experiment whose best trial learned from ``trained_on`` (by default
        the snapshot, as a real trial does)."""
        data, digest = snapshot
        result = run_trial(
            trained_on or data,
            family=FAMILY,
            params={},
            seed=5,
            task="classification",
            metric="accuracy",
            holdout=HoldoutSize(fraction=0.25),
        )
        blob, _ = dump(result.model)
        experiment_id, trial_id = str(uuid4()), str(uuid4())
        async with await psycopg.AsyncConnection.connect(self.url) as conn:
            artifact = await put_artifact(conn, blob, MODEL)
            await conn.execute(
                "INSERT INTO experiments (id, stream, trigger, spec, budget_trials,"
                " budget_seconds, status, snapshot_hash, requested_by)"
                " VALUES (%s, %s, 'manual', %s, 1, 60, 'completed', %s, 'journey')",
                (experiment_id, self.name, Jsonb(self.spec), digest),
            )
            await conn.execute(
                "INSERT INTO trials (id, experiment_id, family, params, seed, status, metrics,"
                " artifact_sha256) VALUES (%s, %s, %s, '{}', 5, 'completed', %s, %s)",
                (trial_id, experiment_id, FAMILY, Jsonb(result.metrics), artifact),
            )
            await conn.execute(
                "UPDATE experiments SET best_trial_id = %s WHERE id = %s",
                (trial_id, experiment_id),
            )
            await conn.commit()
        self.experiments.append(experiment_id)
        return ExperimentCompleted(
            stream=self.name,
            experiment_id=experiment_id,
            status=ExperimentStatus.COMPLETED,
            best_trial_id=trial_id,
            best_metrics=result.metrics,
            snapshot_hash=digest,
            trials_run=1,
        )

    async def recurring(self, snapshot: tuple[Dataset, str], model_id: str) -> ExperimentCompleted:
        """An experiment answered, without training, by an archived model."""
        experiment_id = str(uuid4())
        await self.query(
            "INSERT INTO experiments (id, stream, trigger, spec, budget_trials, budget_seconds,"
            " status, snapshot_hash, requested_by, candidate_model_id)"
            " VALUES (%s, %s, 'drift', %s, 1, 60, 'completed', %s, 'journey', %s) RETURNING 1",
            experiment_id,
            self.name,
            Jsonb(self.spec),
            snapshot[1],
            model_id,
        )
        self.experiments.append(experiment_id)
        return ExperimentCompleted(
            stream=self.name,
            experiment_id=experiment_id,
            status=ExperimentStatus.COMPLETED,
            candidate_model_id=model_id,
            snapshot_hash=snapshot[1],
            trials_run=0,
        )

    async def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        async with (
            await psycopg.AsyncConnection.connect(self.url) as conn,
            conn.cursor(row_factory=dict_row) as cur,
        ):
            await cur.execute(sql, params)
            return await cur.fetchall()

    async def decision(self, experiment_id: str) -> dict[str, Any]:
        sql = "SELECT d.*, m.version FROM decisions d JOIN models m ON m.id = d.model_id"
        sql += " WHERE d.experiment_id = %s"

        async def made() -> dict[str, Any] | None:
            found = await self.query(sql, experiment_id)
            return found[0] if found else None

        found: dict[str, Any] = await eventually(made, timeout=60, what="the decision")
        return found

    async def serving(self) -> list[tuple[int, str, str]]:
        """(version, reason, actor) of every serving-history row, open one last."""
        found = await self.query(
            "SELECT m.version, h.reason, h.actor, h.ended_at FROM serving_history h"
            " JOIN models m ON m.id = h.model_id WHERE h.stream = %s ORDER BY h.id",
            self.name,
        )
        assert [row["ended_at"] is None for row in found][-1:] in ([], [True])
        assert sum(row["ended_at"] is None for row in found) <= 1
        return [(row["version"], row["reason"], row["actor"]) for row in found]

    async def published(self, kafka: str, event: type[E]) -> list[E]:
        found = [event.parse(value) for _, value in await read_topic(kafka, event.topic)]
        return [e for e in found if getattr(e, "stream", None) == self.name]


@dataclass
class Service:
    kafka: str
    database_url: str
    broker: KafkaBroker
    alerts: Receiver
    hook: str

    async def send(self, event: Event) -> None:
        key = str(getattr(event, "stream", "")).encode()
        await self.broker.publish(event, topic=event.topic, key=key)


@contextlib.contextmanager
def database(server_url: str) -> Iterator[str]:
    """A database of its own for this module (as conftest's ``database_url`` makes per
    test): one service for the module saves a consumer-group join per test."""
    name = f"driftloop_test_{uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield psycopg.conninfo.make_conninfo(server_url, dbname=name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="module")
async def service(kafka: str, postgres_server_url: str) -> AsyncIterator[Service]:
    receiver = Receiver()
    hooks = Starlette(routes=[Route("/hook", receiver.hook, methods=["POST"])])
    broker = KafkaBroker(kafka)
    with database(postgres_server_url) as url:
        settings = driftloop_evaluation.Settings(
            kafka_bootstrap_servers=kafka, database_url=SecretStr(url)
        )
        async with running_server(hooks) as hook_url:
            # Migrated before the service starts, so seeding and the service agree on it.
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await migrate(conn)
            async with running_server(driftloop_evaluation.create_app(settings)):
                await broker.start()
                try:
                    yield Service(kafka, url, broker, receiver, f"{hook_url}/hook")
                finally:
                    await broker.stop()


async def test_first_model_then_a_better_one_a_worse_one_a_tampered_one_and_rollbacks(
    service: Service,
) -> None:
    stream = await Stream.register(service.database_url, service.hook)
    await stream.add(200)
    first = await stream.snapshot(200)

    # Below the first-model threshold: a model of the opposite concept.
    await service.send(await stream.experiment(first, trained_on=offline(400, flipped=True)))
    low = await stream.decision(stream.experiments[-1])
    assert (low["verdict"], low["test"], low["status"]) == ("reject", "threshold", "final")
    assert low["candidate_score"] < 0.8 and "misses 0.8" in low["reason"]
    assert await stream.serving() == []

    await service.send(await stream.experiment(first))
    good = await stream.decision(stream.experiments[-1])
    assert (good["verdict"], good["version"], good["champion_id"]) == ("promote", 2, None)
    assert good["candidate_score"] >= 0.8 and "on 50 of 50 holdout rows" in good["reason"]
    assert await stream.serving() == [(2, "first_model", "evaluation")]

    # The concept flips: a model of the new one beats the champion on the new holdout.
    await stream.add(200, flipped=True)
    second = await stream.snapshot(200)
    better = await stream.experiment(second)
    await service.send(better)
    won = await stream.decision(better.experiment_id)
    assert (won["verdict"], won["version"], won["test"]) == ("promote", 3, "mcnemar")
    assert won["p_value"] < 0.05 and won["candidate_score"] > won["champion_score"] + 0.5
    assert won["champion_id"] == good["model_id"]
    await service.send(better)  # redelivered: judged once

    # A model of the old concept is rejected, with its numbers.
    await service.send(await stream.experiment(second, trained_on=offline(400, flipped=False)))
    lost = await stream.decision(stream.experiments[-1])
    assert (lost["verdict"], lost["version"], lost["status"]) == ("reject", 4, "final")
    assert lost["candidate_score"] < lost["champion_score"] and lost["p_value"] is not None
    assert (lost["alpha"], lost["min_gain"], lost["holdout_hash"]) == (
        0.05,
        0.0,
        won["holdout_hash"],
    )

    # An artifact altered in the store is refused, never loaded. (Its own model: trials
    # are deterministic, and a copy of the champion would share the champion's artifact.)
    tampered = await stream.experiment(second, trained_on=offline(300, flipped=True))
    await stream.query(
        "UPDATE artifacts SET bytes = bytes || '\\x00'::bytea, size = size + 1 WHERE sha256 ="
        " (SELECT artifact_sha256 FROM trials WHERE id = %s) RETURNING 1",
        tampered.best_trial_id,
    )
    await service.send(tampered)
    refused = await stream.decision(tampered.experiment_id)
    assert (refused["verdict"], refused["test"]) == ("reject", "none")
    assert "refused, not loaded" in refused["reason"]
    assert await stream.serving() == [(2, "first_model", "evaluation"), (3, "gate", "evaluation")]

    await service.send(RollbackRequested(stream=stream.name, actor="alice", reason="too eager"))
    await service.send(RollbackRequested(stream=stream.name, actor="bob", to_version=3))
    await service.send(RollbackRequested(stream=stream.name, actor="bob", to_version=9))

    # Rollbacks and ended experiments come on different topics, in no set order between
    # them: the recurrence is sent once both rollbacks serve, as a person would see them.
    async def rolled_back() -> list[tuple[int, str, str]]:
        found = await stream.serving()
        return found if len(found) == 4 else []

    assert (await eventually(rolled_back, timeout=60, what="the rollbacks"))[2:] == [
        (2, "rollback", "alice"),
        (3, "rollback", "bob"),
    ]

    # The first concept returns: the archived first model answers it, and beats v3.
    await stream.add(200)
    back = await stream.recurring(await stream.snapshot(200), good["model_id"])
    await service.send(back)
    recurred = await stream.decision(back.experiment_id)
    assert (recurred["verdict"], recurred["version"]) == ("promote", 2)
    failed = ExperimentCompleted(
        stream=stream.name,
        experiment_id=str(uuid4()),
        status=ExperimentStatus.FAILED,
        trials_run=3,
        reason="every trial failed",
    )
    await service.send(failed)

    async def all_promoted() -> list[ModelPromoted]:
        # At least once: an event the outbox sent twice (its first send's mark was slow to
        # commit) is one promotion, as consumers that skip repeated ids take it.
        found = await stream.published(service.kafka, ModelPromoted)
        unique: dict[UUID, ModelPromoted] = {}
        for p in found:
            unique.setdefault(p.event_id, p)
        return list(unique.values()) if len(unique) == 5 else []

    # Up to 90 s: an event whose send failed goes out with the outbox sweep, 60 s later.
    promoted = await eventually(all_promoted, timeout=90, what="rollbacks and the recurrence")
    assert [(p.version, p.reason.value) for p in promoted] == [
        (2, "first_model"),
        (3, "gate"),
        (2, "rollback"),
        (3, "rollback"),
        (2, "recurring"),
    ]
    assert [p.serving_id for p in promoted] == sorted({p.serving_id for p in promoted})
    assert promoted[2].previous_model_id == won["model_id"]
    assert promoted[4].experiment_id == back.experiment_id
    assert (await stream.serving())[2:] == [
        (2, "rollback", "alice"),
        (3, "rollback", "bob"),
        (2, "recurring", "evaluation"),
    ]
    decided = await stream.published(service.kafka, PromotionDecided)
    assert sorted(d.experiment_id or "" for d in decided) == sorted(stream.experiments)
    assert len(await stream.query("SELECT 1 FROM decisions WHERE stream = %s", stream.name)) == 6

    async def alerted() -> list[str]:
        kinds = service.alerts.kinds(stream.name)
        return kinds if len(kinds) == 8 else []

    kinds = await eventually(alerted, timeout=30, what="the alerts")
    assert kinds.count("promotion") == 3 and kinds.count("rollback") == 2
    failures = [
        a["summary"]
        for a in service.alerts.received
        if (a["kind"], a["stream"]) == ("failure", stream.name)
    ]
    assert any("rejected unjudged" in f and "refused, not loaded" in f for f in failures)
    assert any("rollback requested by bob not done: no model v9" in f for f in failures)
    assert any("every trial failed" in f for f in failures)


async def test_approval_mode_waits_for_a_person_and_a_pin_holds(
    service: Service,
) -> None:
    stream = await Stream.register(service.database_url, service.hook, mode="approval")
    await stream.add(200)
    first = await stream.experiment(await stream.snapshot(200))
    await service.send(first)
    waiting = await stream.decision(first.experiment_id)
    assert (waiting["verdict"], waiting["status"]) == ("await_approval", "pending")
    assert await stream.serving() == []
    approve = ApprovalGiven(
        stream=stream.name,
        model_id=waiting["model_id"],
        decision_id=waiting["id"],
        approved=True,
        actor="alice",
    )
    await service.send(approve)

    async def served() -> list[tuple[int, str, str]]:
        return await stream.serving()

    assert await eventually(served, what="the approved promotion") == [(1, "approval", "alice")]
    await stream.add(200, flipped=True)
    second = await stream.snapshot(200)
    better = await stream.experiment(second)
    await service.send(better)
    pending = await stream.decision(better.experiment_id)
    assert pending["verdict"] == "await_approval"
    await service.send(approve.model_copy(update={"event_id": uuid4()}))  # not pending now
    await service.send(
        approve.model_copy(
            update={
                "event_id": uuid4(),
                "decision_id": pending["id"],
                "model_id": pending["model_id"],
                "approved": False,
                "actor": "bob",
                "reason": "not on a Friday",
            }
        )
    )
    sql = "SELECT status, decided_by, reason FROM decisions WHERE id = %s AND status <> 'pending'"

    async def answered() -> list[dict[str, Any]]:
        return await stream.query(sql, pending["id"])

    (rejected,) = await eventually(answered, what="the rejection")
    assert (rejected["status"], rejected["decided_by"]) == ("rejected", "bob")
    assert rejected["reason"].endswith("rejected by bob (not on a Friday)")

    await stream.query(
        "INSERT INTO pins (stream, model_id, actor) VALUES (%s, %s, 'carol') RETURNING 1",
        stream.name,
        waiting["model_id"],
    )
    pinned = await stream.experiment(second)
    await service.send(pinned)
    held = await stream.decision(pinned.experiment_id)
    assert (held["verdict"], held["status"]) == ("reject", "final")
    assert held["reason"].startswith("stream pinned to model") and "carol" in held["reason"]
    assert await stream.serving() == [(1, "approval", "alice")]
    asked = await stream.published(service.kafka, ApprovalRequested)
    assert sorted(a.decision_id for a in asked) == sorted([waiting["id"], pending["id"]])
    approved = await stream.query(
        "SELECT status, decided_by FROM decisions WHERE id = %s", waiting["id"]
    )
    assert approved == [{"status": "approved", "decided_by": "alice"}]


async def test_a_spent_holdout_waits_for_fresh_records_then_judges_on_them(
    service: Service,
) -> None:
    stream = await Stream.register(service.database_url, service.hook, reuse_budget=1)
    await stream.add(200)
    snapshot = await stream.snapshot(200)
    await service.send(await stream.experiment(snapshot))
    first = await stream.decision(stream.experiments[-1])
    assert first["verdict"] == "promote"

    await service.send(await stream.experiment(snapshot))
    spent = await stream.decision(stream.experiments[-1])
    assert (spent["verdict"], spent["holdout_hash"]) == ("reject", first["holdout_hash"])
    assert "holdout reuse budget spent (1 of 1 uses)" in spent["reason"]
    assert spent["reason"].endswith("waiting for fresh labelled data")

    await stream.add(80)
    await service.send(await stream.experiment(snapshot))
    fresh = await stream.decision(stream.experiments[-1])
    assert fresh["holdout_hash"] != first["holdout_hash"] and fresh["test"] == "mcnemar"
    holdouts = await stream.query(
        "SELECT hash, uses, row_count, definition FROM holdouts WHERE stream = %s ORDER BY uses",
        stream.name,
    )
    by_hash = {row["hash"]: row for row in holdouts}
    assert by_hash[first["holdout_hash"]]["uses"] == 1
    newer = by_hash[fresh["holdout_hash"]]
    assert (newer["uses"], newer["row_count"], newer["definition"]["kind"]) == (1, 50, "fresh")
    assert newer["definition"]["after_seq"] == (snapshot[0].seq_range or (0, 0))[1]
    assert newer["definition"]["replaces"] == first["holdout_hash"]
