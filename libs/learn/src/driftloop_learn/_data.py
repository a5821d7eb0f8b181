"""Datasets as experiments see them: labelled rows in arrival order, hashed by content.

A snapshot is stored as its own bytes (gzip of canonical JSON) under its sha256, so a
trial reads exactly the rows it was given, on any host, however the records table changes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Value = float | int | str | bool | None
Features = dict[str, Value]


@dataclass(frozen=True)
class Row:
    record_id: str
    seq: int
    features: Features
    label: Value


@dataclass(frozen=True)
class Dataset:
    """Labelled rows, oldest first."""

    rows: tuple[Row, ...]

    @classmethod
    def of(cls, rows: Iterable[Row]) -> Dataset:
        return cls(tuple(sorted(rows, key=lambda row: row.seq)))

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def X(self) -> list[Features]:
        return [row.features for row in self.rows]

    @property
    def y(self) -> list[Value]:
        return [row.label for row in self.rows]

    @property
    def seq_range(self) -> tuple[int, int] | None:
        return (self.rows[0].seq, self.rows[-1].seq) if self.rows else None

    def to_bytes(self) -> bytes:
        """Canonical and compressed: equal rows give equal bytes, hence equal hashes."""
        payload = [[r.record_id, r.seq, r.features, r.label] for r in self.rows]
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return gzip.compress(text.encode(), compresslevel=6, mtime=0)

    @classmethod
    def from_bytes(cls, data: bytes) -> Dataset:
        payload: list[list[Any]] = json.loads(gzip.decompress(data))
        return cls(tuple(Row(str(i), int(s), dict(f), label) for i, s, f, label in payload))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def split_tail(self, fraction: float | None = None, count: int | None = None) -> Split:
        """The newest ``count`` rows (or ``fraction`` of them) apart from the rest."""
        n = len(self.rows)
        tail = count if count is not None else round(n * (fraction or 0.0))
        tail = max(0, min(tail, n))
        return Split(Dataset(self.rows[: n - tail]), Dataset(self.rows[n - tail :]))


@dataclass(frozen=True)
class Split:
    head: Dataset
    tail: Dataset


def rows_from(records: Sequence[tuple[str, int, Features, Value]]) -> Dataset:
    """A dataset from ``(record_id, seq, features, label)`` tuples as the store returns them."""
    return Dataset.of(Row(rid, seq, features, label) for rid, seq, features, label in records)
