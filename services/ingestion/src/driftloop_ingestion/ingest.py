"""One batch through ingestion: validate, store once, announce; Kafka commits afterwards.

The ingestor knows neither Kafka nor SQL: it is given a store and a way to publish, so
tests pass fakes in. It raises when the batch could not be stored, and the caller (the
Kafka handler) then leaves the offsets uncommitted so the batch comes again.

Once the rows are committed, their announcement is retried until the broker takes it:
the same batch delivered again would find its rows stored already and could no longer
announce them under the batch id they carry. Only a crash between the commit and the
announcement still loses it; closing that needs an outbox table in the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from driftloop_contracts import Event, Record

from .batch import Message, Plan, Written, plan_batch
from .retry import Backoff
from .schemas import SchemaCache
from .validation import Kind, Rejection, StreamSchema, validate


class Writer(Protocol):
    async def write(self, plan: Plan) -> Written: ...


class Store(Protocol):
    async def schemas(self) -> Mapping[str, StreamSchema]: ...

    def transaction(self) -> AbstractAsyncContextManager[Writer]: ...


Publish = Callable[[Sequence[Event]], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]

logger = logging.getLogger("driftloop.ingestion")


class Ingestor:
    def __init__(
        self,
        store: Store,
        publish: Publish,
        *,
        max_record_bytes: int,
        schema_ttl: float,
        backoff_max: float = 5.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._store = store
        self._publish = publish
        self._max_bytes = max_record_bytes
        self._schemas = SchemaCache(store.schemas, schema_ttl)
        self._backoff = Backoff(most=backoff_max)
        self._sleep = sleep

    async def ingest(self, messages: Sequence[Message]) -> list[Event]:
        """Store the batch's valid records once, count its rejects once; return what was sent."""
        verdicts, schemas = await self._validate(messages)
        plan = plan_batch(messages, verdicts, schemas)
        async with self._store.transaction() as writer:
            written = await writer.write(plan)
        # Announced only once committed: whoever reads a batch on hearing of it finds it.
        events: list[Event] = [*written.events(plan)]
        await self._announce(events)
        return events

    async def _announce(self, events: list[Event]) -> None:
        while True:
            try:
                await self._publish(events)
            except Exception:
                delay = self._backoff.failed()
                logger.exception("could not announce a stored batch; retrying in %.1fs", delay)
                await self._sleep(delay)
            else:
                self._backoff.succeeded()
                return

    async def _validate(
        self, messages: Sequence[Message]
    ) -> tuple[list[Record | Rejection], Mapping[str, StreamSchema]]:
        schemas = await self._schemas.get()
        verdicts = [self._judge(m, schemas) for m in messages]
        if not any(_unknown_stream(verdict) for verdict in verdicts):
            return verdicts, schemas
        # A stream registered since the last read must be accepted now: read again, and
        # judge only the messages that named an unknown stream a second time.
        schemas = await self._schemas.refresh()
        verdicts = [
            self._judge(m, schemas) if _unknown_stream(verdict) else verdict
            for m, verdict in zip(messages, verdicts, strict=True)
        ]
        return verdicts, schemas

    def _judge(self, message: Message, schemas: Mapping[str, StreamSchema]) -> Record | Rejection:
        try:
            return validate(message.value, schemas, self._max_bytes)
        except Exception as exc:
            # A validator bug met by one message must not fail its batch forever.
            logger.exception("validation failed on %s:%d:%d", *message.position)
            return Rejection(Kind.UNCHECKABLE, None, f"validation failed: {exc!r}")


def _unknown_stream(verdict: Record | Rejection) -> bool:
    return isinstance(verdict, Rejection) and verdict.kind is Kind.UNKNOWN_STREAM
