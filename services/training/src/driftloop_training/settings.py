"""Settings of the training service."""

from typing import ClassVar

from driftloop_runtime import ServiceSettings


class Settings(ServiceSettings):
    service: ClassVar[str] = "training"
    default_port: ClassVar[int] = 8104
