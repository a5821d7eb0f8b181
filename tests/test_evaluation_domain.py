"""Evaluation's pure rules: the gate's verdicts, holdout reuse, pins, approvals, rollbacks."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from driftloop_contracts import PromotionReason, RollbackRequested, Verdict
from driftloop_evaluation import gate, holdout
from driftloop_evaluation.handlers import CONSUMED
from driftloop_evaluation.promotion import Pin, approval_blocker, rollback_problem
from driftloop_learn import Dataset, HoldoutSize, Row, dump, run_trial, sha256
from driftloop_runtime import Message, parse_event
from driftloop_spec import ExperimentSpec

SIZE = HoldoutSize(fraction=0.25)


def rows(n: int, *, flipped: bool = False, start: int = 1, seed: int = 3) -> Dataset:
    """y = x > 0.5 with 5% noise, or its opposite (a changed concept)."""
    rng = random.Random(seed)
    made = []
    for seq in range(start, start + n):
        x = rng.random()
        y = int((x > 0.5) != flipped)
        y = 1 - y if rng.random() < 0.05 else y
        made.append(Row(f"r{seq}", seq, {"x": x, "z": rng.random()}, y))
    return Dataset.of(made)


def artifact(data: Dataset, **params: float) -> gate.Artifact:
    model = run_trial(
        data,
        family="sklearn.logistic_regression",
        params=dict(params),
        seed=1,
        task="classification",
        metric="accuracy",
        holdout=SIZE,
    ).model
    blob, digest = dump(model)
    return gate.Artifact(digest, blob)


def spec(**sections: object) -> ExperimentSpec:
    return ExperimentSpec.model_validate(
        {
            "stream": "s",
            "task": "classification",
            "features": {"x": "float", "z": "float"},
            "target": "y",
            "families": ["sklearn.logistic_regression"],
            "promotion": {"first_model_threshold": 0.8},
            **sections,
        }
    )


def policy(**changes: object) -> gate.Policy:
    return replace(gate.Policy.of(spec()), **changes)  # type: ignore[arg-type]


NEW, OLD = rows(400), rows(400, flipped=True)
HOLDOUT = SIZE.split(NEW).tail
GOOD, BAD = artifact(NEW), artifact(OLD)


def test_policy_takes_the_specs_test_level_and_gain() -> None:
    assert policy() == gate.Policy("accuracy", "mcnemar", 0.05, 0.0, 0.8, False, 0)
    auc = spec(objective="roc_auc", promotion={"mode": "approval", "alpha": 0.01}, seed=4)
    assert gate.Policy.of(auc) == gate.Policy(
        "roc_auc", "paired_bootstrap", 0.01, 0.0, None, True, 4
    )


def test_a_first_model_is_promoted_only_above_the_threshold() -> None:
    passed = gate.judge(policy(), HOLDOUT, GOOD, None)
    missed = gate.judge(policy(), HOLDOUT, BAD, None)
    assert (passed.verdict, passed.promotion, passed.result.test) == (
        Verdict.PROMOTE,
        PromotionReason.FIRST_MODEL,
        "threshold",
    )
    assert passed.result.candidate_score > 0.9 and passed.looked
    assert missed.verdict == Verdict.REJECT and "misses 0.8" in missed.reason


def test_a_better_candidate_beats_the_champion_and_a_worse_one_does_not() -> None:
    better = gate.judge(policy(), HOLDOUT, GOOD, BAD)
    worse = gate.judge(policy(), HOLDOUT, BAD, GOOD)
    assert (better.verdict, better.promotion) == (Verdict.PROMOTE, PromotionReason.GATE)
    assert better.result.p_value is not None and better.result.p_value < 0.001
    assert worse.verdict == Verdict.REJECT and worse.result.champion_score is not None
    assert worse.result.candidate_score < worse.result.champion_score
    assert "below the minimum" in worse.reason


def test_an_equal_candidate_is_not_significant() -> None:
    same = gate.judge(policy(), HOLDOUT, GOOD, GOOD)
    assert same.verdict == Verdict.REJECT and same.result.p_value == 1.0


def test_a_significant_gain_below_the_specs_minimum_is_rejected() -> None:
    judged = gate.judge(policy(min_gain=0.95), HOLDOUT, GOOD, BAD)
    assert judged.verdict == Verdict.REJECT and judged.result.p_value is not None
    assert judged.result.p_value < 0.001 and "below the minimum 0.95" in judged.reason


def test_the_spec_may_ask_for_a_paired_bootstrap() -> None:
    judged = gate.judge(policy(test="paired_bootstrap", seed=7), HOLDOUT, GOOD, BAD)
    assert judged.verdict == Verdict.PROMOTE and judged.result.test == "paired_bootstrap"
    assert judged.result.p_value is not None and judged.result.p_value < 0.01


def test_approval_mode_waits_for_a_person_after_the_gate_passes() -> None:
    waits = gate.judge(policy(approval=True), HOLDOUT, GOOD, BAD)
    fails = gate.judge(policy(approval=True), HOLDOUT, BAD, GOOD)
    assert waits.verdict == Verdict.AWAIT_APPROVAL
    assert fails.verdict == Verdict.REJECT


def test_a_pinned_stream_rejects_a_candidate_that_passed_and_says_why() -> None:
    pin = Pin("m-old", 3, "alice")
    judged = gate.judge(policy(), HOLDOUT, GOOD, BAD, pinned=pin.blocks("m-new"))
    assert judged.verdict == Verdict.REJECT and judged.looked
    assert judged.reason.startswith("stream pinned to model m-old (v3) by alice")
    assert "the gate passed" in judged.reason


def test_an_altered_artifact_is_refused_and_never_loaded() -> None:
    tampered = gate.Artifact(GOOD.sha256, (GOOD.data or b"") + b"\x00")
    judged = gate.judge(policy(), HOLDOUT, tampered, BAD, score=0.97)
    assert (judged.verdict, judged.failed, judged.looked) == (Verdict.REJECT, True, False)
    assert "candidate refused" in judged.reason and "refused, not loaded" in judged.reason
    assert (judged.result.test, judged.result.candidate_score) == ("none", 0.97)
    champion_gone = gate.judge(policy(), HOLDOUT, GOOD, gate.Artifact(BAD.sha256, None))
    assert champion_gone.failed and "champion artifact" in champion_gone.reason


def test_bytes_that_match_their_hash_but_hold_no_model_are_refused() -> None:
    junk = gate.Artifact(sha256(b"x"), b"x")
    judged = gate.judge(policy(), HOLDOUT, GOOD, junk)
    assert judged.failed and judged.reason.startswith("champion refused")


def test_the_snapshot_holdout_is_exactly_what_no_trial_trained_on() -> None:
    held = holdout.of_snapshot(NEW, "snap", SIZE)
    assert held.data == HOLDOUT and len(held.data) == 100
    assert holdout.trained_through(NEW, SIZE) == 300
    assert held.definition["kind"] == "snapshot_tail" and held.hash == HOLDOUT.sha256


def test_rows_a_model_trained_on_are_left_out_of_the_judgement() -> None:
    held = holdout.of_snapshot(NEW, "snap", SIZE)
    judged = holdout.judge_on(held, budget=2, cut=340, least=30)
    assert isinstance(judged, holdout.Judged)
    assert [row.seq for row in judged.rows.rows] == list(range(341, 401))
    assert judged.note == "on 60 of 100 holdout rows; 40 rows a model trained on left out"
    too_few = holdout.judge_on(held, budget=2, cut=390, least=30)
    assert too_few == "10 holdout rows unseen by both models, fewer than 30"


def test_a_spent_holdout_is_refused_and_fresh_records_replace_it() -> None:
    held = replace(holdout.of_snapshot(NEW, "snap", SIZE), uses=2)
    spent = holdout.judge_on(held, budget=2, cut=300, least=30)
    assert spent == "holdout reuse budget spent (2 of 2 uses)"
    after = holdout.fresh_after(NEW, {"seq_high": 405}, 300)
    assert after == 405
    newer = holdout.fresh(rows(50, start=406), after=after, replaces=held.hash)
    judged = holdout.judge_on(newer, budget=2, cut=300, least=30)
    assert isinstance(judged, holdout.Judged) and len(judged.rows) == 50
    assert newer.definition == {
        "kind": "fresh",
        "replaces": held.hash,
        "after_seq": 405,
        "seq_low": 406,
        "seq_high": 455,
        "rows": 50,
    }
    few = holdout.fresh(rows(12, start=406), after=after, replaces=held.hash)
    why = holdout.judge_on(few, budget=2, cut=300, least=30)
    assert holdout.waiting(str(spent), f"fresh records: {why}") == (
        "holdout reuse budget spent (2 of 2 uses); fresh records: 12 holdout rows unseen by"
        " both models, fewer than 30; waiting for fresh labelled data"
    )


@pytest.mark.parametrize(("size", "least"), [(0, 1), (12, 12), (30, 30), (500, 30)])
def test_a_small_holdout_asks_for_no_more_fresh_rows_than_it_has(size: int, least: int) -> None:
    assert holdout.least_rows(size) == least


def test_a_spec_holdout_size_is_read_back_from_the_stored_spec() -> None:
    assert holdout.size_of({"holdout": {"count": 50, "reuse_budget": 3}}) == HoldoutSize(count=50)
    assert holdout.size_of({"holdout": "nonsense"}) == HoldoutSize(fraction=0.2)


def test_nothing_is_appointed_over_a_pin_but_the_pinned_model_itself() -> None:
    pin = Pin("m-1", 1, "bob")
    assert pin.blocks("m-1") is None
    assert approval_blocker("m-2", compared_with="m-1", serving="m-1", pin=pin) == pin.blocks("m-2")
    assert rollback_problem("m-1", to_version=1, pin=pin) is None
    assert str(rollback_problem("m-3", to_version=None, pin=pin)).endswith("unpin it to roll back")


def test_an_approval_applies_only_to_the_champion_it_was_compared_with() -> None:
    assert approval_blocker("m-2", compared_with="m-1", serving="m-1", pin=None) is None
    assert approval_blocker("m-2", compared_with=None, serving=None, pin=None) is None
    stale = approval_blocker("m-2", compared_with="m-1", serving="m-0", pin=None)
    assert stale is not None and stale.startswith("model m-0 has served since the decision")
    assert approval_blocker("m-2", compared_with="m-1", serving="m-2", pin=None) == (
        "it already serves"
    )


def test_a_rollback_needs_a_model_to_go_back_to() -> None:
    assert rollback_problem(None, to_version=9, pin=None) == "no model v9 for this stream"
    assert rollback_problem(None, to_version=None, pin=None) == (
        "no earlier model served this stream"
    )


def parse(topic: str, value: bytes) -> object:
    return parse_event(CONSUMED, Message(topic, 0, 0, value))


def test_a_message_that_is_no_event_is_skipped() -> None:
    assert parse("driftloop.rollback.requested", b"not json") is None
    event = parse("driftloop.rollback.requested", b'{"stream": "s", "actor": "a"}')
    assert isinstance(event, RollbackRequested) and event.actor == "a"
