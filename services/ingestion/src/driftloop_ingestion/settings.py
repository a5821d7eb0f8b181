"""Settings of the ingestion service; every one has a default that runs with none set."""

from typing import ClassVar

from pydantic import Field

from driftloop_runtime import ServiceSettings


class Settings(ServiceSettings):
    service: ClassVar[str] = "ingestion"
    default_port: ClassVar[int] = 8101

    # DRIFTLOOP_MAX_RECORD_BYTES: a larger message is dead-lettered unread.
    max_record_bytes: int = Field(default=64 * 1024, ge=256)
    # DRIFTLOOP_BATCH_MAX_RECORDS / DRIFTLOOP_BATCH_TIMEOUT_MS: one store transaction and one
    # offset commit per batch, so bigger batches mean fewer round trips per record.
    batch_max_records: int = Field(default=5000, ge=1)
    batch_timeout_ms: int = Field(default=200, ge=1)
    # DRIFTLOOP_SCHEMA_TTL_SECONDS: how long a stream's schema is trusted before it is
    # re-read; an unknown stream name re-reads at once, whatever the age.
    schema_ttl_seconds: float = Field(default=5.0, ge=0)
    # DRIFTLOOP_RETRY_BACKOFF_MAX_SECONDS: the longest pause before a failed batch is retried.
    retry_backoff_max_seconds: float = Field(default=5.0, gt=0)
