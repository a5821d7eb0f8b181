"""Settings of the drift service."""

from typing import ClassVar

from driftloop_runtime import ServiceSettings


class Settings(ServiceSettings):
    service: ClassVar[str] = "drift"
    default_port: ClassVar[int] = 8102
