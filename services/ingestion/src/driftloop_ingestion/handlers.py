"""Kafka wiring of the ingestion service: raw records in; summaries and dead letters out.

At-least-once: FastStream's Kafka default (``ACK_FIRST``) auto-commits offsets whatever
the handler does. Here the subscriber uses ``NACK_ON_ERROR``: auto-commit is off; a batch
whose handler returns commits its offsets, and it returns only once the store transaction
committed and the broker confirmed the events; a batch whose handler raises is nacked,
which seeks each of its partitions back to its first message, so the next poll delivers
it again.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Sequence
from typing import Annotated

from faststream.kafka import KafkaRouter
from faststream.middlewares import AckPolicy
from pydantic import SkipValidation

from driftloop_contracts import Event, Record, RecordRejected, RecordsIngested
from driftloop_runtime import Message, Resources, as_raw, batch_schema, publisher

from .batch import event_key
from .ingest import Ingestor, Store
from .retry import Backoff
from .settings import Settings
from .store import PostgresStore

SERVICE = "ingestion"

# Bytes that are not JSON must reach validation instead of failing FastStream's decoding.
Delivered = Annotated[list[Message], SkipValidation, batch_schema(Record)]


def create_router(resources: Resources[Settings]) -> KafkaRouter:
    return ingestion_router(resources.settings, PostgresStore(lambda: resources.pool))


def ingestion_router(settings: Settings, store: Store) -> KafkaRouter:
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
    backoff = Backoff(most=settings.retry_backoff_max_seconds)

    @router.subscriber(
        Record.topic,
        group_id=settings.group_id,
        batch=True,
        max_records=settings.batch_max_records,
        batch_timeout_ms=settings.batch_timeout_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=as_raw,
        title=f"{SERVICE}:on_records",
    )
    async def on_records(messages: Delivered) -> None:
        try:
            await ingestor.ingest(messages)
        except Exception:
            # The store failed, not the input: pause, then let the nack rewind the batch.
            # Without the pause an outage would spin the loop.
            await asyncio.sleep(backoff.failed())
            raise
        backoff.succeeded()

    return router
