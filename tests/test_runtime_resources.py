"""A service's store resources: it waits for a database that is not there yet."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import ClassVar

import psycopg
import pytest
from psycopg import sql
from pydantic import SecretStr

from driftloop_runtime import Resources, ServiceSettings


class Settings(ServiceSettings):
    service: ClassVar[str] = "probe"
    default_port: ClassVar[int] = 8999


async def test_a_service_waits_for_its_database_and_starts_once_it_answers(
    postgres_server_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A database that does not exist yet refuses connections as an outage would.
    name = f"driftloop_late_{uuid.uuid4().hex[:10]}"
    url = psycopg.conninfo.make_conninfo(postgres_server_url, dbname=name, password="s3cret")
    resources = Resources(Settings(database_url=SecretStr(url), db_wait_seconds=60))

    async def create_later() -> None:
        await asyncio.sleep(3)  # longer than one attempt to open the pool
        async with await psycopg.AsyncConnection.connect(postgres_server_url, autocommit=True) as c:
            await c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    caplog.set_level(logging.WARNING, "driftloop.store")
    creator = asyncio.create_task(create_later())
    try:
        await resources.start()
        assert await resources.database_ok()
        await creator
        assert "database unreachable" in caplog.text
        assert "s3cret" not in caplog.text
    finally:
        await resources.stop()
        async with await psycopg.AsyncConnection.connect(postgres_server_url, autocommit=True) as c:
            await c.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


async def test_a_service_gives_up_after_its_wait(postgres_server_url: str) -> None:
    url = psycopg.conninfo.make_conninfo(postgres_server_url, dbname="driftloop_never_there")
    resources = Resources(Settings(database_url=SecretStr(url), db_wait_seconds=1))
    with pytest.raises(psycopg.OperationalError):
        await resources.start()
    await resources.stop()
