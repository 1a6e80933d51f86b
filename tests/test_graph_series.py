"""Recurring series through GraphCalendar(series=True) and the Graph emulator.

Adapter level: a weekly series written through the adapter reads back as written; an
exception and a cancellation made "by the user" in Outlook come back in the Recurrence;
what Graph cannot do is refused before anything is written. Engine level: a weekly series
in Outlook appears in Säljstöd (no series) as single activities; editing one becomes an
exception in Outlook, deleting one cancels it, and no invitation is ever sent.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from outlook_sync import (
    Event,
    InMemoryCalendar,
    Item,
    ItemRejectedError,
    MemoryStateStore,
    Side,
    Synchronizer,
)
from outlook_sync.adapters.graph import GraphCalendar, GraphClient, StaticToken
from outlook_sync.recurrence import Recurrence
from outlook_sync.series_view import SeriesSupport
from outlook_sync.testing.graph import GraphEmulator, StoredEvent, run_emulator
from tests.world import ManualClock

UTC = dt.UTC
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")
NOW = dt.datetime(2026, 3, 10, 8, tzinfo=UTC)
HOUR = dt.timedelta(hours=1)
WEEKLY_MONDAY = {
    "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
    "range": {
        "type": "noEnd",
        "startDate": "2026-01-05",
        "recurrenceTimeZone": "W. Europe Standard Time",
    },
}


def _at(y: int, m: int, d: int, hh: int = 9, tz: zoneinfo.ZoneInfo = BERLIN) -> dt.datetime:
    return dt.datetime(y, m, d, hh, tzinfo=tz)


@pytest.fixture
def graph() -> Iterator[GraphEmulator]:
    with run_emulator() as emulator:
        yield emulator


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=NOW)


@pytest.fixture
def cal(graph: GraphEmulator, clock: ManualClock) -> Iterator[GraphCalendar]:
    client = GraphClient(
        graph.base_url,
        StaticToken("token-1"),
        mailbox=f"series-{id(graph)}",
        sleep=lambda _s: None,
        random=lambda: 0.5,
        timeout=5.0,
    )
    calendar = GraphCalendar(client, series=True, clock=clock)
    yield calendar
    calendar.close()


def weekly_series(start: dt.datetime, zone: str = "Europe/Berlin", **fields: Any) -> Event:
    recurrence = Recurrence(rule="FREQ=WEEKLY;BYDAY=MO", start=start, time_zone=zone)
    return Event(subject="Säljmöte", start=start, end=start + HOUR, recurrence=recurrence, **fields)


def seed_weekly(graph: GraphEmulator, subject: str = "Säljmöte") -> str:
    """A weekly Monday 09:00 (Berlin time) series made by the user in Outlook."""
    start = _at(2026, 1, 5)
    return graph.seed_event(subject, start, start + HOUR, recurrence=WEEKLY_MONDAY)


def instances(graph: GraphEmulator, master_id: str) -> dict[dt.datetime, StoredEvent]:
    """The emulator's occurrences and exceptions of a series in spring 2026, by original start."""
    with graph.store.lock:
        box = graph.store.mailbox("me")
        found = box.instances(
            box.find(master_id),
            dt.datetime(2026, 1, 1, tzinfo=UTC),
            dt.datetime(2026, 7, 1, tzinfo=UTC),
        )
    return {e.original_start: e for e in found if e.original_start is not None}


def the_item(items: Any) -> Item:
    (item,) = items
    assert isinstance(item, Item)
    return item


# -- adapter level ---------------------------------------------------------------------------


def test_series_support_is_on_by_default_and_can_be_switched_off(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    assert isinstance(cal, SeriesSupport)
    assert cal.supports_series is True
    plain = GraphCalendar(GraphClient(graph.base_url, StaticToken("t")), series=False)
    assert plain.supports_series is False
    assert plain.list_series() == []
    with pytest.raises(ItemRejectedError, match="series"):
        plain.create(weekly_series(_at(2026, 1, 5)), partner_key="s-1")
    plain.close()


def test_a_weekly_series_with_an_exception_and_a_cancellation_round_trips(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    moved = Event(subject="Säljmöte hos ACME", start=_at(2026, 3, 17, 13), end=_at(2026, 3, 17, 15))
    series = weekly_series(_at(2026, 1, 5), location="Rum 4")
    assert series.recurrence is not None
    wanted = attrs.evolve(
        series,
        recurrence=series.recurrence.change(_at(2026, 3, 16), moved).cancel(_at(2026, 3, 23)),
    )
    created = cal.create(wanted, partner_key="s-1")
    assert created.event.content() == wanted.content()
    assert created.partner_key == "s-1"
    # Outlook holds one master, with an exception and without the cancelled Monday
    (master,) = graph.events()
    assert master.data["type"] == "seriesMaster"
    assert master.data["recurrence"]["pattern"]["daysOfWeek"] == ["monday"]
    assert master.data["recurrence"]["range"]["recurrenceTimeZone"] == "W. Europe Standard Time"
    slots = instances(graph, created.id)
    assert slots[_at(2026, 3, 16).astimezone(UTC)].data["type"] == "exception"
    assert _at(2026, 3, 23).astimezone(UTC) not in slots
    # 09:00 local on both sides of the spring DST switch (29 March)
    assert slots[_at(2026, 3, 9).astimezone(UTC)].start == dt.datetime(2026, 3, 9, 8, tzinfo=UTC)
    assert slots[_at(2026, 3, 30).astimezone(UTC)].start == dt.datetime(2026, 3, 30, 7, tzinfo=UTC)
    # and it reads back as written, by get and in a full listing
    got = cal.get(created.id)
    assert isinstance(got, Item)
    assert got.event.content() == wanted.content()
    listed = the_item(cal.list_all().items)
    assert listed.id == created.id
    assert listed.event.content() == wanted.content()
    assert graph.sent_mail == []


def _zone_of(value: dt.date) -> str | None:
    """The IANA key of a timed start's zone."""
    assert isinstance(value, dt.datetime)
    return getattr(value.tzinfo, "key", None)


def test_a_stockholm_series_reads_back_in_stockholm_not_in_the_cldr_zone(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    # Graph names the zone "W. Europe Standard Time", whose CLDR zone is Europe/Berlin;
    # the zone the series was written in comes back from the adapter's own property.
    wanted = weekly_series(_at(2026, 1, 5, tz=STOCKHOLM), zone="Europe/Stockholm")
    created = cal.create(wanted, partner_key="s-1")
    stored = graph.store.mailbox("me").find(created.id)
    assert stored.data["recurrence"]["range"]["recurrenceTimeZone"] == "W. Europe Standard Time"
    for item in (created, cal.get(created.id), the_item(cal.list_all().items)):
        assert isinstance(item, Item)
        assert item.event == wanted
        assert item.event.recurrence is not None
        assert item.event.recurrence.time_zone == "Europe/Stockholm"
        assert _zone_of(item.event.start) == "Europe/Stockholm"


def test_a_single_event_keeps_its_zone_until_the_user_moves_it_to_another_in_outlook(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    start = dt.datetime(2026, 5, 4, 9, 30, tzinfo=STOCKHOLM)
    created = cal.create(Event(subject="Besök", start=start,
                               end=start + dt.timedelta(hours=1)), partner_key="s-1")
    read = cal.get(created.id)
    assert isinstance(read, Item)
    assert _zone_of(read.event.start) == "Europe/Stockholm"
    # the user sets the meeting's zone to Eastern time in Outlook: Outlook's zone wins
    graph.user_edit(created.id,
                    start={"dateTime": "2026-05-04T03:30:00", "timeZone": "Eastern Standard Time"},
                    end={"dateTime": "2026-05-04T04:30:00", "timeZone": "Eastern Standard Time"})
    moved = cal.get(created.id)
    assert isinstance(moved, Item)
    assert _zone_of(moved.event.start) == "America/New_York"
    assert moved.event.start == start  # the same instant, shown in the zone Outlook has


def test_an_event_made_in_outlook_in_a_shared_windows_zone_reads_in_its_cldr_zone(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    start = dt.datetime(2026, 5, 4, 9, 30, tzinfo=STOCKHOLM)
    # made in Outlook: no zone property, so nothing tells Stockholm from Berlin
    made = graph.seed_event("Lunch", start, start + dt.timedelta(hours=1))
    zone = "W. Europe Standard Time"
    graph.user_edit(made, start={"dateTime": "2026-05-04T09:30:00", "timeZone": zone},
                    end={"dateTime": "2026-05-04T10:30:00", "timeZone": zone})
    read = cal.get(made)
    assert isinstance(read, Item)
    assert read.event.start == start
    assert _zone_of(read.event.start) == "Europe/Berlin"


def test_an_exception_and_a_cancellation_made_by_the_user_come_back_in_the_recurrence(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    master_id = seed_weekly(graph)
    single = graph.seed_event("Lunch", _at(2026, 3, 11, 12), _at(2026, 3, 11, 13))
    listing = cal.list_all()
    assert sorted(i.id for i in listing.items) == sorted([master_id, single])  # no occurrence
    assert listing.broken == ()
    slots = instances(graph, master_id)
    graph.user_edit(slots[_at(2026, 3, 16).astimezone(UTC)].immutable_id, subject="Flyttat")
    graph.user_delete(slots[_at(2026, 3, 23).astimezone(UTC)].immutable_id)
    changes = cal.list_changes(listing.cursor)
    item = the_item(changes.items)
    assert item.id == master_id
    # the cancelled occurrence's id may be named deleted (an id no link has); never the series
    assert master_id not in changes.deleted
    recurrence = item.event.recurrence
    assert recurrence is not None
    assert recurrence.cancelled == frozenset({_at(2026, 3, 23).astimezone(UTC)})
    assert {k: e.subject for k, e in recurrence.changed} == {
        _at(2026, 3, 16).astimezone(UTC): "Flyttat"
    }
    assert cal.list_series() == [item]


def test_a_quiet_incremental_listing_with_a_series_costs_two_requests(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    seed_weekly(graph)
    first = cal.list_all()
    graph.reset_counts()
    listing = cal.list_changes(first.cursor)
    assert len(cal.list_series()) == 1
    # a master changed just before the watermark may be named again (unchanged, from cache)
    assert set(listing.items) <= set(first.items)
    assert listing.deleted == frozenset()
    assert graph.request_count(inner=None) == 2  # the delta round and the filter


def test_a_deleted_series_is_reported_deleted(graph: GraphEmulator, cal: GraphCalendar) -> None:
    master_id = seed_weekly(graph)
    cursor = cal.list_all().cursor
    graph.user_delete(master_id)
    listing = cal.list_changes(cursor)
    assert master_id in listing.deleted
    assert listing.items == ()
    assert cal.list_series() == []


def test_a_pattern_graph_cannot_express_is_refused_not_altered(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    start = _at(2026, 3, 30)  # a fifth Monday: Outlook has first..fourth and last only
    recurrence = Recurrence(rule="FREQ=MONTHLY;BYDAY=5MO", start=start, time_zone="Europe/Berlin")
    event = Event(subject="Kvartal", start=start, end=start + HOUR, recurrence=recurrence)
    with pytest.raises(ItemRejectedError, match="cannot express"):
        cal.create(event, partner_key="s-1")
    assert graph.events() == []


def test_a_cancelled_occurrence_cannot_be_restored_and_nothing_is_written(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    master_id = seed_weekly(graph)
    graph.user_delete(instances(graph, master_id)[_at(2026, 3, 23).astimezone(UTC)].immutable_id)
    item = the_item(cal.list_all().items)
    assert item.event.recurrence is not None
    restored = attrs.evolve(
        item.event, subject="Nytt namn", recurrence=item.event.recurrence.restore(_at(2026, 3, 23))
    )
    graph.reset_counts()
    with pytest.raises(ItemRejectedError, match="cannot restore"):
        cal.update(item.id, restored, expected_version=item.version)
    assert graph.request_count(method="PATCH", inner=None) == 0
    assert graph.event(master_id).data["subject"] == "Säljmöte"


# -- engine level ----------------------------------------------------------------------------


@attrs.define
class World:
    graph: GraphEmulator
    outlook: GraphCalendar
    saljstod: InMemoryCalendar
    sync: Synchronizer

    def starts(self) -> list[dt.datetime]:
        return sorted(
            e.start.astimezone(BERLIN)  # type: ignore[attr-defined]
            for e in self.saljstod.items().values()
        )

    def activity_at(self, when: dt.datetime) -> str:
        (found,) = [i for i, e in self.saljstod.items().items() if e.start == when]
        return found

    def quiet(self) -> None:
        assert len(self.sync.plan()) == 0, self.sync.plan()
        report = self.sync.sync()
        assert report.ok, str(report)
        assert report.total_writes == 0, str(report)


@pytest.fixture
def world(graph: GraphEmulator, cal: GraphCalendar, clock: ManualClock) -> World:
    saljstod = InMemoryCalendar(clock=clock, name="saljstod", id_prefix="S")
    sync = Synchronizer(
        saljstod=saljstod, outlook=cal, state=MemoryStateStore(), user="anna", clock=clock
    )
    return World(graph=graph, outlook=cal, saljstod=saljstod, sync=sync)


def _mondays(first: dt.date, last: dt.date) -> list[dt.datetime]:
    days = [first + dt.timedelta(weeks=n) for n in range((last - first).days // 7 + 1)]
    return [dt.datetime.combine(day, dt.time(9), BERLIN) for day in days]


def test_a_weekly_outlook_series_syncs_to_saljstod_as_single_activities(world: World) -> None:
    master_id = seed_weekly(world.graph)
    world.graph.reset_counts()
    report = world.sync.sync()
    assert report.ok, str(report)
    # one month back to one year ahead (the default series horizon), 09:00 Berlin time
    assert world.starts() == _mondays(dt.date(2026, 2, 9), dt.date(2027, 3, 8))
    assert all(
        e.subject == "Säljmöte" and e.recurrence is None for e in world.saljstod.items().values()
    )
    assert [e.immutable_id for e in world.graph.events()] == [master_id]  # still one series
    for method in ("POST", "PATCH", "DELETE"):
        assert world.graph.request_count(method=method, inner=None) == 0, method
    world.quiet()
    assert world.graph.sent_mail == []


def test_editing_one_activity_in_saljstod_makes_an_exception_in_outlook(world: World) -> None:
    master_id = seed_weekly(world.graph)
    assert world.sync.sync().ok
    moved = Event(subject="Säljmöte hos ACME", start=_at(2026, 3, 17, 13), end=_at(2026, 3, 17, 15))
    activity = world.activity_at(_at(2026, 3, 16))
    world.saljstod.update(activity, moved)
    report = world.sync.sync()
    assert report.ok, str(report)
    assert report.count("update", Side.OUTLOOK) == 1
    exception = instances(world.graph, master_id)[_at(2026, 3, 16).astimezone(UTC)]
    assert exception.data["type"] == "exception"
    assert exception.data["subject"] == "Säljmöte hos ACME"
    assert exception.start == _at(2026, 3, 17, 13).astimezone(UTC)
    assert [e.immutable_id for e in world.graph.events()] == [master_id]
    assert world.saljstod.items()[activity] == moved
    world.quiet()
    assert world.graph.sent_mail == []


def test_deleting_one_activity_in_saljstod_cancels_the_occurrence_in_outlook(
    world: World,
) -> None:
    master_id = seed_weekly(world.graph)
    assert world.sync.sync().ok
    before = len(world.saljstod.items())
    world.saljstod.delete(world.activity_at(_at(2026, 3, 23)))
    report = world.sync.sync()
    assert report.ok, str(report)
    assert _at(2026, 3, 23).astimezone(UTC) not in instances(world.graph, master_id)
    assert _at(2026, 3, 16).astimezone(UTC) in instances(world.graph, master_id)
    assert len(world.saljstod.items()) == before - 1
    world.quiet()
    assert world.graph.sent_mail == []


def test_an_occurrence_changed_in_outlook_updates_its_activity_only(world: World) -> None:
    master_id = seed_weekly(world.graph)
    assert world.sync.sync().ok
    slot = instances(world.graph, master_id)[_at(2026, 3, 16).astimezone(UTC)]
    world.graph.user_edit(slot.immutable_id, subject="Flyttat")
    report = world.sync.sync()
    assert report.ok, str(report)
    assert report.count("update", Side.SALJSTOD) == 1
    assert world.saljstod.items()[world.activity_at(_at(2026, 3, 16))].subject == "Flyttat"
    world.quiet()


def test_exceptions_and_cancellations_of_all_time_are_read_without_a_window(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    master_id = seed_weekly(graph)
    with graph.store.lock:
        box = graph.store.mailbox("me")
        far = box.instances(
            box.find(master_id),
            dt.datetime(2031, 6, 1, tzinfo=UTC),
            dt.datetime(2031, 6, 3, tzinfo=UTC),
        )
    (june,) = far  # Monday 2031-06-02, five years ahead: beyond any calendar view
    graph.user_edit(june.immutable_id, subject="Flyttat 2031")
    graph.user_delete(instances(graph, master_id)[_at(2026, 1, 12).astimezone(UTC)].immutable_id)
    graph.reset_counts()
    item = the_item(cal.list_all().items)
    recurrence = item.event.recurrence
    assert recurrence is not None
    assert recurrence.cancelled == frozenset({_at(2026, 1, 12).astimezone(UTC)})
    assert {k: e.subject for k, e in recurrence.changed} == {
        _at(2031, 6, 2).astimezone(UTC): "Flyttat 2031"
    }
    # the master is read once by id (its cancelledOccurrences and exceptionOccurrences)
    reads = [r.path for r in graph.requests if r.path.endswith(master_id)]
    assert len(reads) == 1
    assert graph.request_count(path_contains="/instances", inner=None) == 0
