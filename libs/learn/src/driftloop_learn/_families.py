"""Model families: a name a spec refers to, the tasks it learns, and how to build it.

The built-in families wrap scikit-learn and river; a user adds one by import path
(``mypkg.families:MyFamily``) naming a ``Family`` object. Parameters come from the spec's
search space and go straight to the estimator, which refuses unknown ones by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Number
from typing import Any, Literal

from river import compose, forest, linear_model, naive_bayes, preprocessing, tree
from sklearn import ensemble, neighbors
from sklearn import linear_model as sk_linear

from ._model import Model, RiverModel, SklearnModel

Task = Literal["classification", "regression"]
Build = Callable[[dict[str, Any], int, Task], Model]


@dataclass(frozen=True)
class Family:
    """``build(params, seed, task)`` returns an unfitted model; it must be deterministic
    given its arguments, since trials are replayed from their seed."""

    name: str
    tasks: frozenset[Task]
    build: Build


class UnknownFamily(LookupError):
    pass


def _sklearn(
    name: str,
    tasks: set[Task],
    make: Callable[[Task], Any],
    seeded: bool = True,
    scale: bool = False,
) -> Family:
    def build(params: dict[str, Any], seed: int, task: Task) -> Model:
        extra = {"random_state": seed} if seeded else {}
        estimator = make(task)(**{**extra, **params})
        return SklearnModel(name, params, seed, estimator, scale=scale)

    return Family(name, frozenset(tasks), build)


def _river(name: str, tasks: set[Task], make: Callable[[Task, dict[str, Any], int], Any]) -> Family:
    def build(params: dict[str, Any], seed: int, task: Task) -> Model:
        return RiverModel(name, params, seed, make(task, params, seed))

    return Family(name, frozenset(tasks), build)


def _by_task(classifier: Any, regressor: Any) -> Callable[[Task], Any]:
    return lambda task: classifier if task == "classification" else regressor


def _scaled(estimator: Any, scale: bool = True) -> Any:
    # Numbers are scaled, categories one-hot encoded, as the scikit-learn families do.
    numeric: Any = compose.SelectType(Number)
    if scale:
        numeric |= preprocessing.StandardScaler()
    categories = compose.SelectType(str) | preprocessing.OneHotEncoder()
    return (numeric + categories) | estimator


def _untyped(cls: Any) -> Any:
    return cls


BOTH: set[Task] = {"classification", "regression"}

BUILTIN: dict[str, Family] = {
    family.name: family
    for family in (
        _sklearn(
            "sklearn.logistic_regression",
            {"classification"},
            lambda task: lambda **kw: sk_linear.LogisticRegression(**{"max_iter": 1000, **kw}),
            scale=True,
        ),
        _sklearn("sklearn.ridge", {"regression"}, lambda task: sk_linear.Ridge, scale=True),
        _sklearn(
            "sklearn.random_forest",
            BOTH,
            _by_task(ensemble.RandomForestClassifier, ensemble.RandomForestRegressor),
        ),
        _sklearn(
            "sklearn.extra_trees",
            BOTH,
            _by_task(ensemble.ExtraTreesClassifier, ensemble.ExtraTreesRegressor),
        ),
        _sklearn(
            "sklearn.hist_gradient_boosting",
            BOTH,
            _by_task(
                ensemble.HistGradientBoostingClassifier, ensemble.HistGradientBoostingRegressor
            ),
        ),
        _sklearn(
            "sklearn.knn",
            BOTH,
            _by_task(neighbors.KNeighborsClassifier, neighbors.KNeighborsRegressor),
            seeded=False,
            scale=True,
        ),
        _river(
            "river.hoeffding_tree",
            BOTH,
            lambda task, p, seed: (
                tree.HoeffdingTreeClassifier(**p)
                if task == "classification"
                else tree.HoeffdingTreeRegressor(**p)
            ),
        ),
        _river(
            "river.adaptive_random_forest",
            BOTH,
            lambda task, p, seed: (
                forest.ARFClassifier(**{"seed": seed, **p})
                if task == "classification"
                else forest.ARFRegressor(**{"seed": seed, **p})
            ),
        ),
        _river(
            "river.logistic_regression",
            {"classification"},
            lambda task, p, seed: _scaled(linear_model.LogisticRegression(**p)),
        ),
        _river(
            "river.linear_regression",
            {"regression"},
            lambda task, p, seed: _scaled(linear_model.LinearRegression(**p)),
        ),
        _river(
            "river.naive_bayes",
            {"classification"},
            lambda task, p, seed: _scaled(_untyped(naive_bayes.GaussianNB)(**p), scale=False),
        ),
    )
}


def get_family(name: str) -> Family:
    """A built-in family by name, or a user's by ``module.path:attribute``."""
    if name in BUILTIN:
        return BUILTIN[name]
    if ":" not in name:
        raise UnknownFamily(f"unknown family {name!r}; built in: {', '.join(BUILTIN)}")
    module_name, _, attribute = name.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise UnknownFamily(f"cannot import family {name!r}: {exc}") from exc
    if not isinstance(found, Family):
        raise UnknownFamily(f"{name!r} is a {type(found).__name__}, not a driftloop_learn.Family")
    return found
