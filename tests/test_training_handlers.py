"""The training service's handler on FastStream's in-memory broker and a real PostgreSQL:
requests in, TrialCompleted / TrialFailed out through the outbox, garbage skipped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import SecretStr

from driftloop_contracts import TrialCompleted, TrialFailed, TrialRequested
from driftloop_runtime import Resources
from driftloop_training import Settings
from driftloop_training.handlers import create_router
from driftloop_training.worker import Trainer

from .test_training_worker import Seeded, add_trial, dataset, seed_experiment, trial_row


@dataclass
class Harness:
    broker: Any
    conn: psycopg.AsyncConnection[Any]
    seeded: Seeded
    published: list[tuple[bytes | None, TrialCompleted | TrialFailed]]

    async def request(self, request: TrialRequested | bytes) -> None:
        await self.broker.publish(request, topic=TrialRequested.topic, key=b"any")


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    settings = Settings(database_url=SecretStr(database_url), instance="w", retry_pause_seconds=0)
    resources = Resources(settings)
    broker = KafkaBroker()
    broker.include_router(create_router(resources, Trainer(settings)))
    published: list[tuple[bytes | None, TrialCompleted | TrialFailed]] = []

    def key(message: KafkaMessage) -> bytes | None:
        record: Any = message.raw_message  # one record: these subscribers are not batched
        return record.key  # type: ignore[no-any-return]

    @broker.subscriber(TrialCompleted.topic)
    async def completed(event: TrialCompleted, message: KafkaMessage) -> None:
        published.append((key(message), event))

    @broker.subscriber(TrialFailed.topic)
    async def failed(event: TrialFailed, message: KafkaMessage) -> None:
        published.append((key(message), event))

    await resources.start()
    try:
        async with (
            await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn,
            TestKafkaBroker(broker) as test_broker,
        ):
            seeded = await seed_experiment(conn, "handled", dataset(200))
            yield Harness(test_broker, conn, seeded, published)
    finally:
        await resources.stop()


async def test_a_request_publishes_its_completion_keyed_by_stream(harness: Harness) -> None:
    request = await add_trial(harness.conn, harness.seeded, "river.naive_bayes", {})

    await harness.request(request)

    ((key, event),) = harness.published
    assert key == b"handled" and isinstance(event, TrialCompleted)
    assert (event.trial_id, event.worker) == (request.trial_id, "w")
    assert (await trial_row(harness.conn, request.trial_id))["status"] == "completed"


async def test_a_failing_trial_publishes_its_failure(harness: Harness) -> None:
    request = await add_trial(harness.conn, harness.seeded, "river.naive_bayes", {"bogus": 1})

    await harness.request(request)

    ((key, event),) = harness.published
    assert key == b"handled" and isinstance(event, TrialFailed)
    assert event.reason.startswith("TypeError: ") and "bogus" in event.reason


async def test_a_message_that_is_not_a_request_is_skipped(harness: Harness) -> None:
    await harness.request(b"{not json")
    await harness.request(b'{"stream": "handled"}')
    assert harness.published == []

    request = await add_trial(harness.conn, harness.seeded, "river.naive_bayes", {})
    await harness.request(request)
    assert [event.trial_id for _, event in harness.published] == [request.trial_id]


async def test_a_store_error_fails_the_handler_so_the_request_is_read_again(
    harness: Harness,
) -> None:
    request = await add_trial(harness.conn, harness.seeded, "river.naive_bayes", {})
    await harness.conn.execute("ALTER TABLE trials RENAME TO trials_away")
    try:
        with pytest.raises(psycopg.errors.UndefinedTable):
            await harness.request(request)
    finally:
        await harness.conn.execute("ALTER TABLE trials_away RENAME TO trials")
    assert harness.published == []
