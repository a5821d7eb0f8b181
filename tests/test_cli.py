"""The CLI's offline commands: spec validation and the AsyncAPI check."""

from __future__ import annotations

from pathlib import Path

import psycopg
from typer.testing import CliRunner

from driftloop.cli import app

EXAMPLES = Path(__file__).parent.parent / "examples"
runner = CliRunner()


def test_spec_validate_prints_ok_for_the_example() -> None:
    result = runner.invoke(app, ["spec", "validate", str(EXAMPLES / "agrawal.yaml")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK")


def test_spec_validate_names_every_bad_field_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = (EXAMPLES / "agrawal.yaml").read_text()
    bad.write_text(text + "\nunknown_section: 1\n")
    result = runner.invoke(app, ["spec", "validate", str(bad)])
    assert result.exit_code == 1
    assert "unknown_section" in result.output


def test_spec_validate_reports_a_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["spec", "validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "nope.yaml" in result.output


def test_status_without_a_running_stack_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["status", "--home", str(tmp_path)])
    assert result.exit_code == 1
    assert "not running" in result.output


def test_asyncapi_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "asyncapi.yaml"
    stale.write_text("asyncapi: 3.0.0\n")
    assert runner.invoke(app, ["asyncapi", "--output", str(stale), "--check"]).exit_code == 1
    assert runner.invoke(app, ["asyncapi", "--output", str(stale)]).exit_code == 0
    assert runner.invoke(app, ["asyncapi", "--output", str(stale), "--check"]).exit_code == 0


def test_stream_register_stores_schema_target_and_spec(database_url: str) -> None:
    result = runner.invoke(
        app,
        ["stream", "register", str(EXAMPLES / "agrawal.yaml")],
        env={"DATABASE_URL": database_url},
    )
    assert result.exit_code == 0, result.output
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT schema, target, spec FROM streams WHERE name = 'agrawal'"
        ).fetchone()
    assert row is not None
    schema, target, spec = row
    assert (schema["salary"], schema["age"], target) == ("float", "int", "class")
    assert spec["stream"] == "agrawal"


def test_stream_register_without_a_database_says_how_to_get_one(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["stream", "register", str(EXAMPLES / "agrawal.yaml"), "--home", str(tmp_path)],
        env={"DATABASE_URL": ""},
    )
    assert result.exit_code == 1
    assert "driftloop up" in result.output
