"""The champion slot: the later appointment wins, whatever the version or the clocks say."""

from datetime import UTC, datetime, timedelta

from driftloop_learn import get_family
from driftloop_serving.champions import Appointment, Champion, Champions

T0 = datetime(2026, 11, 23, tzinfo=UTC)
MODEL = get_family("river.naive_bayes").build({}, 0, "classification")


def champion(version: int, serving_id: int, stream: str = "s", at: datetime = T0) -> Champion:
    appointment = Appointment(stream, f"m{version}", version, "0" * 64, at, serving_id)
    return Champion.of(appointment, MODEL, None)


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


def test_an_appointment_is_judged_before_its_model_is_loaded() -> None:
    slot = Champions()
    slot.offer(champion(2, serving_id=2))
    assert not slot.supersedes(Appointment("s", "m1", 1, "0" * 64, T0, 1))
    assert slot.supersedes(Appointment("s", "m1", 1, "0" * 64, T0, 3))
    assert slot.supersedes(Appointment("other", "m1", 1, "0" * 64, T0, 1))
