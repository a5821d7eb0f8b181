"""Where a change began and how large it is, read from the values a detector saw.

River detectors say *that* a series changed, each in its own terms (ADWIN's window cut,
Page-Hinkley's cumulative sum, KSWIN's p-value). An alarm needs the same evidence
whichever detector raised it: the mean before and after the change, where it began and
an effect size for the severity. So on an alarm the detector's recent values are split
where the two sides differ most (the classic one-change-point CUSUM estimate), which is
cheap because it runs only on an alarm.

>>> shift = locate_shift([0.0] * 50 + [1.0] * 10)
>>> shift.index, shift.before, shift.after
(50, 0.0, 1.0)
>>> severity(locate_shift([0.1, 0.0] * 40 + [0.3, 0.4] * 10).effect).value
'high'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from driftloop_contracts import Severity

# A side shorter than this is noise, not a regime; ADWIN cuts no finer either.
MIN_SIDE = 5
# Cohen's conventions for a standardised mean difference: 0.5 medium, 0.8 large.
MEDIUM_EFFECT = 0.5
HIGH_EFFECT = 0.8


@dataclass(frozen=True)
class Shift:
    """``values[index:]`` of ``count`` is the new regime: its mean ``after`` against ``before``."""

    index: int
    count: int
    before: float
    after: float
    effect: float

    @property
    def rose(self) -> bool:
        return self.after > self.before

    @property
    def since_change(self) -> int:
        """How many of the values came after the change: the detection delay, roughly."""
        return self.count - self.index


def locate_shift(values: Sequence[float]) -> Shift:
    """The split of ``values`` into two sides whose means differ most, weighed by size.

    The score ``|mean_r - mean_l| * sqrt(n_l * n_r / n)`` is the likelihood-ratio
    statistic of one mean change, so a short side only wins with a large difference.
    """
    n = len(values)
    if n < 2 * MIN_SIDE:
        raise ValueError(f"need at least {2 * MIN_SIDE} values to locate a change, got {n}")
    prefix = [0.0]
    for value in values:
        prefix.append(prefix[-1] + value)
    total = prefix[-1]
    best, best_score = MIN_SIDE, -1.0
    for k in range(MIN_SIDE, n - MIN_SIDE + 1):
        left, right = prefix[k] / k, (total - prefix[k]) / (n - k)
        score = abs(right - left) * math.sqrt(k * (n - k) / n)
        if score > best_score:
            best, best_score = k, score
    before, after = values[:best], values[best:]
    return Shift(best, n, _mean(before), _mean(after), _effect(before, after))


def severity(effect: float) -> Severity:
    """Low, medium or high by the standardised size of the change."""
    size = abs(effect)
    if size >= HIGH_EFFECT:
        return Severity.HIGH
    return Severity.MEDIUM if size >= MEDIUM_EFFECT else Severity.LOW


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _effect(before: Sequence[float], after: Sequence[float]) -> float:
    """Cohen's d: the mean difference in units of the pooled within-side deviation."""
    squares = sum((v - _mean(side)) ** 2 for side in (before, after) for v in side)
    pooled = math.sqrt(squares / (len(before) + len(after) - 2))
    difference = _mean(after) - _mean(before)
    if pooled == 0.0:
        # Two constant sides: any difference is infinitely clear, none is no change.
        return math.copysign(math.inf, difference) if difference else 0.0
    return difference / pooled
