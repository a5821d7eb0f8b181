"""Settings of the drift service."""

from typing import ClassVar

from pydantic import Field

from driftloop_runtime import ServiceSettings


class Settings(ServiceSettings):
    """Service-wide alert hooks are read by ``driftloop_alerts.hooks_from_env``
    (``DRIFTLOOP_ALERT_WEBHOOKS``, ``DRIFTLOOP_ALERT_SECRET``, ``DRIFTLOOP_ALERT_EVENTS``)."""

    service: ClassVar[str] = "drift"
    default_port: ClassVar[int] = 8102

    # Rows on each side of an evidently report: enough for stable tests, few enough
    # that a report takes seconds.
    report_rows: int = Field(default=5000, ge=10)
    # Seconds after an alarm before its report is built: the report's CPU would otherwise
    # compete with the loop's answer to the alarm (snapshot, trials, gate, swap) on a small
    # machine, and a person reading it loses nothing by the wait.
    report_delay_seconds: float = Field(default=15.0, ge=0)
    # Predictions or labels waiting for their other half, per stream, at most.
    join_capacity: int = Field(default=100_000, ge=1)
