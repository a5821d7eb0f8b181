"""The workspace: exact pins, no machine-specific files, and services that stand alone."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ["ingestion", "drift", "scheduler", "training", "evaluation", "serving"]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def pins() -> dict[str, str]:
    """Exact pins that apply on this machine (markers evaluated)."""
    found: dict[str, str] = {}
    for line in PYPROJECT["tool"]["uv"]["constraint-dependencies"]:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"{line} is not an exact pin"
            found[canonicalize_name(requirement.name)] = spec.version
    return found


def test_every_installed_package_is_pinned_exactly() -> None:
    pinned = pins()
    unpinned = []
    for dist in importlib.metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        if name.startswith("driftloop"):
            continue
        if pinned.get(name) != dist.version:
            unpinned.append(f"{name}=={dist.version} (pin: {pinned.get(name)})")
    assert not unpinned, "run `uv run python scripts/pin.py`: " + ", ".join(sorted(unpinned))


def test_no_committed_file_records_download_addresses_or_machine_paths() -> None:
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "uv.lock" not in files.stdout.split()
    pattern = re.compile(r"files\.pythonhosted\.org|pypi\.org/simple|file:///|/work/|\.pyenv/")
    offenders = [
        name
        for name in files.stdout.split()
        if (ROOT / name).is_file()
        and name != "tests/test_workspace.py"
        and pattern.search((ROOT / name).read_text(errors="ignore"))
    ]
    assert not offenders


@pytest.mark.parametrize("service", SERVICES)
def test_service_installs_alone_and_its_app_imports(service: str, tmp_path: Path) -> None:
    """`uv sync --package driftloop-<service>` gives a venv in which the app builds."""
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
    subprocess.run(
        ["uv", "sync", "--package", f"driftloop-{service}", "--no-dev", "--quiet"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    probe = (
        f"import driftloop_{service} as s; app = s.create_app(); "
        "import importlib.util as u; print(u.find_spec('driftloop') is None)"
    )
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True", "the CLI package leaked into a service's environment"
