"""The champion slot: the later appointment wins, whatever the version or the clocks say."""

from datetime import UTC, datetime, timedelta

from driftloop_serving.champions import Champion, Champions

T0 = datetime(2026, 11, 23, tzinfo=UTC)


def champion(version: int, serving_id: int, stream: str = "s", at: datetime = T0) -> Champion:
    return Champion(stream, f"m{version}", version, "0" * 64, at, serving_id)


def test_a_later_appointment_replaces_the_champion() -> None:
    slot = Champions()
    assert slot.offer(champion(1, serving_id=1))
    assert slot.offer(champion(2, serving_id=2))
    assert slot.get("s") == champion(2, serving_id=2)


def test_an_earlier_appointment_replayed_late_is_ignored() -> None:
    slot = Champions()
    slot.offer(champion(2, serving_id=5))
    assert not slot.offer(champion(3, serving_id=4))
    assert not slot.offer(champion(2, serving_id=5))
    current = slot.get("s")
    assert current is not None
    assert current.version == 2


def test_a_rollback_to_an_older_version_is_taken_because_it_was_appointed_later() -> None:
    slot = Champions()
    slot.offer(champion(3, serving_id=3))
    assert slot.offer(champion(1, serving_id=4))
    current = slot.get("s")
    assert current is not None
    assert current.version == 1


def test_a_skewed_clock_does_not_decide() -> None:
    slot = Champions()
    slot.offer(champion(2, serving_id=2, at=T0 + timedelta(hours=1)))
    assert slot.offer(champion(3, serving_id=3, at=T0))


def test_streams_are_independent() -> None:
    slot = Champions()
    slot.offer(champion(1, 1, "a"))
    slot.offer(champion(5, 2, "b"))
    assert [c.stream for c in slot.all()] == ["a", "b"]
    assert slot.get("c") is None
