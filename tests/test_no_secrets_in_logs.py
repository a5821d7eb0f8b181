"""Journey: a full ``driftloop up`` run given every secret it knows (the admin token, a
database password, the alert webhooks' signing secret and a credential in a webhook's
URL), driven through the paths that log the most, never writes one of them to a log.

The run is made to log: wrong admin tokens, bad requests, garbage records, an experiment
that fails and an alert whose delivery fails. Its console output and every service's log
file are then searched for each secret.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaProducer

from driftloop.embedded import free_port
from driftloop_contracts import Record
from driftloop_spec import load_spec
from driftloop_store import register_stream

from .helpers import eventually
from .test_up import clean_env, read_until

pytestmark = pytest.mark.journey

SCHEMA = {"salary": "float", "commission": "float", "age": "int", "elevel": "int", "car": "int",
          "zipcode": "int", "hvalue": "float", "hyears": "int", "loan": "float"}  # fmt: skip


class Run:
    def __init__(self, home: Path, kafka: str, database_url: str) -> None:
        self.home = home
        self.secrets = {
            "admin token": secrets.token_hex(16),
            "database password": secrets.token_hex(16),
            "alert signing secret": secrets.token_hex(16),
            "webhook URL credential": secrets.token_hex(16),
        }
        self.hook_port, self.serving_port = free_port(), free_port()
        credential = self.secrets["webhook URL credential"]
        self.database = psycopg.conninfo.make_conninfo(
            database_url, password=self.secrets["database password"]
        )
        self.env = {
            **clean_env(),
            "KAFKA_BOOTSTRAP_SERVERS": kafka,
            "DATABASE_URL": self.database,
            "DRIFTLOOP_ADMIN_TOKEN": self.secrets["admin token"],
            "DRIFTLOOP_ALERT_SECRET": self.secrets["alert signing secret"],
            # Nothing listens there: every delivery fails, and is logged.
            "DRIFTLOOP_ALERT_WEBHOOKS": f"http://127.0.0.1:{self.hook_port}/hooks/{credential}"
            f"?token={credential}",
        }
        self.url = f"http://127.0.0.1:{self.serving_port}"

    def logs(self) -> dict[str, str]:
        return {path.name: path.read_text() for path in (self.home / "logs").glob("*.log")}


@pytest.fixture
def run(
    tmp_path: Path, kafka: str, database_url: str
) -> Iterator[tuple[Run, subprocess.Popen[str]]]:
    run = Run(tmp_path / "home", kafka, database_url)
    command = [sys.executable, "-m", "driftloop", "up", "--home", str(run.home)]
    process = subprocess.Popen(
        [*command, "--serving-port", str(run.serving_port)],
        env=run.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield run, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


async def register(database: str, stream: str) -> None:
    spec = load_spec("examples/agrawal.yaml").model_dump(mode="json") | {"stream": stream}
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        await register_stream(conn, stream, SCHEMA, "class", spec)


async def drive(run: Run, kafka: str) -> None:
    """What makes services log: refusals, garbage, a failing experiment, a failing alert."""
    stream = "secrets_run"
    await register(run.database, stream)
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        for value in (b"\xff not json", b'{"stream": "secrets_run"}', b"[]"):
            await producer.send_and_wait(Record.topic, value)
    finally:
        await producer.stop()
    token = run.secrets["admin token"]
    async with httpx.AsyncClient(base_url=run.url, timeout=30) as client:
        for wrong in (f"Bearer {token[:-1]}x", f"Bearer {token}{token}", "Basic abc"):
            refused = await client.get("/admin/streams", headers={"Authorization": wrong})
            assert refused.status_code in (401, 403)
        assert (await client.post("/predict", content=b"\xff")).status_code == 400
        bad = {"stream": stream, "features": {"salary": "NaN"}}
        assert (await client.post("/predict", json=bad)).status_code in (422, 503)
        # Too few records for a snapshot: the experiment fails, and people are alerted.
        asked = await client.post(
            "/admin/experiments",
            json={"stream": stream, "reason": "check the logs"},
            headers={"Authorization": f"Bearer {token}", "X-Driftloop-Actor": "ada"},
        )
        assert asked.status_code == 202, asked.text

    async def alert_failed() -> bool:
        log = run.logs().get("evaluation.log", "")
        return f"127.0.0.1:{run.hook_port}" in log

    await eventually(alert_failed, timeout=90, what="the alert delivery to fail")


@pytest.mark.timeout(400)
def test_a_full_run_logs_no_secret(run: tuple[Run, subprocess.Popen[str]], kafka: str) -> None:
    stack, process = run
    started = read_until(process, "driftloop is up", timeout=180)
    asyncio.run(drive(stack, kafka))
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=90)

    logs = {"console": "\n".join(started) + rest, **stack.logs()}
    assert {"serving.log", "evaluation.log", "ingestion.log", "scheduler.log"} <= set(logs)
    said = "\n".join(logs.values())
    # The run did log what it was driven to: the test cannot pass on empty logs.
    assert "wrong token refused" in logs["serving.log"]
    assert "alert" in logs["evaluation.log"]
    for what, secret in stack.secrets.items():
        leaks = [name for name, text in logs.items() if secret in text]
        assert not leaks, f"the {what} is in {leaks}"
    assert json.dumps(stack.secrets["database password"]) not in said
