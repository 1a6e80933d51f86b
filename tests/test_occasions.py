"""The sync occasions and their scheduler, on a fake clock (no threads, no sleeping)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outlook_sync.errors import ConfigurationError
from outlook_sync.occasions import Occasion, Schedule, SyncOccasions

MS = dt.timedelta(milliseconds=1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def schedule(**options: object) -> tuple[Schedule, FakeClock]:
    clock = FakeClock()
    return Schedule(SyncOccasions(**options), clock=clock), clock  # type: ignore[arg-type]


def test_start_up_syncs_at_once_and_arms_the_periodic_sync() -> None:
    plan, clock = schedule()
    plan.start()
    assert plan.due() is Occasion.STARTUP
    assert plan.begin() == {Occasion.STARTUP}
    plan.finished(ok=True)
    assert plan.due() is None
    assert plan.wait_time() == pytest.approx(15 * 60)
    clock.advance(15 * 60)
    assert plan.due() is Occasion.INTERVAL


def test_a_host_can_turn_occasions_off() -> None:
    plan, clock = schedule(
        on_startup=False,
        interval=None,
        on_demand=False,
        on_settings_saved=False,
        on_notifications=False,
    )
    plan.start()
    assert not plan.note(Occasion.DEMAND)
    assert not plan.note(Occasion.SETTINGS_SAVED)
    assert not plan.note(Occasion.NOTIFICATION)
    clock.advance(10**6)
    assert plan.due() is None
    assert plan.wait_time() is None  # nothing planned: the runner may sleep until woken


def test_settings_saved_and_demand_are_due_at_once_most_urgent_first() -> None:
    plan, _ = schedule()
    plan.note(Occasion.NOTIFICATION)
    plan.note(Occasion.DEMAND)
    assert plan.due() is Occasion.DEMAND
    plan.note(Occasion.SETTINGS_SAVED)
    assert plan.due() is Occasion.SETTINGS_SAVED
    assert plan.begin() == {Occasion.NOTIFICATION, Occasion.DEMAND, Occasion.SETTINGS_SAVED}


def test_a_burst_of_notifications_becomes_one_sync_after_the_quiet_time() -> None:
    plan, clock = schedule(debounce=200 * MS)
    for _ in range(5):  # a user dragging an appointment
        plan.note(Occasion.NOTIFICATION)
        clock.advance(0.05)
    assert plan.due() is None
    wait = plan.wait_time()
    assert wait == pytest.approx(0.15)
    clock.advance(wait or 0)
    assert plan.due() is Occasion.NOTIFICATION
    assert plan.begin() == {Occasion.NOTIFICATION}
    assert plan.due() is None


def test_a_steady_stream_of_notifications_still_syncs_within_max_delay() -> None:
    plan, clock = schedule(debounce=200 * MS, max_delay=dt.timedelta(seconds=1))
    waited = 0.0
    while plan.due() is None:
        plan.note(Occasion.NOTIFICATION)
        clock.advance(0.1)
        waited += 0.1
    assert waited == pytest.approx(1.0)


def test_a_note_during_a_sync_causes_exactly_one_more_pass() -> None:
    plan, _ = schedule(debounce=0 * MS)
    plan.note(Occasion.NOTIFICATION)
    assert plan.begin() == {Occasion.NOTIFICATION}
    plan.note(Occasion.NOTIFICATION)  # arrives while the sync runs
    plan.note(Occasion.NOTIFICATION)
    plan.finished(ok=True)
    assert plan.due() is Occasion.NOTIFICATION
    assert plan.begin() == {Occasion.NOTIFICATION}
    plan.finished(ok=True)
    assert plan.due() is None
    assert plan.pending() == frozenset()


def test_any_successful_sync_postpones_the_periodic_one() -> None:
    plan, clock = schedule()
    plan.start()
    plan.begin()
    plan.finished(ok=True)
    clock.advance(10 * 60)
    plan.note(Occasion.DEMAND)
    plan.begin()
    plan.finished(ok=True)
    clock.advance(10 * 60)
    assert plan.due() is None  # 20 minutes since start, but 10 since the last sync
    clock.advance(5 * 60)
    assert plan.due() is Occasion.INTERVAL


def test_an_interval_not_yet_due_survives_a_notification_pass() -> None:
    plan, clock = schedule(debounce=0 * MS)
    plan.start()
    plan.begin()
    plan.finished(ok=True)
    plan.note(Occasion.NOTIFICATION)
    assert plan.begin() == {Occasion.NOTIFICATION}  # the pass found only echoes: no finished()
    clock.advance(15 * 60)
    assert plan.due() is Occasion.INTERVAL


def test_failures_retry_with_a_doubling_back_off_capped_at_the_interval() -> None:
    plan, clock = schedule(retry_after=dt.timedelta(seconds=30), interval=dt.timedelta(minutes=3))
    delays = []
    for _ in range(5):
        plan.note(Occasion.DEMAND)
        plan.begin()
        plan.finished(ok=False)
        delays.append(plan.wait_time())
    assert delays == [30, 60, 120, 180, 180]
    clock.advance(180)
    assert plan.due() is Occasion.RETRY
    plan.begin()
    plan.finished(ok=True)
    plan.note(Occasion.DEMAND)
    plan.begin()
    plan.finished(ok=False)
    assert plan.wait_time() == 30  # a success resets the back-off


def test_a_busy_lock_retries_soon_without_growing_the_back_off() -> None:
    plan, clock = schedule()
    plan.note(Occasion.NOTIFICATION)
    plan.begin()
    plan.finished(ok=False, busy=True)
    assert Occasion.RETRY in plan.pending()
    clock.advance(1.0)
    assert plan.due() is Occasion.RETRY


def test_polling_backs_off_while_idle_and_speeds_up_on_a_change() -> None:
    plan, clock = schedule(poll_min=dt.timedelta(seconds=2), poll_max=dt.timedelta(seconds=30))
    plan.poll_sides(True)
    periods = []
    for _ in range(6):
        periods.append(plan.wait_time())
        clock.advance(plan.wait_time() or 0)
        assert plan.poll_due()
        plan.polled(changed=False)
    assert periods == [2, 4, 8, 16, 30, 30]
    plan.polled(changed=True)
    assert plan.due() is Occasion.POLL
    assert plan.wait_time() == 0
    plan.begin()
    assert plan.wait_time() == 2
    plan.poll_sides(False)
    assert plan.wait_time() is None


def test_a_notification_makes_polling_eager_again() -> None:
    plan, clock = schedule(poll_min=dt.timedelta(seconds=1), poll_max=dt.timedelta(seconds=60))
    plan.poll_sides(True)
    for _ in range(5):
        clock.advance(plan.wait_time() or 0)
        plan.polled(changed=False)
    plan.note(Occasion.NOTIFICATION)
    plan.begin()
    clock.advance(60)
    plan.polled(changed=False)
    assert plan.wait_time() == 2


def test_clear_forgets_noted_occasions_but_keeps_the_periodic_sync() -> None:
    plan, clock = schedule()
    plan.start()
    plan.note(Occasion.DEMAND)
    plan.clear()
    assert plan.due() is None
    clock.advance(15 * 60)
    assert plan.due() is Occasion.INTERVAL


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("interval", dt.timedelta(0)),
        ("debounce", dt.timedelta(seconds=-1)),
        ("debounce", 0.2),
        ("on_startup", "yes"),
        ("poll_max", dt.timedelta(milliseconds=1)),
    ],
)
def test_bad_configuration_is_refused_naming_the_option(option: str, value: object) -> None:
    with pytest.raises(ConfigurationError) as error:
        SyncOccasions(**{option: value})  # type: ignore[arg-type]
    assert error.value.key == option


steps = st.lists(
    st.tuples(
        st.sampled_from(["note", "pass_ok", "pass_fail", "pass_busy", "wait"]),
        st.floats(min_value=0, max_value=5),
    ),
    max_size=40,
)


@given(steps)
def test_a_noted_change_is_never_lost(script: list[tuple[str, float]]) -> None:
    """Whatever happens, a notification noted after the last pass began stays due.

    And it becomes due within ``max_delay``: the runner, waiting ``wait_time()``,
    cannot sleep past it.
    """
    plan, clock = schedule(debounce=200 * MS, max_delay=dt.timedelta(seconds=2))
    plan.start()
    unseen = False
    for step, seconds in script:
        if step == "note":
            plan.note(Occasion.NOTIFICATION)
            unseen = True
        elif step.startswith("pass"):
            plan.begin()
            unseen = False
            plan.finished(ok=step == "pass_ok", busy=step == "pass_busy")
        else:
            clock.advance(seconds)
    if unseen:
        assert Occasion.NOTIFICATION in plan.pending()
        wait = plan.wait_time()
        assert wait is not None
        assert wait <= 2.0
        clock.advance(wait)
        assert plan.due() is not None
