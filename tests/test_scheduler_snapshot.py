"""Snapshots and re-scored archived models, pure: the window read, the size checks, the
snapshot's bytes and definition, and the recurring-concept gate."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from driftloop_learn import Dataset, Row, dump, get_family
from driftloop_scheduler.rescore import Artifact, rescore
from driftloop_scheduler.snapshot import (
    MIN_HOLDOUT,
    Selection,
    holdout_of,
    selection,
    short_of,
    take,
    too_small,
)
from driftloop_spec import ExperimentSpec, Holdout, Window, validate_spec

NOW = datetime(2026, 3, 4, 12, tzinfo=UTC)


def spec(**overrides: object) -> ExperimentSpec:
    return validate_spec(
        {
            "stream": "s",
            "task": "classification",
            "target": "y",
            "features": {"x": "float", "z": "float"},
            "families": ["sklearn.logistic_regression"],
            "holdout": {"fraction": 0.25},
            "promotion": {"alpha": 0.05, "min_gain": 0.01, "first_model_threshold": 0.8},
            **overrides,
        }
    )


def data(n: int, flipped: bool = False, seed: int = 1) -> Dataset:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        x, z = rng.random(), rng.random()
        label = int((x > 0.5) != flipped)
        rows.append(Row(f"r{i}", 100 + i, {"x": x, "z": z}, label))
    return Dataset.of(rows)


def test_selection_follows_the_window_kind() -> None:
    assert selection(Window(last_labelled=500), NOW, 10_000) == Selection(500)
    assert selection(Window(last_labelled=500), NOW, 200) == Selection(200)
    last = selection(Window(last=timedelta(hours=6)), NOW, 10_000)
    assert last == Selection(10_000, NOW - timedelta(hours=6), NOW)
    since = datetime(2026, 1, 1, tzinfo=UTC)
    assert selection(Window(since=since), NOW, 10_000) == Selection(10_000, since, None)


def test_a_drift_selects_the_window_from_its_change_on() -> None:
    chosen = selection(Window(last_labelled=300), NOW, 10_000, change=1200)
    assert chosen == Selection(300, after_seq=1199)
    timed = selection(Window(last=timedelta(hours=6)), NOW, 10_000, change=7)
    assert timed == Selection(10_000, NOW - timedelta(hours=6), NOW, after_seq=6)


def test_a_drift_waits_for_enough_labels_since_its_change_or_a_full_smaller_window() -> None:
    since_change = Selection(300, after_seq=1199)
    assert short_of(since_change, 40, 100) == 60
    assert short_of(since_change, 100, 100) is None
    assert short_of(Selection(80, after_seq=1199), 70, 100) == 10  # the window is the most
    assert short_of(Selection(300), 10, 100) is None  # no change: nothing to wait for


def test_too_few_rows_or_too_small_a_holdout_is_refused_with_the_reason() -> None:
    fifth = Holdout(fraction=0.2)
    assert too_small(49, fifth, 50) == (
        "only 49 labelled records in the window; at least 50 are needed"
    )
    assert too_small(50, fifth, 50) is None
    assert too_small(60, Holdout(fraction=0.1), 50) == (
        f"the holdout would hold 6 of 60 records; at least {MIN_HOLDOUT} needed"
    )
    assert too_small(60, Holdout(count=55), 50) == (
        "only 5 of 60 records would be left to train and validate on; at least 10 needed"
    )


def test_a_snapshot_is_its_rows_bytes_with_their_hash_and_a_definition() -> None:
    window = data(200)
    snap = take(window, spec(window={"last_labelled": 200}), Selection(200))
    assert Dataset.from_bytes(snap.content) == window and snap.hash == window.sha256
    assert snap.definition == {
        "kind": "records",
        "window": {"last_labelled": 200},
        "seq_low": 100,
        "seq_high": 299,
        "rows": 200,
    }
    assert snap.meta["rows"] == 200.0 and "share.1" in snap.meta
    timed = take(window, spec(window={"last": "6h"}), Selection(500, NOW, NOW))
    assert timed.definition["kind"] == "duration"
    assert timed.definition["since"] == NOW.isoformat()
    since = take(window, spec(window={"last_labelled": 200}), Selection(200, after_seq=99))
    assert since.definition["after_seq"] == 99


def test_the_holdout_is_the_newest_rows() -> None:
    window = data(200)
    held = holdout_of(spec(), window)
    assert len(held) == 50 and held.rows == window.rows[-50:]


def artifact(model_id: str, trained_on: Dataset) -> Artifact:
    model = get_family("sklearn.logistic_regression").build({}, 0, "classification")
    content, sha = dump(model.fit(trained_on))
    return Artifact(model_id, sha, content)


def test_an_archived_model_of_the_concept_beats_a_champion_of_another() -> None:
    now = data(400, seed=2)
    old_concept, other = artifact("m-old", data(300, seed=3)), artifact("m-other", data(300, True))
    tampered = Artifact("m-tampered", other.sha256, old_concept.data)
    result = rescore(spec(), holdout_of(spec(), now), [other, tampered, old_concept], other)
    assert result.winner == "m-old"
    assert [model_id for model_id, _ in result.scores] == ["m-old", "m-other"]
    assert result.scores[0][1] > 0.9 > 0.1 > result.scores[1][1]
    assert result.gate is not None and result.gate.test == "mcnemar" and result.gate.passed
    (skipped, why), *_ = result.skipped
    assert skipped == "m-tampered" and "refused, not loaded" in why


def test_with_no_champion_the_best_archived_model_must_reach_the_threshold() -> None:
    now = data(400, seed=2)
    result = rescore(spec(), holdout_of(spec(), now), [artifact("m-other", data(300, True))], None)
    assert result.winner is None and result.gate is not None and not result.gate.passed
    assert result.reason.startswith("first model: accuracy")
    good = rescore(spec(), holdout_of(spec(), now), [artifact("m-old", data(300, seed=3))], None)
    assert good.winner == "m-old"


def test_a_champion_as_good_as_the_archive_keeps_the_experiment_training() -> None:
    now = data(400, seed=2)
    champion = artifact("m-champion", data(300, seed=4))
    result = rescore(
        spec(), holdout_of(spec(), now), [artifact("m-old", data(300, seed=3))], champion
    )
    assert result.winner is None and result.gate is not None and not result.gate.passed


def test_nothing_loadable_means_no_winner() -> None:
    missing = Artifact("m-gone", "0" * 64, None)
    result = rescore(spec(), holdout_of(spec(), data(200)), [missing], None)
    assert result.winner is None and result.scores == ()
    assert result.skipped == (("m-gone", "artifact 000000000000 is missing from the store"),)
