"""The knowledge store against a real PostgreSQL: migrations, constraints and queries."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow

import driftloop_store
from driftloop_store import (
    Migration,
    MigrationError,
    applied_migrations,
    current_champion,
    first_handling,
    get_artifact,
    get_stream,
    labelled_rows,
    list_streams,
    load_migrations,
    migrate,
    migrate_url,
    open_pool,
    put_artifact,
    record_human_action,
    register_stream,
)

Conn = AsyncConnection[TupleRow]

TABLES = {
    "schema_migrations",
    "streams",
    "records",
    "rejected_records",
    "snapshots",
    "experiments",
    "trials",
    "artifacts",
    "models",
    "serving_history",
    "pins",
    "drift_events",
    "decisions",
    "holdouts",
    "human_actions",
    "alerts",
    "outbox",
    "experiment_seeds",
    "online_checkpoints",
    "handled_events",
    "labels",
}


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[Conn]:
    async with await AsyncConnection.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
async def db(conn: Conn) -> Conn:
    await migrate(conn)
    return conn


async def tables(conn: Conn) -> set[str]:
    cur = await conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    )
    return {name for (name,) in await cur.fetchall()}


async def add_model(conn: Conn, stream: str, model_id: str, version: int) -> None:
    content = model_id.encode()
    sha256 = hashlib.sha256(content).hexdigest()
    await conn.execute(
        "INSERT INTO artifacts (sha256, bytes, size) VALUES (%s, %s, %s)",
        (sha256, content, len(content)),
    )
    await conn.execute(
        "INSERT INTO models (id, stream, version, artifact_sha256, family)"
        " VALUES (%s, %s, %s, %s, 'logistic')",
        (model_id, stream, version, sha256),
    )


async def serve(conn: Conn, stream: str, model_id: str) -> None:
    await conn.execute(
        "INSERT INTO serving_history (stream, model_id, reason, actor)"
        " VALUES (%s, %s, 'gate', 'system')",
        (stream, model_id),
    )


def socket_uri(conninfo: str) -> str:
    """The same database as the embedded server names it: host as a query parameter."""
    params = conninfo_to_dict(conninfo)
    query = f"host={quote(str(params['host']), safe='/')}"
    if port := params.get("port"):
        query += f"&port={port}"
    password = quote(str(params.get("password") or ""))
    return f"postgresql://{params['user']}:{password}@/{params['dbname']}?{query}"


def test_public_surface_is_exactly_all() -> None:
    public = {name for name in dir(driftloop_store) if not name.startswith("_")}
    assert public == set(driftloop_store.__all__)


def test_packaged_migrations_start_with_0001_initial() -> None:
    first = load_migrations()[0]
    assert (first.version, first.name) == ("0001", "initial")
    assert "CREATE TABLE streams" in first.sql


def test_a_misnamed_migration_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_initial.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match=r"1_initial\.sql"):
        load_migrations(tmp_path)


async def test_applied_migrations_is_empty_before_the_first_migrate(conn: Conn) -> None:
    assert await applied_migrations(conn) == []


async def test_migrating_twice_applies_nothing_the_second_time(conn: Conn) -> None:
    versions = [m.version for m in load_migrations()]

    assert await migrate(conn) == versions
    assert await migrate(conn) == []
    assert await applied_migrations(conn) == versions
    assert await tables(conn) == TABLES


async def test_concurrent_migrations_apply_each_version_exactly_once(
    database_url: str,
) -> None:
    # The slow file keeps the lock held while the others queue; applied twice, its
    # CREATE TABLE would fail.
    slow = Migration("9000", "slow", "SELECT pg_sleep(0.3); CREATE TABLE slow_marker (id int);")
    migrations = [*load_migrations(), slow]

    async def migrate_once() -> list[str]:
        async with await AsyncConnection.connect(database_url, autocommit=True) as conn:
            return await migrate(conn, migrations)

    results = await asyncio.gather(*(migrate_once() for _ in range(6)))

    applied = sorted(version for result in results for version in result)
    assert applied == [m.version for m in migrations]


async def test_a_changed_checksum_is_refused(conn: Conn) -> None:
    original = Migration("0001", "first", "CREATE TABLE first (id int);")
    edited = Migration("0001", "first", "CREATE TABLE first (id bigint);")
    later = Migration("0002", "second", "CREATE TABLE second (id int);")
    await migrate(conn, [original])

    with pytest.raises(MigrationError, match=r"0001_first\.sql changed"):
        await migrate(conn, [edited, later])
    assert await applied_migrations(conn) == ["0001"]


async def test_a_failed_migration_keeps_the_versions_before_it(conn: Conn) -> None:
    good = Migration("0001", "good", "CREATE TABLE good (id int);")
    bad = Migration("0002", "bad", "CREATE TABLE half (id int); CREATE TABLE broken (;")

    with pytest.raises(MigrationError, match=r"0002_bad\.sql failed"):
        await migrate(conn, [good, bad])

    assert await applied_migrations(conn) == ["0001"]
    assert await tables(conn) == {"schema_migrations", "good"}


async def test_migrate_refuses_a_connection_inside_a_transaction(database_url: str) -> None:
    async with await AsyncConnection.connect(database_url) as conn:
        await conn.execute("SELECT 1")
        with pytest.raises(MigrationError, match="inside a transaction"):
            await migrate(conn)


async def test_migrate_url_applies_the_packaged_migrations(database_url: str) -> None:
    # In a thread: asyncio.run must not replace the event loop the tests run on.
    applied = await asyncio.to_thread(migrate_url, database_url)
    assert applied == [m.version for m in load_migrations()]


async def test_open_pool_migrates_on_open_and_reopening_applies_nothing(
    database_url: str,
) -> None:
    async with open_pool(database_url, max_size=2, migrate=True) as pool, pool.connection() as conn:
        assert await applied_migrations(conn) == [m.version for m in load_migrations()]
    async with open_pool(database_url, migrate=True) as pool, pool.connection() as conn:
        assert await migrate(conn) == []


async def test_open_pool_accepts_the_embedded_unix_socket_url_form(database_url: str) -> None:
    url = socket_uri(database_url)
    assert url.startswith("postgresql://")
    assert "@/" in url
    assert "?host=" in url

    async with open_pool(url) as pool, pool.connection() as conn:
        cur = await conn.execute("SELECT current_database()")
        assert await cur.fetchone() == (conninfo_to_dict(database_url)["dbname"],)


async def test_a_record_id_is_stored_once_per_stream(db: Conn) -> None:
    for stream in ("orders", "clicks"):
        await register_stream(db, stream, {"amount": "float"}, "fraud")
    insert = (
        "INSERT INTO records (stream, record_id, event_time, features)"
        " VALUES (%s, 'r-1', now(), '{}')"
    )
    await db.execute(insert, ("orders",))
    await db.execute(insert, ("clicks",))

    with pytest.raises(psycopg.errors.UniqueViolation):
        await db.execute(insert, ("orders",))


async def test_only_one_serving_row_per_stream_can_be_open(db: Conn) -> None:
    await register_stream(db, "orders", {"amount": "float"}, "fraud")
    await add_model(db, "orders", "m-1", 1)
    await add_model(db, "orders", "m-2", 2)
    await serve(db, "orders", "m-1")

    with pytest.raises(psycopg.errors.UniqueViolation):
        await serve(db, "orders", "m-2")

    await db.execute("UPDATE serving_history SET ended_at = now() WHERE model_id = 'm-1'")
    await serve(db, "orders", "m-2")


async def test_a_stream_cannot_serve_another_streams_model(db: Conn) -> None:
    await register_stream(db, "orders", {"amount": "float"}, "fraud")
    await register_stream(db, "clicks", {"page": "str"}, "bought")
    await add_model(db, "orders", "m-1", 1)

    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        await serve(db, "clicks", "m-1")


async def test_register_stream_creates_then_replaces_schema_and_target(db: Conn) -> None:
    created = await register_stream(db, "orders", {"amount": "float"}, "fraud")
    updated = await register_stream(db, "orders", {"amount": "float", "country": "str"}, "late")

    assert created.schema_ == {"amount": "float"}
    assert (updated.schema_, updated.target) == ({"amount": "float", "country": "str"}, "late")
    assert updated.created_at == created.created_at
    assert await get_stream(db, "orders") == updated


async def test_get_stream_of_an_unknown_stream_is_none(db: Conn) -> None:
    assert await get_stream(db, "nope") is None


async def test_list_streams_returns_every_stream_by_name(db: Conn) -> None:
    assert await list_streams(db) == []
    orders = await register_stream(db, "orders", {"amount": "float"}, "fraud")
    clicks = await register_stream(db, "clicks", {"page": "str"}, "bought")

    assert await list_streams(db) == [clicks, orders]


async def test_record_human_action_round_trips(db: Conn) -> None:
    action = await record_human_action(
        db, "ada", "pin", "model", "m-1", "holiday traffic", {"stream": "orders"}
    )
    bare = await record_human_action(db, "bob", "stop", "experiment", "e-1")

    assert (action.actor, action.action, action.target_kind, action.target_id) == (
        "ada",
        "pin",
        "model",
        "m-1",
    )
    assert (action.reason, action.payload) == ("holiday traffic", {"stream": "orders"})
    assert (bare.reason, bare.payload) == ("", {})
    assert bare.id > action.id
    cur = await db.execute("SELECT count(*) FROM human_actions")
    assert await cur.fetchone() == (2,)


async def test_current_champion_is_the_open_serving_row(db: Conn) -> None:
    await register_stream(db, "orders", {"amount": "float"}, "fraud")
    await add_model(db, "orders", "m-1", 1)
    await add_model(db, "orders", "m-2", 2)
    assert await current_champion(db, "orders") is None

    await serve(db, "orders", "m-1")
    await db.execute("UPDATE serving_history SET ended_at = now() WHERE model_id = 'm-1'")
    await serve(db, "orders", "m-2")

    champion = await current_champion(db, "orders")
    assert champion is not None
    assert (champion.model_id, champion.ended_at, champion.actor) == ("m-2", None, "system")
    assert await current_champion(db, "clicks") is None


async def test_labelled_rows_take_a_label_from_the_record_or_from_feedback(db: Conn) -> None:
    await register_stream(db, "orders", {"x": "float"}, "y")
    insert = (
        "INSERT INTO records (stream, record_id, event_time, features, label)"
        " VALUES ('orders', %s, now(), %s, %s)"
    )
    await db.execute(insert, ("with", '{"x": 1}', "1"))
    await db.execute(insert, ("later", '{"x": 2}', None))
    await db.execute(insert, ("never", '{"x": 3}', None))
    await db.execute(insert, ("sent_null", '{"x": 5}', "null"))  # JSON null: no label either
    # A label that overtook its record is kept too, and found once the record is stored.
    await db.execute(
        "INSERT INTO labels (stream, record_id, label, event_id) VALUES"
        " ('orders', 'later', '0', 'e-1'), ('orders', 'ahead', '1', 'e-2')"
    )
    await db.execute(insert, ("ahead", '{"x": 4}', None))

    rows = await labelled_rows(db, "orders")
    assert [(rid, f, label) for rid, _, f, label in rows] == [
        ("with", {"x": 1}, 1),
        ("later", {"x": 2}, 0),
        ("ahead", {"x": 4}, 1),
    ]
    assert [rid for rid, *_ in await labelled_rows(db, "orders", last=2)] == ["later", "ahead"]
    first_seq = rows[0][1]
    assert [rid for rid, *_ in await labelled_rows(db, "orders", after_seq=first_seq)] == [
        "later",
        "ahead",
    ]


async def test_artifacts_are_stored_once_under_their_sha256(db: Conn) -> None:
    digest = await put_artifact(db, b"model bytes")
    assert digest == hashlib.sha256(b"model bytes").hexdigest()
    assert await put_artifact(db, b"model bytes") == digest
    assert await get_artifact(db, digest) == b"model bytes"
    assert await get_artifact(db, "0" * 64) is None


async def test_an_event_is_handled_once_per_consumer(db: Conn) -> None:
    assert await first_handling(db, "evaluation", "e-1")
    assert not await first_handling(db, "evaluation", "e-1")
    assert await first_handling(db, "scheduler", "e-1")
