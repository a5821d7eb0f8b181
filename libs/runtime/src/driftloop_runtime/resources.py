"""What a service opens at start and closes at stop: its store pool, never at import."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AsyncExitStack
from typing import Generic

from psycopg import OperationalError
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from driftloop_store import open_pool

from .settings import SettingsT

logger = logging.getLogger("driftloop.store")


class StoreNotOpen(RuntimeError):
    """A handler ran before the service's start hook opened the store."""


class Resources(Generic[SettingsT]):
    """Holds the pool that the start hook opens; handlers read it when they run."""

    def __init__(self, settings: SettingsT) -> None:
        self.settings = settings
        self._pool: AsyncConnectionPool | None = None
        self._stack = AsyncExitStack()

    @property
    def pool(self) -> AsyncConnectionPool:
        if self._pool is None:
            raise StoreNotOpen(f"{self.settings.service}: the store is not open")
        return self._pool

    async def start(self) -> None:
        """Open the pool, waiting with backoff while the database is unreachable: a service
        started before its database (or during an outage) comes up once it answers. After
        ``db_wait_seconds`` it gives up, so a supervisor sees a service that cannot start."""
        url = self.settings.database_url.get_secret_value()
        deadline = time.monotonic() + self.settings.db_wait_seconds
        delay = 0.5
        while True:
            try:
                self._pool = await self._stack.enter_async_context(
                    open_pool(
                        url, max_size=self.settings.db_pool_size, migrate=True, open_timeout=2.0
                    )
                )
                return
            except (PoolTimeout, OperationalError) as exc:
                if time.monotonic() + delay > deadline:
                    raise
                # The reason, never the URL: it may hold a password.
                logger.warning(
                    "%s: database unreachable (%s); retrying in %.1fs",
                    self.settings.service,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def stop(self) -> None:
        self._pool = None
        await self._stack.aclose()

    async def database_ok(self) -> bool:
        if self._pool is None:
            return False
        try:
            async with self._pool.connection(timeout=2) as conn:
                await conn.execute("SELECT 1")
        except Exception:
            return False
        return True
