"""A model's lineage, read from the knowledge base: why it exists and what happened to it.

The chain runs trigger -> experiment (and the knowledge that seeded it) -> trial ->
snapshot -> model -> decisions -> serving history, with every human action that touched
the model, its decisions or its experiment. ``gather`` returns it as plain JSON-able data;
``tree`` draws it for a person.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from rich.text import Text
from rich.tree import Tree

Record = dict[str, Any]

_TRIAL = """
    SELECT id, experiment_id, number, family, params, seed, status, attempt, source,
           seeded_from, metrics, duration_seconds, artifact_sha256, code_version,
           library_versions, worker, error, created_at, finished_at
    FROM trials WHERE id = %s"""
_EXPERIMENT = """
    SELECT id, stream, trigger, trigger_ref, status, requested_by, reason, budget_trials,
           budget_seconds, seeded_from, snapshot_hash, best_trial_id, candidate_model_id,
           created_at, started_at, ended_at
    FROM experiments WHERE id = %s"""


async def gather(conn: AsyncConnection[Any], model_id: str) -> Record | None:
    """Every recorded link of ``model_id``'s chain, or None when no such model exists."""
    model = await _one(
        conn,
        """SELECT m.id, m.stream, m.version, m.trial_id, m.artifact_sha256, m.family, m.params,
                  m.metrics, m.created_at, a.size AS artifact_size
           FROM models m JOIN artifacts a ON a.sha256 = m.artifact_sha256 WHERE m.id = %s""",
        model_id,
    )
    if model is None:
        return None
    trial = await _one(conn, _TRIAL, model["trial_id"]) if model["trial_id"] else None
    decisions = await _all(
        conn,
        """SELECT id, experiment_id, champion_id, verdict, status, metric, candidate_score,
                  champion_score, test, statistic, p_value, alpha, min_gain, holdout_hash,
                  reason, decided_by, decided_at, at
           FROM decisions WHERE model_id = %s ORDER BY at, id""",
        model_id,
    )
    # A rescored archived model answers an experiment without a trial of its own.
    experiment_id = (trial or {}).get("experiment_id") or next(
        (d["experiment_id"] for d in decisions if d["experiment_id"]), None
    )
    experiment = await _one(conn, _EXPERIMENT, experiment_id) if experiment_id else None
    return {
        "model": model,
        "trigger": await _trigger(conn, experiment) if experiment else None,
        "experiment": experiment,
        "seeds": await _all(
            conn,
            """SELECT kind, source_id, source_experiment_id, distance, score, detail
               FROM experiment_seeds WHERE experiment_id = %s
               ORDER BY kind, distance NULLS LAST, source_id""",
            experiment_id,
        ),
        "trial": trial,
        "snapshot": await _one(
            conn,
            "SELECT hash, window_definition, row_count, created_at FROM snapshots WHERE hash = %s",
            (experiment or {}).get("snapshot_hash"),
        ),
        "decisions": decisions,
        "serving": await _all(
            conn,
            """SELECT id, started_at, ended_at, reason, actor, decision_id
               FROM serving_history WHERE model_id = %s ORDER BY started_at, id""",
            model_id,
        ),
        "pin": await _one(conn, "SELECT stream, actor, at FROM pins WHERE model_id = %s", model_id),
        "human_actions": await _all(
            conn,
            """SELECT id, actor, action, target_kind, target_id, reason, payload, at
               FROM human_actions
               WHERE (target_kind = 'model' AND target_id = %(model)s)
                  OR payload ->> 'model_id' = %(model)s
                  OR (target_kind = 'decision' AND target_id = ANY(%(decisions)s))
                  OR (target_kind = 'experiment' AND target_id = %(experiment)s)
                  OR payload ->> 'experiment_id' = %(experiment)s
               ORDER BY at, id""",
            {
                "model": model_id,
                "decisions": [d["id"] for d in decisions],
                "experiment": experiment_id,
            },
        ),
    }


async def _trigger(conn: AsyncConnection[Any], experiment: Record) -> Record:
    trigger: Record = {
        "kind": experiment["trigger"],
        "ref": experiment["trigger_ref"],
        "requested_by": experiment["requested_by"],
        "reason": experiment["reason"],
    }
    if experiment["trigger"] == "drift" and experiment["trigger_ref"]:
        trigger["drift_event"] = await _one(
            conn,
            """SELECT event_id, source, detector, features, statistic, severity, window_start,
                      window_end, report_uri, at FROM drift_events WHERE event_id = %s""",
            experiment["trigger_ref"],
        )
    return trigger


async def _one(conn: AsyncConnection[Any], query: str, arg: Any) -> Record | None:
    rows = await _all(conn, query, arg)
    return rows[0] if rows else None


async def _all(conn: AsyncConnection[Any], query: str, arg: Any) -> list[Record]:
    if arg is None:
        return []
    params = arg if isinstance(arg, dict) else (arg,)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


def to_json(lineage: Record) -> str:
    return json.dumps(lineage, indent=2, sort_keys=True, default=_plain)


def _plain(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def tree(lineage: Record) -> Tree:
    """The chain as a tree, cause at the root; a missing link says it was not recorded."""
    model, experiment, trial, snapshot = (
        lineage[k] for k in ("model", "experiment", "trial", "snapshot")
    )
    root = Tree(_label("lineage of model", model["id"], f"(stream {model['stream']})"))
    node = root.add(_trigger_label(lineage["trigger"]))
    if experiment is None:
        node = node.add(_label("experiment", "not recorded"))
    else:
        node = node.add(_experiment_label(experiment))
        seeds = node.add(_label("seeded from", "" if lineage["seeds"] else "nothing (cold start)"))
        for seed in lineage["seeds"]:
            seeds.add(_seed_label(seed))
    if trial is None:
        node = node.add(_label("trial", "not recorded"))
    else:
        node = node.add(_trial_label(trial))
        node.add(_label("metrics", _pairs(trial["metrics"] or {})))
        node.add(
            _label("code", str(trial["code_version"]), _pairs(trial["library_versions"] or {}))
        )
        node.add(_label("worker", str(trial["worker"]), f"attempt {trial['attempt']}"))
    if snapshot is None:
        node = node.add(_label("snapshot", "not recorded"))
    else:
        window = _compact(snapshot["window_definition"])
        node = node.add(
            _label("snapshot", snapshot["hash"], f"{snapshot['row_count']} rows; window", window)
        )
    family = f"v{model['version']} {model['family']}; artifact sha256"
    node = node.add(_label("model", model["id"], family, model["artifact_sha256"]))
    _outcome(node, lineage)
    return root


def _outcome(node: Tree, lineage: Record) -> None:
    """What became of the model: judged, served, pinned, touched by people."""
    decisions = node.add(_label("decisions", "" if lineage["decisions"] else "none"))
    for decision in lineage["decisions"]:
        decisions.add(_decision_label(decision))
    served = node.add(_label("served", "" if lineage["serving"] else "never"))
    for stint in lineage["serving"]:
        until = _time(stint["ended_at"]) if stint["ended_at"] else "now"
        by = f"decision {stint['decision_id']}" if stint["decision_id"] else "no decision"
        when = f"{_time(stint['started_at'])} -> {until}"
        served.add(_label(when, stint["reason"], f"by {stint['actor']} ({by})"))
    if pin := lineage["pin"]:
        node.add(_label("pinned", f"by {pin['actor']} at {_time(pin['at'])}"))
    actions = node.add(_label("human actions", "" if lineage["human_actions"] else "none"))
    for a in lineage["human_actions"]:
        actions.add(
            _label(
                _time(a["at"]),
                f"{a['actor']} {a['action']} {a['target_kind']} {a['target_id']}",
                f"reason: {a['reason']!r}" if a["reason"] else "",
            )
        )


def _experiment_label(experiment: Record) -> Text:
    return _label(
        "experiment",
        experiment["id"],
        f"{experiment['status']}; requested by {experiment['requested_by']};",
        f"budget {experiment['budget_trials']} trials / {experiment['budget_seconds']:g}s",
    )


def _trigger_label(trigger: Record | None) -> Text:
    if trigger is None:
        return _label("trigger", "unknown (no experiment recorded)")
    if event := trigger.get("drift_event"):
        return _label(
            "trigger: drift",
            event["event_id"],
            f"{event['detector']} on {event['source']}",
            f"{', '.join(event['features'])};" if event["features"] else ";",
            f"statistic {event['statistic']:g}, severity {event['severity']},",
            f"window {_time(event['window_start'])} -> {_time(event['window_end'])}",
            f"report {event['report_uri']}" if event["report_uri"] else "",
        )
    if trigger["kind"] == "schedule":
        return _label("trigger: schedule", f"tick {trigger['ref'] or '?'}")
    return _label(
        f"trigger: {trigger['kind']}",
        f"event {trigger['ref']} (not recorded)" if trigger["kind"] == "drift" else "",
        f"by {trigger['requested_by']}",
        f"reason: {trigger['reason']!r}" if trigger["reason"] else "",
    )


def _seed_label(seed: Record) -> Text:
    kind = {"rescored_model": "rescored model"}.get(seed["kind"], seed["kind"].replace("_", " "))
    where = f"of experiment {seed['source_experiment_id']}" if seed["source_experiment_id"] else ""
    return _label(
        kind,
        seed["source_id"],
        where,
        f"distance {_num(seed['distance'])}",
        f"score {_num(seed['score'])}",
    )


def _trial_label(trial: Record) -> Text:
    source = f"source {trial['source']}" + (
        f" (from trial {trial['seeded_from']})" if trial["seeded_from"] else ""
    )
    duration = trial["duration_seconds"]
    return _label(
        "trial",
        trial["id"],
        f"#{trial['number']} {trial['family']} {_compact(trial['params'])}",
        f"seed {trial['seed']}; {source}; {trial['status']}",
        f"in {duration:.3f}s" if duration is not None else "",
    )


def _decision_label(decision: Record) -> Text:
    d = decision
    champion = f"vs champion {d['champion_id']} {_num(d['champion_score'])}"
    return _label(
        f"{d['verdict']} ({d['status']})",
        d["id"],
        f"{d['test']} statistic {_num(d['statistic'])} p={_num(d['p_value'], '.4g')}",
        f"(alpha {_num(d['alpha'])}, min gain {_num(d['min_gain'])}); {d['metric']}",
        f"{_num(d['candidate_score'])} {champion if d['champion_id'] else '(no champion)'};",
        f"holdout {d['holdout_hash']}",
        f"reason: {d['reason']!r}" if d["reason"] else "",
        f"by {d['decided_by']} at {_time(d['decided_at'])}" if d["decided_by"] else "",
    )


def _label(head: str, *parts: str) -> Text:
    # Text, not markup: reasons and parameters are user input and may contain brackets.
    return Text.assemble((head, "bold"), " ", " ".join(p for p in parts if p))


def _num(value: float | None, spec: str = "g") -> str:
    return "n/a" if value is None else format(value, spec)


def _pairs(values: Record) -> str:
    return ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(values.items())
    )


def _compact(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(", ", ": "), default=_plain)


def _time(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "?"
