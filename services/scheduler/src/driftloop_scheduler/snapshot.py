"""The training window an experiment learns from, frozen as a snapshot, pure: which
labelled records to read, whether they are enough, and the snapshot's bytes, hash,
definition and meta-features.

The bytes are what a trial reads (stored as an artifact under their sha256), so a
trial sees exactly these rows however the records table changes later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from driftloop_learn import Dataset, HoldoutSize, MetaFeatures, meta_features, sha256
from driftloop_spec import ExperimentSpec, Holdout, Window

MEDIA_TYPE = "application/vnd.driftloop.snapshot+json+gzip"
# Fewer rows than these make the gate's verdict or the trial's score noise.
MIN_HOLDOUT = 10
MIN_TRAINING = 10


@dataclass(frozen=True)
class Selection:
    """Which labelled records to read: the newest ``limit`` ones, within times when given,
    and after the record ``after_seq`` when given (a drift's change point)."""

    limit: int
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int | None = None


def selection(
    window: Window, now: datetime, max_rows: int, *, change: int | None = None
) -> Selection:
    """The window's records; from the record ``change`` (its ``seq``) on when given, so an
    experiment started by a drift learns the new concept alone, not a mix of both."""
    after = change - 1 if change is not None else None
    match window.kind:
        case "records":
            assert window.last_labelled is not None
            return Selection(min(window.last_labelled, max_rows), after_seq=after)
        case "duration":
            assert window.last is not None
            return Selection(max_rows, now - window.last, now, after_seq=after)
    return Selection(max_rows, window.since, window.until, after_seq=after)


def short_of(chosen: Selection, rows: int, least: int) -> int | None:
    """How many labelled records since the change an experiment should still wait for
    (None: none, or no change to wait on): up to ``least``, or the whole window if smaller."""
    if chosen.after_seq is None:
        return None
    wanted = min(least, chosen.limit)
    return wanted - rows if rows < wanted else None


def holdout_size(spec: ExperimentSpec) -> HoldoutSize:
    return HoldoutSize(spec.holdout.fraction, spec.holdout.count)


def holdout_of(spec: ExperimentSpec, data: Dataset) -> Dataset:
    """The snapshot's newest rows, which no trial trains on: where candidates are judged."""
    return holdout_size(spec).split(data).tail


def too_small(rows: int, holdout: Holdout, min_rows: int) -> str | None:
    """Why ``rows`` labelled records cannot carry an experiment, or None when they can."""
    if rows < min_rows:
        return f"only {rows} labelled records in the window; at least {min_rows} are needed"
    held = holdout.count if holdout.count is not None else round(rows * (holdout.fraction or 0))
    held = max(0, min(held, rows))
    if held < MIN_HOLDOUT:
        return f"the holdout would hold {held} of {rows} records; at least {MIN_HOLDOUT} needed"
    if rows - held < MIN_TRAINING:
        return (
            f"only {rows - held} of {rows} records would be left to train and validate on;"
            f" at least {MIN_TRAINING} needed"
        )
    return None


@dataclass(frozen=True)
class Snapshot:
    data: Dataset
    content: bytes
    hash: str
    definition: dict[str, Any]
    meta: MetaFeatures


def take(data: Dataset, spec: ExperimentSpec, chosen: Selection) -> Snapshot:
    """The snapshot of ``data``: CPU work (compression, statistics), so callers run it
    off the event loop."""
    content = data.to_bytes()
    low, high = data.seq_range or (None, None)
    definition: dict[str, Any] = {
        "kind": spec.window.kind,
        "window": spec.window.model_dump(mode="json", exclude_none=True),
        "seq_low": low,
        "seq_high": high,
        "rows": len(data),
    }
    if spec.window.kind != "records":
        definition["since"] = chosen.since.isoformat() if chosen.since else None
        definition["until"] = chosen.until.isoformat() if chosen.until else None
    if chosen.after_seq is not None:
        definition["after_seq"] = chosen.after_seq  # the change point: nothing older
    meta = meta_features(data, classification=spec.task == "classification")
    return Snapshot(data, content, sha256(content), definition, meta)
