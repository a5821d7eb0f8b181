"""Journey: trial requests on the real embedded broker -> training replicas -> PostgreSQL.

Two replicas in the one consumer group split the 6 partitions of
``driftloop.trial.requested`` and so the trials; every trial completes once. A replica
run as its own process is SIGKILLed in the middle of a trial; it committed nothing, so
once the broker has given up on it the trial is read again, and finished, by another.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from faststream.asgi import AsgiFastStream
from pydantic import SecretStr

import driftloop_training
from driftloop.embedded import free_port
from driftloop.topics import partitions
from driftloop_contracts import TrialCompleted, TrialRequested

from .helpers import eventually, read_topic, running_server
from .test_training_worker import Seeded, add_trial, dataset, seed_experiment, trial_row

pytestmark = pytest.mark.journey

TOPIC = TrialRequested.topic
PARTITIONS = partitions(TOPIC)
# How long the broker waits for a silent replica before its partitions go to the others.
# The service's default (aiokafka's) is 10 s; the replica to be killed is given 6 s, the
# least Apache Kafka accepts by default (group.min.session.timeout.ms), so the test also
# runs against a real Kafka. Its heartbeats are sent every second to match.
SESSION_TIMEOUT_MS, HEARTBEAT_MS = 6_000, 1_000


def partition_of(trial_id: str) -> int:
    """Where the producer puts a request keyed by ``trial_id``."""
    return int(DefaultPartitioner()(trial_id.encode(), list(range(PARTITIONS)), []))


def settings(
    kafka: str, database_url: str, instance: str, group: str | None = None
) -> driftloop_training.Settings:
    return driftloop_training.Settings(
        kafka_bootstrap_servers=kafka,
        database_url=SecretStr(database_url),
        instance=instance,
        consumer_group=group,
    )


def assignment(app: AsgiFastStream) -> set[int]:
    """The partitions of the trial requests this replica's consumer holds now."""
    assert app.broker is not None
    subscribers: list[Any] = app.broker.subscribers
    (subscriber,) = [s for s in subscribers if TOPIC in s.topic_names]
    consumer = subscriber.consumer
    if consumer is None:
        return set()
    return {tp.partition for tp in consumer.assignment() if tp.topic == TOPIC}


async def publish(kafka: str, requests: list[TrialRequested]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        for request in requests:
            value = request.model_dump_json().encode()
            await producer.send_and_wait(TOPIC, value, key=request.trial_id.encode())
    finally:
        await producer.stop()


async def completions(kafka: str, experiment_id: str) -> list[TrialCompleted]:
    events = [TrialCompleted.parse(v) for _, v in await read_topic(kafka, TrialCompleted.topic)]
    return [e for e in events if e.experiment_id == experiment_id]


async def statuses(database_url: str, trial_ids: list[str]) -> dict[str, tuple[str, str]]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT id, status, coalesce(worker, '') FROM trials WHERE id = ANY(%s)", (trial_ids,)
        )
        return {tid: (status, worker) for tid, status, worker in await cur.fetchall()}


async def experiment(database_url: str, rows: int) -> tuple[psycopg.AsyncConnection[Any], Seeded]:
    conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    return conn, await seed_experiment(conn, "journey", dataset(rows))


async def test_two_replicas_share_the_trials_and_each_completes_once(
    kafka: str, database_url: str
) -> None:
    conn, seeded = await experiment(database_url, 300)
    requests: list[TrialRequested] = []
    # Trials on every partition, so that whichever way the group splits them both work.
    while {partition_of(r.trial_id) for r in requests} != set(range(PARTITIONS)):
        n = len(requests)
        family, params = (
            ("river.hoeffding_tree", {"grace_period": 50 + n})
            if n % 3 == 0
            else ("sklearn.random_forest", {"n_estimators": 20 + n, "max_depth": 6})
        )
        requests.append(await add_trial(conn, seeded, family, params, seed=n))
    await conn.close()
    ids = [r.trial_id for r in requests]
    first, second = (
        driftloop_training.create_app(settings(kafka, database_url, name))
        for name in ("first", "second")
    )
    async with running_server(first), running_server(second):

        async def split() -> bool:
            a, b = assignment(first), assignment(second)
            return bool(a and b and not a & b and a | b == set(range(PARTITIONS)))

        await eventually(split, timeout=60, what="both replicas to hold partitions")
        owner = dict.fromkeys(assignment(first), "first") | dict.fromkeys(
            assignment(second), "second"
        )
        await publish(kafka, requests)

        async def all_done() -> dict[str, tuple[str, str]] | None:
            found = await statuses(database_url, ids)
            return found if all(s == "completed" for s, _ in found.values()) else None

        done = await eventually(all_done, timeout=90, what=f"{len(ids)} trials to complete")

    assert len(ids) >= 6
    assert {worker for _, worker in done.values()} == {"first", "second"}
    # Each trial ran where its partition was: the group, not a race, shared them.
    assert {tid: worker for tid, (_, worker) in done.items()} == {
        tid: owner[partition_of(tid)] for tid in ids
    }

    async def announced() -> list[TrialCompleted]:
        found = await completions(kafka, seeded.experiment_id)
        return found if len(found) >= len(ids) else []

    events = await eventually(announced, timeout=30, what="every TrialCompleted")
    assert sorted(e.trial_id for e in events) == sorted(ids)  # once each
    assert {e.trial_id: e.worker for e in events} == {t: w for t, (_, w) in done.items()}


@contextlib.asynccontextmanager
async def replica_process(
    kafka: str, database_url: str, instance: str, group: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``python -m driftloop_training`` as production runs it, logging to a pipe."""
    env = os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "DATABASE_URL": database_url,
        "PORT": str(free_port()),
        "DRIFTLOOP_INSTANCE": instance,
        "DRIFTLOOP_CONSUMER_GROUP": group,
        "DRIFTLOOP_LOG_LEVEL": "INFO",
        "DRIFTLOOP_KAFKA_SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_MS),
        "DRIFTLOOP_KAFKA_HEARTBEAT_INTERVAL_MS": str(HEARTBEAT_MS),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "driftloop_training",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def wait_for_line(process: asyncio.subprocess.Process, *words: str) -> None:
    """Read the process's output up to the first line holding every one of ``words``."""
    assert process.stdout is not None
    while line := (await process.stdout.readline()).decode():
        if all(word in line for word in words):
            return
    raise AssertionError("the replica exited before it logged " + " ".join(words))


async def test_a_replica_killed_mid_trial_loses_no_trial(kafka: str, database_url: str) -> None:
    # About 3 s of work (more on a loaded machine): still running when the kill comes,
    # milliseconds after the replica logs that it started.
    conn, seeded = await experiment(database_url, 4000)
    slow = await add_trial(conn, seeded, "sklearn.random_forest", {"n_estimators": 250})
    await conn.close()

    # A group of its own: no member left by another test on the shared broker can hold
    # the partition the slow trial is on.
    group = f"driftloop-training-{uuid4().hex[:8]}"
    async with replica_process(kafka, database_url, "doomed", group) as doomed:
        await publish(kafka, [slow])
        await asyncio.wait_for(
            wait_for_line(doomed, f"trial {slow.trial_id} attempt 1", "started"), timeout=180
        )
        doomed.send_signal(signal.SIGKILL)
        await doomed.wait()
    assert await statuses(database_url, [slow.trial_id]) == {slow.trial_id: ("requested", "")}

    survivor = driftloop_training.create_app(settings(kafka, database_url, "survivor", group))
    async with running_server(survivor):

        async def completed() -> bool:
            found = await statuses(database_url, [slow.trial_id])
            return found[slow.trial_id][0] == "completed"

        await eventually(completed, timeout=90, what="the survivor to finish the killed trial")

    async with await psycopg.AsyncConnection.connect(database_url) as check:
        row = await trial_row(check, slow.trial_id)
    assert (row["status"], row["worker"], row["error"]) == ("completed", "survivor", None)
    events = await eventually(
        lambda: completions(kafka, seeded.experiment_id), timeout=30, what="TrialCompleted"
    )
    assert [(e.trial_id, e.worker, e.artifact_sha256) for e in events] == [
        (slow.trial_id, "survivor", row["artifact_sha256"])
    ]
