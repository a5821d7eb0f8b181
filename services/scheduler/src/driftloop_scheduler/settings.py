"""Settings of the scheduler service."""

from typing import ClassVar

from pydantic import Field

from driftloop_runtime import ServiceSettings


class Settings(ServiceSettings):
    service: ClassVar[str] = "scheduler"
    default_port: ClassVar[int] = 8103

    # How often the background loop looks for timed-out trials, spent wall time, idle
    # experiments and schedule ticks: a trial's timeout is honoured within this much.
    loop_seconds: float = Field(default=1.0, gt=0)
    # Below this many labelled records a window says too little to search on.
    min_snapshot_rows: int = Field(default=50, ge=10)
    # A time window over a busy stream is capped to its newest records.
    max_snapshot_rows: int = Field(default=200_000, ge=10)
    # Archived models re-scored on a new window, newest first: each is unpickled and run.
    rescore_limit: int = Field(default=20, ge=0)
    # Events a crash left in the outbox are re-sent this often.
    outbox_sweep_seconds: float = Field(default=15.0, gt=0)
