"""Settings of the scheduler service."""

from typing import ClassVar

from pydantic import Field

from driftloop_runtime import ServiceSettings


class Settings(ServiceSettings):
    service: ClassVar[str] = "scheduler"
    default_port: ClassVar[int] = 8103

    # How often the background loop looks for timed-out trials, spent wall time, idle
    # experiments and schedule ticks: a trial's timeout is honoured within this much, and an
    # experiment waiting for labels since its change begins within this much after they are.
    loop_seconds: float = Field(default=0.5, gt=0)
    # Below this many labelled records a window says too little to search on.
    min_snapshot_rows: int = Field(default=50, ge=10)
    # A drift experiment learns from the records since the change, and waits for this many
    # of them to be labelled (fewer make a model, and a gate's verdict, little better than
    # a guess), but no longer than change_wait_seconds.
    change_rows: int = Field(default=100, ge=10)
    change_wait_seconds: float = Field(default=30.0, ge=0)
    # Whether an experiment whose window was short (a drift's first labels, a first model)
    # is run again once its window is full.
    refit: bool = True
    # A time window over a busy stream is capped to its newest records.
    max_snapshot_rows: int = Field(default=200_000, ge=10)
    # Archived models re-scored on a new window, newest first: each is unpickled and run.
    rescore_limit: int = Field(default=20, ge=0)
    # Events a crash left in the outbox are re-sent this often.
    outbox_sweep_seconds: float = Field(default=15.0, gt=0)
