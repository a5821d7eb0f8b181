"""Settings of the evaluation service."""

from typing import ClassVar

from driftloop_runtime import ServiceSettings


class Settings(ServiceSettings):
    service: ClassVar[str] = "evaluation"
    default_port: ClassVar[int] = 8105
