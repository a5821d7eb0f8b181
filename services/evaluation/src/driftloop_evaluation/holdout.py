"""Which rows a candidate and the champion are judged on, and when a holdout is spent.

The holdout is the newest share of the experiment's snapshot: no trial trained on it.
Each decision made on a holdout is a look at it, and the looks add up to a leak (a model
chosen because it did well there), so after ``reuse_budget`` decisions it is retired and
a fresh one is drawn from labelled records newer than the snapshot.

A champion may have trained on some of the holdout (it was fit on a window that overlaps
this one, or on labels that came after the change); those rows are left out of the
judgement, so both models are judged only on rows neither learned from. The holdout row
and its reuse count stay those of the whole holdout: the leftover rows follow from it
and the two models, and are named in the decision's reason.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from driftloop_learn import Dataset, HoldoutSize
from driftloop_spec import Holdout as HoldoutSpec

MEDIA_TYPE = "application/vnd.driftloop.holdout+json+gzip"
# Below this a paired test on a fresh holdout says little; a spec asking for a smaller
# holdout lowers it to that size, or it would wait forever.
MIN_ROWS = 30
WAITING = "waiting for fresh labelled data"


@dataclass(frozen=True)
class Holdout:
    """A holdout as stored: its rows, how they were chosen, and how often it was used."""

    data: Dataset
    definition: dict[str, Any] = field(compare=False)
    uses: int = 0

    @functools.cached_property
    def hash(self) -> str:
        return self.data.sha256


@dataclass(frozen=True)
class Judged:
    """The rows a decision is made on: the holdout's, minus any a model trained on."""

    holdout: Holdout
    rows: Dataset

    @property
    def note(self) -> str:
        total, used = len(self.holdout.data), len(self.rows)
        left_out = "" if used == total else f"; {total - used} rows a model trained on left out"
        return f"on {used} of {total} holdout rows{left_out}"


def size_of(spec: dict[str, Any]) -> HoldoutSize:
    """The holdout size an experiment's stored spec asked for (the default if unreadable)."""
    try:
        found = HoldoutSpec.model_validate(spec.get("holdout", {}))
    except ValidationError:
        found = HoldoutSpec()
    return HoldoutSize(found.fraction, found.count)


def of_snapshot(snapshot: Dataset, snapshot_hash: str, size: HoldoutSize, uses: int = 0) -> Holdout:
    """The snapshot's newest rows, which ``run_trial`` never trains on."""
    definition = {
        "kind": "snapshot_tail",
        "snapshot": snapshot_hash,
        "fraction": size.fraction,
        "count": size.count,
    }
    return Holdout(size.split(snapshot).tail, definition, uses)


def trained_through(snapshot: Dataset, size: HoldoutSize) -> int | None:
    """The newest record a model trained on this snapshot learned from (its ``seq``)."""
    head = size.split(snapshot).head
    return head.seq_range[1] if head.seq_range else None


def fresh_after(snapshot: Dataset, window: dict[str, Any], cut: int | None) -> int:
    """Records newer than this ``seq`` are unseen by the snapshot and by both models."""
    known = [snapshot.seq_range[1] if snapshot.seq_range else 0, cut or 0]
    if isinstance(window.get("seq_high"), int):
        known.append(window["seq_high"])
    return max(known)


def fresh(rows: Dataset, *, after: int, replaces: str, uses: int = 0) -> Holdout:
    seqs = rows.seq_range
    definition = {
        "kind": "fresh",
        "replaces": replaces,
        "after_seq": after,
        "seq_low": seqs[0] if seqs else None,
        "seq_high": seqs[1] if seqs else None,
        "rows": len(rows),
    }
    return Holdout(rows, definition, uses)


def least_rows(size: int) -> int:
    return max(1, min(MIN_ROWS, size))


def judge_on(holdout: Holdout, *, budget: int, cut: int | None, least: int) -> Judged | str:
    """The rows to decide on, or why this holdout cannot be used."""
    if holdout.uses >= budget:
        return f"holdout reuse budget spent ({holdout.uses} of {budget} uses)"
    rows = Dataset(tuple(row for row in holdout.data.rows if cut is None or row.seq > cut))
    if len(rows) < least:
        return f"{len(rows)} holdout rows unseen by both models, fewer than {least}"
    return Judged(holdout, rows)


def waiting(*reasons: str) -> str:
    return "; ".join((*reasons, WAITING))
