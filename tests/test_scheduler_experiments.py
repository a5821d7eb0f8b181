"""The experiment state machine, pure: asks within budgets, finishing, controls, time-outs."""

from __future__ import annotations

from typing import Any

import pytest

from driftloop_contracts import ControlAction, ExperimentStatus
from driftloop_scheduler.experiments import (
    Ask,
    Finish,
    GiveUp,
    Requeue,
    TrialState,
    Wait,
    best,
    control,
    next_configs,
    next_step,
    timed_out,
    trials_run,
)
from driftloop_scheduler.knowledge import Seeding, Source
from driftloop_scheduler.search import Config, Observation
from driftloop_spec import validate_spec

RUNNING, PAUSED = ExperimentStatus.RUNNING, ExperimentStatus.PAUSED


def trial(number: int, status: str = "completed", score: float | None = None) -> TrialState:
    metrics: dict[str, Any] = {} if score is None else {"accuracy": score}
    return TrialState(f"t{number}", number, status, metrics)  # type: ignore[arg-type]


def step(
    trials: list[TrialState],
    *,
    status: ExperimentStatus = RUNNING,
    budget: int = 4,
    parallel: int = 2,
    expired: bool = False,
    direction: str = "maximise",
) -> Any:
    return next_step(
        status,
        trials,
        budget_trials=budget,
        parallel=parallel,
        wall_expired=expired,
        metric="accuracy",
        direction=direction,  # type: ignore[arg-type]
    )


def test_a_new_experiment_asks_for_parallel_trials() -> None:
    assert step([]) == Ask(2)


def test_asks_refill_the_parallel_slots_but_never_pass_the_trial_budget() -> None:
    assert step([trial(0, score=0.7), trial(1, "requested")]) == Ask(1)
    assert step([trial(0, score=0.7), trial(1, score=0.6), trial(2, "requested")]) == Ask(1)
    in_flight = [trial(0, score=0.7), trial(1, "failed"), trial(2, "requested")]
    assert step([*in_flight, trial(3, "requested")]) == Wait("2 trials in flight before the end")
    assert step([trial(0, "requested"), trial(1, "requested")]) == Wait("2 trials in flight")


def test_all_trials_done_completes_with_the_best() -> None:
    trials = [trial(0, score=0.7), trial(1, score=0.9), trial(2, "failed"), trial(3, score=0.8)]
    result = step(trials)
    assert isinstance(result, Finish)
    assert result.status == ExperimentStatus.COMPLETED and result.best == trials[1]
    assert result.reason == "all 4 trials run; best accuracy 0.9000 (trial #1)"


def test_lower_is_better_when_the_metric_is_minimised() -> None:
    trials = [trial(0, score=0.7), trial(1, score=0.2)]
    assert best(trials, "accuracy", "minimise") == trials[1]
    assert best(trials, "accuracy", "maximise") == trials[0]


def test_a_tie_goes_to_the_trial_asked_first() -> None:
    trials = [trial(2, score=0.8), trial(0, score=0.8), trial(1, score=0.5)]
    assert best(trials, "accuracy", "maximise") == trials[1]


def test_trials_without_a_finite_score_are_never_best() -> None:
    trials = [trial(0, score=float("nan")), trial(1, "completed"), trial(2, "failed")]
    assert best(trials, "accuracy", "maximise") is None


def test_every_trial_failed_fails_the_experiment_with_the_reason() -> None:
    result = step([trial(n, "failed") for n in range(4)])
    assert isinstance(result, Finish) and result.status == ExperimentStatus.FAILED
    assert result.best is None
    assert result.reason == "all 4 trials run; every trial failed (4 failed)"


def test_spent_wall_time_stops_asking_and_ends_once_nothing_is_in_flight() -> None:
    assert step([trial(0, score=0.6), trial(1, "requested")], expired=True) == Wait(
        "1 trials in flight before the end"
    )
    result = step([trial(0, score=0.6), trial(1, "failed")], expired=True)
    assert isinstance(result, Finish) and result.status == ExperimentStatus.COMPLETED
    assert result.reason.startswith("wall time spent; best accuracy 0.6000")
    result = step([], expired=True)
    assert isinstance(result, Finish) and result.status == ExperimentStatus.FAILED
    assert result.reason == "wall time spent; no trial was run (0 failed)"


def test_a_paused_or_ended_experiment_asks_for_nothing() -> None:
    assert step([], status=PAUSED) == Wait("experiment is paused")
    assert step([trial(0, score=0.5)], status=ExperimentStatus.STOPPED) == Wait(
        "experiment is stopped"
    )


def test_trials_run_counts_those_that_ended() -> None:
    assert trials_run([trial(0), trial(1, "failed"), trial(2, "requested")]) == 2


@pytest.mark.parametrize(
    ("status", "action", "to"),
    [
        (RUNNING, ControlAction.PAUSE, PAUSED),
        (PAUSED, ControlAction.RESUME, RUNNING),
        (RUNNING, ControlAction.STOP, ExperimentStatus.STOPPED),
        (PAUSED, ControlAction.STOP, ExperimentStatus.STOPPED),
        (ExperimentStatus.PENDING, ControlAction.STOP, ExperimentStatus.STOPPED),
        (PAUSED, ControlAction.PAUSE, None),
        (RUNNING, ControlAction.RESUME, None),
        (ExperimentStatus.COMPLETED, ControlAction.STOP, None),
        (ExperimentStatus.STOPPED, ControlAction.RESUME, None),
    ],
)
def test_controls_apply_only_where_they_mean_something(
    status: ExperimentStatus, action: ControlAction, to: ExperimentStatus | None
) -> None:
    assert control(status, action).to == to


def test_a_refused_control_says_why() -> None:
    assert control(ExperimentStatus.COMPLETED, ControlAction.PAUSE).reason == (
        "it has ended (completed)"
    )
    assert control(PAUSED, ControlAction.PAUSE).reason == "it is paused"


def test_a_timed_out_trial_is_requeued_once_then_failed() -> None:
    assert timed_out(1, 2.5) == Requeue(2)
    assert timed_out(2, 2.5) == GiveUp("timed out twice after 2.5s")


SPEC = validate_spec(
    {
        "stream": "s",
        "task": "classification",
        "target": "y",
        "features": {"x": "float"},
        "families": [{"name": "sklearn.knn", "space": {"n_neighbors": {"int": [1, 50]}}}],
        "budget": {"trials": 6, "parallel": 3},
        "seed": 3,
    }
)


def seeding(*configs: tuple[int, str]) -> Seeding:
    return Seeding(
        configs=tuple(
            (
                Config("sklearn.knn", {"n_neighbors": k}),
                Source("prior_config", trial_id, "e0", 0.1, 0.9),
            )
            for k, trial_id in configs
        ),
        observations=(Observation(Config("sklearn.knn", {"n_neighbors": 5}), 0.9),),
    )


def test_prior_best_configs_come_first_then_the_optimiser_fills_the_rest() -> None:
    plan = seeding((5, "p1"), (9, "p2"))
    chosen = next_configs(SPEC, plan, done=[], pending=[], seeded=frozenset(), n=3)
    assert [(c.params, src) for c, src in chosen[:2]] == [
        ({"n_neighbors": 5}, "p1"),
        ({"n_neighbors": 9}, "p2"),
    ]
    searched, source = chosen[2]
    assert source is None and searched.params["n_neighbors"] not in (5, 9)
    # Deterministic: the same knowledge asks for the same configs.
    assert next_configs(SPEC, plan, done=[], pending=[], seeded=frozenset(), n=3) == chosen


def test_seed_configs_already_run_are_not_asked_again() -> None:
    plan = seeding((5, "p1"), (9, "p2"))
    chosen = next_configs(SPEC, plan, done=[], pending=[], seeded=frozenset({"p1"}), n=1)
    assert chosen == [(Config("sklearn.knn", {"n_neighbors": 9}), "p2")]
    rest = next_configs(SPEC, plan, done=[], pending=[], seeded=frozenset({"p1", "p2"}), n=2)
    assert [source for _, source in rest] == [None, None]
