"""The human-control commands against the real admin API of a serving replica.

The replica runs under uvicorn on the real broker and a real PostgreSQL holding a full
chain (``seed_chain``); the CLI finds it as it finds a `driftloop up` stack: the serving
URL in HOME/stack.json and the token in HOME/admin-token. Commands run in a thread, since
the server shares this test's event loop.
"""

from __future__ import annotations

import asyncio
import json
import stat
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner, Result

import driftloop_serving
from driftloop import cli
from driftloop.admin import ensure_token, os_user
from driftloop.embedded import free_port
from driftloop_contracts import (
    ApprovalGiven,
    Event,
    ExperimentControlRequested,
    ExperimentRequested,
    RollbackRequested,
)
from driftloop_spec import load_spec

from .helpers import eventually, read_topic, running_server
from .test_cli_lineage import SPEC, Chain, seed_chain

pytestmark = pytest.mark.journey

runner = CliRunner()
UNSET = {"DRIFTLOOP_ADMIN_TOKEN": None, "DRIFTLOOP_ADMIN_URL": None}


@dataclass(frozen=True)
class Stack:
    home: Path
    url: str
    token: str
    chain: Chain
    running: str  # an experiment that can be paused
    pending: str  # a decision awaiting approval


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.console, "width", 400)


@pytest.fixture
async def stack(kafka: str, database_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    chain = await asyncio.to_thread(seed_chain, database_url)
    running, pending = str(uuid.uuid4()), str(uuid.uuid4())
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO experiments (id, stream, trigger, spec, budget_trials, budget_seconds,"
            " status, requested_by) SELECT %s, stream, 'schedule', spec, 5, 60, 'running',"
            " 'schedule' FROM experiments WHERE id = %s",
            (running, chain.experiment),
        )
        conn.execute(
            "INSERT INTO decisions (id, stream, model_id, champion_id, verdict, metric,"
            " candidate_score, champion_score, test, p_value, alpha, min_gain, holdout_hash,"
            " status) VALUES (%s, %s, %s, %s, 'await_approval', 'accuracy', 0.9, 0.8,"
            " 'mcnemar', 0.01, 0.05, 0.005, %s, 'pending')",
            (pending, chain.stream, chain.prior_model, chain.model, chain.holdout),
        )
    home = tmp_path / "home"
    token = ensure_token(home).read_text()
    settings = driftloop_serving.Settings(
        kafka_bootstrap_servers=kafka,
        database_url=SecretStr(database_url),
        admin_token=SecretStr(token),
    )
    async with running_server(driftloop_serving.create_app(settings)) as url:
        state = {"services": [{"name": "serving", "url": url}]}
        (home / "stack.json").write_text(json.dumps(state))
        yield Stack(home, url, token, chain, running, pending)


async def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
    environment = {**UNSET, **(env or {})}
    return await asyncio.to_thread(lambda: runner.invoke(cli.app, list(args), env=environment))


async def ok(stack: Stack, *args: str) -> Result:
    result = await run(*args, "--home", str(stack.home))
    assert result.exit_code == 0, result.output
    return result


async def refused(stack: Stack, *args: str) -> str:
    result = await run(*args, "--home", str(stack.home))
    assert result.exit_code == 1, result.output
    return result.output


async def published(kafka: str, event: type[Event], **fields: Any) -> dict[str, Any]:
    """The one event on ``event``'s topic whose fields have these values."""

    async def find() -> list[dict[str, Any]]:
        seen = [json.loads(value) for _, value in await read_topic(kafka, event.topic)]
        return [e for e in seen if all(e.get(k) == v for k, v in fields.items())]

    matches: list[dict[str, Any]] = await eventually(find, what=f"{event.__name__} {fields}")
    [found] = matches
    return found


def human_actions(database_url: str) -> list[tuple[str, str, str, str]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT actor, action, target_id, reason FROM human_actions ORDER BY id"
        ).fetchall()
    return [tuple(row) for row in rows]


async def test_lists_show_streams_experiments_trials_models_and_decisions(stack: Stack) -> None:
    chain = stack.chain
    streams = await ok(stack, "stream", "list")
    [row] = [line for line in streams.output.splitlines() if chain.stream in line]
    assert chain.model in row and "bob" in row, streams.output

    experiments = json.loads((await ok(stack, "experiment", "list", "--json")).stdout)
    assert {e["id"] for e in experiments} == {
        chain.prior_experiment,
        chain.experiment,
        stack.running,
    }
    running = await ok(stack, "experiment", "list", "--status", "running", "--stream", chain.stream)
    assert stack.running in running.output and chain.experiment not in running.output
    shown = json.loads((await ok(stack, "experiment", "show", chain.experiment)).stdout)
    assert (shown["id"], shown["trials"]) == (chain.experiment, {"completed": 1})

    trials = json.loads(
        (await ok(stack, "trial", "list", "--experiment", chain.experiment, "--json")).stdout
    )
    assert [(t["id"], t["seed"]) for t in trials] == [(chain.trial, 45)]
    models = await ok(stack, "model", "list", "--stream", chain.stream)
    assert chain.model in models.output and chain.prior_model in models.output
    models_json = json.loads((await ok(stack, "model", "list", "--json")).stdout)
    assert [(m["id"], m["version"], m["serving"]) for m in models_json] == [
        (chain.model, 2, True),
        (chain.prior_model, 1, False),
    ]
    pending = await ok(stack, "decision", "list", "--status", "pending")
    assert stack.pending in pending.output and chain.decision not in pending.output


async def test_experiments_are_started_and_controlled_with_actor_and_reason(
    stack: Stack, kafka: str, database_url: str, tmp_path: Path
) -> None:
    chain = stack.chain
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(SPEC.read_text().replace("stream: agrawal", f"stream: {chain.stream}"))
    started = await ok(
        stack, "experiment", "start", chain.stream, "--reason", "new features",
        "--spec", str(spec_file), "--actor", "alice",
    )  # fmt: skip
    experiment_id = started.output.split()[1]
    event = await published(kafka, ExperimentRequested, event_id=experiment_id)
    assert (event["stream"], event["trigger"], event["requested_by"], event["reason"]) == (
        chain.stream, "manual", "alice", "new features",
    )  # fmt: skip
    assert load_spec(spec_file) == load_spec_text(event["spec"], tmp_path)

    await ok(stack, "experiment", "pause", stack.running, "--reason", "cluster busy")
    paused = await published(kafka, ExperimentControlRequested, experiment_id=stack.running)
    assert (paused["action"], paused["requested_by"], paused["reason"]) == (
        "pause", os_user(), "cluster busy",
    )  # fmt: skip
    assert human_actions(database_url)[-2:] == [
        ("alice", "experiment.request", chain.stream, "new features"),
        (os_user(), "experiment.pause", stack.running, "cluster busy"),
    ]
    finished = await refused(stack, "experiment", "stop", chain.experiment)
    assert f"409 experiment {chain.experiment} is completed" in finished
    other = tmp_path / "other.yaml"
    other.write_text(SPEC.read_text())
    wrong = await refused(stack, "experiment", "start", chain.stream, "--spec", str(other))
    assert f"is a spec for stream 'agrawal', not '{chain.stream}'" in wrong


def load_spec_text(text: str, where: Path) -> Any:
    sent = where / "sent.yaml"
    sent.write_text(text)
    return load_spec(sent)


async def test_approve_reject_rollback_pin_and_unpin(
    stack: Stack, kafka: str, database_url: str
) -> None:
    chain = stack.chain
    await ok(stack, "approve", stack.pending, "--reason", "holdout looks right", "--actor", "ann")
    approval = await published(kafka, ApprovalGiven, decision_id=stack.pending, approved=True)
    assert (approval["actor"], approval["model_id"]) == ("ann", chain.prior_model)
    await ok(stack, "reject", stack.pending, "--reason", "changed my mind", "--actor", "ann")
    await published(kafka, ApprovalGiven, decision_id=stack.pending, approved=False)
    assert f"decision {chain.decision} is approved" in await refused(
        stack, "approve", chain.decision
    )

    await ok(stack, "rollback", chain.stream, "--to-version", "1", "--reason", "bad canary")
    rollback = await published(kafka, RollbackRequested, stream=chain.stream)
    assert (rollback["to_version"], rollback["reason"]) == (1, "bad canary")
    missing = await refused(stack, "rollback", chain.stream, "--to-version", "9")
    assert f"404 stream {chain.stream} has no model version 9" in missing

    await ok(stack, "unpin", chain.stream, "--reason", "freeze over")
    assert f"stream {chain.stream} is not pinned" in await refused(stack, "unpin", chain.stream)
    pinned = await ok(stack, "pin", chain.stream, "--actor", "bob")
    assert f"pinned to model {chain.model}" in pinned.output
    await ok(stack, "pin", chain.stream, "--model", chain.prior_model, "--reason", "known good")
    with psycopg.connect(database_url) as conn:
        pin = conn.execute(
            "SELECT model_id FROM pins WHERE stream = %s", (chain.stream,)
        ).fetchone()
    assert pin == (chain.prior_model,)
    actions = [(actor, action) for actor, action, _, _ in human_actions(database_url)][-6:]
    assert actions == [
        ("ann", "decision.approve"),
        ("ann", "decision.reject"),
        (os_user(), "stream.rollback"),
        (os_user(), "stream.unpin"),
        ("bob", "stream.pin"),
        (os_user(), "stream.pin"),
    ]


async def test_a_missing_wrong_or_unreachable_admin_api_is_explained(
    stack: Stack, tmp_path: Path
) -> None:
    empty = str(tmp_path / "empty")
    wrong = await run("stream", "list", "--url", stack.url, "--token", "guess", "--home", empty)
    assert wrong.exit_code == 1
    assert "the admin token is missing or wrong" in wrong.output
    by_env = await run(
        "stream", "list", "--home", empty,
        env={"DRIFTLOOP_ADMIN_TOKEN": stack.token, "DRIFTLOOP_ADMIN_URL": stack.url},
    )  # fmt: skip
    assert by_env.exit_code == 0, by_env.output
    none = await run("stream", "list", "--url", stack.url, "--home", empty)
    assert none.exit_code == 1
    assert "the admin token is missing" in none.output
    down = f"http://127.0.0.1:{free_port()}"
    for args in (["--url", down], []):
        unreachable = await run("approve", "d1", "--token", "t", "--home", empty, *args)
        assert unreachable.exit_code == 1
        assert "is `driftloop up` running? set DRIFTLOOP_ADMIN_URL" in unreachable.output


def test_the_stack_token_is_made_once_and_readable_only_by_its_owner(tmp_path: Path) -> None:
    path = ensure_token(tmp_path / "home")
    token = path.read_text()
    assert len(token) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    assert ensure_token(tmp_path / "home").read_text() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_token(tmp_path / "other").read_text() != token
    path.write_text("")  # as a crash between creating and writing it would leave it
    assert len(ensure_token(tmp_path / "home").read_text()) >= 40
