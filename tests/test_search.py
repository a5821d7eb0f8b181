"""The model search: deterministic asks, distinct parallel configs, the spec's space kept,
and prior observations steering where it looks first."""

from __future__ import annotations

import doctest
from typing import Any

from driftloop_scheduler import search
from driftloop_scheduler.search import Config, Observation, ask, conform, startup_trials
from driftloop_spec import ExperimentSpec, validate_spec

FAMILIES: list[dict[str, Any]] = [
    {
        "name": "sklearn.knn",
        "space": {"n_neighbors": {"int": [1, 100]}, "weights": {"choice": ["uniform", "distance"]}},
    },
    {
        "name": "sklearn.hist_gradient_boosting",
        "space": {
            "learning_rate": {"float": [0.01, 0.3], "log": True},
            "max_leaf_nodes": {"int": [4, 64], "log": True},
            "l2_regularization": {"choice": [0, 0.5, None, True, {"a": 1}]},
            "early_stopping": False,
        },
    },
]


def make_spec(families: list[dict[str, Any]] = FAMILIES, **extra: Any) -> ExperimentSpec:
    return validate_spec(
        {
            "stream": "s",
            "task": extra.pop("task", "classification"),
            "target": "y",
            "features": {"x": "float"},
            "families": families,
            "budget": {"trials": 16},
            **extra,
        }
    )


def knn(n_neighbors: int, weights: str = "uniform") -> Config:
    return Config("sklearn.knn", {"n_neighbors": n_neighbors, "weights": weights})


def test_the_same_arguments_give_the_same_configs() -> None:
    spec = make_spec()
    done = [Observation(knn(5), 0.7), Observation(knn(50, "distance"), 0.8)]
    priors = [Observation(knn(n), n / 100) for n in range(1, 100, 9)]
    first = ask(spec, seed=3, done=done, pending=[knn(7)], priors=priors, n=3)
    assert ask(spec, seed=3, done=done, pending=[knn(7)], priors=priors, n=3) == first
    assert ask(spec, seed=4, done=done, pending=[knn(7)], priors=priors, n=3) != first


def test_parallel_asks_differ_from_each_other_and_from_pending_ones() -> None:
    spec = make_spec()
    batch = ask(spec, seed=1, done=[], pending=[], n=6)
    keys = {config.key for config in batch}
    assert len(keys) == 6
    after = ask(spec, seed=1, done=[], pending=batch, n=6)
    assert len({config.key for config in after} | keys) == 12


def test_asks_stay_in_the_space_with_fixed_parameters_included() -> None:
    spec = make_spec()
    configs = ask(spec, seed=0, done=[], pending=[], n=30)
    assert {c.family for c in configs} == {"sklearn.knn", "sklearn.hist_gradient_boosting"}
    for config in configs:
        assert conform(spec, config) == config
    boosted = [c for c in configs if c.family == "sklearn.hist_gradient_boosting"]
    assert all(c.params["early_stopping"] is False for c in boosted)
    # Choice options that are not strings come back as the values the spec lists.
    options = [0, 0.5, None, True, {"a": 1}]
    assert all(any(c.params["l2_regularization"] == o for o in options) for c in boosted)


def test_a_space_too_small_for_n_distinct_configs_still_answers_n() -> None:
    spec = make_spec([{"name": "sklearn.knn", "space": {"weights": {"choice": ["a", "b"]}}}])
    configs = ask(spec, seed=0, done=[], pending=[], n=3)
    assert len(configs) == 3
    assert {c.params["weights"] for c in configs[:2]} == {"a", "b"}


def test_observations_outside_the_space_are_ignored() -> None:
    spec = make_spec()
    done = [
        Observation(Config("sklearn.random_forest", {"max_depth": 3}), 0.99),
        Observation(knn(500), 0.99),
        Observation(Config("sklearn.knn", {"n_neighbors": 5, "p": 1, "weights": "uniform"}), 0.9),
        Observation(knn(5), float("nan")),
    ]
    (config,) = ask(spec, seed=0, done=done, pending=[Config("sklearn.svc", {})])
    assert conform(spec, config) == config


def test_conform_fills_fixed_parameters_and_rejects_what_the_space_does_not_hold() -> None:
    spec = make_spec()
    boosted: dict[str, Any] = {
        "learning_rate": 0.1,
        "max_leaf_nodes": 8.0,
        "l2_regularization": None,
    }
    fitted = conform(spec, Config("sklearn.hist_gradient_boosting", boosted))
    assert fitted is not None
    assert fitted.params == {**boosted, "max_leaf_nodes": 8, "early_stopping": False}
    assert isinstance(fitted.params["max_leaf_nodes"], int)
    outside = [
        {**boosted, "learning_rate": 0.5},  # above the range
        {**boosted, "max_leaf_nodes": 8.5},  # not an integer
        {**boosted, "l2_regularization": 1},  # 1 is not the option true
        {**boosted, "early_stopping": True},  # not the fixed value
        {"learning_rate": 0.1, "l2_regularization": 0},  # a searched parameter missing
        {**boosted, "max_depth": 3},  # not in the space
    ]
    for params in outside:
        assert conform(spec, Config("sklearn.hist_gradient_boosting", params)) is None
    assert conform(spec, Config("sklearn.random_forest", {})) is None


def earlier_results(
    spec: ExperimentSpec, good: range, scores: tuple[float, ...]
) -> list[Observation]:
    """What earlier experiments found: k-NN with ``good`` neighbourhoods scored
    ``scores[0]``, other k-NN ``scores[1]``, and boosting ``scores[2]``."""
    found = [Observation(knn(n), scores[0] if n in good else scores[1]) for n in range(1, 100, 5)]
    boosted = [c for c in ask(spec, seed=9, done=[], pending=[], n=40) if c.family != "sklearn.knn"]
    return found + [Observation(c, scores[2]) for c in boosted[:20]]


def first_asks_in(spec: ExperimentSpec, good: range, priors: list[Observation]) -> int:
    """Over 40 experiments, how often the first ask is a k-NN with a ``good`` neighbourhood."""
    configs = [ask(spec, seed=seed, done=[], pending=[], priors=priors)[0] for seed in range(40)]
    return sum(c.family == "sklearn.knn" and c.params["n_neighbors"] in good for c in configs)


def test_priors_on_a_good_region_steer_the_first_asks_to_it() -> None:
    spec = make_spec()
    large = range(80, 101)
    priors = earlier_results(spec, large, (0.9, 0.6, 0.5))
    cold, warm = first_asks_in(spec, large, []), first_asks_in(spec, large, priors)
    assert cold <= 8
    assert warm >= 3 * cold and warm >= 20


def test_lower_is_better_for_a_minimised_metric() -> None:
    spec = make_spec(task="regression", objective="rmse")
    small = range(1, 21)
    priors = earlier_results(spec, small, (1.0, 5.0, 9.0))
    cold, warm = first_asks_in(spec, small, []), first_asks_in(spec, small, priors)
    assert cold <= 8
    assert warm >= 3 * cold and warm >= 20


def test_priors_give_way_once_the_experiment_has_its_own_start_up() -> None:
    spec = make_spec()
    priors = [Observation(knn(n), n / 100) for n in range(1, 100, 7)]
    own = [Observation(knn(n, "distance"), 0.6) for n in range(3, 3 + startup_trials(spec))]
    early = own[:-1]
    assert ask(spec, seed=2, done=early, pending=[], priors=priors, n=2) != ask(
        spec, seed=2, done=early, pending=[], n=2
    )
    assert ask(spec, seed=2, done=own, pending=[], priors=priors, n=2) == ask(
        spec, seed=2, done=own, pending=[], n=2
    )


def test_a_prior_config_run_here_is_judged_by_this_run() -> None:
    spec = make_spec()
    # 20.0 as JSON may spell the same config that the prior holds as 20.
    done = [Observation(Config("sklearn.knn", {"n_neighbors": 20.0, "weights": "uniform"}), 0.1)]
    with_prior = ask(spec, seed=5, done=done, pending=[], priors=[Observation(knn(20), 0.99)])
    assert with_prior == ask(spec, seed=5, done=done, pending=[])


def test_module_examples_run() -> None:
    assert doctest.testmod(search).failed == 0
