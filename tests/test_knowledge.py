"""Knowledge reuse: the nearest prior experiments seed a new one, within the spec's
current space, and archived models are ranked by the objective's direction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from driftloop_learn import (
    Dataset,
    Features,
    HoldoutSize,
    Model,
    Row,
    Value,
    distance,
    run_trial,
)
from driftloop_scheduler.knowledge import (
    PriorExperiment,
    PriorTrial,
    Seeding,
    Source,
    plan_seeding,
    rank_archived,
)
from driftloop_scheduler.search import Config, Observation
from driftloop_spec import ExperimentSpec, validate_spec


def make_spec(k: int = 2, metric: str = "accuracy", **seeding: Any) -> ExperimentSpec:
    task = "regression" if metric == "rmse" else "classification"
    options: dict[str, Any] = {"k": k, **seeding}
    return validate_spec(
        {
            "stream": "s",
            "task": task,
            "target": "y",
            "features": {"x": "float"},
            "objective": metric,
            "seeding": options,
            "families": [
                {"name": "sklearn.knn", "space": {"n_neighbors": {"int": [1, 50]}, "p": 2}},
                {"name": "sklearn.random_forest", "space": {"max_depth": {"int": [2, 20]}}},
            ],
        }
    )


def knn(n: int) -> Config:
    return Config("sklearn.knn", {"n_neighbors": n})


def forest(depth: int) -> Config:
    return Config("sklearn.random_forest", {"max_depth": depth})


def prior(name: str, where: float, *trials: tuple[Config, float]) -> PriorExperiment:
    return PriorExperiment(
        name,
        {"cmean.1.x": where},
        tuple(PriorTrial(f"{name}-t{i}", c, s) for i, (c, s) in enumerate(trials)),
    )


PRIORS = [
    prior("far", 5.0, (knn(1), 0.99)),
    prior("near", 0.1, (knn(3), 0.8), (forest(9), 0.9), (knn(7), 0.85)),
    prior("nearest", 0.0, (forest(4), 0.7), (knn(5), 0.75)),
    prior("middle", 1.0, (forest(12), 0.95)),
]
HERE = {"cmean.1.x": 0.0}


def test_seeds_are_the_best_configs_of_the_nearest_experiments_nearest_first() -> None:
    seeding = plan_seeding(make_spec(k=2), HERE, PRIORS)
    assert [config for config, _ in seeding.configs] == [
        Config("sklearn.knn", {"n_neighbors": 5, "p": 2}),
        Config("sklearn.random_forest", {"max_depth": 9}),
    ]
    assert [source for _, source in seeding.configs] == [
        Source("prior_config", "nearest-t1", "nearest", 0.0, 0.75),
        Source("prior_config", "near-t1", "near", distance(HERE, PRIORS[1].meta), 0.9),
    ]
    # Every trial of the k nearest is an observation, and no other experiment's.
    assert sorted(o.score for o in seeding.observations) == [0.7, 0.75, 0.8, 0.85, 0.9]
    kinds = [(s.kind, s.trial_id) for s in seeding.sources]
    assert sorted(kinds) == sorted(
        [("prior_config", "nearest-t1"), ("prior_config", "near-t1")]
        + [("prior_observation", f"nearest-t{i}") for i in range(2)]
        + [("prior_observation", f"near-t{i}") for i in range(3)]
    )


def test_configs_outside_the_current_space_are_dropped() -> None:
    priors = [
        prior("a", 0.0, (knn(80), 0.99), (Config("sklearn.svc", {}), 0.98), (knn(6), 0.6)),
        prior("b", 0.1, (Config("sklearn.knn", {"n_neighbors": 4, "p": 1}), 0.99)),
        prior("c", 0.2, (forest(3), float("nan")), (forest(30), 0.9)),
    ]
    seeding = plan_seeding(make_spec(k=3), HERE, priors)
    assert seeding.configs == (
        (
            Config("sklearn.knn", {"n_neighbors": 6, "p": 2}),
            Source("prior_config", "a-t2", "a", 0.0, 0.6),
        ),
    )
    assert seeding.observations == (
        Observation(Config("sklearn.knn", {"n_neighbors": 6, "p": 2}), 0.6),
    )
    assert [s.trial_id for s in seeding.sources] == ["a-t2", "a-t2"]


def test_the_same_best_config_seeds_once() -> None:
    priors = [prior("a", 0.0, (knn(5), 0.9)), prior("b", 0.1, (knn(5), 0.8), (knn(9), 0.7))]
    seeding = plan_seeding(make_spec(k=2), HERE, priors)
    assert [s.experiment_id for _, s in seeding.configs] == ["a"]
    assert len(seeding.observations) == 3


def test_lower_is_better_when_the_metric_is_minimised() -> None:
    priors = [prior("a", 0.0, (knn(5), 3.0), (knn(9), 1.5), (forest(4), 2.0))]
    seeding = plan_seeding(make_spec(k=1, metric="rmse"), HERE, priors)
    assert [c.params["n_neighbors"] for c, _ in seeding.configs] == [9]


def test_k_zero_starts_cold() -> None:
    assert plan_seeding(make_spec(k=0), HERE, PRIORS) == Seeding()


def test_priors_beyond_max_distance_are_ignored_for_configs_and_observations() -> None:
    seeding = plan_seeding(make_spec(k=4, max_distance=0.5), HERE, PRIORS)
    assert [s.experiment_id for _, s in seeding.configs] == ["nearest", "near"]
    assert sorted(o.score for o in seeding.observations) == [0.7, 0.75, 0.8, 0.85, 0.9]
    assert {s.experiment_id for s in seeding.sources} == {"nearest", "near"}


def test_a_prior_at_max_distance_still_seeds() -> None:
    seeding = plan_seeding(make_spec(k=1, max_distance=1.0), HERE, [PRIORS[3]])
    assert [c for c, _ in seeding.configs] == [forest(12)]


def test_only_far_priors_leave_a_cold_start_by_default() -> None:
    assert make_spec().seeding.max_distance is not None
    assert plan_seeding(make_spec(k=3), HERE, [PRIORS[0], PRIORS[3]]) == Seeding()


def test_no_max_distance_seeds_from_however_far() -> None:
    seeding = plan_seeding(make_spec(k=1, max_distance=None), HERE, [PRIORS[0]])
    assert [c for c, _ in seeding.configs] == [Config("sklearn.knn", {"n_neighbors": 1, "p": 2})]
    assert [s.distance for s in seeding.sources] == [5.0, 5.0]


def line(slope: float, count: int = 120) -> Dataset:
    return Dataset.of(Row(str(i), i, {"x": float(i % 30)}, slope * (i % 30)) for i in range(count))


def fitted(family: str, data: Dataset, task: str = "regression") -> Model:
    return run_trial(
        data,
        family=family,
        params={},
        seed=1,
        task=task,  # type: ignore[arg-type]
        metric="rmse" if task == "regression" else "accuracy",
        holdout=HoldoutSize(fraction=0.1),
    ).model


class Unscorable(Model):
    """An archived model that cannot read today's rows."""

    def fit(self, data: Dataset) -> Model:
        return self

    def predict(self, X: Sequence[Features]) -> list[Value]:
        raise KeyError("x")


def test_archived_models_rank_by_rmse_lowest_first() -> None:
    holdout = line(2.0, 60)
    models = [
        ("opposite", fitted("sklearn.ridge", line(-2.0))),
        ("broken", Unscorable("custom", {}, 0)),
        ("right", fitted("sklearn.ridge", line(2.0))),
        ("flatter", fitted("sklearn.ridge", line(1.5))),
    ]
    ranked = rank_archived(models, holdout, "rmse")
    assert [model_id for model_id, _ in ranked] == ["right", "flatter", "opposite"]
    assert ranked[0][1] < ranked[1][1] < ranked[2][1]


def test_archived_models_rank_by_accuracy_highest_first() -> None:
    def labelled(flip: bool) -> Dataset:
        rows = [Row(str(i), i, {"x": float(i)}, int((i >= 50) != flip)) for i in range(100)]
        return Dataset.of(rows)

    models = [
        ("flipped", fitted("sklearn.logistic_regression", labelled(True), "classification")),
        ("right", fitted("sklearn.logistic_regression", labelled(False), "classification")),
    ]
    ranked = rank_archived(models, labelled(False), "accuracy")
    assert [model_id for model_id, _ in ranked] == ["right", "flipped"]
    assert ranked[0][1] > 0.9 > 0.1 > ranked[1][1]
