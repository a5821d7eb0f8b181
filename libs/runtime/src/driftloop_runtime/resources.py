"""What a service opens at start and closes at stop: its store pool, never at import."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Generic

from psycopg_pool import AsyncConnectionPool

from driftloop_store import open_pool

from .settings import SettingsT


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
        url = self.settings.database_url.get_secret_value()
        self._pool = await self._stack.enter_async_context(
            open_pool(url, max_size=self.settings.db_pool_size, migrate=True)
        )

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
