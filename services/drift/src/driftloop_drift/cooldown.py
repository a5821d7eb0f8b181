"""The cooldown: after an alarm a stream stays quiet for a while, so one change is one alarm.

A change seldom trips one detector once: a second feature follows, or the same
detector fires again while the new regime settles. The spec's ``cooldown`` is how
long a stream's alarms stay folded into the first: a number of records, or a span of
event time (a duration).

>>> from datetime import UTC, datetime, timedelta
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> cooldown = Cooldown(1000)
>>> cooldown.quiet(5000, t0)
False
>>> cooldown.start(5000, t0)
>>> cooldown.quiet(5999, t0), cooldown.quiet(6000, t0)
(True, False)
>>> by_time = Cooldown(timedelta(minutes=10))
>>> by_time.start(0, t0)
>>> by_time.quiet(10**6, t0 + timedelta(minutes=9)), by_time.quiet(0, t0 + timedelta(minutes=10))
(True, False)
"""

from __future__ import annotations

from datetime import datetime, timedelta


class Cooldown:
    """Quiet for ``length`` records, or for a ``timedelta`` of event time, after ``start``."""

    def __init__(self, length: int | timedelta) -> None:
        self.length = length
        self._since: tuple[int, datetime] | None = None

    def start(self, records: int, at: datetime) -> None:
        self._since = (records, at)

    def quiet(self, records: int, at: datetime) -> bool:
        """Whether an alarm at the ``records``-th record, at event time ``at``, is folded in."""
        if self._since is None:
            return False
        since_records, since_at = self._since
        if isinstance(self.length, timedelta):
            return at - since_at < self.length
        return records - since_records < self.length
