"""Progressive learning in serving: an online champion learns from the labels of the records
it scored, and its state is checkpointed so that a restart resumes it.

Labels arrive by record id, so this replica keeps the features of its recent predictions
(a bounded map: the oldest are forgotten first). A label for a record another replica
scored, or one scored too long ago, teaches nothing here; that is the price of keeping
the hot path free of the store. Learning runs on the event loop, between requests, so a
prediction never sees a model half-way through an update.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from driftloop_learn import Features, Value, dump

from .champions import Champion

logger = logging.getLogger("driftloop.serving.online")

Save = Callable[[Champion, bytes, int], Awaitable[None]]
"""Store a checkpoint of ``champion``: its pickled bytes and how many labels it learned."""


class Recent:
    """Features of the records this replica scored, by (stream, record id)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: OrderedDict[tuple[str, str], Features] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def remember(self, stream: str, record_id: str, features: Features) -> None:
        self._items[stream, record_id] = features
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def take(self, stream: str, record_id: str) -> Features | None:
        """The features, forgotten as they are handed out: a label redelivered teaches once."""
        return self._items.pop((stream, record_id), None)


def learn(champion: Champion, features: Features, label: Value) -> bool:
    """Teach an online champion one labelled record; False if it does not learn in serving."""
    state = champion.online
    if state is None:
        return False
    champion.model.learn_one(features, label)
    state.learned += 1
    state.unsaved += 1
    return True


def due(champion: Champion, every_labels: int, every_seconds: float, now: float) -> bool:
    """Whether the champion has learned enough, or long enough ago, to be checkpointed."""
    state = champion.online
    if state is None or state.unsaved == 0:
        return False
    return state.unsaved >= every_labels or now - state.saved_at >= every_seconds


async def checkpoint(champion: Champion, save: Save) -> bool:
    """Save the champion's learned state; False (and logged) if the store refused it.

    The model is pickled here, on the event loop, so no update can interleave with it;
    labels learned while the bytes are being stored stay counted as unsaved.
    """
    state = champion.online
    if state is None:
        return False
    data, _ = dump(champion.model)
    taken, learned = state.unsaved, state.learned
    try:
        await save(champion, data, learned)
    except Exception:
        logger.exception(
            "could not checkpoint model %s of %s; retrying later",
            champion.model_id,
            champion.stream,
        )
        state.saved_at = time.monotonic()
        return False
    state.unsaved -= taken
    state.saved_at = time.monotonic()
    return True
