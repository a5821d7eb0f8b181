"""Ingestion's outbox swept on a timer too, not only when records arrive.

The ingestor sweeps the outbox before a batch (``Ingestor.prepare``). A stream that falls
quiet just after a crash (its last batch committed, the announcement not yet sent) would
then keep that announcement in the outbox for good, and drift would never read those
rows. So the service also sweeps once it has started and then every ``every`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

Recover = Callable[[], Awaitable[int]]

logger = logging.getLogger("driftloop.ingestion")


class Sweeper:
    def __init__(self, every: float = 30.0) -> None:
        self._every = every
        self._recover: Recover | None = None
        self._task: asyncio.Task[None] | None = None

    def bind(self, recover: Recover) -> None:
        """What to run: the ingestor's ``recover``, once the router has made the ingestor."""
        self._recover = recover

    async def start(self) -> None:
        if self._recover is not None:
            self._task = asyncio.create_task(self._run(self._recover))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, recover: Recover) -> None:
        while True:
            try:
                await recover()
            except Exception:
                logger.exception("outbox sweep failed; retrying in %.0fs", self._every)
            await asyncio.sleep(self._every)
