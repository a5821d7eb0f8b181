"""Versioned plain-SQL migrations, applied once per database however many services start.

The files are ``migrations/NNNN_name.sql`` inside this package. Every pending file runs in
its own transaction together with its row in ``schema_migrations``, so a failure leaves the
database at the last version that worked. A file must therefore hold no transaction control
and nothing that refuses to run in a transaction (``CREATE INDEX CONCURRENTLY``).

Applied files are never edited: a changed checksum stops every service at start rather than
leaving databases that ran different SQL under the same version. Versions in the database
that this code does not know are left alone, so an older release can still start after a
newer one migrated.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.abc import Traversable
from importlib.resources import files
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus

# Any fixed key works as long as every driftloop process uses the same one; advisory locks
# are per database, so services migrating different databases never wait on each other.
_LOCK_KEY = 0x6472_6966_746C_6F6F  # "driftloo"

_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """The migrations cannot be applied as they are; the message says which and why."""


@dataclass(frozen=True, order=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        # Line endings are normalised so a checkout with CRLF does not look like an edit.
        return hashlib.sha256(self.sql.replace("\r\n", "\n").encode()).hexdigest()


def load_migrations(directory: Traversable | None = None) -> list[Migration]:
    """The migration files in ``directory`` (the packaged ones by default), oldest first."""
    directory = directory or files("driftloop_store") / "migrations"
    found: list[Migration] = []
    for entry in directory.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        if not (match := _FILE_NAME.match(entry.name)):
            raise MigrationError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        found.append(Migration(match["version"], match["name"], entry.read_text("utf-8")))
    return _ordered(found)


def _ordered(migrations: Iterable[Migration]) -> list[Migration]:
    ordered = sorted(migrations)
    versions = [m.version for m in ordered]
    if duplicates := sorted({v for v in versions if versions.count(v) > 1}):
        raise MigrationError(f"more than one migration with version {', '.join(duplicates)}")
    return ordered


async def migrate(
    conn: AsyncConnection[Any], migrations: Sequence[Migration] | None = None
) -> list[str]:
    """Apply the pending migrations and return the versions this call applied.

    Safe to call from every service at start: an advisory lock lets one caller apply each
    file while the others wait and then find it done. ``conn`` must not be inside a
    transaction, or the files could not each commit on their own.
    """
    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise MigrationError("migrate() needs a connection that is not inside a transaction")
    wanted = load_migrations() if migrations is None else _ordered(migrations)
    async with conn.transaction():
        await _lock(conn)
        await conn.execute(_CREATE_TABLE)
        applied = await _applied_checksums(conn)
    _check_unchanged(wanted, applied)

    done: list[str] = []
    for migration in wanted:
        if migration.version in applied:
            continue
        async with conn.transaction():
            await _lock(conn)
            # Another service may have applied it while this one waited for the lock.
            applied = await _applied_checksums(conn)
            if migration.version in applied:
                _check_unchanged([migration], applied)
                continue
            await _apply(conn, migration)
        done.append(migration.version)
    return done


def migrate_url(url: str) -> list[str]:
    """Apply the pending migrations to the database at ``url``, for synchronous callers."""

    async def run() -> list[str]:
        async with await AsyncConnection.connect(url, autocommit=True) as conn:
            return await migrate(conn)

    return asyncio.run(run())


async def applied_migrations(conn: AsyncConnection[Any]) -> list[str]:
    """The versions applied to this database, oldest first; empty before the first migrate."""
    cur = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    exists = await cur.fetchone()
    if not exists or not exists[0]:
        return []
    cur = await conn.execute("SELECT version FROM schema_migrations ORDER BY version")
    return [str(version) for (version,) in await cur.fetchall()]


async def _lock(conn: AsyncConnection[Any]) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))


async def _applied_checksums(conn: AsyncConnection[Any]) -> dict[str, str]:
    cur = await conn.execute("SELECT version, checksum FROM schema_migrations")
    return {str(version): str(checksum) for version, checksum in await cur.fetchall()}


def _check_unchanged(migrations: Iterable[Migration], applied: dict[str, str]) -> None:
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is not None and recorded != migration.checksum:
            raise MigrationError(
                f"migration {migration.version}_{migration.name}.sql changed after it was "
                f"applied (checksum {recorded[:12]} in the database, {migration.checksum[:12]} "
                "in the file); add a new migration instead of editing an applied one"
            )


async def _apply(conn: AsyncConnection[Any], migration: Migration) -> None:
    try:
        # Without parameters psycopg sends the simple protocol, which runs a whole file.
        await conn.execute(migration.sql)
    except psycopg.Error as exc:
        raise MigrationError(
            f"migration {migration.version}_{migration.name}.sql failed: {exc}"
        ) from exc
    await conn.execute(
        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
        (migration.version, migration.name, migration.checksum),
    )
