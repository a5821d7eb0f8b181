"""The prequential benchmark's baselines keep the real-time rules: a label is learned only
after its delay, a fit serves only once it is done, and a slow learner falls behind."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from bench.prequential import Example, Setup, first_due, simulate_batch, simulate_online

from driftloop_learn import Dataset, Features, Model, Value


def setup(count: int, *, first: int = 5, every: int = 1000, window: int = 1000) -> Setup:
    # 100 records/s, labels 0.1 s late: each label is in ten records after its record.
    return Setup("agrawal", count, 100.0, 0.1, (), (0,), 1, first, every, window)


class Majority(Model):
    """Predicts its training rows' most common label, after ``seconds`` of fitting."""

    def __init__(self, rows: Sequence[Example], seconds: float = 0.0) -> None:
        super().__init__("majority", {}, 0)
        labels = [y for _, y in rows]
        self.label = max(set(labels), key=labels.count)
        time.sleep(seconds)  # the fit's duration is what the simulation measures

    def fit(self, data: Dataset) -> Model:
        return self

    def predict(self, X: Sequence[Features]) -> list[Value]:
        return [self.label for _ in X]


class Echo:
    """Predicts the last label it learned; each update takes ``seconds``."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.last: Any = None

    def learn_one(self, x: dict[str, Any], y: Any) -> None:
        if self.seconds:
            time.sleep(self.seconds)
        self.last = y

    def predict_one(self, x: dict[str, Any]) -> Any:
        return self.last


def test_a_label_arrives_only_after_its_delay() -> None:
    s = setup(100)
    assert [s.labelled_before(i) for i in (0, 9, 10, 11, 50)] == [0, 0, 1, 2, 41]
    assert first_due(s) == 14  # five labels are in at record 14


def test_online_learner_scores_each_record_with_labels_ten_records_old() -> None:
    stream = [({"i": i}, (i // 10) % 2) for i in range(60)]
    run = simulate_online("echo", stream, setup(60), Echo())
    # Record i is scored knowing label i - 10, which alternates against its own: all miss.
    assert run.correct == [False] * 60
    assert run.fits == 50
    assert run.extra["labels_behind_at_end"] == 10


def test_a_learner_slower_than_the_stream_falls_behind() -> None:
    stream = [({"i": i}, 1) for i in range(60)]
    run = simulate_online("slow", stream, setup(60), Echo(seconds=0.02))
    # Updates of 20 ms against a record each 10 ms: at most half the labels get learned.
    assert run.fits <= 25
    assert run.train_wall >= 0.02 * run.fits


def test_a_fit_serves_only_once_it_is_done() -> None:
    stream = [({"i": i}, 1) for i in range(100)]
    run = simulate_batch(
        "static", stream, setup(100), lambda i, fits: i == 14, lambda rows, _: Majority(rows, 0.05)
    )
    # Due at record 14 (0.14 s), 50 ms of fitting: no model before record 19.
    assert not any(run.correct[:19])
    assert all(run.correct[60:])
    assert run.fits == 1
    assert run.train_wall >= 0.05


def test_periodic_fits_use_the_newest_window_and_skip_while_busy() -> None:
    stream = [({"i": i}, i % 3) for i in range(100)]
    seen: list[tuple[int, int]] = []

    def fit(rows: Sequence[Example], offset: int) -> Model:
        seen.append((offset, len(rows)))
        return Majority(rows)

    simulate_batch("periodic", stream, setup(100, window=5), lambda i, _: i % 20 == 0, fit)
    # At record i the labels of records up to i - 10 are in: the newest five of them.
    assert seen == [(6, 5), (26, 5), (46, 5), (66, 5)]
    slow = simulate_batch(
        "periodic", stream, setup(100), lambda i, _: i >= 14, lambda r, _: Majority(r, 0.05)
    )
    # A fit takes five records' time or more: the four records due meanwhile are skipped.
    assert slow.fits <= 18
    assert slow.skipped >= 4 * slow.fits - 4
