"""Predictions meet their labels by record id, in whichever order the two arrive.

Serving logs a prediction when it answers; the label comes later as feedback, or
earlier on the ingested record itself. Whichever comes first waits for the other.
Both waiting rooms are bounded, oldest out first: a label that never comes must not
hold memory forever.

>>> from datetime import UTC, datetime
>>> t = datetime(2026, 1, 1, tzinfo=UTC)
>>> joins = Joins(capacity=2)
>>> joins.prediction("r1", "m-1", 1, t) is None
True
>>> joins.label("r1", 0, t)[:4]
('r1', 'm-1', 1, 0)
>>> joins.label("r2", 1, t), joins.label("r3", 1, t), joins.label("r4", 1, t)
(None, None, None)
>>> joins.prediction("r2", "m-1", 1, t) is None  # r2's label was pushed out by r4's
True
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any, NamedTuple


class Joined(NamedTuple):
    record_id: str
    model_id: str
    prediction: Any
    label: Any
    at: datetime


class Joins:
    """Pending predictions and labels, ``capacity`` of each at most."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._predictions: OrderedDict[str, tuple[str, Any]] = OrderedDict()
        self._labels: OrderedDict[str, Any] = OrderedDict()

    def prediction(
        self, record_id: str, model_id: str, prediction: Any, at: datetime
    ) -> Joined | None:
        if record_id in self._labels:
            return Joined(record_id, model_id, prediction, self._labels.pop(record_id), at)
        self._wait(self._predictions, record_id, (model_id, prediction))
        return None

    def label(self, record_id: str, label: Any, at: datetime) -> Joined | None:
        if record_id in self._predictions:
            model_id, prediction = self._predictions.pop(record_id)
            return Joined(record_id, model_id, prediction, label, at)
        self._wait(self._labels, record_id, label)
        return None

    def _wait(self, room: OrderedDict[str, Any], record_id: str, value: Any) -> None:
        room[record_id] = value
        room.move_to_end(record_id)
        while len(room) > self.capacity:
            room.popitem(last=False)
