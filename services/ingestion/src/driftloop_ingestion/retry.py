"""How long to pause before trying again: doubling from ``first``, capped at ``most``."""

from __future__ import annotations


class Backoff:
    """``failed()`` returns the next pause and doubles it; ``succeeded()`` starts over.

    >>> backoff = Backoff(first=0.1, most=0.3)
    >>> [backoff.failed() for _ in range(4)]
    [0.1, 0.2, 0.3, 0.3]
    """

    def __init__(self, first: float = 0.1, most: float = 5.0) -> None:
        self._first, self._most, self._next = first, most, first

    def failed(self) -> float:
        delay, self._next = self._next, min(self._next * 2, self._most)
        return delay

    def succeeded(self) -> None:
        self._next = self._first
