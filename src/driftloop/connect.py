"""Where the CLI finds Kafka and PostgreSQL: the environment first, then the running stack."""

from __future__ import annotations

import os
from pathlib import Path

from .stack import read_state


class NotConnected(RuntimeError):
    """Neither the environment nor a running `driftloop up` says where to connect."""


def database_url(home: Path) -> str:
    if url := os.environ.get("DATABASE_URL"):
        return url
    state = read_state(home)
    if state and (url := state["database"]["url"]):
        return str(url)
    raise NotConnected(
        "no database: set DATABASE_URL, or start the embedded stack with `driftloop up`"
    )


def bootstrap_servers(home: Path) -> str:
    if servers := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return servers
    state = read_state(home)
    if state and (servers := state["kafka"]["bootstrap_servers"]):
        return str(servers)
    raise NotConnected(
        "no Kafka: set KAFKA_BOOTSTRAP_SERVERS, or start the embedded stack with `driftloop up`"
    )
