"""Settings of the ingestion service."""

from typing import ClassVar

from driftloop_runtime import ServiceSettings


class Settings(ServiceSettings):
    service: ClassVar[str] = "ingestion"
    default_port: ClassVar[int] = 8101
