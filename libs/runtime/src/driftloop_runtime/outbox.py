"""Events a service commits with its rows, published after the commit (the outbox).

    async with outbox.transaction() as tx:
        await tx.conn.execute("UPDATE experiments SET ...")
        tx.emit(ExperimentCompleted(...), key=stream)
    # committed, then published, then deleted from the outbox

A crash between the commit and the publish leaves the events in the ``outbox`` table;
``sweep`` (run at start and then every ``every`` seconds by ``run_sweeper``) publishes
them. Delivery is therefore at least once, under the event id they were stored with;
consumers skip event ids they handled already (``driftloop_store.first_handling``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection

from driftloop_contracts import Event
from driftloop_store import claim_stale, delete, enqueue

from .resources import Resources

Send = Callable[[str, bytes | None, dict[str, Any]], Awaitable[None]]
"""Publish one event: ``(topic, key, payload)``."""

logger = logging.getLogger("driftloop.outbox")


@dataclass
class Transaction:
    conn: AsyncConnection[Any]
    events: list[tuple[str, bytes | None, dict[str, Any]]] = field(default_factory=list)

    def emit(self, event: Event, key: str | None = None) -> None:
        """Publish ``event`` once this transaction has committed."""
        payload = event.model_dump(mode="json")
        self.events.append((event.topic, key.encode() if key else None, payload))


class Outbox:
    def __init__(self, resources: Resources[Any], send: Send, topics: Sequence[str]) -> None:
        """``topics``: those this service publishes, the only ones its sweep sends."""
        self._resources = resources
        self._send = send
        self._topics = tuple(topics)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._resources.pool.connection() as conn:
            async with conn.transaction():
                tx = Transaction(conn)
                yield tx
                ids = await enqueue(conn, tx.events)
            if not ids:
                return
            try:
                for topic, key, payload in tx.events:
                    await self._send(topic, key, payload)
                await delete(conn, ids)
            except Exception:
                # Committed: the sweep sends them later, so the caller's work stands.
                logger.exception("could not publish %d committed events; the sweep will", len(ids))

    async def sweep(self, older_than: float = 30.0, limit: int = 500) -> int:
        """Publish and delete events a crash left behind; how many were sent."""
        async with self._resources.pool.connection() as conn, conn.transaction():
            rows = await claim_stale(conn, older_than, limit, self._topics)
            for row in rows:
                await self._send(row.topic, row.key, row.payload)
            await delete(conn, [row.id for row in rows])
        if rows:
            logger.warning("published %d events left in the outbox", len(rows))
        return len(rows)

    async def run_sweeper(self, every: float = 15.0, older_than: float = 30.0) -> None:
        """Sweep forever; cancel the task to stop."""
        while True:
            try:
                await self.sweep(older_than)
            except Exception:
                logger.exception("outbox sweep failed; retrying in %.0fs", every)
            await asyncio.sleep(every)
