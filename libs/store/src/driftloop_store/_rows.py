"""Rows as read from the knowledge base: frozen pydantic models filled by ``class_row``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

JsonObject = dict[str, Any]


class Row(BaseModel):
    model_config = ConfigDict(frozen=True)


class StreamRow(Row):
    # ``schema`` would shadow a BaseModel attribute, so the field carries the column as alias.
    model_config = ConfigDict(
        frozen=True, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    name: str
    schema_: dict[str, str] = Field(alias="schema", description="Feature name -> type.")
    target: str
    created_at: datetime
    spec: JsonObject | None = Field(default=None, description="The validated experiment spec.")


class ModelRow(Row):
    id: str
    stream: str
    version: int
    trial_id: str | None
    artifact_sha256: str
    family: str
    params: JsonObject
    metrics: JsonObject
    created_at: datetime


class ServingRow(Row):
    """One stretch of time during which ``model_id`` served ``stream``; open while serving."""

    id: int
    stream: str
    model_id: str
    started_at: datetime
    ended_at: datetime | None
    reason: str
    actor: str


class HumanActionRow(Row):
    id: int
    actor: str
    action: str
    target_kind: str
    target_id: str
    reason: str
    payload: JsonObject
    at: datetime


class OutboxRow(Row):
    """An event waiting in the outbox: ``payload`` is the event as JSON, for ``topic``."""

    id: int
    topic: str
    key: bytes | None
    payload: JsonObject
    created_at: datetime
