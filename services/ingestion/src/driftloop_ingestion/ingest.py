"""One batch through ingestion: validate, store once, announce; Kafka commits afterwards.

The ingestor knows neither Kafka nor SQL: it is given a store and a way to publish, so
tests pass fakes in. A batch goes in two steps, so that one batch can be validated while
the one before it is written (see ``pipeline``): ``prepare`` validates it and sorts it
into a plan, ``store`` writes the plan and announces it. ``store`` raises when the batch
could not be stored; the caller then commits no offsets for it and tries again.

The batch's events are written to the store's outbox in the transaction that stores its
rows. Once committed they are published, retried until the broker takes them (the same
batch delivered again would find its rows stored already and could no longer announce them
under the batch id they carry), and then deleted from the outbox. Should the process die
between the commit and that delete, the events stay in the outbox: before a batch, at most
once per ``recover_every`` seconds (so at once after a restart, when the batch that was cut
short is delivered again), the ingestor claims outbox events older than ``stale_after``
seconds, publishes them and deletes them; the service also runs that sweep on a timer
(``sweeper``), for a stream that went quiet after the crash. Events are therefore
delivered at least once, under the event id they were stored with; consumers dedupe by
event id where it matters.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from driftloop_contracts import Event
from driftloop_runtime import Message

from .batch import Plan, Written, plan_batch
from .check import Accepted, Schemas, judge
from .retry import Backoff
from .schemas import Load, SchemaCache
from .validation import Kind, Rejection, StreamSchema


class Writer(Protocol):
    async def write(self, plan: Plan) -> Written: ...

    async def enqueue(self, events: Sequence[Event]) -> list[int]:
        """Put the events in the outbox, in the writer's transaction; their outbox ids."""
        ...


class Store(Protocol):
    async def schemas(self) -> Mapping[str, StreamSchema]: ...

    def transaction(self) -> AbstractAsyncContextManager[Writer]: ...

    async def published(self, ids: Sequence[int]) -> None:
        """Delete these events from the outbox."""
        ...

    def stale(self, older_than: float, limit: int) -> AbstractAsyncContextManager[list[Event]]:
        """Claim up to ``limit`` outbox events older than ``older_than`` seconds that no one
        else holds; they are deleted if the block ends without an exception."""
        ...


Publish = Callable[[Sequence[Event]], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

logger = logging.getLogger("driftloop.ingestion")

_CHUNK = 500  # messages validated between two turns of the event loop


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
        stale_after: float = 60.0,
        recover_every: float = 30.0,
        recover_limit: int = 1000,
        clock: Clock = time.monotonic,
    ) -> None:
        self._store = store
        self._publish = publish
        self._max_bytes = max_record_bytes
        self._schemas = SchemaCache(store.schemas, schema_ttl)
        self._backoff = Backoff(most=backoff_max)
        self._sleep = sleep
        self._stale_after = stale_after
        self._recover_every = recover_every
        self._recover_limit = recover_limit
        self._clock = clock
        self._recovered_at: float | None = None
        self._checks: Schemas | None = None

    async def ingest(self, messages: Sequence[Message]) -> list[Event]:
        """Store the batch's valid records once, count its rejects once; return what was sent."""
        return await self.store(await self.prepare(messages))

    async def prepare(self, messages: Sequence[Message]) -> Plan:
        """The batch validated: its rows, its rejects and its batch ids."""
        now = self._clock()
        if self._recovered_at is None or now - self._recovered_at >= self._recover_every:
            self._recovered_at = now
            try:
                await self.recover()
            except Exception:
                # The batch's own announcement retries anyway; the sweep runs again later.
                logger.exception("could not publish the outbox's stale events")
        verdicts, schemas = await self._validate(messages)
        return plan_batch(messages, verdicts, schemas)

    def attempts(self, plan: Plan) -> Callable[[], Awaitable[list[Event]]]:
        """``store``, to be retried until it succeeds: each retry under new batch ids, as a
        batch delivered again would be. A failed attempt may have committed unseen (the
        connection lost during COMMIT), and its events, left in the outbox for the sweep,
        announce its rows under the first ids: no two announcements may share one."""
        tried = False

        async def attempt() -> list[Event]:
            nonlocal tried
            current, tried = (plan.renumbered() if tried else plan), True
            return await self.store(current)

        return attempt

    async def store(self, plan: Plan) -> list[Event]:
        """Store the plan in one transaction, then announce it; return what was sent."""
        async with self._store.transaction() as writer:
            written = await writer.write(plan)
            events: list[Event] = [*written.events(plan)]
            ids = await writer.enqueue(events)
        # Announced only once committed: whoever reads a batch on hearing of it finds it.
        await self._announce(events)
        try:
            await self._store.published(ids)
        except Exception:
            # Announced already: left in the outbox, the events are sent again later.
            logger.exception("could not delete announced events from the outbox")
        return events

    async def recover(self) -> int:
        """Publish and delete the outbox events a crash left behind; how many were sent."""
        sent = 0
        while True:
            async with self._store.stale(self._stale_after, self._recover_limit) as events:
                if events:
                    await self._publish(events)
            sent += len(events)
            if len(events) < self._recover_limit:
                break
        if sent:
            logger.warning("published %d events left in the outbox", sent)
        return sent

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
    ) -> tuple[list[Accepted | Rejection], Schemas]:
        schemas = await self._compiled(self._schemas.get)
        verdicts: list[Accepted | Rejection] = []
        for start in range(0, len(messages), _CHUNK):
            verdicts += [self._judge(m, schemas) for m in messages[start : start + _CHUNK]]
            # Let the batch being written meanwhile send its next statement to PostgreSQL.
            await asyncio.sleep(0)
        if not any(_unknown_stream(verdict) for verdict in verdicts):
            return verdicts, schemas
        # A stream registered since the last read must be accepted now: read again, and
        # judge only the messages that named an unknown stream a second time.
        schemas = await self._compiled(self._schemas.refresh)
        verdicts = [
            self._judge(m, schemas) if _unknown_stream(verdict) else verdict
            for m, verdict in zip(messages, verdicts, strict=True)
        ]
        return verdicts, schemas

    async def _compiled(self, load: Load) -> Schemas:
        schemas = await load()
        if self._checks is None or self._checks.all is not schemas:
            self._checks = Schemas(schemas)  # compiled once per read, not once per batch
        return self._checks

    def _judge(self, message: Message, schemas: Schemas) -> Accepted | Rejection:
        try:
            return judge(message.value, schemas, self._max_bytes)
        except Exception as exc:
            # A validator bug met by one message must not fail its batch forever.
            logger.exception("validation failed on %s:%d:%d", *message.position)
            return Rejection(Kind.UNCHECKABLE, None, f"validation failed: {exc!r}")


def _unknown_stream(verdict: Accepted | Rejection) -> bool:
    return isinstance(verdict, Rejection) and verdict.kind is Kind.UNKNOWN_STREAM
