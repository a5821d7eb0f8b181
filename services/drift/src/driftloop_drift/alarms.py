"""What an alarm says to the rest of the loop: the event, its evidence and the alert.

Pure translations; the handlers do the I/O. ``statistic`` is the change in the watched
series' mean (an error-rate jump for a classifier's errors, a shift in the feature's
units for a feature) and the severity follows its standardised size.
"""

from __future__ import annotations

import math
from typing import Any

from driftloop_alerts import Alert
from driftloop_contracts import DriftDetected, DriftSource, Event

from .monitor import SENTINEL, Alarm


def drift_event(
    cause: Event, stream: str, alarm: Alarm, *, champion: str | None, report_uri: str | None
) -> DriftDetected:
    found = alarm.detection
    return cause.then(
        DriftDetected,
        stream=stream,
        source=found.source,
        detector=found.kind,
        features=(found.series,) if found.source == DriftSource.FEATURES else (),
        statistic=found.shift.after - found.shift.before,
        threshold=found.threshold,
        window_start=found.change.at,
        window_end=found.alarm.at,
        records_seen=found.seen,
        severity=alarm.severity,
        report_uri=report_uri,
        model_id=champion,
    )


def evidence(alarm: Alarm, report: dict[str, Any]) -> dict[str, Any]:
    """Everything needed to judge the alarm later, stored with it in ``drift_events``."""
    found, shift = alarm.detection, alarm.detection.shift
    watched = {"feature": found.series}
    if found.source == DriftSource.ERRORS:
        watched = {"errors_of": "sentinel" if found.series == SENTINEL else found.series}
    return {
        **watched,
        "detector": {"kind": found.kind, "params": found.params, "threshold": found.threshold},
        "before": shift.before,
        "after": shift.after,
        # Two constant sides make an infinite effect, which JSON cannot hold.
        "effect_size": shift.effect if math.isfinite(shift.effect) else None,
        "values_before": shift.index,
        "values_after": shift.since_change,
        "change_record_id": found.change.record_id,
        "alarm_record_id": found.alarm.record_id,
        "stream_records_seen": alarm.records,
        "report": report,
    }


def drift_alert(event: DriftDetected) -> Alert:
    what = ", ".join(event.features) if event.features else "the model's errors"
    return Alert(
        kind="drift",
        stream=event.stream,
        summary=(
            f"{event.stream}: {event.detector} saw {what} change by {event.statistic:+.4g}"
            f" ({event.severity.value})"
        ),
        details=event.model_dump(mode="json"),
        causation_id=event.event_id,
    )
