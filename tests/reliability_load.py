"""Load and counts of the reliability tests: records with malformed ones mixed in, sent by
the reference producer; a client that keeps asking serving for predictions; and what the
store and the broker hold afterwards.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

from driftloop.synthetic import FEATURES, records
from driftloop_contracts import RecordRejected, RecordsIngested
from driftloop_spec import validate_spec
from driftloop_store import migrate, register_stream

from .helpers import read_topic
from .reliability_stack import ADMIN_TOKEN

ENDED = ("completed", "failed", "stopped")
WINDOW = 5000
"""Labelled records an experiment trains on."""
FULL = WINDOW + 1000
"""Records in (stored or rejected) before the first experiment is asked for: its window
is full, so no refit of a short window follows it."""


def _malformed(record: dict[str, Any], kind: int) -> dict[str, Any]:
    """``record`` spoilt in one of six ways ingestion must dead-letter."""
    bad = {**record, "features": dict(record["features"])}
    match kind % 6:
        case 0:
            bad["features"]["salary"] = "a lot"  # wrong type
        case 1:
            del bad["features"]["age"]  # missing feature
        case 2:
            bad["features"]["shoe_size"] = 44  # unknown feature
        case 3:
            del bad["record_id"]  # missing envelope field
        case 4:
            bad["event_time"] = "yesterday"  # not a time
        case _:
            bad["stream"] = "nobody_registered_this"  # unknown stream
    bad["record_id" if "record_id" in bad else "_kind"] = f"{record['record_id']}-bad"
    return bad


@dataclass
class Mixed:
    """What was sent: the valid records' ids and how many malformed ones."""

    valid: int = 0
    malformed: int = 0


def mixed_records(
    stream: str, count: int, sent: Mixed, every: int = 100
) -> Iterator[dict[str, Any]]:
    """``count`` valid Agrawal records of one concept, and one malformed after each ``every``."""
    for index, record in enumerate(records(stream, "agrawal", count, seed=11, concepts=[0])):
        sent.valid += 1
        yield record
        if index % every == every - 1:
            sent.malformed += 1
            yield _malformed(record, index // every)


def sample_features(stream: str) -> dict[str, Any]:
    """The features of a valid record, to ask for predictions with."""
    features: dict[str, Any] = next(records(stream, "agrawal", 1, seed=12))["features"]
    return features


def spec(stream: str) -> dict[str, Any]:
    """A spec whose trials take seconds (forests on a window of thousands of records), so a
    fault lands in the middle of an experiment; no drift trigger: the experiments are the
    test's own."""
    return validate_spec(
        {
            "stream": stream,
            "task": "classification",
            "target": "class",
            "features": FEATURES["agrawal"],
            "window": {"last_labelled": WINDOW},
            "holdout": {"fraction": 0.25},
            "families": [
                {
                    "name": "sklearn.random_forest",
                    "space": {"n_estimators": {"int": [150, 300]}, "max_depth": {"int": [10, 16]}},
                }
            ],
            "budget": {"trials": 6, "parallel": 2, "wall_time": "150s", "trial_timeout": "60s"},
            "triggers": {"drift": None, "schedule": None},
            "promotion": {"mode": "auto", "first_model_threshold": 0.7},
            "seed": 7,
        }
    ).model_dump(mode="json")


async def register(database_url: str, stream: str, body: dict[str, Any]) -> None:
    features = {name: str(kind) for name, kind in body["features"].items()}
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await migrate(conn)
        await register_stream(conn, stream, features, body["target"], body)


async def request_experiment(serving_url: str, stream: str) -> str:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Driftloop-Actor": "reliability"}
    async with httpx.AsyncClient(base_url=serving_url, headers=headers, timeout=30) as admin:
        response = await admin.post("/admin/experiments", json={"stream": stream})
        assert response.status_code == 202, response.text
        experiment_id: str = response.json()["experiment_id"]
        return experiment_id


@dataclass
class Predictions:
    """A client asking serving for predictions one after the other until stopped."""

    url: str
    stream: str
    answered: list[float] = field(default_factory=list)
    """When each request answered with a prediction was sent: an answer that arrives
    just after a kill was sent before it."""
    failures: list[tuple[float, str]] = field(default_factory=list)
    """When each request not answered with a prediction failed, and why."""
    stopping: bool = False

    @property
    def sent(self) -> int:
        return len(self.answered) + len(self.failures)

    def first_answer_after(self, moment: float) -> float | None:
        """When the first request sent after ``moment`` and answered was sent; None if none
        was. Requests go one at a time, so every failure before it had been seen by then."""
        return next((at for at in self.answered if at > moment), None)

    async def run(self, features: dict[str, Any]) -> None:
        body = {"stream": self.stream, "features": features}
        # Generous: a slow answer on a busy machine is not a failure; a refused one is.
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            while not self.stopping:
                sent = time.monotonic()
                try:
                    response = await client.post("/predict", json=body)
                    if response.status_code == 200:
                        self.answered.append(sent)
                    else:
                        self.failures.append((time.monotonic(), f"HTTP {response.status_code}"))
                except httpx.HTTPError as exc:
                    self.failures.append((time.monotonic(), type(exc).__name__))
                    await asyncio.sleep(0.05)  # no busy loop against a closed port
                await asyncio.sleep(0.01)


async def serves(url: str, stream: str) -> bool:
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        try:
            response = await client.get("/models/current", params={"stream": stream})
        except httpx.HTTPError:
            return False
        return response.status_code == 200


@dataclass(frozen=True)
class Counts:
    stored: int
    distinct: int
    dead_lettered: int
    dead_letter_positions: int
    announced: int
    experiments: list[tuple[str, str, str]]


async def count(database_url: str, bootstrap: str, stream: str) -> Counts:
    """What the store and the broker hold now."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT count(*), count(DISTINCT (stream, record_id)) FROM records WHERE stream = %s",
            (stream,),
        )
        stored, distinct = await cur.fetchone() or (0, 0)
        cur = await conn.execute("SELECT count(*) FROM rejected_records")
        (dead,) = await cur.fetchone() or (0,)
        cur = await conn.execute(
            "SELECT id, status, reason FROM experiments WHERE stream = %s ORDER BY created_at",
            (stream,),
        )
        experiments = [(str(i), str(status), str(why)) for i, status, why in await cur.fetchall()]
    letters = [
        RecordRejected.parse(v) for _, v in await read_topic(bootstrap, RecordRejected.topic)
    ]
    return Counts(
        stored=stored,
        distinct=distinct,
        dead_lettered=dead,
        dead_letter_positions=len({(e.source_partition, e.source_offset) for e in letters}),
        announced=await announced(bootstrap, stream),
        experiments=experiments,
    )


async def announced(bootstrap: str, stream: str) -> int:
    """How many stored records ``RecordsIngested`` events announced, each event once: an
    announcement is sent at least once, under one event id."""
    summaries = {
        e.event_id: e
        for _, v in await read_topic(bootstrap, RecordsIngested.topic)
        if (e := RecordsIngested.parse(v)).stream == stream
    }
    return sum(e.stored for e in summaries.values())


async def all_announced(bootstrap: str, stream: str, least: int) -> bool:
    return await announced(bootstrap, stream) >= least


async def experiment_status(database_url: str, experiment_id: str) -> tuple[str, int] | None:
    """The experiment's status and how many of its trials completed; None before it exists."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT e.status, (SELECT count(*) FROM trials t"
            " WHERE t.experiment_id = e.id AND t.status = 'completed')"
            " FROM experiments e WHERE e.id = %s",
            (experiment_id,),
        )
        row = await cur.fetchone()
        return (row[0], int(row[1])) if row else None


async def running(database_url: str, experiment_id: str) -> bool:
    """Whether the experiment's first trial completed: with several more to go, a fault
    from now on lands in the middle of it (the summary line shows how it ended)."""
    found = await experiment_status(database_url, experiment_id)
    return found is not None and found[1] >= 1


async def all_ended(database_url: str, stream: str) -> bool:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM experiments WHERE stream = %s AND status <> ALL(%s)",
            (stream, list(ENDED)),
        )
        row = await cur.fetchone()
        return row is not None and row[0] == 0


async def stored_at_least(database_url: str, stream: str, least: int) -> bool:
    return await stored_and_rejected(database_url, stream) >= least


async def stored_and_rejected(database_url: str, stream: str) -> int:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT (SELECT count(*) FROM records WHERE stream = %s)"
            " + (SELECT count(*) FROM rejected_records)",
            (stream,),
        )
        (total,) = await cur.fetchone() or (0,)
        return int(total)
