"""Benchmark: how soon driftloop's drift detection sees a concept change, and how often it
cries wolf, against a bare river ADWIN on the same streams.

Streams are river's synthetic generators (Agrawal, SEA, Hyperplane) through
``driftloop.synthetic``. Each drifting stream switches concept three times (and back,
since concepts recur) at known records, abruptly or gradually (over ``WIDTH`` records);
a stationary stream of the same length never does.

- driftloop: the drift service's own ``StreamMonitor`` with the spec's default trigger
  (ADWIN on the errors of its prequential linear sentinel, cooldown 1000 records).
- bare ADWIN: ``drift.ADWIN()`` on the same sentinel's 0/1 errors, every
  ``drift_detected`` an alarm: no cooldown, no start-over, rises and falls alike.
- bare ADWIN, tree: the same on a Hoeffding tree's errors, as river's docs do it.

A change is detected by the first alarm from its start to ``HORIZON`` records after;
the delay counts records from the start (a gradual change starts ``WIDTH / 2`` before
its midpoint). Every other alarm is a false alarm.

    uv run python bench/drift.py [--quick]

Prints a summary, then one JSON line of figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from river import tree

from driftloop.synthetic import FEATURES, Change, examples
from driftloop_drift.detectors import KINDS as DETECTORS
from driftloop_drift.monitor import StoredRecord, StreamMonitor
from driftloop_drift.sentinel import Sentinel
from driftloop_spec import ExperimentSpec, validate_spec

HORIZON = 2500  # records after a change within which an alarm counts as detecting it
WIDTH = 1000  # records a gradual change takes
GENERATORS = ("agrawal", "sea", "hyperplane")
KINDS = {"abrupt": 0, "gradual": WIDTH}
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Score:
    delays: list[int] = field(default_factory=list)
    missed: int = 0
    false_alarms: int = 0
    records: int = 0
    seconds: float = 0.0

    def add(self, alarms: list[int], changes: list[Change], length: int, seconds: float) -> None:
        unexplained = set(alarms)
        for change in changes:
            start = change.at - change.width // 2
            hits = [a for a in alarms if start <= a < change.at + HORIZON]
            if hits:
                self.delays.append(hits[0] - start)
                unexplained.discard(hits[0])
            else:
                self.missed += 1
        self.false_alarms += len(unexplained)
        self.records += length
        self.seconds += seconds

    def figures(self) -> dict[str, Any]:
        return {
            "changes": len(self.delays) + self.missed,
            "detected": len(self.delays),
            "missed": self.missed,
            "mean_delay": round(statistics.fmean(self.delays), 1) if self.delays else None,
            "median_delay": statistics.median(self.delays) if self.delays else None,
            "max_delay": max(self.delays) if self.delays else None,
            "false_alarms": self.false_alarms,
            "false_alarms_per_100k": round(self.false_alarms * 100_000 / self.records, 2),
            "records": self.records,
            "records_per_second": round(self.records / self.seconds) if self.seconds else None,
        }


def spec_for(generator: str) -> ExperimentSpec:
    return validate_spec(
        {
            "stream": generator,
            "task": "classification",
            "target": "y",
            "features": FEATURES[generator],
            "families": ["river.hoeffding_tree"],
        }
    )


def driftloop_alarms(generator: str, stream: list[tuple[dict[str, Any], Any]]) -> list[int]:
    monitor = StreamMonitor(spec_for(generator))
    alarms = []
    for i, (x, y) in enumerate(stream):
        record = StoredRecord(str(i), START + timedelta(milliseconds=10 * i), x, y)
        alarms += [i for _ in monitor.observe([record], None)]
    return alarms


def bare_adwin_alarms(generator: str, stream: list[tuple[dict[str, Any], Any]]) -> list[int]:
    sentinel = Sentinel("classification", spec_for(generator).features)
    detector = DETECTORS["adwin"]()  # river's drift.ADWIN, with its defaults
    alarms = []
    for i, (x, y) in enumerate(stream):
        detector.update(sentinel.score(x, y))
        if detector.drift_detected:
            alarms.append(i)
    return alarms


def bare_adwin_tree_alarms(stream: list[tuple[dict[str, Any], Any]]) -> list[int]:
    model: Any = tree.HoeffdingTreeClassifier()
    detector = DETECTORS["adwin"]()
    alarms = []
    for i, (x, y) in enumerate(stream):
        detector.update(0.0 if model.predict_one(x) == y else 1.0)
        model.learn_one(x, y)
        if detector.drift_detected:
            alarms.append(i)
    return alarms


Method = Callable[[str, list[tuple[dict[str, Any], Any]]], list[int]]
METHODS: dict[str, Method] = {
    "driftloop": driftloop_alarms,
    "bare_adwin": bare_adwin_alarms,
    "bare_adwin_tree": lambda generator, stream: bare_adwin_tree_alarms(stream),
}
LABELS = {"driftloop": "driftloop", "bare_adwin": "bare ADWIN", "bare_adwin_tree": "bare, tree"}


def streams(length: int, seeds: int) -> Iterator[tuple[str, int, str, list[Change]]]:
    """(generator, seed, kind, changes): drifting streams and a stationary one for each."""
    for generator in GENERATORS:
        for seed in range(1, seeds + 1):
            for kind, width in KINDS.items():
                at = [length // 4, length // 2, 3 * length // 4]
                yield generator, seed, kind, [Change(a, width) for a in at]
            yield generator, seed, "stationary", []


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter streams (<60 s)")
    args = parser.parse_args()
    length, seeds = (16_000, 1) if args.quick else (40_000, 5)

    began = time.monotonic()
    kinds = [*KINDS, "stationary"]
    scores = {method: {kind: Score() for kind in kinds} for method in METHODS}
    for generator, seed, kind, changes in streams(length, seeds):
        stream = list(examples(generator, length, seed=seed, changes=changes))
        for method, run in METHODS.items():
            t0 = time.monotonic()
            alarms = run(generator, stream)
            scores[method][kind].add(alarms, changes, length, time.monotonic() - t0)
        print(f"  {generator:<10} seed {seed} {kind:<10} done", flush=True)

    figures = {
        method: {kind: score.figures() for kind, score in by_kind.items()}
        for method, by_kind in scores.items()
    }
    print(f"\n{'':22}{'found':>6}{'mean delay':>12}{'median':>8}{'false alarms/100k':>19}")
    for method, label in LABELS.items():
        for kind in kinds:
            f = figures[method][kind]
            found = f"{f['detected']}/{f['changes']}" if f["changes"] else "-"
            print(
                f"{label:<11}{kind:<11}{found:>6}{f['mean_delay'] or '-':>12}"
                f"{f['median_delay'] or '-':>8}{f['false_alarms_per_100k']:>19}"
            )
    print(
        f"\n{len(GENERATORS)} generators x {seeds} seeds, {length} records per stream, changes"
        f" at 1/4, 1/2 and 3/4 (gradual: over {WIDTH} records); found = first alarm within"
        f" {HORIZON} records."
    )
    print(
        json.dumps(
            {
                "bench": "drift",
                "quick": args.quick,
                "generators": list(GENERATORS),
                "seeds": seeds,
                "stream_length": length,
                "horizon": HORIZON,
                "gradual_width": WIDTH,
                **figures,
                "seconds": round(time.monotonic() - began, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
