"""Settings of the training service; every one has a default that runs with none set.

One replica runs one trial at a time: trials are CPU-bound, so the way to run more at
once is more replicas (up to the 6 partitions of ``driftloop.trial.requested``).
"""

from typing import ClassVar

from pydantic import Field

from driftloop_runtime import ServiceSettings


class Settings(ServiceSettings):
    service: ClassVar[str] = "training"
    default_port: ClassVar[int] = 8104

    # DRIFTLOOP_KAFKA_SESSION_TIMEOUT_MS / DRIFTLOOP_KAFKA_HEARTBEAT_INTERVAL_MS: how long
    # the broker waits for a silent replica (one killed mid-trial) before its partitions,
    # and the trials it had not finished, go to the others. Heartbeats run on the event
    # loop while the trial runs in a thread, so a busy replica is never taken for dead.
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1_000)
    kafka_heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    # DRIFTLOOP_MAX_TRIAL_SECONDS: a trial running longer is taken as hung; the replica
    # leaves the group so the trials queued behind it move to other replicas. It must
    # exceed any spec's budget.trial_timeout, since trials are never cut short.
    max_trial_seconds: float = Field(default=3600.0, gt=0)
    # DRIFTLOOP_RETRY_PAUSE_SECONDS: the pause before a trial whose store work failed
    # (the database is down) is read again, so an outage does not spin the consumer.
    retry_pause_seconds: float = Field(default=2.0, ge=0)
    # DRIFTLOOP_OUTBOX_SWEEP_SECONDS: how often events left unsent by a crash are re-sent.
    outbox_sweep_seconds: float = Field(default=15.0, gt=0)
