"""Schedule ticks, pure: cron and ``every``, the latest tick not yet covered."""

from __future__ import annotations

import doctest
from datetime import timedelta

import pytest

from driftloop_scheduler import schedule
from driftloop_scheduler.schedule import Cron, at, latest_tick
from driftloop_spec import Schedule

EPOCH = at("2026-01-01T00:00")


def cron(expression: str, now: str, after: str = "2025-01-01T00:00") -> str | None:
    tick = latest_tick(Schedule(cron=expression), anchor=EPOCH, after=at(after), now=at(now))
    return None if tick is None else tick.isoformat(timespec="minutes")[:16]


def test_the_module_examples_run() -> None:
    assert doctest.testmod(schedule).failed == 0


@pytest.mark.parametrize(
    ("expression", "now", "tick"),
    [
        ("*/30 * * * *", "2026-03-04T10:44", "2026-03-04T10:30"),
        ("*/30 * * * *", "2026-03-04T10:30", "2026-03-04T10:30"),
        ("0 */6 * * *", "2026-03-04T05:59", "2026-03-04T00:00"),
        ("15 9-17 * * mon-fri", "2026-03-07T12:00", "2026-03-06T17:15"),  # a Saturday
        ("0 0 1 * *", "2026-03-04T10:00", "2026-03-01T00:00"),
        ("0 12 * jan,jun *", "2026-03-04T10:00", "2026-01-31T12:00"),
        ("0 0 * * 0", "2026-03-04T10:00", "2026-03-01T00:00"),  # Sunday as 0
        ("0 0 * * 7", "2026-03-04T10:00", "2026-03-01T00:00"),  # and as 7
        ("0 0 * * sun", "2026-03-04T10:00", "2026-03-01T00:00"),
        ("5/20 * * * *", "2026-03-04T10:44", "2026-03-04T10:25"),
        # Both day fields restricted: a day matching either fires (cron's rule).
        ("0 0 10 * fri", "2026-03-09T10:00", "2026-03-06T00:00"),  # a Friday
        ("0 0 10 * fri", "2026-03-11T10:00", "2026-03-10T00:00"),  # a Tuesday, the 10th
    ],
)
def test_cron_gives_the_latest_fire_time_at_or_before_now(
    expression: str, now: str, tick: str
) -> None:
    assert cron(expression, now) == tick


def test_a_tick_already_covered_by_an_experiment_is_not_due() -> None:
    # The last experiment started after the 06:00 tick: nothing is due until 12:00.
    assert cron("0 */6 * * *", "2026-03-04T11:59", after="2026-03-04T06:01") is None
    assert cron("0 */6 * * *", "2026-03-04T12:00", after="2026-03-04T06:01") == "2026-03-04T12:00"


def test_a_cron_that_never_fires_gives_no_tick() -> None:
    assert cron("0 0 30 2 *", "2026-03-04T10:00") is None


def test_every_counts_periods_from_the_anchor() -> None:
    every = Schedule(every=timedelta(hours=6))
    now = EPOCH + timedelta(hours=13)
    assert latest_tick(every, anchor=EPOCH, after=EPOCH, now=now) == EPOCH + timedelta(hours=12)
    # The first tick is one period after the stream was registered.
    early = EPOCH + timedelta(hours=5)
    assert latest_tick(every, anchor=EPOCH, after=EPOCH, now=early) is None
    after = EPOCH + timedelta(hours=12, minutes=1)
    assert latest_tick(every, anchor=EPOCH, after=after, now=now) is None


def test_cron_fields_parse_to_sets() -> None:
    parsed = Cron.parse("0,30 9-11 */10 * mon-wed")
    assert parsed.minutes == {0, 30} and parsed.hours == {9, 10, 11}
    assert parsed.days == {1, 11, 21, 31} and parsed.weekdays == {1, 2, 3}
    assert parsed.any_day and not parsed.any_weekday
