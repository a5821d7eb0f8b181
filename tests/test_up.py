"""Journey: `driftloop up` on the embedded default, `driftloop status`, a killed service, Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from driftloop.embedded import free_port

pytestmark = pytest.mark.journey

SERVICES = ["ingestion", "drift", "scheduler", "training", "evaluation", "serving"]


def clean_env() -> dict[str, str]:
    """The embedded default: no external broker or database."""
    env = {
        k: v for k, v in os.environ.items() if k not in {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"}
    }
    return {**env, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


def read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line.rstrip())
        if marker in line:
            return lines
    raise AssertionError(f"no {marker!r} within {timeout}s; output so far:\n" + "\n".join(lines))


def alive(pids: list[int]) -> list[int]:
    return [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]


def status(home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driftloop", "status", "--home", str(home)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextlib.contextmanager
def up(home: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    """`driftloop up` in ``home``, killed at the end if the test did not stop it."""
    command = [sys.executable, "-m", "driftloop", "up", "--home", str(home)]
    process = subprocess.Popen(
        [*command, "--serving-port", str(free_port())],
        env=env or clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:  # stop it as a person would, so it leaves nothing behind
            process.send_signal(signal.SIGINT)
            try:
                process.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    home = tmp_path / "home"
    with up(home) as process:
        yield process, home


def test_up_starts_everything_reports_deaths_and_stops_cleanly_on_sigint(
    stack: tuple[subprocess.Popen[str], Path],
) -> None:
    process, home = stack
    started = read_until(process, "driftloop is up", timeout=180)
    text = "\n".join(started)
    for component in ["kafka", "postgres", "migrations", "topics", *SERVICES]:
        assert any(line.split()[1:2] == [component] and line.startswith("✓") for line in started), (
            f"no healthy line for {component}:\n{text}"
        )

    healthy = status(home)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    for component in ["kafka", "postgres", *SERVICES]:
        assert component in healthy.stdout

    state = json.loads((home / "stack.json").read_text())
    drift = next(s for s in state["services"] if s["name"] == "drift")
    os.kill(drift["pid"], signal.SIGKILL)
    died = read_until(process, "drift", timeout=30)
    assert "died with code -9" in died[-1]
    read_until(process, "healthy", timeout=60)
    assert status(home).returncode == 0

    pids = [s["pid"] for s in json.loads((home / "stack.json").read_text())["services"]]
    # An impatient second Ctrl-C, as uv run and a terminal both forward it, changes nothing.
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    remaining, _ = process.communicate(timeout=90)
    assert process.returncode == 0, remaining
    assert remaining.count("stopping driftloop") == 1, remaining
    stopped = [line.split() for line in remaining.splitlines() if "stopped" in line]
    assert [words[1] for words in stopped] == [*reversed(SERVICES), "kafka", "postgres"], remaining
    assert all(words == ["✓", words[1], "stopped", *words[3:]] for words in stopped), remaining
    assert not alive(pids)
    assert not (home / "stack.json").exists()


def test_up_uses_an_external_database_and_stops_on_sigterm(
    tmp_path: Path, database_url: str
) -> None:
    home = tmp_path / "home"
    env = {**clean_env(), "DATABASE_URL": database_url}
    with up(home, env) as process:
        started = read_until(process, "driftloop is up", timeout=180)
        assert any("postgres" in line and "external (DATABASE_URL)" in line for line in started)
        assert not (home / "pgdata").exists()
        assert database_url not in (home / "stack.json").read_text()

        process.send_signal(signal.SIGTERM)
        remaining, _ = process.communicate(timeout=90)
        assert process.returncode == 0, remaining
        stopped = [line.split()[1] for line in remaining.splitlines() if "stopped" in line]
        assert stopped == [*reversed(SERVICES), "kafka"], remaining


def test_a_second_up_in_the_same_home_refuses_to_start(
    stack: tuple[subprocess.Popen[str], Path],
) -> None:
    process, home = stack
    read_until(process, "driftloop is up", timeout=180)
    second = subprocess.run(
        [sys.executable, "-m", "driftloop", "up", "--home", str(home)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode == 1
    assert "already running" in second.stdout


def test_up_after_a_killed_up_reaps_what_it_left_running(
    stack: tuple[subprocess.Popen[str], Path],
) -> None:
    process, home = stack
    read_until(process, "driftloop is up", timeout=180)
    state = json.loads((home / "stack.json").read_text())
    orphans = [s["pid"] for s in state["services"]] + [state["kafka"]["process"]["pid"]]
    process.kill()
    process.wait()
    assert all(psutil.pid_exists(pid) for pid in orphans)
    stale = status(home)
    assert stale.returncode == 1
    assert "not running" in stale.stderr

    with up(home) as again:
        started = read_until(again, "driftloop is up", timeout=180)
        assert sum("left over from an earlier run" in line for line in started) == len(orphans)
        time.sleep(0.5)
        assert not alive(orphans)
        again.send_signal(signal.SIGINT)
        again.communicate(timeout=90)
        assert again.returncode == 0
    # The embedded PostgreSQL the killed run left running was reused, and is stopped now.
    assert not (home / "pgdata" / "postmaster.pid").exists()


def test_ctrl_c_while_starting_stops_what_was_started(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with up(home) as process:
        read_until(process, "topics", timeout=120)
        process.send_signal(signal.SIGINT)
        remaining, _ = process.communicate(timeout=90)
    assert process.returncode == 0, remaining
    assert "interrupted while starting" in remaining
    assert "not healthy" not in remaining
    assert "postgres     stopped" in remaining
    assert not (home / "pgdata" / "postmaster.pid").exists()
