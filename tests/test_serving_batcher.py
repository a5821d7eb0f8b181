"""Concurrent requests share one model call per champion, and the one-pass shortcut for
classifiers predicts exactly what the model's own ``predict`` does."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from driftloop_learn import Dataset, Features, Model, Proba, Row, Value, get_family
from driftloop_serving.batcher import ARGMAX_FAMILIES, Batcher, run_model
from driftloop_serving.champions import Appointment, Champion


def dataset(classes: int, seed: int) -> Dataset:
    rng = random.Random(seed)
    rows = []
    for i in range(300):
        a, c = rng.uniform(-3, 3), rng.choice("xyz")
        x: Features = {"a": a, "b": rng.randint(0, 4), "c": c}
        score = a + (c == "x") + rng.gauss(0, 0.7)
        label = min(classes - 1, max(0, int(score + classes / 2)))
        rows.append(Row(str(i), i, x, label))
    return Dataset.of(rows)


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("family", sorted(ARGMAX_FAMILIES))
def test_the_most_probable_class_is_what_the_model_predicts(family: str, classes: int) -> None:
    model = get_family(family).build({}, 3, "classification").fit(dataset(classes, seed=1))
    # Rows far outside the training range and exact duplicates probe ties and saturation.
    probe = list(dataset(classes, seed=2).X) + [{"a": 1e6, "b": 0, "c": "q"}] * 3
    predictions, probabilities = run_model(model, probe)
    assert predictions == model.predict(probe)
    assert probabilities == model.predict_proba(probe)


def champion(model: Model, serving_id: int = 1) -> Champion:
    appointment = Appointment("s", f"m{serving_id}", 1, "0" * 64, datetime.now(UTC), serving_id)
    return Champion.of(appointment, model, None)


class Picky(Model):
    """A model that cannot score a row whose ``x`` is negative, and counts its calls."""

    def __init__(self) -> None:
        super().__init__("test.picky", {}, 0)
        self.calls = 0

    def fit(self, data: Dataset) -> Picky:
        return self

    def predict(self, X: Sequence[Features]) -> list[Value]:
        self.calls += 1
        if any(float(x["x"] or 0) < 0 for x in X):
            raise ValueError("negative x")
        return [float(x["x"] or 0) * 2 for x in X]

    def predict_proba(self, X: Sequence[Features]) -> list[Proba] | None:
        return None


async def test_requests_arriving_together_are_scored_in_one_call() -> None:
    sizes: list[int] = []
    model = Picky()
    batcher = Batcher(sizes.append)
    one = champion(model)
    results = await asyncio.gather(
        *(batcher.score(one, [{"x": float(i)}, {"x": 0.5}]) for i in range(10))
    )
    assert sizes == [20]
    assert model.calls == 1
    assert results[3] == ([6.0, 1.0], None)


async def test_a_request_the_model_cannot_score_fails_alone() -> None:
    batcher = Batcher()
    one = champion(Picky())
    results = await asyncio.gather(
        batcher.score(one, [{"x": 1.0}]),
        batcher.score(one, [{"x": -1.0}]),
        batcher.score(one, [{"x": 2.0}]),
        return_exceptions=True,
    )
    assert results[0] == ([2.0], None)
    assert isinstance(results[1], ValueError)
    assert results[2] == ([4.0], None)


async def test_requests_holding_different_champions_are_scored_by_their_own() -> None:
    old, new = Picky(), Picky()
    batcher = Batcher()
    await asyncio.gather(
        batcher.score(champion(old, 1), [{"x": 1.0}]),
        batcher.score(champion(new, 2), [{"x": 1.0}]),
    )
    assert (old.calls, new.calls) == (1, 1)
