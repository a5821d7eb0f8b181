"""`driftloop lineage model ID` on a real knowledge base holding one full chain.

``seed_chain`` writes what the services write: a drift event triggers an experiment
seeded from a prior one; its trial is trained for real (snapshot artifact, run_trial,
pickled model); the model is judged, approved by a person, serves, and is pinned.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb
from river.datasets import synth
from typer.testing import CliRunner

from driftloop import cli
from driftloop_learn import Dataset, HoldoutSize, Row, dump, run_trial
from driftloop_spec import load_spec
from driftloop_store import migrate, put_artifact, register_stream

pytestmark = pytest.mark.journey

SPEC = Path(__file__).parent.parent / "examples" / "agrawal.yaml"
SNAPSHOT_MEDIA = "application/vnd.driftloop.snapshot+json+gzip"
MODEL_MEDIA = "application/vnd.driftloop.model+pickle"
runner = CliRunner()


@dataclass(frozen=True)
class Chain:
    stream: str
    drift_event: str
    prior_experiment: str
    prior_trial: str
    prior_model: str
    experiment: str
    trial: str
    snapshot: str
    model: str
    artifact: str
    decision: str
    holdout: str
    metrics: dict[str, float]


def _id() -> str:
    return str(uuid.uuid4())


def seed_chain(url: str, family: str = "sklearn.random_forest") -> Chain:
    """One full chain in the database at ``url`` (migrated here), for a stream of its own."""
    return asyncio.run(_seed(url, family, f"agrawal_{uuid.uuid4().hex[:8]}"))


# In the order the services write them; %(name)s values come from ``_seed``'s ``v``.
_CHAIN_SQL = (
    "INSERT INTO snapshots (hash, stream, window_definition, row_count)"
    " VALUES (%(snapshot)s, %(stream)s, %(window)s, 500)",
    # The prior experiment, its trial and model: the knowledge the new one is seeded with.
    "INSERT INTO experiments (id, stream, trigger, spec, budget_trials, budget_seconds, status,"
    " requested_by, snapshot_hash, reason) VALUES (%(prior_experiment)s, %(stream)s, 'manual',"
    " %(spec)s, 4, 60, 'completed', 'carol', %(snapshot)s, 'first')",
    "INSERT INTO trials (id, experiment_id, family, params, seed, status, metrics,"
    " artifact_sha256) VALUES (%(prior_trial)s, %(prior_experiment)s, %(family)s, %(params)s,"
    " 42, 'completed', '{\"accuracy\": 0.7}', %(artifact)s)",
    "INSERT INTO models (id, stream, version, trial_id, artifact_sha256, family, params)"
    " VALUES (%(prior_model)s, %(stream)s, 1, %(prior_trial)s, %(artifact)s, %(family)s,"
    " %(params)s)",
    "INSERT INTO serving_history (stream, model_id, reason, actor, started_at) VALUES"
    " (%(stream)s, %(prior_model)s, 'first model', 'evaluation', now() - interval '1 hour')",
    "INSERT INTO drift_events (event_id, stream, source, detector, statistic, severity,"
    " window_start, window_end, report_uri) VALUES (%(drift_event)s, %(stream)s, 'errors',"
    " 'adwin', 0.25, 'high', now() - interval '10 minutes', now(), %(report)s)",
    "INSERT INTO experiments (id, stream, trigger, trigger_ref, spec, budget_trials,"
    " budget_seconds, status, requested_by, snapshot_hash, started_at, ended_at) VALUES"
    " (%(experiment)s, %(stream)s, 'drift', %(drift_event)s, %(spec)s, 12, 120, 'completed',"
    " 'drift', %(snapshot)s, now(), now())",
    "INSERT INTO experiment_seeds (experiment_id, kind, source_id, source_experiment_id,"
    " distance, score) VALUES (%(experiment)s, 'prior_config', %(prior_trial)s,"
    " %(prior_experiment)s, 0.125, 0.7), (%(experiment)s, 'rescored_model', %(prior_model)s,"
    " %(prior_experiment)s, 0.125, 0.66)",
    "INSERT INTO trials (id, experiment_id, family, params, seed, number, source, seeded_from)"
    " VALUES (%(trial)s, %(experiment)s, %(family)s, %(params)s, %(seed)s, 3, 'seed',"
    " %(prior_trial)s)",
    # What training writes when the trial completes (first completion wins).
    "UPDATE trials SET status = 'completed', metrics = %(metrics)s, duration_seconds ="
    " %(duration)s, artifact_sha256 = %(artifact)s, code_version = %(code_version)s,"
    " library_versions = %(libraries)s, worker = 'training-host-1', finished_at = now()"
    " WHERE id = %(trial)s AND status = 'requested'",
    "INSERT INTO models (id, stream, version, trial_id, artifact_sha256, family, params, metrics)"
    " VALUES (%(model)s, %(stream)s, 2, %(trial)s, %(artifact)s, %(family)s, %(params)s,"
    " %(metrics)s)",
    "INSERT INTO holdouts (hash, stream, uses, definition, row_count)"
    " VALUES (%(holdout)s, %(stream)s, 1, %(holdout_definition)s, 100)",
    "INSERT INTO decisions (id, stream, experiment_id, model_id, champion_id, verdict, metric,"
    " candidate_score, champion_score, test, statistic, p_value, alpha, min_gain, holdout_hash,"
    " status, reason, decided_by, decided_at) VALUES (%(decision)s, %(stream)s, %(experiment)s,"
    " %(model)s, %(prior_model)s, 'await_approval', 'accuracy', 0.91, 0.7, 'mcnemar', 6.25,"
    " 0.0124, 0.05, 0.005, %(holdout)s, 'approved', 'beats the champion', 'alice', now())",
    "INSERT INTO human_actions (actor, action, target_kind, target_id, reason, payload) VALUES"
    " ('alice', 'approve', 'decision', %(decision)s, 'checked the [holdout] report',"
    " %(model_payload)s)",
    "UPDATE serving_history SET ended_at = now() WHERE stream = %(stream)s AND ended_at IS NULL",
    "INSERT INTO serving_history (stream, model_id, reason, actor, decision_id)"
    " VALUES (%(stream)s, %(model)s, 'approved promotion', 'alice', %(decision)s)",
    "INSERT INTO pins (stream, model_id, actor) VALUES (%(stream)s, %(model)s, 'bob')",
    "INSERT INTO human_actions (actor, action, target_kind, target_id, reason, payload) VALUES"
    " ('bob', 'pin', 'stream', %(stream)s, 'quarter end freeze', %(model_payload)s)",
)


async def _seed(url: str, family: str, stream: str) -> Chain:
    spec = load_spec(SPEC).model_copy(update={"stream": stream})
    rows = synth.Agrawal(classification_function=2, seed=11).take(500)
    stored = Dataset.of(Row(f"r{i}", i + 1, x, y) for i, (x, y) in enumerate(rows)).to_bytes()
    # Training reads the snapshot back from its bytes; so does this.
    snapshot = Dataset.from_bytes(stored)
    params: dict[str, Any] = {"n_estimators": 12, "max_depth": 5}
    if family.startswith("river."):
        params = {"grace_period": 60}
    holdout = snapshot.split_tail(spec.holdout.fraction, spec.holdout.count).tail
    ids = ("drift_event", "prior_experiment", "prior_trial", "prior_model", "experiment")
    v: dict[str, Any] = {name: _id() for name in (*ids, "trial", "model", "decision")}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await migrate(conn)
        schema = {name: str(kind) for name, kind in spec.features.items()}
        await register_stream(conn, stream, schema, spec.target, spec.model_dump(mode="json"))
        # Training reads the parameters from the trials row: jsonb's key order, not ours.
        cursor = await conn.execute("SELECT %s::jsonb", (Jsonb(params),))
        params = (await cursor.fetchone() or [params])[0]
        result = run_trial(
            snapshot,
            family=family,
            params=params,
            seed=spec.seed + 3,
            task=spec.task,
            metric=spec.objective.metric,
            holdout=HoldoutSize(spec.holdout.fraction, spec.holdout.count),
        )
        v |= {
            "stream": stream,
            "family": family,
            "seed": spec.seed + 3,
            "snapshot": await put_artifact(conn, stored, SNAPSHOT_MEDIA),
            "artifact": await put_artifact(conn, dump(result.model)[0], MODEL_MEDIA),
            "holdout": await put_artifact(conn, holdout.to_bytes(), SNAPSHOT_MEDIA),
            "report": f"driftloop://artifacts/{'ab' * 32}",
            "code_version": result.lineage["code_version"],
            "duration": result.duration_seconds,
        }
        v |= {
            "spec": Jsonb(spec.model_dump(mode="json")),
            "params": Jsonb(params),
            "metrics": Jsonb(result.metrics),
            "libraries": Jsonb(result.lineage["library_versions"]),
            "model_payload": Jsonb({"model_id": v["model"]}),
            "holdout_definition": Jsonb({"kind": "snapshot_tail", "snapshot": v["snapshot"]}),
            "window": Jsonb(
                {"kind": "records", "window": {"last_labelled": 5000}, "seq_low": 1}
                | {"seq_high": 500, "rows": 500}
            ),
        }
        for statement in _CHAIN_SQL:
            await conn.execute(statement, v)
    fields = {name: v[name] for name in Chain.__dataclass_fields__ if name != "metrics"}
    return Chain(**fields, metrics=result.metrics)


@pytest.fixture
def chain(database_url: str) -> Chain:
    return seed_chain(database_url)


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    # Hashes and ids stay on one line, so the assertions read whole values.
    monkeypatch.setattr(cli.console, "width", 1000)


def test_lineage_prints_every_link_of_the_chain(
    chain: Chain, database_url: str, wide: None
) -> None:
    result = runner.invoke(
        cli.app, ["lineage", "model", chain.model], env={"DATABASE_URL": database_url}
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()

    def line(*words: str) -> str:
        found = [text for text in lines if all(word in text for word in words)]
        assert found, f"no line with {words} in:\n{result.output}"
        return found[0]

    line("trigger: drift", chain.drift_event, "adwin on errors", "statistic 0.25", "high")
    line("experiment", chain.experiment, "completed", "requested by drift", "12 trials")
    line("prior config", chain.prior_trial, chain.prior_experiment, "distance 0.125", "score 0.7")
    line("rescored model", chain.prior_model, "score 0.66")
    line(
        "trial",
        chain.trial,
        "#3 sklearn.random_forest",
        "seed 45",
        f"from trial {chain.prior_trial}",
    )
    line("metrics", f"accuracy={chain.metrics['accuracy']:g}", "train_rows=320")
    line("code", "scikit-learn=")
    line("worker", "training-host-1")
    line("snapshot", chain.snapshot, "500 rows", '"last_labelled": 5000')
    line("model", chain.model, "v2", chain.artifact)
    line("await_approval (approved)", chain.decision, "mcnemar", "statistic 6.25", "p=0.0124")
    line(chain.decision, "0.91 vs champion", chain.prior_model, "0.7", chain.holdout, "by alice")
    line("-> now", "approved promotion", "by alice", f"decision {chain.decision}")
    line("pinned", "by bob")
    line("alice approve decision", chain.decision, "checked the [holdout] report")
    line("bob pin stream", "quarter end freeze")
    order = [chain.drift_event, chain.experiment, chain.trial, chain.snapshot, chain.artifact]
    positions = [result.output.index(value) for value in order]
    assert positions == sorted(positions), "the chain is not printed cause first"


def test_lineage_json_has_every_link(chain: Chain, database_url: str) -> None:
    result = runner.invoke(
        cli.app, ["lineage", "model", chain.model, "--json"], env={"DATABASE_URL": database_url}
    )
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["trigger"]["kind"] == "drift"
    assert found["trigger"]["drift_event"]["event_id"] == chain.drift_event
    assert found["trigger"]["drift_event"]["detector"] == "adwin"
    assert found["experiment"]["id"] == chain.experiment
    assert {(s["kind"], s["source_id"]) for s in found["seeds"]} == {
        ("prior_config", chain.prior_trial),
        ("rescored_model", chain.prior_model),
    }
    trial = found["trial"]
    assert (trial["id"], trial["seed"], trial["family"]) == (
        chain.trial,
        45,
        "sklearn.random_forest",
    )
    assert trial["metrics"] == chain.metrics
    assert trial["library_versions"]["scikit-learn"]
    assert found["snapshot"]["hash"] == chain.snapshot
    assert found["snapshot"]["row_count"] == 500
    assert (found["model"]["version"], found["model"]["artifact_sha256"]) == (2, chain.artifact)
    [decision] = found["decisions"]
    assert (decision["id"], decision["p_value"], decision["decided_by"]) == (
        chain.decision,
        0.0124,
        "alice",
    )
    [served] = found["serving"]
    assert (served["decision_id"], served["ended_at"]) == (chain.decision, None)
    assert found["pin"]["actor"] == "bob"
    assert [a["action"] for a in found["human_actions"]] == ["approve", "pin"]


def test_lineage_of_a_model_without_trial_or_history_says_what_is_missing(
    chain: Chain, database_url: str, wide: None
) -> None:
    orphan = _id()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO models (id, stream, version, artifact_sha256, family)"
            " VALUES (%s, %s, 3, %s, 'sklearn.knn')",
            (orphan, chain.stream, chain.artifact),
        )
    result = runner.invoke(
        cli.app, ["lineage", "model", orphan], env={"DATABASE_URL": database_url}
    )
    assert result.exit_code == 0, result.output
    for text in (
        "trigger unknown",
        "experiment not recorded",
        "trial not recorded",
        "snapshot not recorded",
        "decisions none",
        "served never",
    ):
        assert text in result.output, result.output


def test_lineage_of_an_unknown_model_fails_clearly(database_url: str) -> None:
    asyncio.run(_migrated(database_url))
    result = runner.invoke(
        cli.app, ["lineage", "model", "no-such-model"], env={"DATABASE_URL": database_url}
    )
    assert result.exit_code == 1
    assert "no model 'no-such-model' in the knowledge base" in result.output


def test_lineage_without_a_database_says_how_to_get_one(tmp_path: Path) -> None:
    result = runner.invoke(
        cli.app, ["lineage", "model", "m", "--home", str(tmp_path)], env={"DATABASE_URL": ""}
    )
    assert result.exit_code == 1
    assert "driftloop up" in result.output


async def _migrated(url: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await migrate(conn)
