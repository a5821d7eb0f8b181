"""Promotion: the gate's decision, people's approvals and rollbacks, the new champion."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from ._base import Event
from .records import StreamName


class Verdict(StrEnum):
    PROMOTE = "promote"
    AWAIT_APPROVAL = "await_approval"
    REJECT = "reject"


class PromotionReason(StrEnum):
    GATE = "gate"
    APPROVAL = "approval"
    FIRST_MODEL = "first_model"
    ROLLBACK = "rollback"
    RECURRING = "recurring"


class PromotionDecided(Event):
    """The statistical gate's verdict on a candidate against the champion."""

    topic: ClassVar[str] = "driftloop.promotion.decided"

    stream: StreamName
    experiment_id: str | None = None
    model_id: str = Field(description="The candidate.")
    champion_id: str | None = None
    verdict: Verdict
    metric: str
    candidate_score: float
    champion_score: float | None = None
    test: str = Field(description="e.g. 'mcnemar', 'paired_bootstrap'.")
    statistic: float | None = None
    p_value: float | None = None
    alpha: float
    min_gain: float
    holdout_hash: str
    reason: str = ""


class ApprovalRequested(Event):
    """The gate passed a candidate, and the spec wants a person to approve it."""

    topic: ClassVar[str] = "driftloop.approval.requested"

    stream: StreamName
    model_id: str
    decision_id: str
    experiment_id: str | None = None


class ApprovalGiven(Event):
    """A person approved or rejected a pending promotion."""

    topic: ClassVar[str] = "driftloop.approval.given"

    stream: StreamName
    model_id: str
    decision_id: str
    approved: bool
    actor: str
    reason: str = ""


class RollbackRequested(Event):
    """A person asks to serve an earlier model: the previous one unless a version is given."""

    topic: ClassVar[str] = "driftloop.rollback.requested"

    stream: StreamName
    to_version: int | None = None
    actor: str
    reason: str = ""


class ModelPromoted(Event):
    """A new champion: every serving replica swaps to it."""

    topic: ClassVar[str] = "driftloop.model.promoted"

    stream: StreamName
    model_id: str
    version: int = Field(ge=1)
    artifact_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    serving_id: int = Field(
        ge=1,
        description="The serving-history row that appointed it: a later appointment has a"
        " larger id, so replicas order promotions without comparing clocks.",
    )
    previous_model_id: str | None = None
    reason: PromotionReason
    experiment_id: str | None = None
