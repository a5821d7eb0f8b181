"""Synthetic drifting streams from river's generators, as driftloop records.

A stream is a sequence of *concepts* (one river generator each) joined by *changes*:
abrupt (``width=0``) or gradual, where the new concept is drawn with a probability that
rises along a sigmoid of the given width (river's ``ConceptDriftStream`` rule, without
its pitfall for small widths). A concept list like ``0,4,0`` makes a recurring concept.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from river.datasets import synth

Example = tuple[dict[str, Any], Any]


@dataclass(frozen=True)
class Change:
    """Where the next concept takes over: at record ``at``, over ``width`` records (0: abrupt)."""

    at: int
    width: int = 0

    @classmethod
    def parse(cls, text: str) -> Change:
        """``"5000"`` (abrupt) or ``"5000:1000"`` (gradual over 1000 records)."""
        at, _, width = text.partition(":")
        return cls(int(at), int(width or 0))


def _agrawal(concept: int, seed: int) -> Iterator[Example]:
    return iter(synth.Agrawal(classification_function=concept, seed=seed))


def _sea(concept: int, seed: int) -> Iterator[Example]:
    for x, y in synth.SEA(variant=concept, seed=seed):
        yield {f"x{k}": v for k, v in x.items()}, int(y)


def _hyperplane(concept: int, seed: int) -> Iterator[Example]:
    # A concept is a different random hyperplane: same features, new boundary.
    for x, y in synth.Hyperplane(seed=seed * 1000 + concept, n_features=10, n_drift_features=0):
        yield {f"x{k}": v for k, v in x.items()}, int(y)


GENERATORS: dict[str, tuple[Callable[[int, int], Iterator[Example]], tuple[int, ...]]] = {
    # name: (make(concept, seed), default concepts in order)
    "agrawal": (_agrawal, (0, 4)),
    "sea": (_sea, (0, 2)),
    "hyperplane": (_hyperplane, (0, 1)),
}

FEATURES: dict[str, dict[str, str]] = {
    "agrawal": {
        "salary": "float",
        "commission": "float",
        "age": "int",
        "elevel": "int",
        "car": "int",
        "zipcode": "int",
        "hvalue": "float",
        "hyears": "int",
        "loan": "float",
    },
    "sea": {f"x{i}": "float" for i in range(3)},
    "hyperplane": {f"x{i}": "float" for i in range(10)},
}


def concept_at(index: int, changes: list[Change], rng: random.Random) -> int:
    """Which concept (0-based) record ``index`` comes from."""
    concept = 0
    for change in changes:
        if change.width == 0:
            switched = index >= change.at
        else:
            exponent = -4.0 * (index - change.at) / change.width
            switched = rng.random() < 1.0 / (1.0 + math.exp(min(exponent, 700.0)))
        if not switched:
            break
        concept += 1
    return concept


def examples(
    generator: str,
    count: int,
    *,
    seed: int = 42,
    changes: list[Change] | None = None,
    concepts: list[int] | None = None,
) -> Iterator[Example]:
    """``count`` (features, label) pairs, deterministic for a seed; bad arguments fail here."""
    if generator not in GENERATORS:
        raise ValueError(f"unknown generator {generator!r}; choose one of {', '.join(GENERATORS)}")
    make, defaults = GENERATORS[generator]
    changes = sorted(changes or [], key=lambda c: c.at)
    wanted = concepts or [defaults[i % len(defaults)] for i in range(len(changes) + 1)]
    if len(wanted) != len(changes) + 1:
        raise ValueError(
            f"{len(changes)} changes need {len(changes) + 1} concepts, got {len(wanted)}"
        )
    # One generator per distinct concept, so a recurring concept continues its own stream.
    sources = {c: make(c, seed + i) for i, c in enumerate(dict.fromkeys(wanted))}
    rng = random.Random(seed)
    return (next(sources[wanted[concept_at(i, changes, rng)]]) for i in range(count))


def records(
    stream: str,
    generator: str,
    count: int,
    *,
    seed: int = 42,
    changes: list[Change] | None = None,
    concepts: list[int] | None = None,
    start: datetime | None = None,
    interval: timedelta = timedelta(milliseconds=10),
    labelled: bool = True,
) -> Iterator[dict[str, Any]]:
    """Records in the envelope producers send (see ``driftloop_contracts.Record``)."""
    start = start or datetime(2026, 1, 1, tzinfo=UTC)
    pairs = examples(generator, count, seed=seed, changes=changes, concepts=concepts)
    return (
        {
            "stream": stream,
            "record_id": f"{stream}-{index:09d}",
            "event_time": (start + index * interval).isoformat(),
            "features": features,
            "label": label if labelled else None,
        }
        for index, (features, label) in enumerate(pairs)
    )
