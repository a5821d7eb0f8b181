"""Settings of the evaluation service."""

from typing import ClassVar

from pydantic import Field

from driftloop_runtime import ServiceSettings


class Settings(ServiceSettings):
    """Service-wide alert hooks are read by ``driftloop_alerts.hooks_from_env``
    (``DRIFTLOOP_ALERT_WEBHOOKS``, ``DRIFTLOOP_ALERT_SECRET``, ``DRIFTLOOP_ALERT_EVENTS``)."""

    service: ClassVar[str] = "evaluation"
    default_port: ClassVar[int] = 8105

    # How often events a crash left in the outbox are looked for and sent.
    outbox_sweep_seconds: float = Field(default=15.0, gt=0)
