"""Experiments and their trials: from trigger to the best candidate."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field

from ._base import Event
from .records import StreamName


class Trigger(StrEnum):
    DRIFT = "drift"
    SCHEDULE = "schedule"
    MANUAL = "manual"


class ControlAction(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"


class ExperimentStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"


Params = dict[str, Any]
Metrics = dict[str, float]


class ExperimentRequested(Event):
    """A person or a schedule asks for an experiment (drift asks through DriftDetected)."""

    topic: ClassVar[str] = "driftloop.experiment.requested"

    stream: StreamName
    trigger: Trigger
    requested_by: str = Field(description="User name, or 'schedule'.")
    reason: str = ""
    spec: str | None = Field(default=None, description="Spec text overriding the stream's.")


class ExperimentControlRequested(Event):
    """A person asks to pause, resume or stop an experiment."""

    topic: ClassVar[str] = "driftloop.experiment.control"

    stream: StreamName
    experiment_id: str
    action: ControlAction
    requested_by: str
    reason: str = ""


class ExperimentStarted(Event):
    """An experiment has its snapshot and budget and asks for its first trials."""

    topic: ClassVar[str] = "driftloop.experiment.started"

    stream: StreamName
    experiment_id: str
    trigger: Trigger
    snapshot_hash: str
    budget_trials: int = Field(ge=1)
    budget_seconds: float = Field(gt=0)
    seeded_from: tuple[str, ...] = Field(default=(), description="Prior experiment ids.")


class TrialRequested(Event):
    """Ask: one configuration to train. Consumed by one group, so replicas share trials."""

    topic: ClassVar[str] = "driftloop.trial.requested"

    stream: StreamName
    experiment_id: str
    trial_id: str
    snapshot_hash: str
    family: str
    params: Params
    seed: int
    attempt: int = Field(default=1, ge=1)
    timeout_seconds: float = Field(gt=0)


class TrialCompleted(Event):
    """Tell: the trial's metrics and its content-addressed artifact."""

    topic: ClassVar[str] = "driftloop.trial.completed"

    stream: StreamName
    experiment_id: str
    trial_id: str
    metrics: Metrics
    artifact_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    duration_seconds: float = Field(ge=0)
    worker: str
    attempt: int = Field(default=1, ge=1)


class TrialFailed(Event):
    """A trial raised, or ran out of time twice; the reason says which."""

    topic: ClassVar[str] = "driftloop.trial.failed"

    stream: StreamName
    experiment_id: str
    trial_id: str
    reason: str
    attempt: int = Field(ge=1)
    worker: str | None = None


class ExperimentCompleted(Event):
    """The search ended: within budget, stopped by a person, or failed."""

    topic: ClassVar[str] = "driftloop.experiment.completed"

    stream: StreamName
    experiment_id: str
    status: ExperimentStatus
    best_trial_id: str | None = None
    best_metrics: Metrics = Field(default_factory=dict)
    candidate_model_id: str | None = Field(
        default=None,
        description="An archived model that answered a recurring concept without training.",
    )
    snapshot_hash: str | None = None
    trials_run: int = Field(ge=0)
    reason: str = ""
