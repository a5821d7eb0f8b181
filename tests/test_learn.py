"""The shared ML code: snapshots, families, deterministic trials, artifacts and the gate."""

from __future__ import annotations

import pickle
import random

import pytest

import driftloop_learn
from driftloop_learn import (
    BUILTIN,
    ArtifactMismatch,
    Dataset,
    Family,
    HoldoutSize,
    Row,
    Scored,
    Task,
    UnknownFamily,
    Value,
    compare,
    distance,
    dump,
    first_model,
    get_family,
    load,
    meta_features,
    run_trial,
    score,
    sha256,
)
from driftloop_spec import BUILTIN_FAMILIES

# A user's family, found by import path as a spec names it: tests.test_learn:MAJORITY.
MAJORITY = Family(
    "tests.test_learn:MAJORITY",
    frozenset({"classification"}),
    lambda params, seed, task: BUILTIN["sklearn.knn"].build({"n_neighbors": 1}, seed, task),
)


def concept(n: int, threshold: float, seed: int = 0, start: int = 0) -> Dataset:
    """y = 1 when x > threshold, with a categorical feature that carries no signal."""
    rng = random.Random(seed)
    rows = []
    for i in range(start, start + n):
        x = rng.random()
        rows.append(
            Row(f"r{i}", i, {"x": x, "colour": rng.choice(["red", "blue"])}, int(x > threshold))
        )
    return Dataset.of(rows)


def test_public_surface_is_exactly_all() -> None:
    public = {name for name in vars(driftloop_learn) if not name.startswith("_")}
    assert public == set(driftloop_learn.__all__)


def test_every_family_the_spec_accepts_is_built_in() -> None:
    assert set(BUILTIN) == set(BUILTIN_FAMILIES)
    for name, tasks in BUILTIN_FAMILIES.items():
        assert BUILTIN[name].tasks == tasks


def test_a_snapshot_round_trips_and_equal_rows_hash_equal() -> None:
    data = concept(50, 0.5)
    again = Dataset.from_bytes(data.to_bytes())
    assert again == data
    assert again.sha256 == data.sha256 == concept(50, 0.5).sha256
    assert concept(50, 0.5, seed=1).sha256 != data.sha256


def test_the_holdout_is_the_newest_rows() -> None:
    split = HoldoutSize(fraction=0.2).split(concept(100, 0.5))
    assert len(split.tail) == 20
    assert split.head.rows[-1].seq < split.tail.rows[0].seq


@pytest.mark.parametrize("family", sorted(BUILTIN))
def test_every_family_trains_deterministically_and_survives_pickling(family: str) -> None:
    task: Task = "classification" if "classification" in BUILTIN[family].tasks else "regression"
    metric = "accuracy" if task == "classification" else "rmse"
    data = concept(300, 0.5)

    def trial() -> driftloop_learn.TrialResult:
        return run_trial(
            data,
            family=family,
            params={},
            seed=7,
            task=task,
            metric=metric,
            holdout=HoldoutSize(fraction=0.2),
        )

    first, second = trial(), trial()
    assert first.metrics == second.metrics
    blob, digest = dump(first.model)
    loaded = load(blob, digest)
    assert loaded.predict(data.X[:20]) == first.model.predict(data.X[:20])
    if task == "classification":
        assert set(loaded.predict(data.X)) <= {0, 1}  # river's True/False come back as 0/1


@pytest.mark.parametrize("family", sorted(f for f in BUILTIN if f.startswith("sklearn.")))
def test_scikit_learn_models_score_as_their_own_pipeline_does(family: str) -> None:
    task: Task = "classification" if "classification" in BUILTIN[family].tasks else "regression"
    model = BUILTIN[family].build({}, 7, task)
    assert isinstance(model, driftloop_learn.SklearnModel)
    model.fit(concept(300, 0.5))
    rng = random.Random(3)
    # Unseen categories, missing features (absent or None), unknown ones, bools and ints.
    rows: list[dict[str, Value]] = [
        {
            "x": rng.choice([rng.random(), 1, True, None]),
            "colour": rng.choice(["red", "blue", "green", None]),
            **({"unknown": rng.random()} if rng.random() < 0.3 else {}),
        }
        for _ in range(200)
    ]
    rows.append({})
    present = [{k: v for k, v in row.items() if v is not None} for row in rows]
    assert model.predict(rows) == [p.item() for p in model.pipeline.predict(present)]
    if task == "classification":
        own = model.pipeline.predict_proba(present)
        probabilities = model.predict_proba(rows)
        assert probabilities is not None
        assert [list(p.values()) for p in probabilities] == own.tolist()


@pytest.mark.parametrize("classes", [["no", "yes"], ["low", "mid", "high"], [3, 1, 2, 0]])
def test_logistic_regression_probabilities_are_its_own_for_any_number_of_classes(
    classes: list[Value],
) -> None:
    # Serving computes them without scikit-learn's input checks (binary: a logistic; more
    # classes: a softmax): the same numbers as the pipeline's own, to the last bit.
    rng = random.Random(11)
    rows = [
        Row(f"r{i}", i, {"x": x, "colour": rng.choice(["red", "blue"])}, classes[int(x * k)])
        for i, (x, k) in enumerate((rng.random(), len(classes)) for _ in range(400))
    ]
    model = BUILTIN["sklearn.logistic_regression"].build({}, 7, "classification")
    assert isinstance(model, driftloop_learn.SklearnModel)
    model.fit(Dataset.of(rows))
    x: list[dict[str, Value]] = [row.features for row in rows[:50]] + [{"x": 2.5}, {}]
    own = model.pipeline.predict_proba([{k: v for k, v in r.items() if v is not None} for r in x])
    probabilities = model.predict_proba(x)
    assert probabilities is not None
    assert {tuple(p) for p in probabilities} == {tuple(c.item() for c in model.pipeline.classes_)}
    assert [list(p.values()) for p in probabilities] == own.tolist()
    assert model.predict(x) == [max(p, key=p.__getitem__) for p in probabilities]


def test_a_trial_never_sees_the_holdout() -> None:
    # The holdout's labels are flipped: a model that trained on them would score worse.
    data = concept(400, 0.5)
    tail = {row.record_id for row in data.rows[-100:]}
    poisoned = Dataset.of(
        Row(r.record_id, r.seq, r.features, 1 - int(r.label) if r.record_id in tail else r.label)  # type: ignore[arg-type]
        for r in data.rows
    )
    clean = run_trial(
        data,
        family="sklearn.random_forest",
        params={},
        seed=1,
        task="classification",
        metric="accuracy",
        holdout=HoldoutSize(count=100),
    )
    dirty = run_trial(
        poisoned,
        family="sklearn.random_forest",
        params={},
        seed=1,
        task="classification",
        metric="accuracy",
        holdout=HoldoutSize(count=100),
    )
    assert clean.metrics == dirty.metrics


def test_a_bad_parameter_fails_naming_it() -> None:
    with pytest.raises(TypeError, match="n_trees"):
        run_trial(
            concept(100, 0.5),
            family="sklearn.random_forest",
            params={"n_trees": 3},
            seed=0,
            task="classification",
            metric="accuracy",
            holdout=HoldoutSize(0.2),
        )


def test_a_users_family_is_found_by_import_path() -> None:
    assert get_family("tests.test_learn:MAJORITY") is MAJORITY
    with pytest.raises(UnknownFamily, match="cannot import"):
        get_family("tests.nowhere:FAMILY")
    with pytest.raises(UnknownFamily, match=r"not a driftloop_learn\.Family"):
        get_family("tests.test_learn:concept")


def test_an_altered_artifact_is_refused_before_unpickling() -> None:
    result = run_trial(
        concept(100, 0.5),
        family="sklearn.logistic_regression",
        params={},
        seed=0,
        task="classification",
        metric="accuracy",
        holdout=HoldoutSize(0.2),
    )
    blob, digest = dump(result.model)
    with pytest.raises(ArtifactMismatch):
        load(blob + b"x", digest)
    not_a_model = pickle.dumps({"x": 1})
    with pytest.raises(ArtifactMismatch, match="no driftloop model"):
        load(not_a_model, sha256(not_a_model))


def test_mcnemar_passes_a_clearly_better_candidate_and_not_the_reverse() -> None:
    y = [i % 2 for i in range(200)]
    right, half = Scored(y), Scored([0] * 200)
    passed = compare("accuracy", y, right, half, test="mcnemar", alpha=0.05, min_gain=0.01)
    assert passed.passed and passed.p_value is not None and passed.p_value < 1e-10
    failed = compare("accuracy", y, half, right, test="mcnemar", alpha=0.05, min_gain=0.0)
    assert not failed.passed and "below the minimum" in failed.reason


def test_a_small_gain_is_not_significant() -> None:
    y = [i % 2 for i in range(200)]
    champion = [1 - v if i < 20 else v for i, v in enumerate(y)]  # 10% wrong
    candidate = [1 - v if i < 18 else v for i, v in enumerate(y)]  # 9% wrong
    result = compare(
        "accuracy", y, Scored(candidate), Scored(champion), test="mcnemar", alpha=0.05, min_gain=0.0
    )
    assert not result.passed and "not significant" in result.reason


def test_the_bootstrap_judges_a_regression_by_rmse() -> None:
    y = [float(i) for i in range(100)]
    close, far = Scored([v + 0.1 for v in y]), Scored([v + 5 for v in y])
    result = compare("rmse", y, close, far, test="paired_bootstrap", alpha=0.05, min_gain=1.0)
    assert result.passed and result.candidate_score < (result.champion_score or 0)
    assert not compare(
        "rmse", y, far, close, test="paired_bootstrap", alpha=0.05, min_gain=0.0
    ).passed


def test_a_first_model_needs_the_threshold() -> None:
    y = [1, 1, 1, 0]
    assert first_model("accuracy", y, Scored([1, 1, 1, 1]), 0.7).passed
    assert not first_model("accuracy", y, Scored([1, 1, 1, 1]), 0.8).passed
    assert first_model("rmse", [1.0, 2.0], Scored([1.0, 2.5]), 0.5).passed


def test_probabilistic_metrics_need_probabilities() -> None:
    with pytest.raises(ValueError, match="probabilities"):
        score("roc_auc", [0, 1], [0, 1])
    assert score("roc_auc", [0, 1], [0, 1], [{0: 0.9, 1: 0.1}, {0: 0.2, 1: 0.8}]) == 1.0


def test_a_recurring_concept_is_nearer_than_a_new_one() -> None:
    a = meta_features(concept(500, 0.3, seed=1))
    a_again = meta_features(concept(500, 0.3, seed=2))
    b = meta_features(concept(500, 0.7, seed=3))
    assert distance(a, a_again) < distance(a, b)
    assert distance(a, a) == 0.0


@pytest.mark.parametrize("metric", ["accuracy", "f1", "log_loss", "mae", "rmse", "r2"])
def test_the_vectorised_bootstrap_scores_each_resample_as_score_does(metric: str) -> None:
    import numpy as np

    from driftloop_learn._gate import _resampled

    rng = random.Random(3)
    if metric in ("mae", "rmse", "r2"):
        y: list[Value] = [rng.gauss(0, 1) for _ in range(60)]
        a = Scored([float(v) + rng.gauss(0, 0.3) for v in y])  # type: ignore[arg-type]
        b = Scored([float(v) + rng.gauss(0, 0.6) for v in y])  # type: ignore[arg-type]
    else:
        y = [rng.choice([0, 1, 2]) for _ in range(60)]
        a = Scored([rng.choice([0, 1, 2]) for _ in y], [{0: 0.2, 1: 0.5, 2: 0.3} for _ in y])
        b = Scored([rng.choice([0, 1, 2]) for _ in y], [{0: 0.6, 1: 0.3, 2: 0.1} for _ in y])
    idx = np.random.default_rng(0).integers(0, len(y), (5, len(y)))
    fast = _resampled(metric, y, a, b, idx)
    assert fast is not None
    for k, row in enumerate(idx):
        ys = [y[i] for i in row]
        for scored, got in zip((a, b), fast, strict=True):
            proba = None if scored.proba is None else [scored.proba[i] for i in row]
            expected = score(metric, ys, [scored.predictions[i] for i in row], proba)
            assert got[k] == pytest.approx(expected)
