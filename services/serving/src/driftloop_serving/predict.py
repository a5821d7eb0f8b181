"""A champion's scores of validated records, as the answer and the prediction log. Pure.

The answer names the model that made every prediction, so a caller can tell which side
of a swap it was served by.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from driftloop_learn import Features, Proba, Value

from .batcher import Scores
from .champions import Champion
from .predlog import Logged
from .validation import Scoring


@dataclass(frozen=True, slots=True)
class Scored:
    record_id: str
    features: Features
    prediction: Value
    probability: Proba | None


def scored(scoring: Scoring, scores: Scores) -> list[Scored]:
    predictions, probabilities = scores
    probas: list[Proba] | list[None] = probabilities or [None] * len(predictions)
    return [
        Scored(record_id, x, prediction, proba)
        for (record_id, x), prediction, proba in zip(
            scoring.records, predictions, probas, strict=True
        )
    ]


def answer(champion: Champion, scoring: Scoring, scored: list[Scored]) -> dict[str, Any]:
    """``{"stream", "record_id", "prediction", "probability"?, "model_id", "model_version"}``
    per record; a batch is ``{"predictions": [...]}``."""
    items = [_item(champion, s) for s in scored]
    return {"predictions": items} if scoring.batch else items[0]


def logged(champion: Champion, scored: list[Scored], at: datetime) -> list[Logged]:
    return [
        Logged(
            champion.stream,
            s.record_id,
            champion.model_id,
            champion.version,
            s.features,
            s.prediction,
            _own_probability(s),
            at,
        )
        for s in scored
    ]


def _item(champion: Champion, s: Scored) -> dict[str, Any]:
    item: dict[str, Any] = {
        "stream": champion.stream,
        "record_id": s.record_id,
        "prediction": s.prediction,
    }
    if s.probability is not None:
        item["probability"] = s.probability
    item["model_id"] = champion.model_id
    item["model_version"] = champion.version
    return item


def _own_probability(s: Scored) -> float | None:
    """The probability the model gave its own prediction (the log carries one number)."""
    if s.probability is None:
        return None
    return s.probability.get(s.prediction)
