"""Journey: `driftloop up` keeps the admin token in an owner-only file and never shows it,
gives it to serving alone, and the CLI reaches the admin API with no flag or variable."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from driftloop import cli

from .test_up import read_until, up

pytestmark = pytest.mark.journey


def test_up_keeps_a_private_token_that_only_serving_and_the_cli_use(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with up(home) as process:
        started = read_until(process, "driftloop is up", timeout=180)
        path = home / "admin-token"
        token = path.read_text()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert any("admin token" in line and str(path) in line for line in started), started
        assert token not in "\n".join(started)
        state = (home / "stack.json").read_text()
        assert token not in state

        result = CliRunner().invoke(
            cli.app,
            ["stream", "list", "--json", "--home", str(home)],
            env={"DRIFTLOOP_ADMIN_TOKEN": None, "DRIFTLOOP_ADMIN_URL": None},
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == []

        holders = {
            s["name"]: psutil.Process(s["pid"]).environ().get("DRIFTLOOP_ADMIN_TOKEN")
            for s in json.loads(state)["services"]
        }
        assert holders.pop("serving") == token
        assert set(holders.values()) == {None}, holders
