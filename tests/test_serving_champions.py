"""The champion slot: the later appointment wins, whatever the version says."""

from datetime import UTC, datetime, timedelta

from driftloop_serving.champions import Champion, Champions

T0 = datetime(2026, 11, 23, tzinfo=UTC)


def champion(version: int, at: datetime, stream: str = "s") -> Champion:
    return Champion(stream, f"m{version}", version, "0" * 64, at)


def test_a_later_promotion_replaces_the_champion() -> None:
    slot = Champions()
    assert slot.offer(champion(1, T0))
    assert slot.offer(champion(2, T0 + timedelta(seconds=1)))
    assert slot.get("s") == champion(2, T0 + timedelta(seconds=1))


def test_a_stale_promotion_arriving_late_is_ignored() -> None:
    slot = Champions()
    slot.offer(champion(2, T0 + timedelta(seconds=5)))
    assert not slot.offer(champion(3, T0))
    current = slot.get("s")
    assert current is not None and current.version == 2


def test_a_rollback_to_an_older_version_is_taken_when_it_is_newer_in_time() -> None:
    slot = Champions()
    slot.offer(champion(3, T0))
    assert slot.offer(champion(1, T0 + timedelta(minutes=1)))
    current = slot.get("s")
    assert current is not None and current.version == 1


def test_streams_are_independent() -> None:
    slot = Champions()
    slot.offer(champion(1, T0, "a"))
    slot.offer(champion(5, T0, "b"))
    assert [c.stream for c in slot.all()] == ["a", "b"]
    assert slot.get("c") is None
