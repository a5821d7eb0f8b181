"""Session fixtures: one embedded Kafka broker and one PostgreSQL for the whole run.

``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL`` replace the embedded ones, as in production.
Each test that needs a clean database gets its own, created from the session's server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from driftloop.embedded import embedded_kafka, embedded_postgres


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    if servers := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield servers
        return
    with embedded_kafka() as servers:
        yield servers


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    with embedded_postgres() as url:
        yield url


@pytest.fixture
def database_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped after the test."""
    name = f"driftloop_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(postgres_server_url, dbname=name)
    try:
        yield url
    finally:
        with psycopg.connect(postgres_server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def kafka(kafka_bootstrap: str) -> str:
    """The session's broker with every driftloop topic created."""
    from driftloop.topics import ensure_topics_sync

    ensure_topics_sync(kafka_bootstrap)
    return kafka_bootstrap
