"""The experiment state machine and its budgets, pure: given what the store says about an
experiment and its trials, what happens next.

An experiment keeps ``parallel`` trials in flight while it has trials left in its budget
and wall time left; it ends when nothing is in flight and nothing more may be asked. It
ends ``completed`` with its best trial, or ``failed`` when no trial scored. A person can
pause it (no new asks; trials in flight finish), resume it, or stop it: a stop ends it at
once as ``stopped``, and trials still in flight are abandoned. The wall clock keeps
running while an experiment is paused: a pause holds back trials, not the deadline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from driftloop_contracts import ControlAction, ExperimentStatus
from driftloop_spec import Direction, ExperimentSpec

from .knowledge import Seeding
from .search import Config, Observation, ask

ACTIVE = frozenset({ExperimentStatus.PENDING, ExperimentStatus.RUNNING, ExperimentStatus.PAUSED})
MAX_ATTEMPTS = 2  # a trial that times out is re-queued once, then failed

TrialStatus = Literal["requested", "completed", "failed"]


@dataclass(frozen=True)
class TrialState:
    id: str
    number: int
    status: TrialStatus
    metrics: dict[str, Any]

    def score(self, metric: str) -> float | None:
        """The trial's objective score, when it completed and reported a finite one."""
        value = self.metrics.get(metric) if self.status == "completed" else None
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        return None


@dataclass(frozen=True)
class Ask:
    n: int


@dataclass(frozen=True)
class Wait:
    why: str


@dataclass(frozen=True)
class Finish:
    status: Literal[ExperimentStatus.COMPLETED, ExperimentStatus.FAILED]
    best: TrialState | None
    reason: str


Step = Ask | Wait | Finish


def next_step(
    status: ExperimentStatus,
    trials: Sequence[TrialState],
    *,
    budget_trials: int,
    parallel: int,
    wall_expired: bool,
    metric: str,
    direction: Direction,
) -> Step:
    """What a running experiment does now: ask for ``n`` more trials, wait, or finish."""
    if status != ExperimentStatus.RUNNING:
        return Wait(f"experiment is {status.value}")
    in_flight = sum(t.status == "requested" for t in trials)
    left = budget_trials - len(trials)
    if left > 0 and not wall_expired:
        room = min(left, parallel - in_flight)
        return Ask(room) if room > 0 else Wait(f"{in_flight} trials in flight")
    if in_flight:
        return Wait(f"{in_flight} trials in flight before the end")
    spent = "wall time spent" if left > 0 else f"all {budget_trials} trials run"
    found = best(trials, metric, direction)
    if found is None:
        failed = sum(t.status == "failed" for t in trials)
        why = f"no trial reported {metric}" if failed < len(trials) else "every trial failed"
        if not trials:
            why = "no trial was run"
        return Finish(ExperimentStatus.FAILED, None, f"{spent}; {why} ({failed} failed)")
    score = found.score(metric)
    return Finish(
        ExperimentStatus.COMPLETED,
        found,
        f"{spent}; best {metric} {score:.4f} (trial #{found.number})",
    )


def next_configs(
    spec: ExperimentSpec,
    seeding: Seeding,
    *,
    done: Sequence[Observation],
    pending: Sequence[Config],
    seeded: frozenset[str],
    n: int,
) -> list[tuple[Config, str | None]]:
    """The next ``n`` configs, each with the prior trial it repeats (None when searched):
    prior experiments' best configs not yet run come first, nearest first; the optimiser,
    told the priors, what is done and what is in flight, proposes the rest."""
    seeds = [(c, s.trial_id) for c, s in seeding.configs if s.trial_id not in seeded][:n]
    rest = n - len(seeds)
    if rest <= 0:
        return list(seeds)
    asked = ask(
        spec,
        seed=spec.seed,
        done=done,
        pending=[*pending, *(config for config, _ in seeds)],
        priors=seeding.observations,
        n=rest,
    )
    return [*seeds, *((config, None) for config in asked)]


def best(trials: Sequence[TrialState], metric: str, direction: Direction) -> TrialState | None:
    """The trial with the best score; on a tie, the one asked first."""
    scored = [(t.score(metric), t) for t in trials]
    ranked = [(s, t) for s, t in scored if s is not None]
    if not ranked:
        return None
    sign = -1.0 if direction == "maximise" else 1.0
    return min(ranked, key=lambda found: (sign * found[0], found[1].number))[1]


def trials_run(trials: Sequence[TrialState]) -> int:
    """Trials that came to an end, completed or failed."""
    return sum(t.status != "requested" for t in trials)


@dataclass(frozen=True)
class Control:
    """The status a control request leads to, or None when it does not apply."""

    to: ExperimentStatus | None
    reason: str


def control(status: ExperimentStatus, action: ControlAction) -> Control:
    if status not in ACTIVE:
        return Control(None, f"it has ended ({status.value})")
    match action:
        case ControlAction.PAUSE if status == ExperimentStatus.RUNNING:
            return Control(ExperimentStatus.PAUSED, "paused: no new trials until resumed")
        case ControlAction.RESUME if status == ExperimentStatus.PAUSED:
            return Control(ExperimentStatus.RUNNING, "resumed")
        case ControlAction.STOP:
            return Control(ExperimentStatus.STOPPED, "stopped: trials in flight are abandoned")
    return Control(None, f"it is {status.value}")


@dataclass(frozen=True)
class Requeue:
    attempt: int


@dataclass(frozen=True)
class GiveUp:
    error: str


def timed_out(attempt: int, timeout_seconds: float) -> Requeue | GiveUp:
    """A trial past its deadline is asked again under the same id, once, then failed."""
    if attempt < MAX_ATTEMPTS:
        return Requeue(attempt + 1)
    return GiveUp(f"timed out twice after {timeout_seconds:g}s")
