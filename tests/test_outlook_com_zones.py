"""A series in another time zone than Windows', with cancelled occurrences near local midnight.

While two zones' daylight-saving dates differ, one *local* date can hold two occurrences of a
daily series (a daily 18:00 New York series seen from Stockholm: 7 March at 00:00 and 8 March
at 23:00 both fall on 8 March), and Outlook names a cancelled occurrence by its local date
only. The adapter must still tell which one was cancelled — whether it cancelled it itself
(create) or the user did in Outlook — and must never quarantine the series for it. That holds
too when the other occurrence of that date was changed, even moved to another time (then
``GetOccurrence`` no longer finds it at its original start, as for a cancelled one).

Zone pairs cover both hemispheres and differing rules: North America vs Europe, Japan (no
DST) vs Europe, Chile vs Australia (both southern, different dates), Europe seen from New
Zealand and New Zealand seen from Chile (opposite hemispheres).
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Self
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from outlook_sync import Event
from outlook_sync.adapters.outlook_com import SWEDISH, OutlookComCalendar
from outlook_sync.model import Item
from outlook_sync.recurrence import Recurrence
from outlook_sync.testing.outlook_com import FakeOutlook, ManualClock, with_events
from outlook_sync.timezones import iana_to_windows, zone

UTC = dt.UTC

#: (Windows' own zone, the series' IANA zone)
PAIRS = [
    ("W. Europe Standard Time", "America/New_York"),
    ("W. Europe Standard Time", "Asia/Tokyo"),
    ("AUS Eastern Standard Time", "America/Santiago"),
    ("New Zealand Standard Time", "Europe/London"),
    ("Pacific SA Standard Time", "Pacific/Auckland"),
]


@attrs.frozen
class Double:
    """A daily series time and the local date holding two of its occurrences."""

    time: dt.time
    first: dt.datetime  # the two occurrences (aware, series zone) on one local date
    second: dt.datetime


def find_double(windows_zone: str, series_zone: str) -> Double:
    """The first 2026 local date on which a daily series (at some half hour) shows twice."""
    local, tz = zone(windows_zone), ZoneInfo(series_zone)
    for minutes in range(0, 24 * 60, 30):
        at = dt.time(minutes // 60, minutes % 60)
        day = dt.date(2026, 1, 1)
        starts = [
            dt.datetime.combine(day + dt.timedelta(days=n), at, tzinfo=tz) for n in range(365)
        ]
        by_date = itertools.groupby(starts, key=lambda s: s.astimezone(local).date())
        for _, group in by_date:
            found = list(group)
            if len(found) == 2:
                return Double(time=at, first=found[0], second=found[1])
    raise AssertionError(f"no local date holds two {series_zone} occurrences in {windows_zone}")


def rig(windows_zone: str) -> tuple[FakeOutlook, OutlookComCalendar]:
    clock = ManualClock(dt.datetime(2026, 1, 2, 7, 0, tzinfo=UTC))
    fake = FakeOutlook(clock=clock, time_zone=windows_zone)
    calendar = OutlookComCalendar(
        fake.dispatch, locale=SWEDISH, clock=clock, sleep=lambda _s: None, with_events=with_events
    )
    return fake, calendar


def daily_series(double: Double, series_zone: str, cancelled: list[dt.datetime]) -> Event:
    start = double.first - dt.timedelta(days=4)
    recurrence = Recurrence(
        rule="FREQ=DAILY;COUNT=10", start=start, time_zone=series_zone, cancelled=cancelled
    )
    return Event(
        subject="Daily stand-up",
        start=start,
        end=start + dt.timedelta(minutes=30),
        recurrence=recurrence,
    )


WHICH = {
    "the first of the two": lambda d: [d.first],
    "the second of the two": lambda d: [d.second],
    "both": lambda d: [d.first, d.second],
}


@pytest.mark.parametrize(("windows_zone", "series_zone"), PAIRS)
def test_the_zone_pairs_do_put_two_occurrences_on_one_local_date(
    windows_zone: str, series_zone: str
) -> None:
    double = find_double(windows_zone, series_zone)
    local = zone(windows_zone)
    assert double.first.astimezone(local).date() == double.second.astimezone(local).date()
    # consecutive occurrences of the series: one of its days, seen from Windows' zone
    assert double.second.date() - double.first.date() == dt.timedelta(days=1)


@pytest.mark.parametrize("which", list(WHICH))
@pytest.mark.parametrize(("windows_zone", "series_zone"), PAIRS)
def test_a_series_cancelled_near_local_midnight_is_created_and_reads_back(
    windows_zone: str, series_zone: str, which: str
) -> None:
    double = find_double(windows_zone, series_zone)
    fake, calendar = rig(windows_zone)
    cancelled = WHICH[which](double)
    event = daily_series(double, series_zone, cancelled)

    created = calendar.create(event, partner_key="S-1")

    assert created.event == event
    assert created.event.recurrence is not None
    assert created.event.recurrence.cancelled == frozenset(cancelled)
    # Outlook holds exactly those cancellations, and later reads see the same series
    record = fake.record(created.id)
    assert record.pattern is not None
    assert sorted(o for o, e in record.pattern.exceptions.items() if e.deleted) == sorted(
        c.astimezone(UTC) for c in cancelled
    )
    listed = calendar.list_all()
    assert listed.broken == ()
    assert [item.event for item in listed.items] == [event]


@pytest.mark.parametrize("which", list(WHICH))
@pytest.mark.parametrize(("windows_zone", "series_zone"), PAIRS)
def test_an_occurrence_the_user_cancels_in_outlook_is_read_as_that_occurrence(
    windows_zone: str, series_zone: str, which: str
) -> None:
    double = find_double(windows_zone, series_zone)
    fake, calendar = rig(windows_zone)
    start = double.first - dt.timedelta(days=4)
    entry_id = fake.add_appointment(
        "Daily stand-up",
        start,
        start + dt.timedelta(minutes=30),
        time_zone=iana_to_windows(series_zone),
    )
    fake.make_recurring(entry_id, recurrence_type=0, day_of_week_mask=0, occurrences=10)
    cancelled = WHICH[which](double)
    for original in cancelled:
        fake.cancel_occurrence(entry_id, original)

    found = calendar.get(entry_id)

    assert isinstance(found, Item), found
    assert found.event.recurrence is not None
    assert found.event.recurrence.cancelled == frozenset(cancelled)
    # and the other occurrence on that local date is still a plain occurrence in Outlook
    pattern = fake.record(entry_id).pattern
    assert pattern is not None
    assert set(pattern.exceptions) == {c.astimezone(UTC) for c in cancelled}


# -- a cancelled and a changed occurrence on one local date -------------------------------------

#: How the other occurrence of that local date was changed: moved to another time, or renamed
#: only (it keeps its start).
CHANGES = {"moved": dt.timedelta(hours=-2), "renamed": dt.timedelta(0)}
#: every zone pair, with either occurrence cancelled and the other moved or renamed
CANCELLED_AND_CHANGED = [
    pytest.param(
        windows_zone,
        series_zone,
        cancelled,
        change,
        id=f"{series_zone}-from-{windows_zone}-{cancelled}-cancelled-other-{change}",
    )
    for (windows_zone, series_zone), cancelled, change in itertools.product(
        PAIRS, ("first", "second"), CHANGES
    )
]


@attrs.frozen
class CancelledAndChanged:
    """One local date's two occurrences: ``cancelled`` and ``original`` (changed to ``moved``)."""

    double: Double
    cancelled: dt.datetime
    original: dt.datetime
    moved: Event

    @classmethod
    def of(cls, windows_zone: str, series_zone: str, cancelled: str, change: str) -> Self:
        double = find_double(windows_zone, series_zone)
        gone, other = (double.first, double.second)[:: 1 if cancelled == "first" else -1]
        begin = other + CHANGES[change]
        moved = Event(
            subject="Stand-up, flyttad", start=begin, end=begin + dt.timedelta(minutes=30)
        )
        return cls(double=double, cancelled=gone, original=other, moved=moved)

    def check(self, series: Recurrence) -> None:
        assert series.cancelled == {self.cancelled.astimezone(UTC)}
        ((original, event),) = series.changed
        assert original == self.original.astimezone(UTC)
        assert event.subject == self.moved.subject
        assert isinstance(event.start, dt.datetime)
        assert isinstance(event.end, dt.datetime)
        assert isinstance(self.moved.start, dt.datetime)
        assert isinstance(self.moved.end, dt.datetime)
        assert (event.start.astimezone(UTC), event.end.astimezone(UTC)) == (
            self.moved.start.astimezone(UTC),
            self.moved.end.astimezone(UTC),
        )


@pytest.mark.parametrize(
    ("windows_zone", "series_zone", "cancelled", "change"), CANCELLED_AND_CHANGED
)
def test_a_cancelled_and_a_changed_occurrence_on_one_local_date_made_in_outlook(
    windows_zone: str, series_zone: str, cancelled: str, change: str
) -> None:
    case = CancelledAndChanged.of(windows_zone, series_zone, cancelled, change)
    fake, calendar = rig(windows_zone)
    start = case.double.first - dt.timedelta(days=4)
    entry_id = fake.add_appointment(
        "Daily stand-up",
        start,
        start + dt.timedelta(minutes=30),
        time_zone=iana_to_windows(series_zone),
    )
    fake.make_recurring(entry_id, recurrence_type=0, day_of_week_mask=0, occurrences=10)
    fake.cancel_occurrence(entry_id, case.cancelled)
    fake.change_occurrence(
        entry_id,
        case.original,
        Subject=case.moved.subject,
        Start=case.moved.start,
        End=case.moved.end,
    )

    found = calendar.get(entry_id)

    assert isinstance(found, Item), found
    assert found.event.recurrence is not None
    case.check(found.event.recurrence)


@pytest.mark.parametrize(
    ("windows_zone", "series_zone", "cancelled", "change"), CANCELLED_AND_CHANGED
)
def test_a_cancelled_and_a_changed_occurrence_on_one_local_date_created_and_read_back(
    windows_zone: str, series_zone: str, cancelled: str, change: str
) -> None:
    case = CancelledAndChanged.of(windows_zone, series_zone, cancelled, change)
    fake, calendar = rig(windows_zone)
    start = case.double.first - dt.timedelta(days=4)
    recurrence = Recurrence(
        rule="FREQ=DAILY;COUNT=10",
        start=start,
        time_zone=series_zone,
        cancelled=[case.cancelled],
        changed={case.original: case.moved},
    )
    event = Event(
        subject="Daily stand-up",
        start=start,
        end=start + dt.timedelta(minutes=30),
        recurrence=recurrence,
    )

    created = calendar.create(event, partner_key="S-1")

    assert created.event == event
    record = fake.record(created.id)
    assert record.pattern is not None
    assert {o: e.deleted for o, e in record.pattern.exceptions.items()} == {
        case.cancelled.astimezone(UTC): True,
        case.original.astimezone(UTC): False,
    }
    listed = calendar.list_all()
    assert listed.broken == ()
    assert [item.event for item in listed.items] == [event]
    assert listed.items[0].event.recurrence is not None
    case.check(listed.items[0].event.recurrence)


def test_the_issue_example_new_york_from_stockholm_march_7() -> None:
    """Daily 18:00 New York with 7 March cancelled, on a Windows machine in Stockholm."""
    new_york = ZoneInfo("America/New_York")
    _, calendar = rig("W. Europe Standard Time")
    start = dt.datetime(2026, 3, 2, 18, 0, tzinfo=new_york)
    recurrence = Recurrence(
        rule="FREQ=DAILY;COUNT=14",
        start=start,
        time_zone="America/New_York",
        cancelled=[dt.datetime(2026, 3, 7, 18, 0, tzinfo=new_york)],
    )
    event = Event(
        subject="Call", start=start, end=start + dt.timedelta(hours=1), recurrence=recurrence
    )

    created = calendar.create(event, partner_key="S-7")

    assert created.event == event
    again = calendar.get(created.id)
    assert again == created


# -- any pair, any time, around any clock change ------------------------------------------------

#: Windows zones with differing daylight-saving rules, both hemispheres, and none.
WINDOWS_ZONES = [
    "W. Europe Standard Time",
    "GMT Standard Time",
    "Eastern Standard Time",
    "Pacific Standard Time",
    "AUS Eastern Standard Time",
    "New Zealand Standard Time",
    "Pacific SA Standard Time",
    "Tokyo Standard Time",
    "E. South America Standard Time",
]


def clock_changes(windows_zone: str) -> list[dt.date]:
    """The 2026 dates on which the zone's UTC offset changes."""
    tz = zone(windows_zone)
    noon = [dt.datetime(2026, 1, 1, 12, tzinfo=tz) + dt.timedelta(days=n) for n in range(365)]
    return [b.date() for a, b in itertools.pairwise(noon) if a.utcoffset() != b.utcoffset()]


def unambiguous(start: dt.datetime, local: ZoneInfo) -> bool:
    """Whether Windows' wall clock names this instant alone (GetOccurrence's limit)."""
    wall = start.astimezone(local).replace(tzinfo=None)
    return wall.replace(tzinfo=local, fold=0) == wall.replace(tzinfo=local, fold=1)


def exists(wall: dt.datetime, tz: ZoneInfo) -> bool:
    """Whether a wall time exists in ``tz`` (not in a spring-forward gap)."""
    aware = wall.replace(tzinfo=tz)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall


@settings(max_examples=60, deadline=None)
@given(
    windows_zone=st.sampled_from(WINDOWS_ZONES),
    series_windows_zone=st.sampled_from(WINDOWS_ZONES),
    which_change=st.integers(min_value=0, max_value=7),
    quarters_from_midnight=st.integers(min_value=-8, max_value=8),
    cancelled_indexes=st.sets(st.integers(min_value=0, max_value=9), min_size=1, max_size=4),
)
def test_any_cancelled_occurrences_round_trip_across_zones(
    windows_zone: str,
    series_windows_zone: str,
    which_change: int,
    quarters_from_midnight: int,
    cancelled_indexes: set[int],
) -> None:
    """A daily series whose time is near Windows' midnight, around a clock change of either
    zone, any occurrences cancelled: what is created reads back the same, now and in the
    next run of the app."""
    changes = clock_changes(windows_zone) + clock_changes(series_windows_zone)
    assume(changes)
    around = changes[which_change % len(changes)]
    series_zone = zone(series_windows_zone).key
    tz, local = ZoneInfo(series_zone), zone(windows_zone)
    near = dt.datetime.combine(around, dt.time(), tzinfo=local) + dt.timedelta(
        minutes=15 * quarters_from_midnight
    )
    at = near.astimezone(tz).time().replace(fold=0)  # the series reads a repeated time first
    walls = [dt.datetime.combine(around + dt.timedelta(days=n - 5), at) for n in range(10)]
    assume(all(exists(wall, tz) for wall in walls))
    starts = [wall.replace(tzinfo=tz) for wall in walls]
    cancelled = [starts[i] for i in sorted(cancelled_indexes) if unambiguous(starts[i], local)]
    recurrence = Recurrence(
        rule="FREQ=DAILY;COUNT=10", start=starts[0], time_zone=series_zone, cancelled=cancelled
    )
    event = Event(
        subject="Daily",
        start=starts[0],
        end=starts[0] + dt.timedelta(minutes=45),
        recurrence=recurrence,
    )
    fake, calendar = rig(windows_zone)

    created = calendar.create(event, partner_key="S-1")

    assert created.event == event
    fresh = OutlookComCalendar(fake.dispatch, locale=SWEDISH, sleep=lambda _s: None)
    assert fresh.get(created.id) == created  # the next run of the app reads the same
