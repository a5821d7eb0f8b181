"""``driftloop status``: is each component of a running stack healthy?"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

import psycopg
from aiokafka.admin import AIOKafkaAdminClient

from driftloop_contracts import TOPICS

from .processes import healthy


@dataclass(frozen=True)
class Check:
    component: str
    ok: bool
    detail: str


async def _kafka(bootstrap: str) -> Check:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), 5)
        topics = set(await admin.list_topics())
    except Exception as exc:
        return Check("kafka", False, f"{bootstrap}: {exc or type(exc).__name__}")
    finally:
        await admin.close()
    missing = [t for t in TOPICS if t not in topics]
    if missing:
        return Check("kafka", False, f"{bootstrap}: missing topics {', '.join(missing)}")
    return Check("kafka", True, f"{bootstrap}: {len(TOPICS)} topics")


def check_kafka(bootstrap: str) -> Check:
    return asyncio.run(_kafka(bootstrap))


def check_database(url: str) -> Check:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    except psycopg.Error as exc:
        return Check("postgres", False, str(exc).splitlines()[0])
    return Check("postgres", True, f"schema version {row[0] if row else None}")


def check_service(service: dict[str, Any]) -> Check:
    ok, body = healthy(service["url"])
    if ok:
        return Check(service["name"], True, f"{service['url']} pid {service['pid']}")
    failing = [k for k in ("kafka", "database") if body.get(k) is False]
    reason = f"cannot reach {' and '.join(failing)}" if failing else body.get("error", body)
    return Check(service["name"], False, f"{service['url']}: {reason} (log: {service['log']})")


def check_all(state: dict[str, Any]) -> list[Check]:
    database = state["database"]["url"] or os.environ.get("DATABASE_URL")
    checks = [check_kafka(state["kafka"]["bootstrap_servers"])]
    checks.append(
        check_database(database)
        if database
        else Check("postgres", False, "external database: set DATABASE_URL to check it")
    )
    return checks + [check_service(s) for s in state["services"]]
