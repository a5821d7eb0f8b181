"""Loading an appointed model from the store: its bytes checked against the recorded hash,
then unpickled in a thread, so the event loop keeps answering meanwhile.

An online champion resumes from its checkpoint when there is one for (stream, model): the
state it had learned in serving before a restart or a rollback away from it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from psycopg import AsyncConnection

from driftloop_learn import ArtifactMismatch, Model, load
from driftloop_store import get_artifact

from .champions import Appointment, Champion, OnlineState
from .store import read_checkpoint

logger = logging.getLogger("driftloop.serving.loader")


class LoadFailed(Exception):
    """The model could not be loaded; ``reason`` is a short label for the metrics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


async def load_artifact(conn: AsyncConnection[Any], sha256: str) -> Model:
    data = await get_artifact(conn, sha256)
    if data is None:
        raise LoadFailed("missing", f"artifact {sha256[:12]} is not in the store")
    try:
        return await asyncio.to_thread(load, data, sha256)
    except ArtifactMismatch as exc:
        raise LoadFailed("hash_mismatch", str(exc)) from None
    except Exception as exc:
        raise LoadFailed("unloadable", f"artifact {sha256[:12]} cannot be loaded: {exc}") from None


async def load_champion(
    conn: AsyncConnection[Any],
    appointment: Appointment,
    online: bool,
    refused: Callable[[LoadFailed], None] = lambda exc: None,
) -> Champion:
    """The appointed model, loaded; with ``online`` (the stream's spec asks for progressive
    learning) an online model learns in serving, resuming from its checkpoint. A refused
    checkpoint is reported to ``refused`` and the promoted artifact loaded instead."""
    if online:
        resumed = await _resume(conn, appointment, refused)
        if resumed is not None:
            return resumed
    model = await load_artifact(conn, appointment.artifact_sha256)
    state = OnlineState(saved_at=time.monotonic()) if online and model.online else None
    return Champion.of(appointment, model, state)


async def _resume(
    conn: AsyncConnection[Any], appointment: Appointment, refused: Callable[[LoadFailed], None]
) -> Champion | None:
    checkpoint = await read_checkpoint(conn, appointment.stream, appointment.model_id)
    if checkpoint is None:
        return None
    try:
        model = await load_artifact(conn, checkpoint.artifact_sha256)
    except LoadFailed as exc:
        refused(exc)
        logger.error(
            "checkpoint of model %s on %s refused (%s); starting from the promoted artifact",
            appointment.model_id,
            appointment.stream,
            exc,
        )
        return None
    if not model.online:
        return None
    state = OnlineState(learned=checkpoint.learned, saved_at=time.monotonic())
    return Champion.of(appointment, model, state)
