"""What evaluation tells people: the alerts for promotions, approvals, rollbacks, failures.

Pure translations from the events and decisions to ``driftloop_alerts.Alert``; the
service hands them to its notifier after the transaction that made them has committed.
"""

from __future__ import annotations

from typing import Any

from driftloop_alerts import Alert
from driftloop_contracts import Event, ModelPromoted, PromotionDecided, PromotionReason


def promoted(event: ModelPromoted) -> Alert:
    kind = "rollback" if event.reason == PromotionReason.ROLLBACK else "promotion"
    summary = (
        f"{event.stream}: model v{event.version} ({event.model_id}) now serves"
        f" ({event.reason.value}), replacing {event.previous_model_id or 'no model'}"
    )
    return Alert(
        kind=kind,
        stream=event.stream,
        summary=summary,
        details=event.model_dump(mode="json", exclude={"event_id", "occurred_at"}),
        causation_id=event.event_id,
    )


def approval_needed(decided: PromotionDecided, decision_id: str) -> Alert:
    summary = (
        f"{decided.stream}: candidate {decided.model_id} passed the gate and waits for"
        f" approval: {decided.reason}"
    )
    return Alert(
        kind="approval_needed",
        stream=decided.stream,
        summary=summary,
        details={"decision_id": decision_id, **_decision(decided)},
        causation_id=decided.event_id,
    )


def failure(cause: Event, stream: str, what: str, **details: Any) -> Alert:
    return Alert(
        kind="failure",
        stream=stream,
        summary=f"{stream}: {what}",
        details={"event": type(cause).__name__, **details},
        causation_id=cause.event_id,
    )


def _decision(decided: PromotionDecided) -> dict[str, Any]:
    return decided.model_dump(mode="json", exclude={"event_id", "occurred_at", "causation_id"})
