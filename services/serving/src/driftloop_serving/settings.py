"""Settings of the serving service: limits of the HTTP API, the admin token, online learning."""

from typing import ClassVar

from pydantic import Field, SecretStr

from driftloop_runtime import ServiceSettings


class Settings(ServiceSettings):
    service: ClassVar[str] = "serving"
    default_port: ClassVar[int] = 8000

    # DRIFTLOOP_ADMIN_TOKEN: the bearer token of /admin; unset, the admin API answers 503.
    admin_token: SecretStr | None = None
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_batch: int = Field(default=1000, ge=1)
    # How often stream schemas are re-read; an unknown stream is looked up at once.
    schema_ttl_seconds: float = Field(default=5.0, gt=0)
    # Prediction logs waiting for Kafka; beyond this they are counted as dropped.
    log_queue_size: int = Field(default=100_000, ge=1)
    log_batch_size: int = Field(default=500, ge=1)
    # How long a batch of prediction logs waits to fill (unless log_batch_size are waiting).
    log_linger_seconds: float = Field(default=0.02, ge=0)
    # Online learning: features of this many recent predictions are kept for their labels.
    recent_predictions: int = Field(default=100_000, ge=1)
    checkpoint_every_labels: int = Field(default=1000, ge=1)
    checkpoint_every_seconds: float = Field(default=60.0, gt=0)
