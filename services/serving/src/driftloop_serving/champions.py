"""Which loaded model serves each stream, and the rule for replacing it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from driftloop_learn import Model


@dataclass(frozen=True)
class Appointment:
    """A model appointed to serve a stream, as a promotion or the store says: not loaded yet."""

    stream: str
    model_id: str
    version: int
    artifact_sha256: str
    since: datetime
    serving_id: int


@dataclass
class OnlineState:
    """How much an online champion has learned in serving, and how much of it is unsaved."""

    learned: int = 0
    unsaved: int = 0
    saved_at: float = 0.0


@dataclass(frozen=True)
class Champion(Appointment):
    """An appointment with its model loaded; ``online`` is set when it learns from feedback."""

    model: Model = field(compare=False, repr=False, kw_only=True)
    online: OnlineState | None = field(default=None, compare=False, kw_only=True)

    @classmethod
    def of(cls, appointment: Appointment, model: Model, online: OnlineState | None) -> Champion:
        return cls(
            appointment.stream,
            appointment.model_id,
            appointment.version,
            appointment.artifact_sha256,
            appointment.since,
            appointment.serving_id,
            model=model,
            online=online,
        )


class Champions:
    """The serving model per stream; a swap is one dict assignment, atomic for readers: a
    request that took the old champion finishes with it."""

    def __init__(self) -> None:
        self._by_stream: dict[str, Champion] = {}

    def get(self, stream: str) -> Champion | None:
        return self._by_stream.get(stream)

    def all(self) -> list[Champion]:
        return sorted(self._by_stream.values(), key=lambda c: c.stream)

    def supersedes(self, candidate: Appointment) -> bool:
        """Whether ``candidate`` was appointed later than the current champion.

        Promotions are replayed at start and can arrive after the store was read; the later
        appointment (larger serving-history id) wins. Versions cannot decide, since a rollback
        appoints an older one, and clocks cannot, since hosts disagree.
        """
        current = self._by_stream.get(candidate.stream)
        return current is None or current.serving_id < candidate.serving_id

    def offer(self, candidate: Champion) -> bool:
        """Take ``candidate`` unless the current one was appointed later."""
        if not self.supersedes(candidate):
            return False
        self._by_stream[candidate.stream] = candidate
        return True
