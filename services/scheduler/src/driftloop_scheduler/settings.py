"""Settings of the scheduler service."""

from typing import ClassVar

from driftloop_runtime import ServiceSettings


class Settings(ServiceSettings):
    service: ClassVar[str] = "scheduler"
    default_port: ClassVar[int] = 8103
