"""When online champions are checkpointed: every N labels, every T seconds, on a swap away
from one, and at shutdown; the state goes to the store (artifact + ``online_checkpoints``)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from driftloop_runtime import Resources

from . import online
from .champions import Champion, Champions
from .metrics import Metrics
from .settings import Settings
from .store import save_checkpoint


class Checkpointer:
    def __init__(
        self, resources: Resources[Settings], champions: Champions, metrics: Metrics
    ) -> None:
        self._resources = resources
        self._champions = champions
        self._metrics = metrics
        self._soon = asyncio.Event()

    def nudge(self, champion: Champion) -> None:
        """Check soon rather than at the next tick: ``champion`` may have learned enough."""
        state = champion.online
        if state is not None and state.unsaved >= self._resources.settings.checkpoint_every_labels:
            self._soon.set()

    async def run(self) -> None:
        """Save the champions that are due, forever; cancel to stop."""
        settings = self._resources.settings
        every = settings.checkpoint_every_seconds
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._soon.wait(), timeout=min(1.0, every))
            self._soon.clear()
            now = time.monotonic()
            for champion in self._champions.all():
                if online.due(champion, settings.checkpoint_every_labels, every, now):
                    await self.save(champion)

    async def save_unsaved(self, champions: list[Champion]) -> None:
        for champion in champions:
            if champion.online is not None and champion.online.unsaved:
                await self.save(champion)

    async def save(self, champion: Champion) -> None:
        ok = await online.checkpoint(champion, self._store)
        self._metrics.checkpoints.labels(champion.stream, "saved" if ok else "failed").inc()

    async def _store(self, champion: Champion, data: bytes, learned: int) -> None:
        async with self._resources.pool.connection() as conn, conn.transaction():
            await save_checkpoint(conn, champion.stream, champion.model_id, data, learned)
