"""Settings every service shares, read once from the environment; defaults run with none set."""

from __future__ import annotations

import os
import socket
from typing import ClassVar, TypeVar

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _instance() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class ServiceSettings(BaseSettings):
    """Base of each service's ``Settings``; a subclass sets ``service`` and ``default_port``.

    The connection variables keep their conventional names (``KAFKA_BOOTSTRAP_SERVERS``,
    ``DATABASE_URL``, ``HOST``, ``PORT``); everything else is ``DRIFTLOOP_*``.
    """

    model_config = SettingsConfigDict(env_prefix="DRIFTLOOP_", extra="ignore", frozen=True)

    service: ClassVar[str]
    default_port: ClassVar[int]

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices(
            "KAFKA_BOOTSTRAP_SERVERS", "DRIFTLOOP_KAFKA_BOOTSTRAP_SERVERS"
        ),
    )
    # A URL may hold a password: SecretStr keeps it out of reprs and logs.
    database_url: SecretStr = Field(
        default=SecretStr("postgresql://postgres@127.0.0.1:5432/driftloop"),
        validation_alias=AliasChoices("DATABASE_URL", "DRIFTLOOP_DATABASE_URL"),
    )
    host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("HOST", "DRIFTLOOP_HOST"))
    port: int = Field(default=0, validation_alias=AliasChoices("PORT", "DRIFTLOOP_PORT"))
    log_level: str = "INFO"
    instance: str = Field(default_factory=_instance)
    db_pool_size: int = Field(default=4, ge=1)
    # How long a starting service waits for an unreachable database before it gives up.
    db_wait_seconds: float = Field(default=300.0, ge=0)

    @property
    def http_port(self) -> int:
        return self.port or self.default_port

    # A consumer group of its own (DRIFTLOOP_CONSUMER_GROUP), e.g. for a blue/green pair
    # of deployments or an isolated test; by default every replica of a service shares one.
    consumer_group: str | None = None

    @property
    def group_id(self) -> str:
        """One consumer group per service, so its replicas share the partitions."""
        return self.consumer_group or f"driftloop-{self.service}"


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
