"""Pin every dependency exactly in pyproject.toml, from the resolution uv makes now.

uv.lock stays out of git (it records registry download addresses), so the pins live in
``[tool.uv] constraint-dependencies``: run ``uv run python scripts/pin.py`` after changing
a dependency, or with ``--upgrade`` to move every pin to the newest allowed release.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
BLOCK = re.compile(r"constraint-dependencies = \[\n(?:    .*\n)*\]\n")


def exported(upgrade: bool) -> list[str]:
    subprocess.run(["uv", "lock", *(["--upgrade"] if upgrade else [])], check=True)
    out = subprocess.run(
        [
            "uv",
            "export",
            "--frozen",
            "--all-packages",
            "--all-groups",
            "--no-hashes",
            "--no-emit-workspace",
            "--no-header",
            "--no-annotate",
            "--format",
            "requirements.txt",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [line.strip() for line in out.splitlines() if line.strip() and not line.startswith("#")]


def main() -> None:
    pins = exported(upgrade="--upgrade" in sys.argv)
    block = "constraint-dependencies = [\n" + "".join(f'    "{pin}",\n' for pin in pins) + "]\n"
    text = PYPROJECT.read_text()
    if not BLOCK.search(text):
        sys.exit("pyproject.toml has no `constraint-dependencies = [...]` block under [tool.uv]")
    PYPROJECT.write_text(BLOCK.sub(lambda _: block, text, count=1))
    print(f"pinned {len(pins)} packages in {PYPROJECT.name}")


if __name__ == "__main__":
    main()
