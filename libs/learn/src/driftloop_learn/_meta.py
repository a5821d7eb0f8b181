"""Meta-features: a few numbers that say what a window of data looks like, and how near
two windows are, so an experiment can start from what worked on the most similar past.

Besides size, class balance and each feature's mean and spread, the signature holds
each feature's standardised mean per class. That part tells concepts apart when the
inputs stay the same and only the labelling changes (Agrawal's functions, SEA's
thresholds): a recurring concept gives back a recurring signature.
"""

from __future__ import annotations

import math
from collections import Counter
from statistics import fmean, pstdev

from ._data import Dataset

MetaFeatures = dict[str, float]
_NEAR_ZERO = 1e-12


def meta_features(data: Dataset, classification: bool = True) -> MetaFeatures:
    rows = data.rows
    meta: MetaFeatures = {"rows": float(len(rows))}
    if not rows:
        return meta
    numeric = _numeric_columns(data)
    for name, values in numeric.items():
        meta[f"mean.{name}"] = fmean(values)
        meta[f"std.{name}"] = pstdev(values)
    labels = [row.label for row in rows]
    if classification:
        counts = Counter(str(label) for label in labels)
        for label, count in sorted(counts.items()):
            meta[f"share.{label}"] = count / len(rows)
        for name, values in numeric.items():
            mean, std = meta[f"mean.{name}"], meta[f"std.{name}"] or 1.0
            for label in counts:
                members = [v for v, lab in zip(values, labels, strict=True) if str(lab) == label]
                meta[f"cmean.{label}.{name}"] = (fmean(members) - mean) / std
    else:
        ys = [float(y) for y in labels if isinstance(y, int | float) and not isinstance(y, bool)]
        if ys:
            meta["target.mean"], meta["target.std"] = fmean(ys), pstdev(ys)
    return meta


def distance(a: MetaFeatures, b: MetaFeatures) -> float:
    """How unlike two windows are: 0 for the same. Keys only one side has count fully, so
    windows with other classes or features are far apart. Means are compared in units of
    the features' spread, so no feature's units dominate; window size does not count."""
    total = 0.0
    for key in a.keys() | b.keys():
        if key not in a or key not in b:
            total += 1.0
            continue
        if key == "rows":
            # Kept for people to read, not compared: the same concept in a window twice as
            # long is the same concept (measured: +0.35 distance from size alone).
            continue
        x, y = a[key], b[key]
        if key.startswith(("mean.", "std.")):
            scale = max(a.get("std." + key.split(".", 1)[1], 0.0), _NEAR_ZERO)
            diff = (x - y) / scale if key.startswith("mean.") else (x - y) / max(x, y, _NEAR_ZERO)
        else:
            diff = x - y
        total += diff * diff
    return math.sqrt(total)


def _numeric_columns(data: Dataset) -> dict[str, list[float]]:
    names = sorted({name for row in data.rows for name in row.features})
    columns: dict[str, list[float]] = {}
    for name in names:
        values = [row.features.get(name) for row in data.rows]
        if all(isinstance(v, int | float) for v in values):
            columns[name] = [float(v) for v in values if isinstance(v, int | float)]
    return columns
