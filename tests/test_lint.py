"""The root ruff and mypy configurations hold for the whole workspace."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "command",
    [["ruff", "check"], ["ruff", "format", "--check"], ["mypy"]],
    ids=lambda c: " ".join(c),
)
def test_workspace_is_clean_under(command: list[str]) -> None:
    result = subprocess.run(
        ["uv", "run", "--no-sync", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
