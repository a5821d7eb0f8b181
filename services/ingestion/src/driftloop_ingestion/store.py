"""Ingestion's SQL: stream schemas in; a batch's rows and rejects out, in one transaction.

Rows are idempotent on (stream, record_id): the batch's rows (the first of each id) are
COPYed straight into ``records``, and the primary key refuses any that is stored already.
Should it refuse one (a batch delivered again, a producer's duplicate, two consumers
overlapping across a rebalance), the COPY is rolled back to a savepoint and the batch goes
through a staging table and ``INSERT ... ON CONFLICT DO NOTHING`` instead. Looking the ids
up first would spare that second pass on such batches, but it cost every batch about a
fifth of PostgreSQL's time. Rejects are keyed by their Kafka position, so a redelivered
message is counted once.

The batch's events go into the outbox in the same transaction (``BatchWriter.enqueue``);
``published`` deletes them once the broker took them, and ``stale`` hands out those a crash
left behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, get_args
from uuid import UUID

from psycopg import AsyncConnection, errors
from psycopg_pool import AsyncConnectionPool

import driftloop_store as store
from driftloop_contracts import Event, RecordRejected, RecordsIngested
from driftloop_spec import Task

from .batch import Plan, Reject, Row, Written, event_key, refusal, tally
from .validation import StreamSchema

Conn = AsyncConnection[Any]

_TASKS: tuple[Task, ...] = get_args(Task)

# What ingestion publishes, by topic: how an event read back from the outbox is rebuilt.
_EVENTS: dict[str, type[Event]] = {kind.topic: kind for kind in (RecordsIngested, RecordRejected)}

# A row these errors refuse is bad data that validation let through: it is dead-lettered
# instead of failing the batch forever. Anything else (an outage) fails the batch.
_REFUSALS = (errors.DataError, errors.IntegrityError, errors.ProgramLimitExceeded)

_COLUMNS = "stream, record_id, event_time, features, label, batch_id"
_COPY = f"COPY records ({_COLUMNS}) FROM STDIN"
_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS ingestion_staging (
    ord int, stream text, record_id text, event_time timestamptz,
    features jsonb, label jsonb, batch_id uuid
) ON COMMIT DELETE ROWS
"""
_COPY_STAGING = f"COPY ingestion_staging (ord, {_COLUMNS}) FROM STDIN"
_MERGE = f"""
INSERT INTO records ({_COLUMNS})
SELECT {_COLUMNS} FROM ingestion_staging ORDER BY ord
ON CONFLICT (stream, record_id) DO NOTHING
RETURNING stream, record_id
"""
_INSERT_ONE = f"""
INSERT INTO records ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (stream, record_id) DO NOTHING
"""
_REJECT = """
INSERT INTO rejected_records
    (stream, record_id, field, reason, payload, source_topic, source_partition, source_offset)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                     %s::text[], %s::int[], %s::bigint[])
ON CONFLICT (source_topic, source_partition, source_offset) DO NOTHING
"""


async def load_schemas(conn: Conn) -> dict[str, StreamSchema]:
    """Every registered stream's schema; the task comes from the stream's spec, if any."""
    cur = await conn.execute("SELECT name, schema, target, spec->>'task' FROM streams")
    return {
        name: StreamSchema(name, schema, target, task if task in _TASKS else None)
        for name, schema, target, task in await cur.fetchall()
    }


class PostgresStore:
    """The store behind the ingestor; ``pool`` is read per call, once the app has opened it."""

    def __init__(self, pool: Callable[[], AsyncConnectionPool[Any]]) -> None:
        self._pool = pool

    async def schemas(self) -> dict[str, StreamSchema]:
        async with self._pool().connection() as conn:
            return await load_schemas(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[BatchWriter]:
        """Commits when the block ends without an exception; rolls back otherwise."""
        async with self._pool().connection() as conn, conn.transaction():
            yield BatchWriter(conn)

    async def published(self, ids: Sequence[int]) -> None:
        """Delete announced events from the outbox."""
        async with self._pool().connection() as conn:
            await store.delete(conn, ids)

    @asynccontextmanager
    async def stale(self, older_than: float, limit: int) -> AsyncIterator[list[Event]]:
        """Claim outbox events older than ``older_than`` seconds; deleted if the block ends
        without an exception, left for a later sweep otherwise. Rows another sweep holds
        are skipped."""
        async with self._pool().connection() as conn, conn.transaction():
            rows = await store.claim_stale(conn, older_than, limit)
            yield [_EVENTS[row.topic].model_validate(row.payload) for row in rows]
            await store.delete(conn, [row.id for row in rows])


class BatchWriter:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def write(self, plan: Plan) -> Written:
        inserted, refusals = await self._store(plan.rows) if plan.rows else ([], [])
        await self._count_rejects([*plan.rejects, *refusals])
        return Written(tally(inserted), refusals)

    async def enqueue(self, events: Sequence[Event]) -> list[int]:
        """Put the events in the outbox, in this transaction; their outbox ids."""
        return await store.enqueue(
            self._conn,
            [(event.topic, event_key(event), event.model_dump(mode="json")) for event in events],
        )

    async def _store(self, rows: list[Row]) -> tuple[list[Row], list[Reject]]:
        """The rows that were new, and the rows PostgreSQL refused."""
        try:
            return await self._savepoint(self._copy, rows), []
        except errors.UniqueViolation:
            pass  # some are stored already: merge instead
        except _REFUSALS:
            return await self._one_by_one(rows)
        try:
            return await self._savepoint(self._merge, rows), []
        except _REFUSALS:
            return await self._one_by_one(rows)

    async def _savepoint(
        self, write: Callable[[list[Row]], Awaitable[list[Row]]], rows: list[Row]
    ) -> list[Row]:
        # A failed attempt rolls back to here and leaves the transaction usable.
        async with self._conn.transaction():
            return await write(rows)

    async def _copy(self, rows: list[Row]) -> list[Row]:
        """All the rows, if none is stored yet; raises ``UniqueViolation`` otherwise."""
        new: dict[tuple[str, str], Row] = {}
        for row in rows:  # the first of two with one id in a batch wins
            new.setdefault((row.stream, row.record_id), row)
        ids = _UuidText()
        async with self._conn.cursor() as cur, cur.copy(_COPY) as copy:
            for row in new.values():
                await copy.write_row(_values(row, ids))
        return list(new.values())

    async def _merge(self, rows: list[Row]) -> list[Row]:
        await self._conn.execute(_STAGING)
        ids = _UuidText()
        async with self._conn.cursor() as cur:
            async with cur.copy(_COPY_STAGING) as copy:
                for ord_, row in enumerate(rows):
                    await copy.write_row((ord_, *_values(row, ids)))
            await cur.execute(_MERGE)
            kept = set(await cur.fetchall())
        return [row for row in rows if (row.stream, row.record_id) in kept]

    async def _one_by_one(self, rows: list[Row]) -> tuple[list[Row], list[Reject]]:
        """The slow path after a refusal: each row in its own savepoint, to find the bad ones."""
        inserted: list[Row] = []
        refusals: list[Reject] = []
        for row in rows:
            try:
                async with self._conn.transaction():
                    cur = await self._conn.execute(_INSERT_ONE, _values(row, _UuidText()))
            except _REFUSALS as exc:
                refusals.append(refusal(row, exc.diag.message_primary or type(exc).__name__))
                continue
            if cur.rowcount:
                inserted.append(row)
        return inserted, refusals

    async def _count_rejects(self, rejects: list[Reject]) -> None:
        """Insert the rejects; one whose Kafka position is counted already is skipped."""
        if not rejects:
            return
        columns: list[list[Any]] = [[] for _ in range(8)]
        for reject in rejects:
            rejection, message = reject.rejection, reject.message
            values = (
                rejection.stream,
                rejection.record_id,
                rejection.field,
                rejection.reason,
                reject.payload,
                *message.position,
            )
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        await self._conn.execute(_REJECT, columns)


def _values(row: Row, ids: _UuidText) -> tuple[Any, ...]:
    return row.stream, row.record_id, row.event_time, row.features, row.label, ids[row.batch_id]


class _UuidText(dict[UUID, str]):
    """Batch ids as text, each converted once: psycopg's UUID dumper is Python, and dumping
    one per row cost more than the rest of the row."""

    def __missing__(self, batch_id: UUID) -> str:
        text = self[batch_id] = str(batch_id)
        return text
