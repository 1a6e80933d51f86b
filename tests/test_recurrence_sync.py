"""Recurring series in the model, the state codec and the merge, and series synced to Säljstöd.

The engine scenarios sync a weekly series between an in-memory Outlook that keeps series
(``supports_series=True``) and a plain in-memory Säljstöd, through the engine and
:func:`~outlook_sync.series_view.wrap_for_series`, as a user of the two products would see
it: single activities in Säljstöd, exceptions and cancellations in Outlook.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from outlook_sync import (
    BackendUnavailableError,
    Event,
    InMemoryCalendar,
    InvalidEventError,
    ItemRejectedError,
    MemoryStateStore,
    Side,
    SqliteStateStore,
    Synchronizer,
    SyncPolicy,
)
from outlook_sync._core.expansion import expand
from outlook_sync._core.merge import resolve
from outlook_sync._core.series import Horizon, flatten, occurrence_id, parse_occurrence_id
from outlook_sync.errors import StateError
from outlook_sync.model import CONTENT_FIELDS, Item, Link
from outlook_sync.protocols import StateChange
from outlook_sync.records import ConflictPolicy
from outlook_sync.recurrence import Recurrence
from outlook_sync.series_view import wrap_for_series
from outlook_sync.state import codec
from tests.world import ManualClock

UTC = dt.UTC
STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")


def _at(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=STOCKHOLM)


def _timed(value: dt.datetime | dt.date) -> dt.datetime:
    """The value as a datetime (the test knows it is timed)."""
    assert isinstance(value, dt.datetime)
    return value


def _series_master(
    start: dt.datetime, rule: str = "FREQ=WEEKLY", subject: str = "Säljmöte", **fields: object
) -> Event:
    recurrence = Recurrence(rule=rule, start=start, time_zone="Europe/Stockholm")
    return Event(
        subject=subject,
        start=start,
        end=start + dt.timedelta(hours=1),
        recurrence=recurrence,
        **fields,  # type: ignore[arg-type]
    )


# --- the model ----------------------------------------------------------------------------


def test_a_series_master_carries_its_recurrence_and_compares_by_it() -> None:
    master = _series_master(_at(2026, 1, 5))
    assert master.recurrence is not None
    assert "recurrence" in CONTENT_FIELDS
    same_in_utc = attrs.evolve(
        master, start=_timed(master.start).astimezone(UTC), end=_timed(master.end).astimezone(UTC)
    )
    assert same_in_utc == master
    assert same_in_utc.content() == master.content()
    single = attrs.evolve(master, recurrence=None)
    assert single != master
    assert single.content() != master.content()
    # a single appointment's content is what it was before series existed
    assert len(single.content()) == 10


def test_cancelled_and_changed_occurrences_are_part_of_the_content() -> None:
    master = _series_master(_at(2026, 1, 5))
    assert master.recurrence is not None
    key = _at(2026, 1, 12).astimezone(UTC)
    cancelled = attrs.evolve(master, recurrence=master.recurrence.cancel(key))
    moved = attrs.evolve(
        master,
        recurrence=master.recurrence.change(
            key, Event(subject="Säljmöte", start=_at(2026, 1, 13), end=_at(2026, 1, 13, 10))
        ),
    )
    contents = {master.content(), cancelled.content(), moved.content()}
    assert len(contents) == 3
    assert cancelled != master != moved


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"recurrence": "FREQ=WEEKLY"}, "must be a Recurrence"),
        ({"start": _at(2026, 1, 6), "end": _at(2026, 1, 6, 10)}, "starts with its first"),
        (
            {"start": dt.date(2026, 1, 5), "end": dt.date(2026, 1, 6), "all_day": True},
            "cannot be the recurrence",
        ),
    ],
)
def test_a_series_that_does_not_fit_its_master_is_refused(
    changes: dict[str, Any], message: str
) -> None:
    master = _series_master(_at(2026, 1, 5))
    with pytest.raises(InvalidEventError, match=message) as caught:
        attrs.evolve(master, **changes)
    assert caught.value.field == "recurrence"


def test_an_all_day_series_fits_an_all_day_master() -> None:
    day = dt.date(2026, 1, 5)
    recurrence = Recurrence(rule="FREQ=WEEKLY", start=day, time_zone="Europe/Stockholm")
    master = Event(
        subject="Mässa",
        start=day,
        end=day + dt.timedelta(days=1),
        all_day=True,
        recurrence=recurrence,
    )
    assert master.recurrence == recurrence


def test_a_changed_occurrence_cannot_itself_be_a_series() -> None:
    master = _series_master(_at(2026, 1, 5))
    assert master.recurrence is not None
    with pytest.raises(InvalidEventError, match="single event"):
        master.recurrence.change(_at(2026, 1, 12), _series_master(_at(2026, 1, 12)))


# --- the state codec ----------------------------------------------------------------------


def test_a_series_master_survives_the_state_codec() -> None:
    master = _series_master(_at(2026, 1, 5), location="Rum 4")
    assert master.recurrence is not None
    recurrence = master.recurrence.cancel(_at(2026, 1, 19)).change(
        _at(2026, 1, 12),
        Event(subject="Säljmöte (flyttat)", start=_at(2026, 1, 13, 14), end=_at(2026, 1, 13, 15)),
    )
    master = attrs.evolve(master, recurrence=recurrence)
    back = codec.event_from_json(codec.event_to_json(master))
    assert back == master
    assert back.recurrence is not None
    assert _timed(back.recurrence.start).tzinfo == STOCKHOLM
    assert back.content() == master.content()
    assert codec.event_to_json(back) == codec.event_to_json(master)


def test_an_all_day_series_survives_the_state_codec() -> None:
    day = dt.date(2026, 1, 5)
    recurrence = Recurrence(
        rule="FREQ=WEEKLY;COUNT=5",
        start=day,
        time_zone="Europe/Stockholm",
        cancelled=[dt.date(2026, 1, 12)],
    )
    master = Event(
        subject="Mässa",
        start=day,
        end=day + dt.timedelta(days=2),
        all_day=True,
        recurrence=recurrence,
    )
    assert codec.event_from_json(codec.event_to_json(master)) == master


def test_a_stored_event_without_recurrence_reads_as_a_single_appointment() -> None:
    single = Event(subject="Lunch", start=_at(2026, 1, 5, 12), end=_at(2026, 1, 5, 13))
    data = codec.encode_event(single)
    assert "recurrence" not in data
    assert codec.decode_event(data).recurrence is None


@pytest.mark.parametrize(
    "recurrence",
    [
        "FREQ=WEEKLY",
        {"rule": "FREQ=WEEKLY", "time_zone": "Europe/Stockholm"},
        {
            "rule": "FREQ=SECONDLY",
            "time_zone": "Europe/Stockholm",
            "start": "2026-01-05T09:00:00+01:00",
        },
        {
            "rule": "FREQ=WEEKLY",
            "time_zone": "Europe/Stockholm",
            "start": "2026-01-05T09:00:00+01:00",
            "cancelled": ["someday"],
        },
        {
            "rule": "FREQ=WEEKLY",
            "time_zone": "Europe/Stockholm",
            "start": "2026-01-05T09:00:00+01:00",
            "changed": [["2026-01-12T08:00:00+00:00"]],
        },
    ],
)
def test_a_damaged_stored_recurrence_is_a_state_error(recurrence: object) -> None:
    data = codec.encode_event(_series_master(_at(2026, 1, 5)))
    data["recurrence"] = recurrence
    with pytest.raises(StateError):
        codec.decode_event(data)


# --- merging ------------------------------------------------------------------------------


def test_a_moved_series_and_a_cancelled_occurrence_merge_into_a_valid_series() -> None:
    """The series moves with its start: a merge never pairs one side's start with the
    other side's series (which would be an event that cannot exist)."""
    base = _series_master(_at(2026, 1, 5))
    assert base.recurrence is not None
    moved = attrs.evolve(
        base,
        start=_at(2026, 1, 5, 10),
        end=_at(2026, 1, 5, 11),
        recurrence=attrs.evolve(base.recurrence, start=_at(2026, 1, 5, 10)),
    )
    cancelled = attrs.evolve(base, recurrence=base.recurrence.cancel(_at(2026, 1, 12)))
    for fallback in (ConflictPolicy.SALJSTOD_WINS, ConflictPolicy.OUTLOOK_WINS):
        outcome = resolve(
            Item(id="S1", version="1", event=cancelled),
            Item(id="O1", version="1", event=moved),
            base,
            policy=ConflictPolicy.MERGE,
            fallback=fallback,
        )
        assert outcome.merged in (moved, cancelled)
        assert outcome.conflict is not None
        assert "recurrence" in outcome.conflict.fields


def test_a_renamed_series_and_a_cancelled_occurrence_merge_cleanly() -> None:
    base = _series_master(_at(2026, 1, 5))
    assert base.recurrence is not None
    renamed = attrs.evolve(base, subject="Säljmöte Q1")
    cancelled = attrs.evolve(base, recurrence=base.recurrence.cancel(_at(2026, 1, 12)))
    outcome = resolve(
        Item(id="S1", version="1", event=cancelled),
        Item(id="O1", version="1", event=renamed),
        base,
        policy=ConflictPolicy.MERGE,
        fallback=ConflictPolicy.NEWEST_WINS,
    )
    assert outcome.conflict is None
    assert outcome.merged == attrs.evolve(renamed, recurrence=cancelled.recurrence)


# --- series synced to Säljstöd ------------------------------------------------------------

#: The sync host's "now" at the first sync: Tuesday 10 March 2026, 09:00 in Stockholm.
FIRST_SYNC = dt.datetime(2026, 3, 10, 8, tzinfo=UTC)
SERIES_START = _at(2026, 1, 5)  # a Monday


@attrs.define
class SeriesWorld:
    """Outlook keeps series; Säljstöd does not; the engine sees Outlook through the view."""

    saljstod: InMemoryCalendar
    outlook: InMemoryCalendar
    clock: ManualClock
    state: MemoryStateStore
    policy: SyncPolicy
    sync: Synchronizer = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.reconnect()

    def reconnect(self, state: MemoryStateStore | None = None) -> None:
        """A new Synchronizer (another process) over the same calendars."""
        self.state = state or self.state
        saljstod, outlook = wrap_for_series(
            self.saljstod, self.outlook, self.policy, self.clock, state=self.state, user="anna"
        )
        self.sync = Synchronizer(
            saljstod=saljstod,
            outlook=outlook,
            state=self.state,
            user="anna",
            policy=self.policy,
            clock=self.clock,
        )

    def activities(self) -> dict[str, Event]:
        """Säljstöd's activities by id."""
        return dict(self.saljstod.items())

    def starts(self) -> list[dt.datetime]:
        """Säljstöd's activity starts in Stockholm time, sorted."""
        return sorted(_timed(e.start).astimezone(STOCKHOLM) for e in self.activities().values())

    def master(self, series_id: str) -> Event:
        return self.outlook.items()[series_id]

    def series(self, series_id: str) -> Recurrence:
        recurrence = self.master(series_id).recurrence
        assert recurrence is not None
        return recurrence

    def activity_at(self, when: dt.datetime) -> str:
        """The id of the Säljstöd activity starting at ``when``."""
        (found,) = [i for i, e in self.activities().items() if e.start == when]
        return found

    def quiet(self) -> None:
        """A second sync plans nothing and writes nothing."""
        assert len(self.sync.plan()) == 0, self.sync.plan()
        report = self.sync.sync()
        assert report.ok, str(report)
        assert report.total_writes == 0, str(report)


def make_series_world(horizon: Horizon | None = None) -> SeriesWorld:
    clock = ManualClock(start=FIRST_SYNC)
    saljstod = InMemoryCalendar(clock=clock, name="saljstod", id_prefix="S")
    outlook = InMemoryCalendar(clock=clock, name="outlook", id_prefix="O", supports_series=True)
    policy = SyncPolicy(series_horizon=horizon or Horizon())
    return SeriesWorld(
        saljstod=saljstod,
        outlook=outlook,
        clock=clock,
        state=MemoryStateStore(),
        policy=policy,
    )


def _mondays(first: dt.date, last: dt.date) -> list[dt.datetime]:
    """09:00 Stockholm on every Monday from ``first`` to ``last``."""
    days = [first + dt.timedelta(weeks=n) for n in range((last - first).days // 7 + 1)]
    return [dt.datetime.combine(day, dt.time(9), STOCKHOLM) for day in days]


@pytest.fixture
def weekly() -> tuple[SeriesWorld, str]:
    """A weekly Monday 09:00 sales meeting, synced once."""
    world = make_series_world()
    series_id = world.outlook.add(_series_master(SERIES_START, location="Rum 4"))
    report = world.sync.sync()
    assert report.ok, str(report)
    return world, series_id


def test_a_weekly_series_appears_in_saljstod_as_single_activities(
    weekly: tuple[SeriesWorld, str],
) -> None:
    world, series_id = weekly
    # one month back (10 Feb .. ) to one year ahead (.. 10 March 2027), by original start
    expected = _mondays(dt.date(2026, 2, 9), dt.date(2027, 3, 8))
    assert world.starts() == expected
    assert all(
        e.subject == "Säljmöte" and e.location == "Rum 4" and e.recurrence is None
        for e in world.activities().values()
    )
    assert list(world.outlook.items()) == [series_id]  # Outlook still holds one series
    assert world.outlook.write_log == []  # nothing was written to Outlook
    # every activity names its occurrence: (series id, original start)
    keys = {world.saljstod.get(i).partner_key for i in world.activities()}  # type: ignore[union-attr]
    assert keys == {occurrence_id(series_id, start) for start in expected}
    world.quiet()


def test_editing_one_occurrence_in_saljstod_makes_an_exception_in_outlook(
    weekly: tuple[SeriesWorld, str],
) -> None:
    world, series_id = weekly
    moved = Event(
        subject="Säljmöte hos ACME",
        start=_at(2026, 3, 17, 13),
        end=_at(2026, 3, 17, 15),
        location="ACME",
    )
    activity = world.activity_at(_at(2026, 3, 16))
    world.saljstod.update(activity, moved)
    report = world.sync.sync()
    assert report.ok, str(report)
    assert report.count("update", Side.OUTLOOK) == 1
    series = world.series(series_id)
    assert series.exceptions == {_at(2026, 3, 16).astimezone(UTC): moved}
    assert series.cancelled == frozenset()
    assert list(world.outlook.items()) == [series_id]
    assert world.activities()[activity] == moved
    world.quiet()


def test_deleting_one_occurrence_in_saljstod_cancels_it_in_outlook(
    weekly: tuple[SeriesWorld, str],
) -> None:
    world, series_id = weekly
    before = len(world.activities())
    world.saljstod.delete(world.activity_at(_at(2026, 3, 23)))
    report = world.sync.sync()
    assert report.ok, str(report)
    assert world.series(series_id).cancelled == frozenset({_at(2026, 3, 23).astimezone(UTC)})
    assert len(world.activities()) == before - 1
    assert _at(2026, 3, 23) not in world.starts()
    world.quiet()


def test_moving_the_series_in_outlook_updates_every_activity_in_place(
    weekly: tuple[SeriesWorld, str],
) -> None:
    world, series_id = weekly
    ids_before = set(world.activities())
    master = world.master(series_id)
    later = SERIES_START + dt.timedelta(hours=1)
    world.outlook.update(
        series_id,
        attrs.evolve(
            master,
            start=later,
            end=later + dt.timedelta(hours=1),
            recurrence=attrs.evolve(world.series(series_id), start=later),
        ),
    )
    report = world.sync.sync()
    assert report.ok, str(report)
    assert set(world.activities()) == ids_before  # the same activities, not new ones
    assert report.count("create", Side.SALJSTOD) == report.count("delete", Side.SALJSTOD) == 0
    assert world.starts() == [
        s + dt.timedelta(hours=1) for s in _mondays(dt.date(2026, 2, 9), dt.date(2027, 3, 8))
    ]
    world.quiet()


def test_renaming_the_series_in_outlook_updates_every_activity_but_not_an_exception(
    weekly: tuple[SeriesWorld, str],
) -> None:
    world, series_id = weekly
    moved = Event(subject="Kundbesök", start=_at(2026, 3, 17, 13), end=_at(2026, 3, 17, 14))
    world.saljstod.update(world.activity_at(_at(2026, 3, 16)), moved)
    world.sync.sync()
    world.outlook.update(series_id, attrs.evolve(world.master(series_id), subject="Veckomöte"))
    report = world.sync.sync()
    assert report.ok, str(report)
    subjects = sorted(e.subject for e in world.activities().values())
    assert subjects.count("Kundbesök") == 1
    assert subjects.count("Veckomöte") == len(subjects) - 1
    world.quiet()


def test_shortening_the_series_in_outlook_removes_the_dropped_activities(
    weekly: tuple[SeriesWorld, str],
) -> None:
    world, series_id = weekly
    ended = attrs.evolve(world.series(series_id), rule="FREQ=WEEKLY;UNTIL=20260420T235959Z")
    world.outlook.update(series_id, attrs.evolve(world.master(series_id), recurrence=ended))
    refused = world.sync.sync()
    assert refused.refused is not None  # 46 of 57 activities: the guard asks first
    assert len(world.activities()) == 57
    report = world.sync.sync(confirm_mass_delete=True)
    assert report.ok, str(report)
    assert report.count("delete", Side.SALJSTOD) == 46
    assert report.count("create", Side.SALJSTOD) == 0
    assert world.starts() == _mondays(dt.date(2026, 2, 9), dt.date(2026, 4, 20))
    world.quiet()


def test_cancelling_and_changing_occurrences_in_outlook_reach_saljstod(
    weekly: tuple[SeriesWorld, str],
) -> None:
    world, series_id = weekly
    special = Event(subject="Säljmöte (lång)", start=_at(2026, 4, 6, 9), end=_at(2026, 4, 6, 12))
    series = world.series(series_id).cancel(_at(2026, 3, 30)).change(_at(2026, 4, 6), special)
    world.outlook.update(series_id, attrs.evolve(world.master(series_id), recurrence=series))
    report = world.sync.sync()
    assert report.ok, str(report)
    assert report.count("delete", Side.SALJSTOD) == 1
    assert report.count("update", Side.SALJSTOD) == 1
    assert _at(2026, 3, 30) not in world.starts()
    assert world.activities()[world.activity_at(_at(2026, 4, 6))] == special
    world.quiet()


def test_the_horizon_rolls_forward_and_releases_the_past_instead_of_deleting_it(
    weekly: tuple[SeriesWorld, str],
) -> None:
    world, series_id = weekly
    first = set(world.activities())
    world.clock.advance(days=61)  # 10 May 2026
    report = world.sync.sync()
    assert report.ok, str(report)
    assert report.count("delete", Side.SALJSTOD) == 0
    assert set(world.activities()) >= first  # nothing was deleted, the past is kept
    assert world.starts() == _mondays(dt.date(2026, 2, 9), dt.date(2027, 5, 10))
    world.quiet()
    # a released activity is Säljstöd's own now: editing or deleting it leaves Outlook alone
    released = world.activity_at(_at(2026, 2, 16))
    world.saljstod.update(released, attrs.evolve(world.activities()[released], body="Notes"))
    report = world.sync.sync()
    assert report.ok, str(report)
    assert world.series(series_id).exceptions == {}
    world.saljstod.delete(world.activity_at(_at(2026, 2, 23)))
    report = world.sync.sync()
    assert report.ok, str(report)
    assert world.series(series_id).cancelled == frozenset()
    world.quiet()
    # a full sync sees the released activities' partners as they were agreed: no deletes
    report = world.sync.full_sync_now()
    assert report.ok, str(report)
    assert report.total_writes == 0, str(report)
    assert _at(2026, 2, 16) in world.starts()
    world.quiet()


def test_deleting_the_series_deletes_only_the_activities_inside_the_horizon(
    weekly: tuple[SeriesWorld, str],
) -> None:
    world, series_id = weekly
    world.clock.advance(days=61)
    world.sync.sync()
    world.outlook.delete(series_id)
    report = world.sync.sync(confirm_mass_delete=True)
    assert report.ok, str(report)
    # released ones (original start before 9 April) stay; the rest is gone
    assert world.starts() == _mondays(dt.date(2026, 2, 9), dt.date(2026, 4, 6))
    world.quiet()


def test_a_series_crossing_the_dst_switch_keeps_nine_o_clock_in_saljstod() -> None:
    world = make_series_world()
    world.outlook.add(_series_master(_at(2026, 3, 2), rule="FREQ=WEEKLY;COUNT=8"))
    assert world.sync.sync().ok
    starts = [_timed(e.start) for e in world.activities().values()]
    assert len(starts) == 8
    assert {s.astimezone(STOCKHOLM).time() for s in starts} == {dt.time(9)}
    # 29 March 2026: CET -> CEST, so the instant moves an hour earlier in UTC
    assert sorted({s.astimezone(UTC).hour for s in starts}) == [7, 8]
    world.quiet()


def test_an_all_day_series_becomes_all_day_activities() -> None:
    world = make_series_world()
    day = dt.date(2026, 3, 6)
    world.outlook.add(
        Event(
            subject="Mässa",
            start=day,
            end=day + dt.timedelta(days=1),
            all_day=True,
            recurrence=Recurrence(
                rule="FREQ=MONTHLY;COUNT=3", start=day, time_zone="Europe/Stockholm"
            ),
        )
    )
    assert world.sync.sync().ok
    assert sorted(e.start for e in world.activities().values()) == [
        dt.date(2026, 3, 6),
        dt.date(2026, 4, 6),
        dt.date(2026, 5, 6),
    ]
    world.quiet()


def test_a_single_appointment_that_becomes_a_series_is_replaced_by_its_occurrences() -> None:
    world = make_series_world()
    single = Event(subject="Säljmöte", start=_at(2026, 3, 16), end=_at(2026, 3, 16, 10))
    outlook_id = world.outlook.add(single)
    assert world.sync.sync().ok
    assert len(world.activities()) == 1
    recurring = attrs.evolve(
        single,
        recurrence=Recurrence(
            rule="FREQ=WEEKLY;COUNT=4", start=single.start, time_zone="Europe/Stockholm"
        ),
    )
    world.outlook.update(outlook_id, recurring)
    report = world.sync.sync()
    assert report.ok, str(report)
    assert world.starts() == _mondays(dt.date(2026, 3, 16), dt.date(2026, 4, 6))
    world.quiet()


def test_activities_made_in_saljstod_become_single_appointments_in_outlook(
    weekly: tuple[SeriesWorld, str],
) -> None:
    world, series_id = weekly
    lunch = Event(subject="Lunch", start=_at(2026, 3, 18, 12), end=_at(2026, 3, 18, 13))
    world.saljstod.add(lunch)
    report = world.sync.sync()
    assert report.ok, str(report)
    assert sorted(world.outlook.items().values(), key=lambda e: e.subject) == [
        lunch,
        world.master(series_id),
    ]
    world.quiet()


def test_lost_link_state_relinks_every_occurrence_without_duplicates(
    weekly: tuple[SeriesWorld, str],
) -> None:
    world, _ = weekly
    before = world.activities()
    world.reconnect(MemoryStateStore())
    report = world.sync.sync()
    assert report.ok, str(report)
    assert report.count("create", Side.SALJSTOD) == report.count("create", Side.OUTLOOK) == 0
    assert world.activities() == before
    world.quiet()


def test_a_crash_after_creating_an_activity_does_not_duplicate_it() -> None:
    world = make_series_world()
    world.outlook.add(_series_master(_at(2026, 3, 2), rule="FREQ=WEEKLY;COUNT=3"))
    world.saljstod.fail_next("after_create", ItemRejectedError("connection lost"))
    first = world.sync.sync()
    assert not first.ok
    report = world.sync.sync()
    assert report.ok, str(report)
    assert len(world.activities()) == 3
    world.quiet()


# --- users on both sides, random syncs: the series promises hold -------------------------


class Crash(Exception):
    """The process dies here (not an outlook_sync error: nothing catches it)."""


class SeriesAndActivities(RuleBasedStateMachine):
    """A user edits a weekly series in Outlook and its activities in Säljstöd; time passes.

    After every sync that finished without failures:

    - each Säljstöd activity that stands for an occurrence in the horizon holds exactly
      what the series says for that occurrence, and every such occurrence has one
      activity (convergence, no duplicates);
    - single appointments are the same on both sides;
    - activities whose occurrence left the horizon were never deleted by the sync;
    - a second sync plans nothing;
    - a failure or a crash at any write is recovered by the next sync.
    """

    def __init__(self) -> None:
        super().__init__()
        self.world = make_series_world(
            Horizon(back=dt.timedelta(days=14), ahead=dt.timedelta(days=56))
        )
        self.world.clock.now = dt.datetime(2026, 3, 10, 12, tzinfo=UTC)  # away from 09:00
        self.series_id = self.world.outlook.add(_series_master(_at(2026, 3, 2)))
        self.kept: set[str] = set()  # released activities: the sync must keep them

    # -- the Outlook user --------------------------------------------------------------

    def _rewrite(self, **changes: Any) -> None:
        master = self.world.master(self.series_id)
        self.world.outlook.update(self.series_id, attrs.evolve(master, **changes))

    @rule(subject=st.sampled_from(["Säljmöte", "Veckomöte", "Pipeline"]))
    def outlook_renames_the_series(self, subject: str) -> None:
        self._rewrite(subject=subject)

    @rule(hour=st.sampled_from([8, 9, 10, 13]))
    def outlook_moves_the_series(self, hour: int) -> None:
        master = self.world.master(self.series_id)
        start = _timed(master.start).astimezone(STOCKHOLM).replace(hour=hour)
        recurrence = Recurrence(
            rule=self.world.series(self.series_id).rule,
            start=start,
            time_zone="Europe/Stockholm",
        )  # Outlook drops the exceptions of a series moved to another time
        self._rewrite(start=start, end=start + dt.timedelta(hours=1), recurrence=recurrence)

    @rule(rule=st.sampled_from(["FREQ=WEEKLY", "FREQ=WEEKLY;COUNT=6", "FREQ=WEEKLY;INTERVAL=2"]))
    def outlook_changes_the_rule(self, rule: str) -> None:
        master = self.world.master(self.series_id)
        recurrence = Recurrence(rule=rule, start=master.start, time_zone="Europe/Stockholm")
        self._rewrite(recurrence=recurrence)

    @rule(data=st.data(), cancel=st.booleans())
    def outlook_edits_one_occurrence(self, data: st.DataObject, cancel: bool) -> None:
        now = self.world.clock.now
        wanted = flatten(
            self.series_id,
            self.world.master(self.series_id),
            self.world.series(self.series_id),
            now=now,
            horizon=self.world.policy.series_horizon,
        )
        if not wanted:
            return
        occurrence = data.draw(st.sampled_from(wanted))
        series = self.world.series(self.series_id)
        if cancel:
            self._rewrite(recurrence=series.cancel(occurrence.original_start))
        else:
            own = attrs.evolve(occurrence.event, subject="Kundbesök", location="ACME")
            self._rewrite(recurrence=series.change(occurrence.original_start, own))

    # -- the Säljstöd user -------------------------------------------------------------

    @rule(data=st.data(), change=st.sampled_from(["subject", "time", "delete"]))
    def saljstod_edits_an_activity(self, data: st.DataObject, change: str) -> None:
        activities = self.world.activities()
        if not activities:
            return
        activity = data.draw(st.sampled_from(sorted(activities)))
        event = activities[activity]
        if change == "delete":
            self.world.saljstod.delete(activity)
            self.kept.discard(activity)
        elif change == "subject":
            self.world.saljstod.update(activity, attrs.evolve(event, subject="Uppföljning"))
        else:
            shift = dt.timedelta(hours=3)
            self.world.saljstod.update(
                activity, attrs.evolve(event, start=event.start + shift, end=event.end + shift)
            )

    @rule(day=st.integers(0, 20))
    def saljstod_adds_an_activity(self, day: int) -> None:
        start = _at(2026, 3, 11, 14) + dt.timedelta(days=day)
        self.world.saljstod.add(
            Event(subject="Samtal", start=start, end=start + dt.timedelta(minutes=30))
        )

    @rule(days=st.integers(1, 30))
    def time_passes(self, days: int) -> None:
        self.world.clock.advance(days=days)

    # -- syncs -------------------------------------------------------------------------

    @rule()
    def sync(self) -> None:
        report = self.world.sync.sync(confirm_mass_delete=True)
        assert report.ok, str(report)
        self._check()

    @rule()
    def full_sync(self) -> None:
        report = self.world.sync.full_sync_now(confirm_mass_delete=True)
        assert report.ok, str(report)
        self._check()

    @rule(
        outlook=st.booleans(),
        point=st.sampled_from(
            [
                "create",
                "update",
                "delete",
                "after_create",
                "after_update",
                "after_delete",
                "list",
                "get",
            ]
        ),
        crash=st.booleans(),
    )
    def sync_with_a_fault(self, outlook: bool, point: str, crash: bool) -> None:
        calendar = self.world.outlook if outlook else self.world.saljstod
        error: Exception = Crash() if crash else BackendUnavailableError("connection lost")
        calendar.fail_next(point, error)
        with contextlib.suppress(Crash):
            self.world.sync.sync(confirm_mass_delete=True)
        calendar._faults.clear()

    def _check(self) -> None:
        world = self.world
        assert len(world.sync.plan()) == 0, world.sync.plan()
        items = {i: world.saljstod.get(i) for i in world.activities()}
        keys = [item.partner_key for item in items.values() if isinstance(item, Item)]
        assert len(keys) == len(set(keys)), "two activities claim one partner"
        assert self.kept <= set(items), "the sync deleted a released activity"
        now = world.clock.now
        horizon = world.policy.series_horizon
        wanted = {
            o.id: o.event
            for o in flatten(
                self.series_id,
                world.master(self.series_id),
                world.series(self.series_id),
                now=now,
                horizon=horizon,
            )
        }
        held: dict[str, Event] = {}
        singles: list[tuple[object, ...]] = []
        for item in items.values():
            assert isinstance(item, Item)
            parsed = parse_occurrence_id(item.partner_key or "")
            if parsed is None:
                singles.append(item.event.content())
            elif horizon.holds(parsed[1], now):
                held[item.partner_key or ""] = item.event
            else:
                self.kept.add(item.id)
        assert {k: e.content() for k, e in held.items()} == {
            k: e.content() for k, e in wanted.items()
        }
        plain = [e.content() for e in world.outlook.items().values() if e.recurrence is None]
        assert sorted(singles) == sorted(plain)


TestSeriesAndActivities = SeriesAndActivities.TestCase
TestSeriesAndActivities.settings = settings(
    max_examples=40,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_a_series_base_survives_the_sqlite_state_store(tmp_path: Path) -> None:
    master = _series_master(_at(2026, 1, 5))
    assert master.recurrence is not None
    master = attrs.evolve(master, recurrence=master.recurrence.cancel(_at(2026, 1, 12)))
    store = SqliteStateStore(tmp_path / "state.db")
    try:
        link = Link(saljstod_id="S1", outlook_id="O1", base=master)
        store.commit("anna", StateChange(put_links=(link,)))
        (back,) = store.links("anna")
        assert back.base == master
        assert back.base.content() == master.content()
    finally:
        store.close()


def test_two_calendars_with_series_sync_the_series_itself() -> None:
    """No view when both sides keep series: the master travels whole, exceptions too."""
    world = make_series_world()
    both = InMemoryCalendar(clock=world.clock, name="saljstod", id_prefix="S", supports_series=True)
    saljstod, outlook = wrap_for_series(
        both, world.outlook, world.policy, world.clock, state=world.state, user="anna"
    )
    assert (saljstod, outlook) == (both, world.outlook)
    sync = Synchronizer(
        saljstod=saljstod,
        outlook=outlook,
        state=world.state,
        user="anna",
        policy=world.policy,
        clock=world.clock,
    )
    series_id = world.outlook.add(_series_master(SERIES_START))
    assert sync.sync().ok
    (copy,) = both.items().values()
    assert copy == world.master(series_id)
    recurrence = copy.recurrence
    assert recurrence is not None
    both.update(
        next(iter(both.items())), attrs.evolve(copy, recurrence=recurrence.cancel(_at(2026, 3, 16)))
    )
    world.outlook.update(series_id, attrs.evolve(world.master(series_id), subject="Veckomöte"))
    report = sync.sync()
    assert report.ok, str(report)
    assert report.conflicts == ()  # different units: a clean merge
    assert world.series(series_id).cancelled == frozenset({_at(2026, 3, 16).astimezone(UTC)})
    assert world.master(series_id).subject == "Veckomöte"
    assert list(both.items().values()) == [world.master(series_id)]


def test_wrapping_twice_changes_nothing(weekly: tuple[SeriesWorld, str]) -> None:
    world, _ = weekly
    wrapped = (world.sync.saljstod, world.sync.outlook)
    again = wrap_for_series(*wrapped, world.policy, world.clock, state=world.state, user="anna")
    assert again == wrapped


def test_an_occurrence_ending_after_the_fall_back_switch_lasts_its_thirty_minutes() -> None:
    """02:30 summer time to 02:00 winter time on 27 October 2024: 30 minutes."""
    start = dt.datetime(2024, 10, 27, 2, 30, tzinfo=STOCKHOLM)  # fold=0: +02:00
    series = Recurrence(
        rule="FREQ=WEEKLY;BYDAY=SU",
        start=dt.datetime(2024, 10, 20, 2, 30, tzinfo=STOCKHOLM),
        time_zone="Europe/Stockholm",
    )
    master = Event(
        subject="Nattjobb",
        start=series.start,
        end=_timed(series.start) + dt.timedelta(minutes=30),
        recurrence=series,
    )
    window = (dt.datetime(2024, 10, 26, tzinfo=UTC), dt.datetime(2024, 10, 28, tzinfo=UTC))
    ((_key, occurrence),) = expand(series, master, *window)
    assert occurrence.start == start
    end = _timed(occurrence.end)
    assert end.astimezone(UTC) - start.astimezone(UTC) == dt.timedelta(minutes=30)
    assert end.astimezone(STOCKHOLM).strftime("%H:%M%z") == "02:00+0100"
