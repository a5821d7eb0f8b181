"""`driftloop replay trial ID`: a trial trained for real replays to identical metrics."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from driftloop import cli

from .test_cli_lineage import seed_chain

pytestmark = pytest.mark.journey

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.console, "width", 400)


@pytest.mark.parametrize("family", ["sklearn.random_forest", "river.hoeffding_tree"])
def test_replay_of_a_recorded_trial_is_identical(database_url: str, family: str) -> None:
    chain = seed_chain(database_url, family)
    result = runner.invoke(
        cli.app, ["replay", "trial", chain.trial], env={"DATABASE_URL": database_url}
    )
    assert result.exit_code == 0, result.output
    accuracy = repr(chain.metrics["accuracy"])
    assert any(
        line.split()[:4] == ["accuracy", accuracy, accuracy, "identical"]
        for line in result.output.splitlines()
    ), result.output
    assert "replays bit for bit" in result.output
    # Fed as training feeds it, a scikit-learn model pickles to the same bytes; a river
    # model also pickles the state of RNGs it never seeded, so its bytes vary.
    same = f"artifact sha256 identical (recorded {chain.artifact}, replayed {chain.artifact})"
    assert (same in result.output) == family.startswith("sklearn."), result.output


def test_replay_exits_1_with_a_table_when_recorded_metrics_were_altered(
    database_url: str,
) -> None:
    chain = seed_chain(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE trials SET metrics = jsonb_set(metrics, '{accuracy}', '0.5') WHERE id = %s",
            (chain.trial,),
        )
    result = runner.invoke(
        cli.app, ["replay", "trial", chain.trial], env={"DATABASE_URL": database_url}
    )
    assert result.exit_code == 1, result.output
    replayed = repr(chain.metrics["accuracy"])
    assert any(
        line.split()[:4] == ["accuracy", "0.5", replayed, "differs"]
        for line in result.output.splitlines()
    ), result.output
    assert any(
        line.split()[:2] == ["train_rows", "320.0"] and line.split()[3] == "identical"
        for line in result.output.splitlines()
    ), result.output
    assert "not identical: accuracy differ" in result.output


def test_replay_refuses_an_altered_snapshot(database_url: str) -> None:
    chain = seed_chain(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE artifacts SET bytes = bytes || '\\x00'::bytea, size = size + 1"
            " WHERE sha256 = %s",
            (chain.snapshot,),
        )
    result = runner.invoke(
        cli.app, ["replay", "trial", chain.trial], env={"DATABASE_URL": database_url}
    )
    assert result.exit_code == 2, result.output
    assert f"cannot replay: snapshot {chain.snapshot}" in result.output
    assert "refused" in result.output


def test_replay_of_an_unknown_or_unfinished_trial_says_why(database_url: str) -> None:
    chain = seed_chain(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE trials SET status = 'failed', metrics = NULL, error = 'boom' WHERE id = %s",
            (chain.trial,),
        )
    env = {"DATABASE_URL": database_url}
    failed = runner.invoke(cli.app, ["replay", "trial", chain.trial], env=env)
    assert failed.exit_code == 2
    assert f"trial {chain.trial} is failed: it has no metrics to compare" in failed.output
    unknown = runner.invoke(cli.app, ["replay", "trial", "nope"], env=env)
    assert unknown.exit_code == 2
    assert "no trial nope in the knowledge base" in unknown.output
