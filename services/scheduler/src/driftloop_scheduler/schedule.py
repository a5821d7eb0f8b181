"""When a stream's schedule fires: ``every`` a duration or a five-field ``cron`` (UTC), pure.

The scheduler keeps no timer: each pass it asks for the latest tick at or before now
that is newer than the stream's last experiment (its start, or its end when it has
ended). A tick that falls while an experiment runs is thereby covered by it, a restart
does not fire a tick twice, and a service down for a day fires once, not once per tick.

>>> latest_tick(Schedule(cron="0 */6 * * *"), anchor=at("2026-01-01T00:00"),
...             after=at("2026-01-01T00:00"), now=at("2026-01-02T13:07"))
datetime.datetime(2026, 1, 2, 12, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from driftloop_spec import Schedule, check_cron

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# (lowest, highest, names) per field: minute, hour, day of month, month, day of week
_FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    (0, 7, {name: i for i, name in enumerate(_DAYS)}),
)
# How far back a cron is searched: a valid expression may never fire ("0 0 30 2 *").
_HORIZON = timedelta(days=366 * 5)


def at(text: str) -> datetime:
    """A UTC time from ISO text without a zone (for examples and tests)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 is Sunday
    # Cron's rule: when both day fields are restricted, a day matching either fires.
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, expression: str) -> Cron:
        fields = check_cron(expression).lower().split()
        minutes, hours, days, months, weekdays = (
            frozenset(_field(text, *spec)) for text, spec in zip(fields, _FIELDS, strict=True)
        )
        return cls(
            minutes,
            hours,
            days,
            months,
            frozenset(day % 7 for day in weekdays),
            any_day=fields[2].startswith("*"),
            any_weekday=fields[4].startswith("*"),
        )

    def fires_on(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_date, by_weekday = day.day in self.days, day.isoweekday() % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return by_date and by_weekday
        return by_date or by_weekday

    def latest(self, now: datetime, after: datetime) -> datetime | None:
        """The latest fire time in ``(after, now]``."""
        now = now.astimezone(UTC)
        floor = max(after.astimezone(UTC), now - _HORIZON)
        day = now.date()
        while day >= floor.date():
            if self.fires_on(day):
                for hour in sorted(self.hours, reverse=True):
                    for minute in sorted(self.minutes, reverse=True):
                        tick = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                        if tick <= now:
                            return tick if tick > floor else None
            day -= timedelta(days=1)
        return None


def _field(text: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    found: set[int] = set()
    for item in text.split(","):
        span, _, step = item.partition("/")
        if span == "*":
            first, last = low, high
        else:
            first_text, _, last_text = span.partition("-")
            first = _value(first_text, names)
            # "5/15" runs from 5 to the top, as in Vixie cron
            last = _value(last_text, names) if last_text else (high if step else first)
        found.update(range(first, last + 1, int(step or 1)))
    return found


def _value(text: str, names: dict[str, int]) -> int:
    return names[text] if text in names else int(text)


def latest_tick(
    schedule: Schedule, *, anchor: datetime, after: datetime, now: datetime
) -> datetime | None:
    """The latest tick in ``(after, now]``; ``every`` counts from ``anchor`` (the stream's
    registration), so its first tick is one period after it."""
    if schedule.every is not None:
        periods = (now - anchor) // schedule.every
        tick = anchor + periods * schedule.every
        return tick if periods >= 1 and tick > after else None
    assert schedule.cron is not None, "a schedule has every or cron"
    return Cron.parse(schedule.cron).latest(now, after)
