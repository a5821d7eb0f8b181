"""Journey: a shortened ``driftloop demo``, end to end and untouched: the embedded broker and
PostgreSQL, every service as its own process, a drifting Agrawal stream (concept 0, then
2 from record 1000) played through ingestion and serving, labels given as feedback.

The loop must see the change in the model's errors, run an experiment on it, promote its
model, and the model must serve better than the one it replaced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from driftloop.loop import Tick
from driftloop.plot import accuracy

pytestmark = pytest.mark.journey

CHANGE = 1000
WINDOW = 300  # records on each side of the promotion


def clean_env() -> dict[str, str]:
    """The embedded default: no external broker or database."""
    env = {
        k: v for k, v in os.environ.items() if k not in {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"}
    }
    return {**env, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


@pytest.mark.timeout(480)
def test_a_short_demo_detects_the_change_retrains_promotes_and_recovers(tmp_path: Path) -> None:
    out, home = tmp_path / "out", tmp_path / "home"
    command = [sys.executable, "-m", "driftloop", "demo", "--count", "3500", "--rate", "50"]
    command += ["--changes", str(CHANGE), "--concepts", "0,2"]
    demo = subprocess.run(
        [*command, "--out", str(out), "--home", str(home)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=450,
        check=False,
    )
    said = demo.stdout[-4000:] + demo.stderr[-4000:]
    assert demo.returncode == 0, said
    assert "summary" in demo.stdout
    assert not (home / "stack.json").exists(), "the stack was not stopped"

    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    ticks = [Tick(**t) for t in summary["ticks"]]
    assert [t.index for t in ticks] == list(range(3500))

    # The change is seen in the errors, and nothing before it raised an alarm.
    alarms = summary["alarms"]
    assert alarms, said
    assert all(a["source"] == "errors" and a["index"] >= CHANGE for a in alarms), alarms

    # The alarm started an experiment that completed (on the first labels since the change,
    # then again on a full window of them); a model of theirs was promoted on the gate.
    by_alarm = {a["event_id"] for a in alarms}
    experiments = summary["experiments"]
    drift = [e for e in experiments if e["trigger"] == "drift" and e["trigger_ref"] in by_alarm]
    assert drift and drift[0]["status"] == "completed", experiments
    promotions = summary["promotions"]
    assert [p["reason"] for p in promotions[:1]] == ["first_model"], promotions
    promoted = [p for p in promotions if p["experiment_id"] in {e["id"] for e in drift}]
    assert promoted and promoted[0]["reason"] == "gate", promotions

    # Served from some record on, and better there than the model before it was.
    start = promoted[0]["served_from"]
    assert start is not None and start <= 3500 - 100, promoted
    before = accuracy(ticks, start - WINDOW, start)
    after = accuracy(ticks, start, start + WINDOW)
    assert before is not None and after is not None
    assert after > before, (before, after)

    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "drift alarm" in (out / "accuracy.html").read_text()
