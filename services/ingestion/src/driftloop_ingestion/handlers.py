"""Kafka wiring of the ingestion service: raw records in; summaries and dead letters out.

At-least-once, with offsets committed by the handler rather than FastStream
(``AckPolicy.MANUAL``: no auto-commit, no commit on return). The handler validates its
batch, then hands it to the pipeline: the batch before it is stored first, then this one
is stored in the background while the next is fetched and validated. Each batch's own
offsets are committed once its store transaction committed and the broker confirmed its
events, in delivery order (``pipeline``). A batch that cannot even be validated (its
stream schemas cannot be read: the database is down) is rewound: each of its partitions
is sought back to its first message, so the next poll delivers it again.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Annotated, Any

from aiokafka import TopicPartition
from faststream.kafka import KafkaMessage, KafkaRouter
from faststream.middlewares import AckPolicy
from pydantic import SkipValidation

from driftloop_contracts import Event, Record, RecordRejected, RecordsIngested
from driftloop_runtime import Message, Resources, as_raw, batch_schema, publisher

from .batch import event_key
from .ingest import Ingestor, Store
from .pipeline import Pipeline
from .retry import Backoff
from .settings import Settings
from .store import PostgresStore
from .sweeper import Sweeper

SERVICE = "ingestion"

# Bytes that are not JSON must reach validation instead of failing FastStream's decoding.
Delivered = Annotated[list[Message], SkipValidation, batch_schema(Record)]

Offsets = Mapping[TopicPartition, int]
Commit = Callable[[Any, Offsets], Awaitable[None]]


async def commit_offsets(consumer: Any, offsets: Offsets) -> None:
    """Commit exactly these offsets: the consumer's position may be a batch further on."""
    await consumer.commit(dict(offsets))


def next_offsets(messages: Sequence[Message]) -> dict[TopicPartition, int]:
    """Each partition's offset after the batch: what to commit once it is stored."""
    after = {(m.topic, m.partition): m.offset + 1 for m in messages}  # offsets only grow
    return {TopicPartition(*partition): offset for partition, offset in after.items()}


def rewind(consumer: Any, messages: Sequence[Message]) -> None:
    """Seek each partition of the batch back to its first message."""
    first: dict[tuple[str, int], int] = {}
    for m in messages:
        first.setdefault((m.topic, m.partition), m.offset)
    for partition, offset in first.items():
        consumer.seek(TopicPartition(*partition), offset)


def create_router(
    resources: Resources[Settings],
    pipeline: Pipeline | None = None,
    sweeper: Sweeper | None = None,
) -> KafkaRouter:
    settings = resources.settings
    store = PostgresStore(lambda: resources.pool)
    return ingestion_router(settings, store, pipeline, sweeper=sweeper)


def ingestion_router(
    settings: Settings,
    store: Store,
    pipeline: Pipeline | None = None,
    commit: Commit = commit_offsets,
    sweeper: Sweeper | None = None,
) -> KafkaRouter:
    """The router around any store: PostgreSQL in the service, a fake in handler tests."""
    router = KafkaRouter()
    to_ingested = publisher(router, RecordsIngested, SERVICE)
    to_deadletter = publisher(router, RecordRejected, SERVICE)

    async def publish(events: Sequence[Event]) -> None:
        # Sent together and confirmed together: one wait for the broker, not one per event.
        sent = [
            await (to_ingested if isinstance(event, RecordsIngested) else to_deadletter).publish(
                event, key=event_key(event), no_confirm=True
            )
            for event in events
        ]
        await asyncio.gather(*(result for result in sent if inspect.isawaitable(result)))

    ingestor = Ingestor(
        store,
        publish,
        max_record_bytes=settings.max_record_bytes,
        schema_ttl=settings.schema_ttl_seconds,
        backoff_max=settings.retry_backoff_max_seconds,
    )
    if sweeper is not None:
        sweeper.bind(ingestor.recover)
    pipeline = pipeline or Pipeline(backoff_max=settings.retry_backoff_max_seconds)
    backoff = Backoff(most=settings.retry_backoff_max_seconds)

    @router.subscriber(
        Record.topic,
        group_id=settings.group_id,
        batch=True,
        max_records=settings.batch_max_records,
        batch_timeout_ms=settings.batch_timeout_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        decoder=as_raw,
        title=f"{SERVICE}:on_records",
    )
    async def on_records(messages: Delivered, message: KafkaMessage) -> None:
        try:
            plan = await ingestor.prepare(messages)
        except Exception:
            # The schemas could not be read: rewind, and pause so that an outage does not
            # spin the loop.
            rewind(message.consumer, messages)
            await asyncio.sleep(backoff.failed())
            raise
        backoff.succeeded()
        offsets = next_offsets(messages)
        await pipeline.submit(ingestor.attempts(plan), partial(commit, message.consumer, offsets))

    return router
