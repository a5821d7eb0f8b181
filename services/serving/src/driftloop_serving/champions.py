"""Which model serves each stream, and the rule for replacing it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Champion:
    stream: str
    model_id: str
    version: int
    artifact_sha256: str
    since: datetime
    serving_id: int


class Champions:
    """The serving model per stream; a swap is one dict assignment, atomic for readers."""

    def __init__(self) -> None:
        self._by_stream: dict[str, Champion] = {}

    def get(self, stream: str) -> Champion | None:
        return self._by_stream.get(stream)

    def all(self) -> list[Champion]:
        return sorted(self._by_stream.values(), key=lambda c: c.stream)

    def offer(self, candidate: Champion) -> bool:
        """Take ``candidate`` unless the current one was appointed later.

        Promotions are replayed at start and can arrive after the store was read; the later
        appointment (larger serving-history id) wins. Versions cannot decide, since a rollback
        appoints an older one, and clocks cannot, since hosts disagree.
        """
        current = self._by_stream.get(candidate.stream)
        if current is not None and current.serving_id >= candidate.serving_id:
            return False
        self._by_stream[candidate.stream] = candidate
        return True
