"""Benchmark: experiments seeded with knowledge from earlier ones against cold ones.

A river Agrawal stream cycles through three labelling rules (classification functions
1, 5 and 8: A, B, C, A, B, C, ...), ``WINDOW`` records each, as it would between
detected drifts. Each window becomes a snapshot (``driftloop_learn.Dataset``), and two
experiments search it with the same spec, trial budget and seeds:

- cold: ``ask()`` alone, as with ``seeding.k: 0``;
- seeded: what the scheduler does. ``plan_seeding()`` over the knowledge recorded from
  the earlier windows of the same stream (their meta-features and their seeded
  experiments' trials) gives the first trials (the best config of each of the k nearest
  experiments), then ``ask()`` continues with all their trials as prior observations
  (which stand in for a cold search's random start-up).

Every trial is ``driftloop_learn.run_trial`` (trial seed = experiment seed + trial
number), scored by validation accuracy. A run's cost in a window is the number of
trials until it first reaches 99% of the best score either run found there; a run that
never does is charged the budget + 1. Reported: per-window counts, totals, the ratio
seeded / cold (the claim: at most a third), the same for recurring windows and for each
cycle through the rules, and the mean best score each run ends with.

The space is the example spec's (random forest, gradient boosting, Hoeffding tree; smaller
forests, to keep trials cheap) plus the linear and nearest-neighbour baselines many specs
list. The rules want different models: 1 and 5 are salary bands by age group (tree
ensembles; 5 on salary + commission, where gradient boosting with large trees and a high
learning rate stands out), 8 is a linear test of disposable income (logistic regression).
So seeding must find the right prior by meta-features, not repeat one favourite.

Seeding only takes priors within the spec's ``seeding.max_distance`` (the product's
default; the bench does not set it), so a new concept starts as a cold run does. The
bench also prints the figures that default was chosen from: ``driftloop_learn.distance``
between windows of the same concept (later samples of a recurring concept) and of
different concepts, for Agrawal (the rules above), SEA (its four thresholds) and
Hyperplane (four random boundaries), how many pairs fall on the wrong side of the gate,
and how far a window's mere size moves the distance (the ``rows`` meta-feature) compared
with the same distance without it.

    uv run python bench/knowledge.py [--quick]

``--quick``: the first stream's first 6 windows only (well under a minute on 2 cores;
its figures are those of the full run's first 6 windows) and distances from 2 cycles
of one stream per generator. The full run: four streams of 12 windows (a few minutes),
distances from 3 cycles of 3 streams per generator, also at 500, 1000 and 5000 rows and
over all ten Agrawal functions. Trial budget 16 in both. Progress goes to stderr;
stdout ends with one JSON line of figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from threadpoolctl import threadpool_limits

from driftloop.synthetic import Change, examples
from driftloop_learn import (
    Dataset,
    HoldoutSize,
    MetaFeatures,
    Row,
    distance,
    meta_features,
    run_trial,
)
from driftloop_scheduler.knowledge import PriorExperiment, PriorTrial, Seeding, plan_seeding
from driftloop_scheduler.search import Config, Observation, ask
from driftloop_spec import ExperimentSpec, validate_spec

CONCEPTS = (1, 5, 8)
WINDOW = 2000
TARGET = 0.99  # share of the window's best score a run must reach
METRIC = "accuracy"
FEATURES = {"salary": "float", "commission": "float", "age": "int", "elevel": "int"}
FEATURES |= {"car": "int", "zipcode": "int", "hvalue": "float", "hyears": "int", "loan": "float"}
FAMILIES: list[dict[str, Any]] = [
    {"name": "sklearn.logistic_regression", "space": {"C": {"float": [1e-3, 100.0], "log": True}}},
    {
        "name": "sklearn.knn",
        "space": {"n_neighbors": {"int": [1, 50]}, "weights": {"choice": ["uniform", "distance"]}},
    },
    {
        "name": "sklearn.random_forest",
        "space": {
            "n_estimators": {"int": [10, 100]},
            "max_depth": {"int": [2, 20]},
            "min_samples_leaf": {"int": [1, 20], "log": True},
            "criterion": {"choice": ["gini", "entropy"]},
        },
    },
    {
        "name": "sklearn.hist_gradient_boosting",
        "space": {
            "learning_rate": {"float": [0.01, 0.3], "log": True},
            "max_iter": {"int": [20, 200]},
            "max_leaf_nodes": {"int": [4, 64], "log": True},
            "early_stopping": False,
        },
    },
    {
        "name": "river.hoeffding_tree",
        "space": {
            "grace_period": {"int": [50, 500]},
            "delta": {"float": [1e-9, 1e-3], "log": True},
            "split_criterion": {"choice": ["info_gain", "gini", "hellinger"]},
            "leaf_prediction": {"choice": ["mc", "nb", "nba"]},
        },
    },
]


def make_spec(trials: int, k: int) -> ExperimentSpec:
    return validate_spec(
        {
            "stream": "bench",
            "task": "classification",
            "target": "class",
            "features": FEATURES,
            "holdout": {"fraction": 0.2},
            "families": FAMILIES,
            "objective": METRIC,
            "budget": {"trials": trials, "parallel": 1},
            "seeding": {"k": k},
            "seed": 42,
        }
    )


@dataclass
class Trials:
    """Runs trials, once each: window 1's cold and seeded runs are the same search."""

    cache: dict[tuple[int, str, int], float] = field(default_factory=dict)
    seconds: float = 0.0

    def score(self, window: int, snapshot: Dataset, config: Config, seed: int) -> float:
        key = (window, config.key, seed)
        if key not in self.cache:
            result = run_trial(
                snapshot,
                family=config.family,
                params=config.params,
                seed=seed,
                task="classification",
                metric=METRIC,
                holdout=HoldoutSize(fraction=0.2),
            )
            self.cache[key] = result.metrics[METRIC]
            self.seconds += result.duration_seconds
        return self.cache[key]


def windows(
    stream_seed: int,
    count: int,
    generator: str = "agrawal",
    cycle: Sequence[int] = CONCEPTS,
    size: int = WINDOW,
) -> list[tuple[int, Dataset]]:
    """``count`` windows of ``size`` rows, each from the next concept in the cycle."""
    concepts = [cycle[i % len(cycle)] for i in range(count)]
    changes = [Change(size * i) for i in range(1, count)]
    pairs = list(
        examples(generator, size * count, seed=stream_seed, changes=changes, concepts=concepts)
    )
    rows = [Row(f"r{i:06d}", i, x, y) for i, (x, y) in enumerate(pairs)]
    return [(concepts[w], Dataset(tuple(rows[w * size : (w + 1) * size]))) for w in range(count)]


def experiment(
    spec: ExperimentSpec, seed: int, seeding: Seeding, run: Callable[[Config, int], float]
) -> list[Observation]:
    """The scheduler's sequence: seed configs first, then the optimiser, until the budget."""
    done: list[Observation] = []
    for config, _ in seeding.configs[: spec.budget.trials]:
        done.append(Observation(config, run(config, seed + len(done))))
    while len(done) < spec.budget.trials:
        (config,) = ask(spec, seed=seed, done=done, pending=[], priors=seeding.observations)
        done.append(Observation(config, run(config, seed + len(done))))
    return done


def trials_to_reach(scores: list[float], target: float) -> int:
    return next((i + 1 for i, s in enumerate(scores) if s >= target), len(scores) + 1)


def stream(stream_seed: int, count: int, budget: int, trials: Trials) -> list[dict[str, Any]]:
    cold_spec, seeded_spec = make_spec(budget, 0), make_spec(budget, 3)
    knowledge: list[PriorExperiment] = []
    found: list[dict[str, Any]] = []
    for w, (concept, snapshot) in enumerate(windows(stream_seed, count)):
        meta = meta_features(snapshot)
        seed = cold_spec.seed + 1000 * w + stream_seed  # a new experiment, a new seed

        def run(config: Config, trial_seed: int, w: int = w, snapshot: Dataset = snapshot) -> float:
            return trials.score(w, snapshot, config, trial_seed)

        cold = experiment(cold_spec, seed, plan_seeding(cold_spec, meta, knowledge), run)
        seeding = plan_seeding(seeded_spec, meta, knowledge)
        seeded = experiment(seeded_spec, seed, seeding, run)
        cold_best, seeded_best = max(o.score for o in cold), max(o.score for o in seeded)
        best = max(cold_best, seeded_best)
        row = {
            "concept": concept,
            "cold_best": round(cold_best, 4),
            "seeded_best": round(seeded_best, 4),
            "cold": trials_to_reach([o.score for o in cold], TARGET * best),
            "seeded": trials_to_reach([o.score for o in seeded], TARGET * best),
            "nearest": [
                [knowledge_concept(s.experiment_id), round(s.distance, 3)]
                for _, s in seeding.configs
            ],
        }
        found.append(row)
        print(f"stream {stream_seed} window {w}: {row}", file=sys.stderr, flush=True)
        experiment_id = f"s{stream_seed}-w{w}-c{concept}"
        knowledge.append(
            PriorExperiment(
                experiment_id,
                meta,
                tuple(
                    PriorTrial(f"{experiment_id}-t{i}", o.config, o.score)
                    for i, o in enumerate(seeded)
                ),
            )
        )
    return found


def knowledge_concept(experiment_id: str) -> int:
    return int(experiment_id.rsplit("-c", 1)[1])


def totals(rows: list[dict[str, Any]], budget: int) -> dict[str, Any]:
    cold, seeded = sum(r["cold"] for r in rows), sum(r["seeded"] for r in rows)
    return {
        "windows": len(rows),
        "cold_trials": cold,
        "seeded_trials": seeded,
        "ratio": round(seeded / cold, 3) if cold else None,
        "cold_missed": sum(r["cold"] > budget for r in rows),
        "seeded_missed": sum(r["seeded"] > budget for r in rows),
        # What each run ends with, so reaching the target early is not bought with a worse end.
        "cold_best_mean": round(statistics.fmean(r["cold_best"] for r in rows), 4),
        "seeded_best_mean": round(statistics.fmean(r["seeded_best"] for r in rows), 4),
    }


# Concepts whose windows are compared: the bench's Agrawal rules, SEA's four thresholds,
# four random Hyperplane boundaries.
SEPARATION: dict[str, tuple[int, ...]] = {
    "agrawal": CONCEPTS,
    "sea": (0, 1, 2, 3),
    "hyperplane": (0, 1, 2, 3),
}
Pair = tuple[int, int, float]  # the two windows' concepts and their distance


def pair_distances(
    generator: str, cycle: Sequence[int], cycles: int, seeds: Sequence[int], size: int = WINDOW
) -> list[Pair]:
    """Distances between every two windows of a stream, for each stream seed."""
    found: list[Pair] = []
    for seed in seeds:
        metas = [
            (concept, meta_features(snapshot))
            for concept, snapshot in windows(seed, cycles * len(cycle), generator, cycle, size)
        ]
        for (a, meta_a), (b, meta_b) in itertools.combinations(metas, 2):
            found.append((min(a, b), max(a, b), distance(meta_a, meta_b)))
    return found


def spread(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {
        "pairs": len(ordered),
        "min": round(ordered[0], 3),
        "median": round(statistics.median(ordered), 3),
        "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
        "max": round(ordered[-1], 3),
    }


def separation(found: list[Pair], gate: float | None) -> dict[str, Any]:
    """Same- and different-concept distances, and which fall on the wrong side of the gate."""
    same = [gap for a, b, gap in found if a == b]
    different = [gap for a, b, gap in found if a != b]
    summary: dict[str, Any] = {"same": spread(same), "different": spread(different)}
    if gate is not None:
        summary["same_beyond_gate"] = sum(gap > gate for gap in same)
        summary["different_within_gate"] = sum(gap <= gate for gap in different)
        # Which concepts: a recurring one gated out, or two different ones let through.
        summary["concepts_gated_out"] = sorted({a for a, b, gap in found if a == b and gap > gate})
        summary["pairs_let_through"] = sorted(
            {(a, b) for a, b, gap in found if a != b and gap <= gate}
        )
    return summary


def without_rows(meta: MetaFeatures) -> MetaFeatures:
    return {key: value for key, value in meta.items() if key != "rows"}


def size_effect(seed: int) -> dict[str, dict[str, float]]:
    """One concept at ``WINDOW`` rows against later windows of other sizes: how far the
    ``rows`` meta-feature alone moves the distance (a duration window varies in size)."""
    pairs = list(examples("agrawal", 4 * WINDOW, seed=seed, concepts=[CONCEPTS[0]]))
    rows = [Row(f"r{i:06d}", i, x, y) for i, (x, y) in enumerate(pairs)]
    base = meta_features(Dataset(tuple(rows[:WINDOW])))
    effect: dict[str, dict[str, float]] = {}
    for share in (0.5, 0.75, 1.0, 1.5, 2.0):
        other = meta_features(Dataset(tuple(rows[WINDOW : WINDOW + int(share * WINDOW)])))
        effect[f"{share}x"] = {
            "distance": round(distance(base, other), 3),
            "without_rows": round(distance(without_rows(base), without_rows(other)), 3),
        }
    return effect


def distances(quick: bool) -> dict[str, Any]:
    """The figures the spec's default ``seeding.max_distance`` was chosen from."""
    gate = make_spec(1, 3).seeding.max_distance
    seeds, cycles = ((7,), 2) if quick else ((7, 8, 9), 3)
    figures: dict[str, Any] = {"gate": gate, "rows": WINDOW}
    for generator, cycle in SEPARATION.items():
        found = pair_distances(generator, cycle, cycles, seeds)
        figures[generator] = separation(found, gate)
        print(f"distances {generator}: {figures[generator]}", file=sys.stderr, flush=True)
    if not quick:
        # Every Agrawal function: some are near-twins, two have a class of 2% or less.
        found = pair_distances("agrawal", range(10), 2, seeds[:2])
        figures["agrawal_all_functions"] = separation(found, gate)
        # Fewer rows, more sampling noise in every meta-feature; more, less.
        figures["by_rows"] = {
            str(size): {
                generator: separation(pair_distances(generator, cycle, 2, seeds[:2], size), gate)
                for generator, cycle in SEPARATION.items()
            }
            for size in (500, 1000, 5000)
        }
    figures["size_effect"] = size_effect(seeds[0])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="one short stream, under a minute")
    args = parser.parse_args()
    seeds, count = ((7,), 6) if args.quick else ((7, 8, 9, 10), 12)
    budget = 16
    started = time.perf_counter()
    trials = Trials()
    # One thread per fit, as with one training replica per core: OpenMP's thread per core
    # makes gradient boosting crawl on a busy two-core machine.
    with threadpool_limits(limits=1):
        streams = {seed: stream(seed, count, budget, trials) for seed in seeds}
        separations = distances(args.quick)
    rows = [row for found in streams.values() for row in found]
    cycles = [
        [row for found in streams.values() for row in found[c : c + len(CONCEPTS)]]
        for c in range(0, count, len(CONCEPTS))
    ]
    figures = {
        "bench": "knowledge",
        "quick": args.quick,
        "concepts": list(CONCEPTS),
        "window_rows": WINDOW,
        "budget": budget,
        "target": TARGET,
        **totals(rows, budget),
        "recurring": totals([row for cycle in cycles[1:] for row in cycle], budget),
        "by_cycle": [totals(cycle, budget) for cycle in cycles],
        "streams": {str(seed): found for seed, found in streams.items()},
        "distances": separations,
        "trials_run": len(trials.cache),
        "trial_seconds": round(trials.seconds, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
