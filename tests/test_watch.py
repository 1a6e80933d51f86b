"""Direct sync: the watcher syncs on changes, suppresses echoes, and never loses a change.

The watcher runs a real background thread against two in-memory calendars (which call
their subscribers synchronously on every write, the sync's own writes included). Tests
wait for conditions (``wait_idle``, ``until``) with generous timeouts; none asserts how
long anything took.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

from outlook_sync import (
    BackendUnavailableError,
    ConfigurationError,
    Event,
    InMemoryCalendar,
    MemoryStateStore,
    Synchronizer,
    SyncReport,
)
from outlook_sync.adapters.graph import DeltaPoller, GraphCalendar, GraphClient, StaticToken
from outlook_sync.errors import BusyError
from outlook_sync.model import BrokenItem, Cursor, Item, Listing
from outlook_sync.occasions import Occasion, SyncOccasions
from outlook_sync.protocols import Subscription
from outlook_sync.status import StatusBoard
from outlook_sync.testing.graph import run_emulator
from outlook_sync.watch import Watcher, WatcherStats

WAIT = 20.0
START = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
QUICK = SyncOccasions(debounce=dt.timedelta(milliseconds=10))


def meeting(subject: str, hour: int = 9) -> Event:
    start = START.replace(hour=hour)
    return Event(subject=subject, start=start, end=start + dt.timedelta(hours=1))


def subjects(calendar: InMemoryCalendar) -> list[str]:
    return sorted(event.subject for event in calendar.items().values())


def until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait for ``condition`` (checked every 10 ms); fail after ``timeout``."""
    pause = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        pause.wait(0.01)
    raise AssertionError("the condition did not come true")


def without_wakeups(stats: WatcherStats) -> WatcherStats:
    return attrs.evolve(stats, wakeups=0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@attrs.define
class World:
    saljstod: InMemoryCalendar
    outlook: Any
    state: MemoryStateStore
    sync: Synchronizer
    reports: list[SyncReport] = attrs.Factory(list)
    watchers: list[Watcher] = attrs.Factory(list)

    def watcher(self, occasions: SyncOccasions = QUICK, **options: Any) -> Watcher:
        watcher = Watcher(self.sync, occasions=occasions, on_report=self.reports.append, **options)
        self.watchers.append(watcher)
        return watcher

    def start(self, occasions: SyncOccasions = QUICK, **options: Any) -> Watcher:
        watcher = self.watcher(occasions, **options).start()
        assert watcher.wait_idle(WAIT)
        return watcher


def make_world(outlook: Any = None) -> World:
    saljstod = InMemoryCalendar(name="saljstod", id_prefix="S")
    outlook = outlook if outlook is not None else InMemoryCalendar(name="outlook", id_prefix="O")
    state = MemoryStateStore()
    sync = Synchronizer(saljstod=saljstod, outlook=outlook, state=state, user="anna")
    return World(saljstod=saljstod, outlook=outlook, state=state, sync=sync)


@pytest.fixture
def world() -> Iterator[World]:
    made = make_world()
    yield made
    for watcher in made.watchers:
        watcher.stop()


# -- direct sync --------------------------------------------------------------------------


def test_a_change_on_either_side_shows_on_the_other(world: World) -> None:
    watcher = world.start()
    s_id = world.saljstod.add(meeting("Kundmöte ACME"))
    assert watcher.wait_idle(WAIT)
    assert subjects(world.outlook) == ["Kundmöte ACME"]
    [o_id] = world.outlook.items()
    moved = attrs.evolve(meeting("Kundmöte ACME", hour=13), location="Rum 4")
    world.outlook.update(o_id, moved)
    assert watcher.wait_idle(WAIT)
    assert world.saljstod.items()[s_id] == moved
    world.outlook.delete(o_id)
    assert watcher.wait_idle(WAIT)
    assert world.saljstod.items() == {}


def test_the_first_run_is_a_full_sync_at_start_up(world: World) -> None:
    world.saljstod.add(meeting("Före start"))
    world.start()
    assert world.reports[0].full == {"saljstod": True, "outlook": True}
    assert subjects(world.outlook) == ["Före start"]


def test_without_the_start_up_occasion_nothing_runs_until_a_change(world: World) -> None:
    world.saljstod.add(meeting("Före start"))
    watcher = world.start(attrs.evolve(QUICK, on_startup=False))
    assert world.reports == []
    assert world.outlook.items() == {}
    world.saljstod.add(meeting("Efter start", hour=11))
    assert watcher.wait_idle(WAIT)
    assert subjects(world.outlook) == ["Efter start", "Före start"]


# -- echo suppression ---------------------------------------------------------------------


def test_own_writes_come_back_as_echoes_and_cause_no_sync_and_no_write(world: World) -> None:
    watcher = world.start()
    before = without_wakeups(watcher.stats)
    world.saljstod.add(meeting("Kundmöte"))
    assert watcher.wait_idle(WAIT)
    after = without_wakeups(watcher.stats)
    # one sync copied the item and stamped its partner key; both writes notified the
    # watcher, whose follow-up pass recognised them and ran no sync
    assert world.outlook.write_log == [("create", "O1")]
    assert world.saljstod.write_log == [("update", "S1")]
    assert after.syncs - before.syncs == 1
    assert after.echoes - before.echoes == 1
    assert after.notifications - before.notifications == 3  # the user's add, two echoes
    assert watcher.wait_idle(WAIT)
    assert without_wakeups(watcher.stats) == after


def test_even_a_sync_run_for_the_echoes_plans_nothing_and_writes_nothing(world: World) -> None:
    # echo_check_limit=-1 turns the echo check off: every notification syncs
    watcher = world.start(echo_check_limit=-1)
    world.reports.clear()
    world.saljstod.add(meeting("Kundmöte"))
    assert watcher.wait_idle(WAIT)
    first, follow_up = world.reports  # no third sync: the follow-up wrote nothing
    assert first.total_writes == 2  # the create and the partner-key stamp
    assert follow_up.ok
    assert follow_up.total_writes == 0
    assert world.sync.plan().actions == ()
    assert len(world.outlook.write_log) + len(world.saljstod.write_log) == 2


def test_an_edit_travels_once_with_no_ping_pong(world: World) -> None:
    s_id = world.saljstod.add(meeting("Möte"))
    watcher = world.start()
    [o_id] = world.outlook.items()
    writes = len(world.outlook.write_log) + len(world.saljstod.write_log)
    world.outlook.update(o_id, meeting("Möte (ändrat)"))
    assert watcher.wait_idle(WAIT)
    assert world.saljstod.items()[s_id].subject == "Möte (ändrat)"
    assert len(world.outlook.write_log) + len(world.saljstod.write_log) == writes + 1


# -- single flight, nothing lost ------------------------------------------------------------


class HookedCalendar(InMemoryCalendar):
    """Runs ``hook`` once, in the middle of the next change listing."""

    hook: Callable[[], None] | None = None

    def list_changes(self, cursor: Cursor) -> Listing:
        hook, self.hook = self.hook, None
        if hook is not None:
            hook()
        return super().list_changes(cursor)


def test_a_change_during_a_sync_causes_exactly_one_more_pass() -> None:
    world = make_world(HookedCalendar(name="outlook", id_prefix="O"))
    world.saljstod.add(meeting("Möte"))
    watcher = world.start()
    try:
        [o_id] = world.outlook.items()
        before = without_wakeups(watcher.stats)
        # Säljstöd is listed before Outlook: this activity is added after Säljstöd's
        # listing, while the sync runs, so that sync cannot see it.
        world.outlook.hook = lambda: world.saljstod.add(meeting("Under synken", hour=15))
        world.outlook.update(o_id, meeting("Möte (ändrat)"))
        assert watcher.wait_idle(WAIT)
        after = without_wakeups(watcher.stats)
        assert subjects(world.saljstod) == ["Möte (ändrat)", "Under synken"]
        assert subjects(world.outlook) == ["Möte (ändrat)", "Under synken"]
        assert after.syncs - before.syncs == 2
        assert after.echoes - before.echoes == 1  # the second sync's own writes
    finally:
        watcher.stop()


def test_a_burst_of_edits_becomes_one_sync() -> None:
    world = make_world()
    clock = FakeClock()
    world.saljstod.add(meeting("Möte"))
    occasions = SyncOccasions(interval=None, debounce=dt.timedelta(milliseconds=200))
    watcher = world.watcher(occasions, clock=clock).start()

    def settle() -> None:
        for _ in range(50):
            clock.advance(1.0)
            if watcher.wait_idle(0.3):
                return
        raise AssertionError("the watcher did not settle")

    try:
        settle()
        [o_id] = world.outlook.items()
        before = watcher.stats.syncs
        for minute in range(10):  # dragging the appointment across the day
            start = START + dt.timedelta(minutes=minute)
            world.outlook.update(
                o_id, Event(subject="Möte", start=start, end=start + dt.timedelta(hours=1))
            )
        settle()
        assert watcher.stats.syncs - before == 1
        [event] = world.saljstod.items().values()
        assert event.start == START + dt.timedelta(minutes=9)
    finally:
        watcher.stop()


def test_a_sync_running_elsewhere_makes_the_watcher_retry_and_nothing_is_lost(
    world: World,
) -> None:
    watcher = world.start()
    with world.state.lock("anna", ttl=dt.timedelta(minutes=1)):
        world.saljstod.add(meeting("Medan låset hölls"))
        until(lambda: watcher.stats.busy >= 1)
    assert watcher.wait_idle(WAIT)
    assert subjects(world.outlook) == ["Medan låset hölls"]


# -- sides without push, lost notifications, dead subscriptions -----------------------------


@attrs.define
class NoPush:
    """A calendar without change notifications (like a SQL database)."""

    inner: InMemoryCalendar

    def list_all(self) -> Listing:
        return self.inner.list_all()

    def list_changes(self, cursor: Cursor) -> Listing:
        return self.inner.list_changes(cursor)

    def get(self, item_id: str) -> Item | BrokenItem | None:
        return self.inner.get(item_id)

    def find_by_partner_key(self, partner_key: str) -> Sequence[Item]:
        return self.inner.find_by_partner_key(partner_key)

    def create(self, event: Event, *, partner_key: str) -> Item:
        return self.inner.create(event, partner_key=partner_key)

    def update(
        self, item_id: str, event: Event, *, expected_version: str, partner_key: str | None = None
    ) -> Item:
        return self.inner.update(
            item_id, event, expected_version=expected_version, partner_key=partner_key
        )

    def delete(self, item_id: str, *, expected_version: str) -> None:
        self.inner.delete(item_id, expected_version=expected_version)


def test_a_side_without_notifications_is_polled_and_its_echoes_ignored() -> None:
    outlook = InMemoryCalendar(name="outlook", id_prefix="O")
    world = make_world(NoPush(outlook))
    occasions = attrs.evolve(
        QUICK, poll_min=dt.timedelta(milliseconds=20), poll_max=dt.timedelta(milliseconds=40)
    )
    watcher = world.start(occasions)
    try:
        outlook.add(meeting("Tandläkare"))  # nobody is told
        until(lambda: subjects(world.saljstod) == ["Tandläkare"])
        world.saljstod.add(meeting("Kundmöte", hour=13))  # pushed: synced at once
        assert watcher.wait_idle(WAIT)
        assert subjects(outlook) == ["Kundmöte", "Tandläkare"]
        syncs, polls = watcher.stats.syncs, watcher.stats.polls
        until(lambda: watcher.stats.polls >= polls + 5)
        assert watcher.stats.syncs == syncs  # polls see the sync's own writes: no news
    finally:
        watcher.stop()


class GatedSubscription:
    def __init__(self) -> None:
        self.alive = True
        self.inner: Subscription | None = None

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()


class FlakyCalendar(InMemoryCalendar):
    """Subscriptions that can die silently, fail to open, or never deliver."""

    def __init__(self, *, fail_subscribe: int = 0, deaf: bool = False, **kw: Any) -> None:
        super().__init__(**kw)
        self.fail_subscribe = fail_subscribe
        self.deaf = deaf
        self.subscriptions: list[GatedSubscription] = []

    def subscribe(self, callback: Callable[[Sequence[str]], None]) -> Any:
        if self.fail_subscribe:
            self.fail_subscribe -= 1
            raise BackendUnavailableError("Outlook is not running", side="outlook")
        gate = GatedSubscription()

        def forward(ids: Sequence[str]) -> None:
            if gate.alive and not self.deaf:
                callback(ids)

        gate.inner = super().subscribe(forward)
        self.subscriptions.append(gate)
        return gate


def test_a_dead_subscription_is_replaced_and_the_gap_caught_up() -> None:
    outlook = FlakyCalendar(name="outlook", id_prefix="O")
    world = make_world(outlook)
    watcher = world.start(check_every=0.05)
    try:
        outlook.subscriptions[0].alive = False  # Outlook restarted: events stop
        outlook.add(meeting("Under avbrottet"))
        until(lambda: subjects(world.saljstod) == ["Under avbrottet"])
        assert len(outlook.subscriptions) == 2
        outlook.add(meeting("Efter avbrottet", hour=14))  # the new subscription delivers
        assert watcher.wait_idle(WAIT)
        assert subjects(world.saljstod) == ["Efter avbrottet", "Under avbrottet"]
    finally:
        watcher.stop()


def test_a_side_that_cannot_subscribe_is_polled_until_it_can() -> None:
    outlook = FlakyCalendar(name="outlook", id_prefix="O", fail_subscribe=1)
    world = make_world(outlook)
    occasions = attrs.evolve(QUICK, poll_min=dt.timedelta(milliseconds=20))
    watcher = world.start(occasions, check_every=0.2)
    try:
        outlook.add(meeting("Utan prenumeration"))
        until(lambda: subjects(world.saljstod) == ["Utan prenumeration"])
        until(lambda: len(outlook.subscriptions) == 1)
    finally:
        watcher.stop()


def test_lost_notifications_are_caught_up_by_the_periodic_sync() -> None:
    outlook = FlakyCalendar(name="outlook", id_prefix="O", deaf=True)
    world = make_world(outlook)
    occasions = attrs.evolve(QUICK, interval=dt.timedelta(milliseconds=100))
    watcher = world.start(occasions)
    try:
        outlook.add(meeting("Aldrig aviserad"))
        until(lambda: subjects(world.saljstod) == ["Aldrig aviserad"])
    finally:
        watcher.stop()


def test_the_watcher_follows_a_switched_calendar(world: World) -> None:
    watcher = world.start()
    old = world.outlook
    new = InMemoryCalendar(name="other", id_prefix="B")
    watcher.pause()
    world.sync.outlook = new  # what OutlookConnection does, after forgetting the links
    watcher.resume()
    watcher.sync_now()
    notified = watcher.stats.notifications
    old.add(meeting("I gamla kalendern"))
    assert watcher.stats.notifications == notified  # unsubscribed from the old one
    new.add(meeting("I nya kalendern"))
    assert watcher.wait_idle(WAIT)
    assert subjects(world.saljstod) == ["I nya kalendern"]


# -- life cycle ------------------------------------------------------------------------------


def test_an_idle_watcher_does_not_spin(world: World) -> None:
    watcher = world.start()
    woken = watcher.stats.wakeups
    threading.Event().wait(0.5)
    assert watcher.stats.wakeups - woken <= 2


def test_stop_ends_the_thread_and_the_subscriptions(world: World) -> None:
    watcher = world.start()
    watcher.stop()
    assert not watcher.running
    notified = watcher.stats.notifications
    world.saljstod.add(meeting("Efter stopp"))
    assert watcher.stats.notifications == notified
    assert world.outlook.items() == {}
    watcher.stop()  # idempotent
    with pytest.raises(RuntimeError):
        watcher.start()


class SlowCalendar(InMemoryCalendar):
    """Blocks inside the first create until released."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.entered = threading.Event()
        self.release = threading.Event()

    def create(self, event: Event, *, partner_key: str) -> Item:
        if not self.entered.is_set():
            self.entered.set()
            self.release.wait(WAIT)
        return super().create(event, partner_key=partner_key)


def test_stop_cancels_a_long_sync_between_items_and_the_rest_runs_next_time() -> None:
    outlook = SlowCalendar(name="outlook", id_prefix="O")
    world = make_world(outlook)
    for hour in range(8, 13):
        world.saljstod.add(meeting(f"Möte {hour}", hour=hour))
    watcher = world.watcher().start()
    assert outlook.entered.wait(WAIT)
    watcher.stop(timeout=0)  # asks; the sync is inside a write
    outlook.release.set()
    watcher.stop()
    assert not watcher.running
    [report] = world.reports
    assert report.cancelled
    assert len(outlook.items()) == 1
    again = world.start()
    again.stop()
    assert subjects(outlook) == subjects(world.saljstod)
    assert len(outlook.items()) == 5


def test_a_paused_watcher_ignores_changes_until_resumed(world: World) -> None:
    watcher = world.start()
    watcher.pause()
    assert watcher.paused
    world.saljstod.add(meeting("Medan anslutningen var av"))
    assert watcher.wait_idle(WAIT)
    assert world.outlook.items() == {}
    assert watcher.sync_now() is None
    watcher.resume()
    report = watcher.sync_now(timeout=WAIT)
    assert report is not None
    assert report.ok
    assert subjects(world.outlook) == ["Medan anslutningen var av"]


def test_sync_now_returns_the_report_of_a_sync_that_started_after_the_request(
    world: World,
) -> None:
    watcher = world.start()
    world.saljstod.add(meeting("Kundmöte"))
    report = watcher.sync_now(Occasion.DEMAND, timeout=WAIT)
    assert report is not None
    assert report.ok
    assert subjects(world.outlook) == ["Kundmöte"]
    assert Watcher(world.sync).sync_now() is None  # not started
    off = world.start(attrs.evolve(QUICK, on_demand=False))
    assert off.sync_now() is None


def test_syncs_are_recorded_on_the_status_board(world: World) -> None:
    board = StatusBoard(world.sync)
    watcher = world.start(status=board)
    world.saljstod.add(meeting("Kundmöte"))
    assert watcher.wait_idle(WAIT)
    status = board.status()
    assert status.last_report is world.reports[-1]
    assert status.healthy
    assert not status.running


# -- asyncio -------------------------------------------------------------------------------


def test_async_with_runs_and_stops_the_watcher(world: World) -> None:
    async def main() -> Watcher:
        async with world.watcher() as watcher:
            world.saljstod.add(meeting("Asynkront"))
            assert await asyncio.to_thread(watcher.wait_idle, WAIT)
        return watcher

    watcher = asyncio.run(main())
    assert not watcher.running
    assert subjects(world.outlook) == ["Asynkront"]


def test_run_is_awaited_until_the_task_is_cancelled(world: World) -> None:
    watcher = world.watcher()

    async def main() -> None:
        task = asyncio.create_task(watcher.run())
        await asyncio.to_thread(until, lambda: watcher.running)
        world.saljstod.add(meeting("Asynkront"))
        assert await asyncio.to_thread(watcher.wait_idle, WAIT)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert not watcher.running
    assert subjects(world.outlook) == ["Asynkront"]


def test_the_example_in_the_docs_runs() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "direct-sync.md").read_text("utf-8")
    namespace = {"__name__": "docs"}
    for block in re.findall(r"```python\n(.*?)```", page, re.S)[:1]:  # the watcher example
        exec(compile(block, "direct-sync.md", "exec"), namespace)


@pytest.mark.parametrize(
    "options", [{"check_every": 0}, {"check_every": "30"}, {"echo_check_limit": 1.5}]
)
def test_settings_that_would_spin_or_make_no_sense_are_refused(
    world: World, options: dict[str, Any]
) -> None:
    with pytest.raises(ConfigurationError):
        Watcher(world.sync, **options)


# -- over the Graph emulator ------------------------------------------------------------------


class FastPollingGraph(GraphCalendar):
    """Delta polling every 50 ms (the adapter's default is 30 s)."""

    def subscribe(self, callback: Callable[[Sequence[str]], None]) -> Subscription:
        return DeltaPoller(self, callback, interval=0.05).start()


def test_direct_sync_over_graph_has_no_ping_pong() -> None:
    with run_emulator() as graph:
        client = GraphClient(graph.base_url, StaticToken("t"), mailbox="watch", timeout=5.0)
        world = make_world(FastPollingGraph(client))
        watcher = world.start()
        try:
            world.saljstod.add(meeting("Från Säljstöd"))
            until(lambda: [e.data["subject"] for e in graph.events()] == ["Från Säljstöd"])
            event_id = graph.events()[0].immutable_id
            graph.user_edit(event_id, subject="Ändrad i Outlook")
            until(lambda: subjects(world.saljstod) == ["Ändrad i Outlook"])
            # the delta poller reports the sync's own writes; they must stay echoes
            until(lambda: watcher.stats.echoes >= 2)
            writes = (
                graph.request_count(method="PATCH") + graph.request_count(method="POST"),
                len(world.saljstod.write_log),
            )
            syncs = watcher.stats.syncs
            polls = graph.request_count(path_contains="delta")
            until(lambda: graph.request_count(path_contains="delta") >= polls + 10)
            assert watcher.wait_idle(WAIT)
            assert watcher.stats.syncs == syncs
            assert (
                graph.request_count(method="PATCH") + graph.request_count(method="POST"),
                len(world.saljstod.write_log),
            ) == writes
        finally:
            watcher.stop()
            client.close()
        assert graph.sent_mail == []


class BusyCalendar(InMemoryCalendar):
    """A Säljstöd database a host transaction holds for the next ``busy`` listings."""

    busy = 0

    def list_changes(self, cursor: Any) -> Any:
        if self.busy:
            self.busy -= 1
            raise BusyError("the Säljstöd database is locked by another transaction",
                            retry_after=0.2)
        return super().list_changes(cursor)


def test_a_busy_database_is_retried_soon_as_busy_not_as_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    saljstod = BusyCalendar(name="saljstod", id_prefix="S")
    outlook = InMemoryCalendar(name="outlook", id_prefix="O")
    state = MemoryStateStore()
    world = World(saljstod=saljstod, outlook=outlook, state=state,
                  sync=Synchronizer(saljstod=saljstod, outlook=outlook, state=state,
                                    user="anna"))
    # a failure would back off for a minute: only a busy retry brings the change in time
    occasions = attrs.evolve(QUICK, retry_after=dt.timedelta(minutes=1))
    watcher = world.start(occasions)
    try:
        saljstod.busy = 2
        saljstod.add(meeting("Bokad medan värden skrev"))
        until(lambda: subjects(world.outlook) == ["Bokad medan värden skrev"])
        assert watcher.stats.busy >= 2
        assert "Traceback" not in caplog.text  # busy is news, not an error
    finally:
        watcher.stop()
