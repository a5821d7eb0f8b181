"""One interface over scikit-learn pipelines and river online models.

Services train, score, pickle and serve a ``Model`` without knowing which library is
inside. Features arrive as dicts (as records carry them); a scikit-learn model turns them
into a matrix with a ``DictVectorizer`` (categories one-hot), a river model takes them as
they are.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
from river import base as river_base
from river import compose
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.extmath import softmax

from ._data import Dataset, Features, Value

Proba = dict[Any, float]


def _present(x: Features) -> dict[str, Any]:
    # A missing optional feature is simply absent: both libraries handle absence.
    return {name: value for name, value in x.items() if value is not None}


class Model(ABC):
    """A fitted (or fittable) model of one family, with the parameters and seed it was built
    from; ``online`` models can also learn one labelled record at a time."""

    online: bool = False

    def __init__(self, family: str, params: dict[str, Any], seed: int) -> None:
        self.family = family
        self.params = dict(params)
        self.seed = seed

    @abstractmethod
    def fit(self, data: Dataset) -> Model: ...

    @abstractmethod
    def predict(self, X: Sequence[Features]) -> list[Value]: ...

    def predict_proba(self, X: Sequence[Features]) -> list[Proba] | None:
        """Class probabilities per row, or None when the model gives none."""
        return None

    def learn_one(self, x: Features, y: Value) -> None:
        raise TypeError(f"{self.family} is not an online model")


class SklearnModel(Model):
    def __init__(
        self,
        family: str,
        params: dict[str, Any],
        seed: int,
        estimator: BaseEstimator,
        scale: bool = False,
    ) -> None:
        super().__init__(family, params, seed)
        steps: list[Any] = [DictVectorizer(sparse=False)]
        if scale:
            steps.append(StandardScaler())
        self.pipeline: Pipeline = make_pipeline(*steps, estimator)

    def fit(self, data: Dataset) -> SklearnModel:
        self.pipeline.fit([_present(x) for x in data.X], data.y)
        return self

    def predict(self, X: Sequence[Features]) -> list[Value]:
        if not X:
            return []
        return [_plain(p) for p in self._estimator().predict(self._matrix(X))]

    def predict_proba(self, X: Sequence[Features]) -> list[Proba] | None:
        if not hasattr(self.pipeline, "predict_proba") or not X:
            return None
        estimator = self._estimator()
        try:
            if type(estimator) is LogisticRegression:
                matrix = _logistic_proba(estimator, self._matrix(X))
            else:
                matrix = estimator.predict_proba(self._matrix(X))
        except AttributeError:  # e.g. an SVC without probability=True
            return None
        classes = [_plain(c) for c in self.pipeline.classes_]
        return [dict(zip(classes, row, strict=True)) for row in matrix.tolist()]

    def _matrix(self, X: Sequence[Features]) -> np.ndarray[Any, np.dtype[np.float64]]:
        """What the fitted pipeline's steps before the estimator make of ``X``. Built here
        rather than by ``DictVectorizer.transform``, whose per-call checks and sparse detour
        cost a one-row prediction several times what the model itself does; a test holds
        the two equal, value for value."""
        vectorizer: DictVectorizer = self.pipeline[0]
        columns, separator = vectorizer.vocabulary_, vectorizer.separator
        rows = []
        for x in X:
            row = [0.0] * len(columns)
            for name, value in x.items():
                if value is None:
                    continue
                if isinstance(value, str):
                    name, value = f"{name}{separator}{value}", 1.0
                if (column := columns.get(name)) is not None:
                    row[column] += float(value)
            rows.append(row)
        matrix = np.array(rows, dtype=np.float64).reshape(len(rows), len(columns))
        for _, step in self.pipeline.steps[1:-1]:
            scaler = type(step) is StandardScaler
            matrix = _scaled(step, matrix) if scaler else step.transform(matrix)
        return matrix

    def _estimator(self) -> Any:
        return self.pipeline.steps[-1][1]


class RiverModel(Model):
    online = True

    def __init__(
        self, family: str, params: dict[str, Any], seed: int, estimator: river_base.Estimator
    ) -> None:
        super().__init__(family, params, seed)
        self.estimator: Any = estimator
        # river's binary classifiers answer True/False whatever the labels were; 0/1
        # labels are given back as 0/1.
        self._int_labels = False

    def fit(self, data: Dataset) -> RiverModel:
        for x, y in zip(data.X, data.y, strict=True):
            self.learn_one(x, y)
        return self

    def learn_one(self, x: Features, y: Value) -> None:
        self._int_labels |= isinstance(y, int) and not isinstance(y, bool)
        self.estimator.learn_one(_present(x), y)

    def predict(self, X: Sequence[Features]) -> list[Value]:
        return [self._label(self.estimator.predict_one(_present(x))) for x in X]

    def predict_proba(self, X: Sequence[Features]) -> list[Proba] | None:
        # A pipeline has the method whatever its last step can do.
        last = (
            self.estimator.steps[next(reversed(self.estimator.steps))]
            if isinstance(self.estimator, compose.Pipeline)
            else self.estimator
        )
        if not hasattr(last, "predict_proba_one"):
            return None
        return [
            {
                self._label(k): float(v)
                for k, v in self.estimator.predict_proba_one(_present(x)).items()
            }
            for x in X
        ]

    def _label(self, value: Any) -> Value:
        if self._int_labels and isinstance(value, bool):
            return int(value)
        return _plain(value)


def _scaled(scaler: StandardScaler, matrix: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``scaler.transform(matrix)``: the same arithmetic, without the checks of its input."""
    if scaler.with_mean:
        matrix = matrix - scaler.mean_
    if scaler.with_std:
        matrix = matrix / scaler.scale_
    return matrix


def _logistic_proba(
    model: LogisticRegression, matrix: np.ndarray[Any, Any]
) -> np.ndarray[Any, Any]:
    """``model.predict_proba(matrix)``: the same arithmetic, without the checks of its input
    (about 100 us a call here, whatever the rows; the arithmetic of 20 rows takes 5)."""
    scores = matrix @ model.coef_.T + model.intercept_
    if scores.shape[1] == 1:  # two classes: the second one's logistic
        second = expit(scores[:, 0])
        return np.column_stack([1 - second, second])
    return softmax(scores, copy=False)  # type: ignore[no-any-return]


def _plain(value: Any) -> Value:
    """numpy scalars as the JSON values records carry."""
    return value.item() if hasattr(value, "item") else value  # type: ignore[no-any-return]
