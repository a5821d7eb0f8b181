"""Settings of the serving service."""

from typing import ClassVar

from driftloop_runtime import ServiceSettings


class Settings(ServiceSettings):
    service: ClassVar[str] = "serving"
    default_port: ClassVar[int] = 8000
