"""Concurrent requests scored together: one model call per champion per turn of the event loop.

A scikit-learn pipeline spends most of a one-row call checking its input, so a row costs
nearly what a hundred do. Requests that arrive together join one pending batch, which
runs once the loop has handed them all over (``TURNS``): a lone request waits a few
microseconds. Each batch belongs to the champion object its
requests took: after a swap, requests already holding the old champion are still scored
by it.

A batch that raises is retried request by request, so a record one model cannot score
fails only its own request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from driftloop_learn import Features, Model, Proba, Value

from .champions import Champion

Scores = tuple[list[Value], list[Proba] | None]

# A batch runs two turns of the loop after its first request: requests whose bytes were
# read in the meantime join it. One turn is microseconds when idle; under load it about
# doubled the rows per model call here (from ~14 to ~29 with 32 clients).
TURNS = 2

# Classifiers whose prediction is the first most probable class, exactly (ties included):
# one pass through the pipeline instead of two. tests/test_serving_batcher.py holds each
# to it; river models are left out, a row costs them little either way.
ARGMAX_FAMILIES = frozenset(
    {
        "sklearn.logistic_regression",
        "sklearn.random_forest",
        "sklearn.extra_trees",
        "sklearn.hist_gradient_boosting",
        "sklearn.knn",
    }
)


def run_model(model: Model, rows: Sequence[Features]) -> Scores:
    """Predictions and, when the model gives them, class probabilities."""
    if model.family in ARGMAX_FAMILIES:
        probabilities = model.predict_proba(rows)
        if probabilities is not None:
            return [max(p, key=p.__getitem__) for p in probabilities], probabilities
    return model.predict(rows), model.predict_proba(rows)


class Batcher:
    def __init__(self, observe: Callable[[int], None] = lambda rows: None) -> None:
        """``observe`` is told the number of rows of each batch run."""
        self._observe = observe
        self._pending: dict[
            int, tuple[Champion, list[tuple[Sequence[Features], asyncio.Future[Scores]]]]
        ] = {}

    def score(self, champion: Champion, rows: Sequence[Features]) -> asyncio.Future[Scores]:
        """The scores of ``rows``, once this turn's batch for ``champion`` has run."""
        loop = asyncio.get_running_loop()
        # The champion is held by the entry, so its id cannot be reused while it waits.
        key = id(champion)
        entry = self._pending.get(key)
        if entry is None:
            entry = self._pending[key] = (champion, [])
            loop.call_soon(self._defer, key, TURNS)
        future: asyncio.Future[Scores] = loop.create_future()
        entry[1].append((rows, future))
        return future

    def _defer(self, key: int, turns: int) -> None:
        if turns > 1:
            asyncio.get_running_loop().call_soon(self._defer, key, turns - 1)
        else:
            self._run(key)

    def _run(self, key: int) -> None:
        champion, waiting = self._pending.pop(key)
        self._observe(sum(len(request) for request, _ in waiting))
        if len(waiting) == 1:
            _settle(champion.model, *waiting[0])
            return
        rows = [row for request, _ in waiting for row in request]
        try:
            predictions, probabilities = run_model(champion.model, rows)
        except Exception:
            for request, future in waiting:
                _settle(champion.model, request, future)
            return
        start = 0
        for request, future in waiting:
            end = start + len(request)
            if not future.done():
                part = probabilities[start:end] if probabilities is not None else None
                future.set_result((predictions[start:end], part))
            start = end


def _settle(model: Model, rows: Sequence[Features], future: asyncio.Future[Scores]) -> None:
    if future.done():  # its request was cancelled (the client went away)
        return
    try:
        future.set_result(run_model(model, rows))
    except Exception as exc:
        future.set_exception(exc)
