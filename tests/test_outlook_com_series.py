"""Recurring series in desktop Outlook (COM), against the fake object model.

Adapter level: a series written through ``OutlookComCalendar`` is one appointment in Outlook
with a ``RecurrencePattern`` and ``Exceptions`` and reads back equal; a series the user made
in Outlook reads as the series Outlook shows; a pattern the object model cannot express is
refused before anything is written. Engine level: a Säljstöd side without series sees the
Outlook series as single activities; editing or deleting one becomes an exception or a
cancellation in Outlook, nothing is mailed, and a second sync plans nothing.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outlook_sync import Event, InMemoryCalendar, MemoryStateStore, Side, Synchronizer
from outlook_sync.adapters.outlook_com import SWEDISH, OutlookComCalendar
from outlook_sync.errors import ItemRejectedError
from outlook_sync.model import BrokenItem, Item
from outlook_sync.recurrence import (
    OriginalStart,
    Recurrence,
    UnsupportedRecurrenceError,
    to_com,
)
from outlook_sync.series_view import SeriesSupport
from outlook_sync.testing.outlook_com import FakeOutlook, ManualClock, with_events
from outlook_sync.timezones import localize
from tests.test_recurrence import _outlook_series

STOCKHOLM = ZoneInfo("Europe/Stockholm")
UTC = dt.UTC
HOUR = dt.timedelta(hours=1)


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=STOCKHOLM)


@attrs.define
class Rig:
    fake: FakeOutlook
    clock: ManualClock
    calendar: OutlookComCalendar

    def master(self, entry_id: str) -> Item:
        found = self.calendar.get(entry_id)
        assert isinstance(found, Item), found
        return found


@pytest.fixture
def rig() -> Iterator[Rig]:
    clock = ManualClock(dt.datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    fake = FakeOutlook(clock=clock)
    calendar = OutlookComCalendar(
        fake.dispatch, locale=SWEDISH, clock=clock, sleep=lambda _s: None, with_events=with_events
    )
    yield Rig(fake=fake, clock=clock, calendar=calendar)
    assert fake.sent == [], "a meeting request or update was sent"


def weekly_with_exceptions() -> Event:
    """Monday 09:00 sales meeting, ten times; 9 March cancelled, 16 March moved to Tuesday."""
    moved = Event(
        subject="Säljmöte hos ACME", start=at(3, 17, 13), end=at(3, 17, 15), location="ACME"
    )
    recurrence = Recurrence(
        rule="FREQ=WEEKLY;COUNT=10;BYDAY=MO",
        start=at(3, 2),
        time_zone="Europe/Stockholm",
        cancelled=[at(3, 9)],
        changed={at(3, 16): moved},
    )
    return Event(
        subject="Säljmöte",
        start=at(3, 2),
        end=at(3, 2) + HOUR,
        location="Rum 4",
        recurrence=recurrence,
    )


def _series(item: Item | BrokenItem | None) -> Recurrence:
    assert isinstance(item, Item), item
    assert item.event.recurrence is not None
    return item.event.recurrence


# -- adapter: writing and reading back --------------------------------------------------------


def test_the_adapter_declares_series_support(rig: Rig) -> None:
    assert isinstance(rig.calendar, SeriesSupport)
    assert rig.calendar.supports_series is True


def test_a_weekly_series_with_a_cancelled_and_a_moved_occurrence_round_trips(rig: Rig) -> None:
    event = weekly_with_exceptions()
    created = rig.calendar.create(event, partner_key="S-1")
    assert created.event == event
    assert rig.master(created.id) == created
    # one appointment in Outlook, with its pattern and two exceptions
    record = rig.fake.record(created.id)
    assert record.pattern is not None
    assert (record.pattern.recurrence_type, record.pattern.day_of_week_mask) == (1, 2)
    assert record.pattern.occurrences == 10
    assert sorted(
        (original, data.deleted) for original, data in record.pattern.exceptions.items()
    ) == [(at(3, 9).astimezone(UTC), True), (at(3, 16).astimezone(UTC), False)]
    listed = rig.calendar.list_all()
    assert [item.id for item in listed.items] == [created.id]  # occurrences are not items
    assert listed.broken == ()


def test_the_last_friday_of_every_month_round_trips(rig: Rig) -> None:
    recurrence = Recurrence(
        rule="FREQ=MONTHLY;BYDAY=-1FR", start=at(3, 27, 15), time_zone="Europe/Stockholm"
    )
    event = Event(
        subject="Månadsavslut", start=at(3, 27, 15), end=at(3, 27, 16), recurrence=recurrence
    )
    created = rig.calendar.create(event, partner_key="S-2")
    assert created.event == event
    pattern = rig.fake.record(created.id).pattern
    assert pattern is not None
    # olRecursMonthNth, Instance 5 (= last), olFriday
    assert (pattern.recurrence_type, pattern.instance, pattern.day_of_week_mask) == (3, 5, 32)
    assert pattern.no_end_date


def test_more_exceptions_later_keep_the_earlier_ones(rig: Rig) -> None:
    event = weekly_with_exceptions()
    created = rig.calendar.create(event, partner_key="S-1")
    assert event.recurrence is not None
    more = attrs.evolve(event, recurrence=event.recurrence.cancel(at(3, 30)))
    updated = rig.calendar.update(created.id, more, expected_version=created.version)
    assert updated.event == more
    assert _series(rig.calendar.get(created.id)).cancelled == {
        at(3, 9).astimezone(UTC),
        at(3, 30).astimezone(UTC),
    }


def test_restoring_an_occurrence_rewrites_the_series_with_the_other_exceptions(rig: Rig) -> None:
    event = weekly_with_exceptions()
    created = rig.calendar.create(event, partner_key="S-1")
    assert event.recurrence is not None
    restored = attrs.evolve(event, recurrence=event.recurrence.restore(at(3, 9)))
    updated = rig.calendar.update(created.id, restored, expected_version=created.version)
    assert updated.event == restored
    series = _series(rig.calendar.get(created.id))
    assert series.cancelled == frozenset()
    assert list(series.exceptions) == [at(3, 16).astimezone(UTC)]


def test_a_series_can_become_a_single_appointment_and_back(rig: Rig) -> None:
    event = weekly_with_exceptions()
    created = rig.calendar.create(event, partner_key="S-1")
    single = attrs.evolve(event, recurrence=None)
    updated = rig.calendar.update(created.id, single, expected_version=created.version)
    assert updated.event == single
    assert rig.fake.record(created.id).pattern is None
    again = rig.calendar.update(created.id, event, expected_version=updated.version)
    assert again.event == event


def test_a_pattern_outlook_cannot_express_is_refused_before_anything_is_written(
    rig: Rig,
) -> None:
    fifth_monday = Recurrence(
        rule="FREQ=MONTHLY;BYDAY=MO;BYSETPOS=5", start=at(3, 30), time_zone="Europe/Stockholm"
    )
    event = Event(
        subject="Femte måndagen", start=at(3, 30), end=at(3, 30) + HOUR, recurrence=fifth_monday
    )
    with pytest.raises(ItemRejectedError, match="cannot express"):
        rig.calendar.create(event, partner_key="S-5")
    assert rig.calendar.list_all().items == ()
    single = rig.calendar.create(attrs.evolve(event, recurrence=None), partner_key="S-5")
    before = rig.fake.record(single.id).copy()
    with pytest.raises(ItemRejectedError, match="cannot express"):
        rig.calendar.update(single.id, event, expected_version=single.version)
    assert rig.fake.record(single.id) == before


# -- adapter: series the user made in Outlook --------------------------------------------------


def test_a_series_made_in_outlook_reads_with_its_exceptions(rig: Rig) -> None:
    entry_id = rig.fake.add_appointment("Veckomöte", at(3, 4, 10), at(3, 4, 11))
    rig.fake.make_recurring(entry_id, end=dt.date(2026, 4, 29))  # Wednesdays, to 29 April
    rig.fake.cancel_occurrence(entry_id, at(4, 1, 10))
    rig.fake.change_occurrence(
        entry_id, at(4, 8, 10), Subject="Flyttat", Start=at(4, 9, 14), End=at(4, 9, 15)
    )
    series = _series(rig.calendar.get(entry_id))
    assert series.rule == "FREQ=WEEKLY;UNTIL=20260429T215959Z;BYDAY=WE"
    assert series.start == at(3, 4, 10)
    assert series.cancelled == {at(4, 1, 10).astimezone(UTC)}
    ((original, moved),) = series.changed
    assert original == at(4, 8, 10).astimezone(UTC)
    assert (moved.subject, moved.start, moved.end) == ("Flyttat", at(4, 9, 14), at(4, 9, 15))
    assert [item.id for item in rig.calendar.list_series()] == [entry_id]


def test_only_series_masters_are_listed_as_series(rig: Rig) -> None:
    single = rig.fake.add_appointment("Lunch", at(3, 3, 12), at(3, 3, 13))
    weekly = rig.fake.add_appointment("Veckomöte", at(3, 4, 10), at(3, 4, 11))
    rig.fake.make_recurring(weekly)
    assert [item.id for item in rig.calendar.list_series()] == [weekly]
    assert sorted(item.id for item in rig.calendar.list_all().items) == sorted([single, weekly])


def test_a_series_with_an_impossible_exception_is_quarantined_not_guessed(rig: Rig) -> None:
    entry_id = rig.fake.add_appointment("Veckomöte", at(3, 4, 10), at(3, 4, 11))
    rig.fake.make_recurring(entry_id)
    rig.fake.change_occurrence(entry_id, at(3, 11, 10), End=at(3, 11, 9))  # ends before start
    listed = rig.calendar.list_all()
    assert listed.items == ()
    ((broken,),) = [listed.broken]
    assert broken.id == entry_id
    assert "series cannot be read" in broken.reason


# -- the fake: IncludeRecurrences ------------------------------------------------------------


def test_include_recurrences_expands_series_only_when_sorted_by_start(rig: Rig) -> None:
    entry_id = rig.fake.add_appointment("Veckomöte", at(3, 2), at(3, 2) + HOUR)
    rig.fake.make_recurring(entry_id, occurrences=3)
    rig.fake.change_occurrence(entry_id, at(3, 9), Subject="Ändrat")
    rig.fake.add_appointment("Lunch", at(3, 5, 12), at(3, 5, 13))
    folder = rig.fake.dispatch().GetNamespace("MAPI").GetDefaultFolder(9)

    def walk(items: Any) -> list[tuple[str, int]]:
        seen, item = [], items.GetFirst()
        while item is not None:
            seen.append((item.Subject, item.RecurrenceState))
            item = items.GetNext()
        return seen

    unsorted = folder.Items
    unsorted.IncludeRecurrences = True
    assert walk(unsorted) == [("Veckomöte", 1), ("Lunch", 0)]  # no effect without Sort
    items = folder.Items
    items.Sort("[Start]")
    items.IncludeRecurrences = True
    assert walk(items) == [("Veckomöte", 2), ("Lunch", 0), ("Ändrat", 3), ("Veckomöte", 2)]
    assert items.Count == 2_147_483_647  # documented as undefined in this mode


# -- engine: Säljstöd without series <-> Outlook over COM --------------------------------------


@attrs.define
class World:
    fake: FakeOutlook
    clock: ManualClock
    saljstod: InMemoryCalendar
    outlook: OutlookComCalendar
    sync: Synchronizer

    def run(self) -> None:
        self.clock.advance(minutes=7)
        report = self.sync.sync()
        assert report.ok, str(report)
        self.clock.advance(minutes=7)

    def activity_at(self, when: dt.datetime) -> str:
        (found,) = [i for i, e in self.saljstod.items().items() if e.start == when]
        return found

    def quiet(self) -> None:
        assert len(self.sync.plan()) == 0, self.sync.plan()
        report = self.sync.sync()
        assert report.ok, str(report)
        assert report.total_writes == 0, str(report)


@pytest.fixture
def world() -> Iterator[World]:
    clock = ManualClock(dt.datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    fake = FakeOutlook(clock=clock)
    outlook = OutlookComCalendar(
        fake.dispatch, locale=SWEDISH, clock=clock, sleep=lambda _s: None, with_events=with_events
    )
    saljstod = InMemoryCalendar(clock=clock, name="saljstod", id_prefix="S")
    sync = Synchronizer(
        saljstod=saljstod, outlook=outlook, state=MemoryStateStore(), user="anna", clock=clock
    )
    made = World(fake=fake, clock=clock, saljstod=saljstod, outlook=outlook, sync=sync)
    yield made
    assert fake.sent == [], "a meeting request or update was sent"


def _mondays(count: int) -> list[dt.datetime]:
    return [at(3, 2) + dt.timedelta(weeks=n) for n in range(count)]  # wall clock: 09:00


def _weekly_in_outlook(world: World) -> str:
    entry_id = world.fake.add_appointment("Säljmöte", at(3, 2), at(3, 2) + HOUR, Location="Rum 4")
    world.fake.make_recurring(entry_id, occurrences=10)
    world.run()
    return entry_id


def test_a_weekly_outlook_series_appears_in_saljstod_as_single_activities(world: World) -> None:
    series_id = _weekly_in_outlook(world)
    activities = world.saljstod.items()
    # ten Mondays at 09:00 Stockholm time, across the switch to summer time on 29 March
    assert sorted(e.start for e in activities.values()) == _mondays(10)
    assert all(
        e.subject == "Säljmöte" and e.location == "Rum 4" and e.recurrence is None
        for e in activities.values()
    )
    assert [item.id for item in world.outlook.list_all().items] == [series_id]
    world.quiet()


def test_editing_one_activity_in_saljstod_makes_an_exception_in_outlook(world: World) -> None:
    series_id = _weekly_in_outlook(world)
    moved = Event(
        subject="Säljmöte hos ACME", start=at(3, 17, 13), end=at(3, 17, 15), location="ACME"
    )
    world.saljstod.update(world.activity_at(at(3, 16)), moved)
    world.run()
    series = _series(world.outlook.get(series_id))
    assert series.exceptions == {at(3, 16).astimezone(UTC): moved}
    record = world.fake.record(series_id)
    assert record.pattern is not None
    assert list(record.pattern.exceptions) == [at(3, 16).astimezone(UTC)]
    assert len(world.saljstod.items()) == 10
    world.quiet()


def test_deleting_one_activity_in_saljstod_cancels_that_occurrence(world: World) -> None:
    series_id = _weekly_in_outlook(world)
    world.saljstod.delete(world.activity_at(at(3, 23)))
    world.run()
    assert _series(world.outlook.get(series_id)).cancelled == {at(3, 23).astimezone(UTC)}
    assert sorted(e.start for e in world.saljstod.items().values()) == [
        start for start in _mondays(10) if start != at(3, 23)
    ]
    assert [item.id for item in world.outlook.list_all().items] == [series_id]
    world.quiet()


def test_an_occurrence_changed_in_outlook_reaches_its_activity(world: World) -> None:
    series_id = _weekly_in_outlook(world)
    activity = world.activity_at(at(3, 30))
    world.fake.change_occurrence(
        series_id, at(3, 30), Subject="Säljmöte (kort)", End=at(3, 30, 9, 30)
    )
    world.run()
    changed = world.saljstod.items()[activity]
    assert (changed.subject, changed.start, changed.end) == (
        "Säljmöte (kort)",
        at(3, 30),
        at(3, 30, 9, 30),
    )
    world.quiet()


def test_an_activity_made_in_saljstod_becomes_a_single_appointment(world: World) -> None:
    _weekly_in_outlook(world)
    world.saljstod.add(Event(subject="Kundbesök", start=at(3, 4, 13), end=at(3, 4, 14)))
    world.run()
    report = world.sync.sync()
    assert report.count("create", Side.OUTLOOK) == 0
    singles = [i for i in world.outlook.list_all().items if i.event.recurrence is None]
    assert [i.event.subject for i in singles] == ["Kundbesök"]
    world.quiet()


# -- adapter: every pattern both sides can express -----------------------------------------------


def _with_exceptions(series: Recurrence, data: st.DataObject) -> Event:
    """A master for ``series`` with some of its first occurrences cancelled or moved."""
    if series.all_day:
        assert not isinstance(series.start, dt.datetime)
        low = localize(dt.datetime.combine(series.start, dt.time()), series.zone_info)
    else:
        assert isinstance(series.start, dt.datetime)
        low = series.start
    firsts = list(
        itertools.islice(series.occurrences_between(low, low + dt.timedelta(days=3 * 366)), 6)
    )
    chosen = data.draw(st.lists(st.sampled_from(firsts), unique=True, max_size=3))
    cancelled = chosen[: data.draw(st.integers(0, len(chosen)))]
    changed: dict[OriginalStart, Event] = {}
    for key in chosen[len(cancelled) :]:
        if isinstance(key, dt.datetime):
            begin = key.astimezone(series.zone_info) + 2 * HOUR
            changed[key] = Event(subject="Flyttat", start=begin, end=begin + HOUR, location="B")
        else:
            day = key + dt.timedelta(days=1)
            changed[key] = Event(
                subject="Flyttat", start=day, end=day + dt.timedelta(days=1), all_day=True
            )
    series = attrs.evolve(series, cancelled=cancelled, changed=changed)
    end = series.start + (dt.timedelta(days=1) if series.all_day else HOUR)
    return Event(
        subject="Serie", start=series.start, end=end, all_day=series.all_day, recurrence=series
    )


@settings(max_examples=150, deadline=None)
@given(series=_outlook_series(), data=st.data())
def test_every_series_outlook_can_express_reads_back_equal(
    series: Recurrence, data: st.DataObject
) -> None:
    clock = ManualClock(dt.datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    fake = FakeOutlook(clock=clock)
    calendar = OutlookComCalendar(fake.dispatch, locale=SWEDISH, clock=clock)
    event = _with_exceptions(series, data)
    try:
        to_com(series, week_start="MO")
    except UnsupportedRecurrenceError:  # e.g. a WKST other than Outlook's week start
        with pytest.raises(ItemRejectedError, match="cannot express"):
            calendar.create(event, partner_key="S-1")
        assert calendar.list_all().items == ()
        return
    created = calendar.create(event, partner_key="S-1")
    assert created.event == event
    assert calendar.list_all().items == (created,)
    assert fake.sent == []


def test_an_exception_can_be_changed_again_and_then_cancelled(rig: Rig) -> None:
    event = weekly_with_exceptions()
    assert event.recurrence is not None
    created = rig.calendar.create(event, partner_key="S-1")
    key = at(3, 16)
    again = Event(subject="Säljmöte hos ACME (ny tid)", start=at(3, 18, 8), end=at(3, 18, 9))
    changed = attrs.evolve(event, recurrence=event.recurrence.change(key, again))
    updated = rig.calendar.update(created.id, changed, expected_version=created.version)
    assert updated.event == changed
    assert changed.recurrence is not None
    cancelled = attrs.evolve(event, recurrence=changed.recurrence.cancel(key))
    final = rig.calendar.update(created.id, cancelled, expected_version=updated.version)
    assert final.event == cancelled
    assert _series(rig.calendar.get(created.id)).cancelled == {
        at(3, 9).astimezone(UTC),
        key.astimezone(UTC),
    }
    pattern = rig.fake.record(created.id).pattern
    assert pattern is not None
    assert all(data.deleted for data in pattern.exceptions.values())


def test_a_change_in_outlook_shows_in_the_next_change_listing(rig: Rig) -> None:
    created = rig.calendar.create(weekly_with_exceptions(), partner_key="S-1")
    rig.clock.advance(minutes=30)  # past the watermark's safety margin
    cursor = rig.calendar.list_all().cursor
    rig.clock.advance(minutes=10)
    assert rig.calendar.list_changes(cursor).items == ()
    rig.fake.cancel_occurrence(created.id, at(3, 23))
    (changed,) = rig.calendar.list_changes(cursor).items
    assert at(3, 23).astimezone(UTC) in _series(changed).cancelled
