"""Batches overlap: one is validated while the one before it is being written.

FastStream hands the handler one batch at a time. Were the handler to wait for the store,
PostgreSQL would sit idle while the next batch is fetched and validated, and the service
would sit idle while PostgreSQL writes. So the handler prepares its batch, waits until the
batch before it is stored (``submit``), starts storing its own and returns; the next batch
is fetched and validated meanwhile.

Offsets are then committed here, not by FastStream: each batch's own, once its rows are
durable and its events announced. Batches are stored one after the other, so offsets are
committed in delivery order and never past a batch not yet stored. A store that fails
(the database is down) is retried with backoff until it succeeds, and the batches behind
it wait. Should the process die meanwhile, the batches whose offsets were
not committed are delivered again, and stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from .retry import Backoff

Step = Callable[[], Awaitable[object]]
Sleep = Callable[[float], Awaitable[None]]

logger = logging.getLogger("driftloop.ingestion")


class Pipeline:
    """At most one batch being stored, in the background, while the next is prepared."""

    def __init__(self, *, backoff_max: float = 5.0, sleep: Sleep = asyncio.sleep) -> None:
        self._backoff = Backoff(most=backoff_max)
        self._sleep = sleep
        self._storing: asyncio.Task[None] | None = None
        self._closed = False

    async def submit(self, store: Step, commit: Step) -> None:
        """Wait until the batch before is stored and committed, then start ``store`` (retried
        until it succeeds) followed by ``commit``, and return."""
        await self.drain()
        if self._closed:
            # Stopping: the batch is neither stored nor committed, so it comes again.
            return
        self._storing = asyncio.create_task(self._run(store, commit))

    async def drain(self) -> None:
        """Wait until the batch being stored, if any, is stored and its offsets committed."""
        if self._storing is not None:
            # Shielded: a handler cancelled while it waits must not cancel the store.
            await asyncio.shield(self._storing)

    async def close(self, timeout: float) -> None:
        """Let the batch being stored finish, for at most ``timeout`` seconds; then give it up
        (its offsets stay uncommitted, so it is delivered again). Later batches are refused."""
        self._closed = True
        if self._storing is None:
            return
        try:
            await asyncio.wait_for(self.drain(), timeout)
        except TimeoutError:
            logger.warning("stopping with a batch not stored; it will be delivered again")
            self._storing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._storing

    async def _run(self, store: Step, commit: Step) -> None:
        while True:
            try:
                await store()
            except Exception:
                delay = self._backoff.failed()
                logger.exception("could not store a batch; retrying in %.1fs", delay)
                await self._sleep(delay)
            else:
                self._backoff.succeeded()
                break
        try:
            await commit()
        except Exception:
            # Stored already: at worst the batch is delivered again (after a rebalance, say)
            # and stored once.
            logger.warning("could not commit a stored batch's offsets", exc_info=True)
