"""What happens after a search: the promotion gate, seeding from the past, and alerts."""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import Field, HttpUrl, field_validator

from ._base import SpecModel

AlertEvent = Literal["drift", "promotion", "approval_needed", "rollback", "failure"]
ALERT_EVENTS: tuple[AlertEvent, ...] = (
    "drift",
    "promotion",
    "approval_needed",
    "rollback",
    "failure",
)
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


class Promotion(SpecModel):
    """The gate a candidate passes to replace the champion.

    It must beat the champion by at least ``min_gain`` (in the metric's units) and the
    paired ``test`` must reject "no better" at level ``alpha``. With no champion yet, a
    first model must reach ``first_model_threshold`` if one is set. ``approval`` waits
    for a person after the gate passes.
    """

    mode: Literal["auto", "approval"] = "auto"
    alpha: float = Field(default=0.05, gt=0, lt=1)
    min_gain: float = Field(default=0.0, ge=0)
    first_model_threshold: float | None = None
    test: Literal["auto", "mcnemar", "paired_bootstrap"] = "auto"


class Seeding(SpecModel):
    """Knowledge reuse: first trials from the ``k`` nearest prior experiments (0 starts
    cold) whose windows lie within ``max_distance`` of the new one by meta-features
    (None: however far), and archived models re-scored on the new window, since concepts
    recur."""

    k: int = Field(default=3, ge=0)
    # A new concept's nearest priors are other concepts, and their configs cost trials.
    # bench/knowledge.py measures windows of 2000 rows: one concept's lie within 0.24 of
    # each other, another Agrawal or Hyperplane concept's 0.42 and further.
    max_distance: float | None = Field(default=0.3, ge=0)
    rescore_archived: bool = True

    @field_validator("max_distance")
    @classmethod
    def _infinite_is_no_limit(cls, gate: float | None) -> float | None:
        # TOML has no null, so its inf says "however far"; JSON would store inf as null.
        return None if gate == math.inf else gate


class Webhook(SpecModel):
    """A URL told about ``events``, signed with HMAC when ``secret_env`` names the
    environment variable that holds the secret; the spec never holds a secret."""

    url: HttpUrl
    events: tuple[AlertEvent, ...] = Field(default=ALERT_EVENTS, min_length=1)
    secret_env: str | None = None

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, url: HttpUrl) -> HttpUrl:
        # A spec is stored and shown; a password in it would leak.
        if url.username or url.password:
            raise ValueError("credentials in the URL would be stored with the spec; use secret_env")
        return url

    @field_validator("secret_env")
    @classmethod
    def _names_a_variable(cls, name: str | None) -> str | None:
        # Upper snake case is how variables are named, and few secrets look like that.
        if name is not None and not _ENV_NAME.fullmatch(name):
            raise ValueError(
                "must be the name of an environment variable (like WEBHOOK_SECRET), "
                "never the secret itself"
            )
        return name

    @field_validator("events")
    @classmethod
    def _once_each(cls, events: tuple[AlertEvent, ...]) -> tuple[AlertEvent, ...]:
        return tuple(dict.fromkeys(events))
