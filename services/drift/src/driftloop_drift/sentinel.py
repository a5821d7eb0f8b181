"""The sentinel: a small online model whose errors stand in for a champion's.

A concept change (Agrawal's rule switching, say) moves P(y | x) and leaves the inputs
alone, so detectors on features cannot see it: only a model's errors can. Until a
champion serves the stream and its predictions meet their labels, the drift service
keeps its own model per stream, scored prequentially: each labelled record is first
predicted, the miss is the error, then the model learns from it. After an alarm the
sentinel starts over, to learn the new concept instead of averaging it with the old.

The model is linear (scaled numbers and one-hot categories into a logistic regression
per class, or a linear regression) because it learns smoothly: a Hoeffding tree's
error jumps each time it splits, and an error detector takes that for drift (on a
stationary Hyperplane stream, one false alarm every ~3500 records). A linear model
gives up accuracy on curved concepts, but its errors still jump when the concept
changes, which is all a sentinel is for (``bench/drift.py`` measures both).

>>> sentinel = Sentinel("classification", {"x": "float", "colour": "category"})
>>> rows = [({"x": float(i % 7), "colour": "red"}, i % 7 > 3) for i in range(2000)]
>>> errors = [sentinel.score(x, y) for x, y in rows]
>>> sum(errors[:100]), sum(errors[-1000:])  # a few misses while it learns, then none
(5.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from river import compose, linear_model, multiclass, preprocessing

from driftloop_spec import FeatureType, Task

Features = dict[str, float | str]


def error(task: Task, predicted: Any, label: Any) -> float | None:
    """A miss as a number: 0 or 1 for classification, the absolute error for regression;
    None for a regression label that is no number, which has no error to watch.

    A model with nothing to say yet (``None``) is wrong, or off by the whole label.
    """
    if task == "classification":
        return 0.0 if predicted == label else 1.0
    try:
        return abs(float(label) - float(predicted or 0.0))
    except (TypeError, ValueError):
        return None


class Sentinel:
    """Predict-then-learn on labelled records; ``score`` returns the :func:`error` it made."""

    def __init__(self, task: Task, features: Mapping[str, FeatureType]) -> None:
        self.task = task
        self.features = dict(features)
        self.reset()

    def reset(self) -> None:
        numeric = [name for name, kind in self.features.items() if kind != "category"]
        categories = [name for name, kind in self.features.items() if kind == "category"]
        parts: list[Any] = []
        if numeric:
            parts.append(compose.Select(*numeric) | preprocessing.StandardScaler())
        if categories:
            parts.append(compose.Select(*categories) | preprocessing.OneHotEncoder())
        inputs = compose.TransformerUnion(*parts) if len(parts) > 1 else parts[0]
        # One logistic regression per class: labels may be any values, and many.
        learner: Any = (
            multiclass.OneVsRestClassifier(linear_model.LogisticRegression())
            if self.task == "classification"
            else linear_model.LinearRegression()
        )
        self._model: Any = inputs | learner

    def score(self, features: Mapping[str, Any], label: Any) -> float | None:
        if self.task == "regression" and error(self.task, 0.0, label) is None:
            return None  # nothing to learn from, nor to miss
        x = self.inputs(features)
        predicted = self._model.predict_one(x)
        self._model.learn_one(x, label)
        return error(self.task, predicted, label)

    def inputs(self, features: Mapping[str, Any]) -> Features:
        """The spec's features as the model reads them: numbers as floats, categories as
        text; a value that is missing, or no number where one belongs, is left out."""
        x: Features = {}
        for name, kind in self.features.items():
            value = features.get(name)
            if value is None:
                continue
            if kind == "category":
                x[name] = str(value)
            elif isinstance(value, int | float):
                x[name] = float(value)
        return x
