"""The connection pool, opened in the caller's lifespan and never at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from ._migrate import migrate as apply_migrations

Pool = AsyncConnectionPool[AsyncConnection[TupleRow]]


@asynccontextmanager
async def open_pool(
    url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    migrate: bool = False,
    open_timeout: float = 30.0,
    name: str | None = None,
) -> AsyncIterator[Pool]:
    """A pool on ``url`` (a URI or key=value conninfo, TCP or a Unix socket directory).

    Opening waits for ``min_size`` connections, so a wrong URL fails here within
    ``open_timeout`` seconds instead of at the first query. With ``migrate=True`` the pending
    migrations are applied once before the pool is handed out.
    """
    pool = Pool(
        url,
        min_size=min_size,
        max_size=max_size,
        name=name,
        open=False,
        # Connections left broken by a database restart are replaced instead of handed out.
        check=AsyncConnectionPool.check_connection,
    )
    try:
        await pool.open(wait=True, timeout=open_timeout)
        if migrate:
            async with pool.connection() as conn:
                await apply_migrations(conn)
        yield pool
    finally:
        await pool.close()
