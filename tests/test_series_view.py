"""SeriesView: Outlook's series as the single occurrences a side without series holds.

These tests call the view as the engine does (listings, gets, versioned writes) and look
at what the series-capable calendar holds afterwards.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import attrs
import pytest

from outlook_sync import (
    ConfigurationError,
    Event,
    InMemoryCalendar,
    ItemNotFoundError,
    ItemRejectedError,
    MemoryStateStore,
    Side,
    SyncPolicy,
    VersionConflictError,
)
from outlook_sync._core.series import (
    Horizon,
    flatten,
    occurrence_id,
    parse_occurrence_id,
    reconcile,
    successors,
)
from outlook_sync.model import BrokenItem, Item, Link
from outlook_sync.protocols import ChangeNotifier, StateChange
from outlook_sync.recurrence import Recurrence
from outlook_sync.series_view import SeriesSupport, SeriesView, wrap_for_series
from tests.world import ManualClock

UTC = dt.UTC
STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")
NOW = dt.datetime(2026, 3, 10, 8, tzinfo=UTC)
#: four weeks ahead, nothing back: the Mondays 16, 23, 30 March and 6 April
SHORT = Horizon(back=dt.timedelta(0), ahead=dt.timedelta(days=28))


def _at(y: int, m: int, d: int, hh: int = 9) -> dt.datetime:
    return dt.datetime(y, m, d, hh, tzinfo=STOCKHOLM)


def _master(start: dt.datetime | None = None, rule: str = "FREQ=WEEKLY") -> Event:
    start = start or _at(2026, 1, 5)
    return Event(
        subject="Säljmöte",
        start=start,
        end=start + dt.timedelta(hours=1),
        recurrence=Recurrence(rule=rule, start=start, time_zone="Europe/Stockholm"),
    )


@attrs.define
class Setup:
    outlook: InMemoryCalendar
    state: MemoryStateStore
    view: SeriesView
    series_id: str

    def occurrence(self, when: dt.datetime) -> Item:
        found = self.view.get(occurrence_id(self.series_id, when))
        assert isinstance(found, Item)
        return found

    def recurrence(self) -> Recurrence:
        recurrence = self.outlook.items()[self.series_id].recurrence
        assert recurrence is not None
        return recurrence

    def link(self, when: dt.datetime, saljstod_id: str, base: Event | None = None) -> Link:
        """Record a link as a sync would have, for the occurrence at ``when``."""
        occurrence = self.occurrence(when) if base is None else None
        link = Link(
            saljstod_id=saljstod_id,
            outlook_id=occurrence_id(self.series_id, when),
            base=base or occurrence.event,  # type: ignore[union-attr]
            outlook_version=occurrence.version if occurrence else "v-old",
        )
        self.state.commit("anna", StateChange(put_links=(link,)))
        return link


@pytest.fixture
def setup() -> Setup:
    clock = ManualClock(start=NOW, step=dt.timedelta(0))
    outlook = InMemoryCalendar(clock=clock, name="outlook", id_prefix="O", supports_series=True)
    state = MemoryStateStore()
    view = SeriesView(outlook, horizon=SHORT, now=clock, state=state, user="anna")
    series_id = outlook.add(_master())
    return Setup(outlook=outlook, state=state, view=view, series_id=series_id)


# --- capabilities and wiring --------------------------------------------------------------


def test_wrap_for_series_puts_the_view_on_the_side_with_series_facing_one_without() -> None:
    flat = InMemoryCalendar(name="saljstod")
    series = InMemoryCalendar(name="outlook", supports_series=True)
    state, clock = MemoryStateStore(), ManualClock()
    policy = SyncPolicy(series_horizon=SHORT)
    saljstod, outlook = wrap_for_series(flat, series, policy, clock, state=state, user="anna")
    assert saljstod is flat
    assert isinstance(outlook, SeriesView)
    assert outlook.horizon == SHORT
    inner: object = outlook.calendar
    assert inner is series
    mirrored = wrap_for_series(series, flat, policy, clock, state=state, user="anna")
    assert isinstance(mirrored[0], SeriesView)
    assert mirrored[1] is flat
    other = InMemoryCalendar(supports_series=True)
    assert wrap_for_series(series, other, policy, clock, state=state, user="a") == (series, other)
    assert wrap_for_series(flat, flat, policy, clock, state=state, user="a") == (flat, flat)


def test_series_support_is_declared_by_the_calendar() -> None:
    assert isinstance(InMemoryCalendar(supports_series=True), SeriesSupport)
    with pytest.raises(TypeError, match="series support"):
        SeriesView(
            InMemoryCalendar(),
            horizon=SHORT,
            now=ManualClock(),
            state=MemoryStateStore(),
            user="anna",
        )


def test_a_calendar_without_series_refuses_a_series_instead_of_storing_half_of_it() -> None:
    flat = InMemoryCalendar()
    with pytest.raises(ItemRejectedError, match="series"):
        flat.create(_master(), partner_key="O1")
    assert flat.items() == {}
    single = flat.add(Event(subject="Lunch", start=_at(2026, 3, 2, 12), end=_at(2026, 3, 2, 13)))
    with pytest.raises(ItemRejectedError):
        flat.update(single, _master())
    assert flat.items()[single].recurrence is None
    assert flat.list_series() == []


def test_the_horizon_is_part_of_the_policy() -> None:
    assert SyncPolicy().series_horizon == Horizon(
        back=dt.timedelta(days=31), ahead=dt.timedelta(days=365)
    )
    with pytest.raises(ConfigurationError, match="series_horizon"):
        SyncPolicy(series_horizon="one year")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        Horizon(ahead=dt.timedelta(days=-1))


# --- reading ------------------------------------------------------------------------------


def test_a_listing_shows_single_items_and_the_occurrences_in_the_horizon(setup: Setup) -> None:
    lunch = Event(subject="Lunch", start=_at(2026, 3, 11, 12), end=_at(2026, 3, 11, 13))
    lunch_id = setup.outlook.add(lunch)
    listing = setup.view.list_all()
    assert listing.complete
    by_id = {item.id: item for item in listing.items}
    assert by_id.pop(lunch_id).event == lunch
    mondays = [_at(2026, 3, 16), _at(2026, 3, 23), _at(2026, 3, 30), _at(2026, 4, 6)]
    assert sorted(by_id) == [occurrence_id(setup.series_id, m) for m in mondays]
    assert [by_id[i].event.start for i in sorted(by_id)] == mondays
    assert all(
        item.event.recurrence is None and item.partner_key is None for item in by_id.values()
    )
    assert len({item.version for item in by_id.values()}) == 4
    assert setup.series_id in listing.deleted  # the master is not an item of the view
    assert setup.view.get(setup.series_id) is None
    assert parse_occurrence_id(sorted(by_id)[0]) == (setup.series_id, mondays[0])


def test_linked_occurrences_carry_their_partner_and_unchanged_ones_are_not_relisted(
    setup: Setup,
) -> None:
    setup.link(_at(2026, 3, 16), "S16")
    assert setup.occurrence(_at(2026, 3, 16)).partner_key == "S16"
    cursor = setup.view.list_all().cursor
    listing = setup.view.list_changes(cursor)
    shown = {item.id for item in listing.items}
    # the three unlinked occurrences are new to the sync; the linked one is as agreed
    assert occurrence_id(setup.series_id, _at(2026, 3, 16)) not in shown
    assert len(shown) == 3


def test_a_released_occurrence_is_listed_as_agreed_and_never_as_deleted(setup: Setup) -> None:
    past = _at(2026, 3, 2)  # before the horizon
    base = Event(subject="Säljmöte (anteckningar)", start=past, end=past + dt.timedelta(hours=1))
    setup.link(past, "S2", base=base)
    complete = setup.view.list_all()
    released = {item.id: item for item in complete.items}[occurrence_id(setup.series_id, past)]
    assert released.event == base
    assert released.partner_key == "S2"
    changes = setup.view.list_changes(complete.cursor)
    assert occurrence_id(setup.series_id, past) not in changes.deleted
    assert occurrence_id(setup.series_id, past) not in {i.id for i in changes.items}


def test_occurrences_of_an_unreadable_series_are_unreadable_too(setup: Setup) -> None:
    setup.link(_at(2026, 3, 23), "S23")
    setup.outlook.add_broken(setup.series_id, "the pattern is corrupt")
    listing = setup.view.list_all()
    broken = {bad.id: bad for bad in listing.broken}
    occurrence = occurrence_id(setup.series_id, _at(2026, 3, 23))
    assert broken[occurrence].partner_key == "S23"
    assert occurrence not in {item.id for item in listing.items}
    assert isinstance(setup.view.get(occurrence), BrokenItem)


def test_find_by_partner_key_finds_single_items_only(setup: Setup) -> None:
    single = setup.outlook.add(
        Event(subject="Lunch", start=_at(2026, 3, 11, 12), end=_at(2026, 3, 11, 13)),
        partner_key="S9",
    )
    keyed_master = setup.outlook.add(_master(_at(2026, 1, 6)), partner_key="S9")
    assert keyed_master != single
    assert [item.id for item in setup.view.find_by_partner_key("S9")] == [single]


# --- writing ------------------------------------------------------------------------------


def test_updating_an_occurrence_makes_an_exception_checked_against_its_version(
    setup: Setup,
) -> None:
    occurrence = setup.occurrence(_at(2026, 3, 23))
    moved = Event(subject="Säljmöte hos ACME", start=_at(2026, 3, 24, 13), end=_at(2026, 3, 24, 14))
    with pytest.raises(VersionConflictError):
        setup.view.update(occurrence.id, moved, expected_version="stale")
    assert setup.recurrence().changed == ()
    written = setup.view.update(
        occurrence.id, moved, expected_version=occurrence.version, partner_key="S23"
    )
    assert written.id == occurrence.id
    assert written.event == moved
    assert written.partner_key == "S23"
    assert setup.recurrence().exceptions == {_at(2026, 3, 23).astimezone(UTC): moved}
    assert setup.occurrence(_at(2026, 3, 23)).version == written.version
    # the other occurrences' versions did not change
    other = setup.occurrence(_at(2026, 3, 30))
    assert setup.view.update(other.id, other.event, expected_version=other.version).id


def test_storing_a_partner_key_on_an_occurrence_writes_nothing_to_outlook(setup: Setup) -> None:
    occurrence = setup.occurrence(_at(2026, 3, 16))
    setup.outlook.write_log.clear()
    stamped = setup.view.update(
        occurrence.id, occurrence.event, expected_version=occurrence.version, partner_key="S16"
    )
    assert setup.outlook.write_log == []
    assert stamped.partner_key == "S16"
    assert stamped.version == occurrence.version


def test_deleting_an_occurrence_cancels_it(setup: Setup) -> None:
    occurrence = setup.occurrence(_at(2026, 3, 30))
    setup.view.delete(occurrence.id, expected_version=occurrence.version)
    assert setup.recurrence().cancelled == frozenset({_at(2026, 3, 30).astimezone(UTC)})
    assert setup.view.get(occurrence.id) is None
    assert occurrence.id not in {item.id for item in setup.view.list_all().items}
    with pytest.raises(ItemNotFoundError):
        setup.view.delete(occurrence.id, expected_version=occurrence.version)
    with pytest.raises(ItemNotFoundError):
        setup.view.update(occurrence.id, occurrence.event, expected_version=occurrence.version)


def test_writes_to_a_released_occurrence_change_nothing_in_outlook(setup: Setup) -> None:
    past = occurrence_id(setup.series_id, _at(2026, 3, 2))
    edited = Event(subject="Anteckningar", start=_at(2026, 3, 2), end=_at(2026, 3, 2, 10))
    setup.outlook.write_log.clear()
    written = setup.view.update(past, edited, expected_version="v1", partner_key="S2")
    assert written.version == "v1"
    setup.view.delete(past, expected_version="v1")
    assert setup.outlook.write_log == []
    assert setup.recurrence() == _master().recurrence


def test_an_occurrence_of_a_deleted_series_is_gone_inside_the_horizon(setup: Setup) -> None:
    occurrence = setup.occurrence(_at(2026, 3, 16))
    setup.outlook.delete(setup.series_id)
    assert setup.view.get(occurrence.id) is None
    with pytest.raises(ItemNotFoundError):
        setup.view.update(occurrence.id, occurrence.event, expected_version=occurrence.version)


def test_an_occurrence_cannot_be_given_a_series_of_its_own(setup: Setup) -> None:
    occurrence = setup.occurrence(_at(2026, 3, 16))
    with pytest.raises(ItemRejectedError):
        setup.view.update(
            occurrence.id, _master(_at(2026, 3, 16)), expected_version=occurrence.version
        )


def test_creates_and_single_items_pass_through_unchanged(setup: Setup) -> None:
    lunch = Event(subject="Lunch", start=_at(2026, 3, 11, 12), end=_at(2026, 3, 11, 13))
    created = setup.view.create(lunch, partner_key="S5")
    assert setup.outlook.items()[created.id] == lunch
    later = attrs.evolve(lunch, subject="Lunch med ACME")
    updated = setup.view.update(created.id, later, expected_version=created.version)
    assert setup.view.get(created.id) == updated
    setup.view.delete(created.id, expected_version=updated.version)
    assert created.id not in setup.outlook.items()


def test_the_horizon_stays_put_between_a_listing_and_the_writes_that_follow() -> None:
    slow = ManualClock(start=NOW, step=dt.timedelta(days=7))  # a week per reading
    outlook = InMemoryCalendar(supports_series=True)
    view = SeriesView(outlook, horizon=SHORT, now=slow, state=MemoryStateStore(), user="a")
    series_id = outlook.add(_master())
    listed = {item.id: item for item in view.list_all().items}
    first = occurrence_id(series_id, _at(2026, 3, 23))
    assert min(listed) == first  # the listing's "now" was 17 March
    # a week later by the clock, yet the occurrence listed first is still in the horizon
    view.delete(first, expected_version=listed[first].version)
    recurrence = outlook.items()[series_id].recurrence
    assert recurrence is not None
    assert recurrence.cancelled == frozenset({_at(2026, 3, 23).astimezone(UTC)})


def test_a_mirrored_view_reads_links_from_the_saljstod_side() -> None:
    clock = ManualClock(start=NOW, step=dt.timedelta(0))
    saljstod = InMemoryCalendar(clock=clock, supports_series=True)
    state = MemoryStateStore()
    view = SeriesView(
        saljstod, horizon=SHORT, now=clock, state=state, user="anna", side=Side.SALJSTOD
    )
    series_id = saljstod.add(_master())
    occurrence = occurrence_id(series_id, _at(2026, 3, 16))
    listed = {item.id: item for item in view.list_all().items}
    state.commit(
        "anna",
        StateChange(
            put_links=(
                Link(
                    saljstod_id=occurrence,
                    outlook_id="O7",
                    base=listed[occurrence].event,
                    saljstod_version=listed[occurrence].version,
                ),
            )
        ),
    )
    found = view.get(occurrence)
    assert isinstance(found, Item)
    assert found.partner_key == "O7"


# --- the pure decisions the view relies on -------------------------------------------------


def test_a_series_moved_within_the_day_pairs_each_old_occurrence_with_the_new_one() -> None:
    series_id = "O1"
    old = _master()
    assert old.recurrence is not None
    later = _at(2026, 1, 5, 10)
    new = attrs.evolve(
        old,
        start=later,
        end=later + dt.timedelta(hours=1),
        recurrence=attrs.evolve(old.recurrence, start=later, rule="FREQ=WEEKLY;COUNT=12"),
    )
    assert new.recurrence is not None
    held = {o.id: o.event for o in flatten(series_id, old, old.recurrence, now=NOW, horizon=SHORT)}
    changes = reconcile(
        series_id,
        held,
        flatten(series_id, new, new.recurrence, now=NOW, horizon=SHORT),
        now=NOW,
        horizon=SHORT,
    )
    pairs = successors(changes, new.recurrence)
    # COUNT=12 ends on 23 March: the occurrences of 30 March and 6 April have no successor
    assert pairs == {
        occurrence_id(series_id, _at(2026, 3, 16)): occurrence_id(series_id, _at(2026, 3, 16, 10)),
        occurrence_id(series_id, _at(2026, 3, 23)): occurrence_id(series_id, _at(2026, 3, 23, 10)),
    }
    assert set(changes.delete) - set(pairs) == {
        occurrence_id(series_id, _at(2026, 3, 30)),
        occurrence_id(series_id, _at(2026, 4, 6)),
    }


def test_the_horizon_holds_timed_occurrences_exactly_and_dates_only_when_surely_inside() -> None:
    low, high = SHORT.window(NOW)
    assert SHORT.holds(low, NOW)
    assert not SHORT.holds(low - dt.timedelta(seconds=1), NOW)
    assert not SHORT.holds(high, NOW)
    assert SHORT.holds(dt.date(2026, 3, 20), NOW)
    # 10 March 08:00 UTC: the date 10 March began before that in every zone
    assert not SHORT.holds(dt.date(2026, 3, 10), NOW)
    assert not SHORT.holds(dt.date(2026, 4, 7), NOW)


def test_change_hints_pass_through_the_view_as_look_again() -> None:
    series = InMemoryCalendar(supports_series=True)
    _saljstod, outlook = wrap_for_series(
        InMemoryCalendar(),
        series,
        SyncPolicy(),
        ManualClock(),
        state=MemoryStateStore(),
        user="anna",
    )
    assert isinstance(outlook, ChangeNotifier)
    heard: list[list[str]] = []
    subscription = outlook.subscribe(lambda ids: heard.append(list(ids)))
    series.add(_master())
    subscription.close()
    series.add(_master(_at(2026, 1, 6)))
    assert heard == [[]]  # the master's id is not an item of the view: "look", no ids
