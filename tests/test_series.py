"""Series on a side without series: expand into occurrences, map flat-side edits back."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outlook_sync._core.series import (
    DEFAULT_HORIZON,
    FlatChanges,
    Horizon,
    Occurrence,
    collapse,
    flatten,
    occurrence_id,
    parse_occurrence_id,
    reconcile,
)
from outlook_sync.errors import ConfigurationError, InvalidEventError
from outlook_sync.model import Event
from outlook_sync.recurrence import OriginalStart, Recurrence

UTC = dt.UTC
STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")
SERIES = "AAMkADk0-series"
NOW = dt.datetime(2026, 3, 10, 12, tzinfo=UTC)


def _at(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=STOCKHOLM)


def _master(start: dt.datetime, subject: str = "Weekly sales meeting") -> Event:
    return Event(subject=subject, start=start, end=start + dt.timedelta(hours=1), location="A1")


def _weekly(start: dt.datetime | None = None, rule: str = "FREQ=WEEKLY") -> Recurrence:
    return Recurrence(rule=rule, start=start or _at(2026, 1, 5), time_zone="Europe/Stockholm")


def _aware(value: dt.date) -> dt.datetime:
    """The value as a datetime (the test knows the series is timed)."""
    assert isinstance(value, dt.datetime)
    return value


def _apply(held: dict[str, Event], changes: FlatChanges) -> dict[str, Event]:
    """What the flat side holds for the series after the engine carried out the changes."""
    result = dict(held)
    for occurrence in (*changes.create, *changes.update):
        result[occurrence.id] = occurrence.event
    for gone in (*changes.delete, *changes.release):
        del result[gone]
    return result


def _sync(
    recurrence: Recurrence, master: Event, held: dict[str, Event], now: dt.datetime
) -> tuple[FlatChanges, dict[str, Event]]:
    wanted = flatten(SERIES, master, recurrence, now=now)
    changes = reconcile(SERIES, held, wanted, now=now)
    return changes, _apply(held, changes)


# --- ids ------------------------------------------------------------------------------------


def test_occurrence_ids_are_stable_and_readable() -> None:
    key = _at(2026, 3, 16)
    assert occurrence_id(SERIES, key) == f"{SERIES}::20260316T080000Z"
    assert occurrence_id(SERIES, key.astimezone(UTC)) == occurrence_id(SERIES, key)
    assert occurrence_id(SERIES, dt.date(2026, 3, 16)) == f"{SERIES}::20260316"
    assert parse_occurrence_id(f"{SERIES}::20260316T080000Z") == (SERIES, key)
    assert parse_occurrence_id("a::b::20260316") == ("a::b", dt.date(2026, 3, 16))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "plain-id",
        "::20260316",
        "x::2026031",
        "x::20261399",
        "x::20260316T250000Z",
        "x::20260316T080000",
        "x:20260316",
    ],
)
def test_other_ids_are_not_occurrence_ids(text: str) -> None:
    assert parse_occurrence_id(text) is None


def test_occurrence_ids_need_a_series_id_and_an_aware_start() -> None:
    with pytest.raises(InvalidEventError):
        occurrence_id("", _at(2026, 3, 16))
    with pytest.raises(InvalidEventError):
        occurrence_id(SERIES, dt.datetime(2026, 3, 16, 9))


@given(
    series_id=st.text(min_size=1, max_size=20),
    key=st.one_of(
        st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2999, 12, 31)),
        st.datetimes(
            min_value=dt.datetime(1900, 1, 2),
            max_value=dt.datetime(2999, 12, 30),
            timezones=st.just(UTC),
        ).map(lambda d: d.replace(microsecond=0)),
    ),
)
def test_every_occurrence_id_parses_back(series_id: str, key: OriginalStart) -> None:
    assert parse_occurrence_id(occurrence_id(series_id, key)) == (series_id, key)


# --- flatten ----------------------------------------------------------------------------------


def test_horizon_defaults_to_one_month_back_and_one_year_ahead() -> None:
    assert DEFAULT_HORIZON.window(NOW) == (
        NOW - dt.timedelta(days=31),
        NOW + dt.timedelta(days=365),
    )
    with pytest.raises(ConfigurationError):
        Horizon(back=dt.timedelta(days=-1))
    with pytest.raises(InvalidEventError, match="now"):
        DEFAULT_HORIZON.window(dt.datetime(2026, 3, 10))


def test_flatten_expands_within_the_horizon_keeping_nine_o_clock() -> None:
    recurrence = _weekly()
    occurrences = flatten(SERIES, _master(_at(2026, 1, 5)), recurrence, now=NOW)
    first, last = occurrences[0], occurrences[-1]
    assert first.original_start == _at(2026, 2, 9).astimezone(UTC)  # 31 days before NOW
    assert last.original_start == _at(2027, 3, 8).astimezone(UTC)  # within a year
    assert len(occurrences) == 57
    assert len({o.id for o in occurrences}) == len(occurrences)
    for occurrence in occurrences:
        local = _aware(occurrence.event.start).astimezone(STOCKHOLM)
        assert (local.hour, local.minute, local.weekday()) == (9, 0, 0)
        assert occurrence.event.location == "A1"
    assert occurrences == flatten(SERIES, _master(_at(2026, 1, 5)), recurrence, now=NOW)


def test_flatten_leaves_out_cancelled_and_carries_changed_occurrences() -> None:
    moved_far = _master(_at(2027, 6, 1), subject="Moved to next summer")
    recurrence = attrs.evolve(
        _weekly(),
        cancelled={_at(2026, 3, 16)},
        changed={_at(2026, 3, 23): moved_far},
    )
    by_key = {
        o.original_start: o.event
        for o in flatten(SERIES, _master(_at(2026, 1, 5)), recurrence, now=NOW)
    }
    assert _at(2026, 3, 16).astimezone(UTC) not in by_key
    # Belongs to the horizon by its original start, wherever it was moved to.
    assert by_key[_at(2026, 3, 23).astimezone(UTC)] == moved_far


def test_all_day_series_flatten_to_dates() -> None:
    recurrence = Recurrence(
        rule="FREQ=MONTHLY;BYMONTHDAY=-1", start=dt.date(2026, 1, 31), time_zone="America/New_York"
    )
    master = Event(
        subject="Month close", start=dt.date(2026, 1, 31), end=dt.date(2026, 2, 1), all_day=True
    )
    occurrences = flatten(SERIES, master, recurrence, now=NOW)
    assert [o.event.start for o in occurrences[:3]] == [
        dt.date(2026, 2, 28),
        dt.date(2026, 3, 31),
        dt.date(2026, 4, 30),
    ]
    assert occurrences[0].id == f"{SERIES}::20260228"
    assert all(o.event.all_day for o in occurrences)


# --- reconcile: series side changes ----------------------------------------------------------


def test_first_sync_creates_every_occurrence_and_a_second_plans_nothing() -> None:
    recurrence, master = _weekly(), _master(_at(2026, 1, 5))
    changes, held = _sync(recurrence, master, {}, NOW)
    assert len(changes.create) == 57
    assert changes.update == ()
    assert changes.delete == changes.release == ()
    again, _ = _sync(recurrence, master, held, NOW)
    assert again.is_empty


def test_editing_the_series_updates_every_occurrence_without_duplicates() -> None:
    recurrence, master = _weekly(), _master(_at(2026, 1, 5))
    _, held = _sync(recurrence, master, {}, NOW)
    renamed = attrs.evolve(master, subject="Sales meeting (new room)", location="B2")
    changes, after = _sync(recurrence, renamed, held, NOW)
    assert len(changes.update) == 57
    assert changes.create == ()
    assert changes.delete == ()
    assert set(after) == set(held)
    assert {e.location for e in after.values()} == {"B2"}


def test_changing_the_rule_deletes_dropped_occurrences_and_keeps_the_rest() -> None:
    master = _master(_at(2026, 1, 5))
    _, held = _sync(_weekly(), master, {}, NOW)
    biweekly = _weekly(rule="FREQ=WEEKLY;INTERVAL=2")
    changes, after = _sync(biweekly, master, held, NOW)
    assert not changes.create
    assert not changes.update
    assert set(changes.delete) == set(held) - set(after)
    assert len(after) in (28, 29)
    assert after == {o.id: o.event for o in flatten(SERIES, master, biweekly, now=NOW)}


def test_the_horizon_rolls_forward_releasing_the_past_instead_of_deleting_it() -> None:
    recurrence, master = _weekly(), _master(_at(2026, 1, 5))
    _, held = _sync(recurrence, master, {}, NOW)
    later = NOW + dt.timedelta(days=60)
    changes, after = _sync(recurrence, master, held, later)
    assert not changes.delete  # history in the CRM is kept
    new_low = later - dt.timedelta(days=31)
    assert set(changes.release) == {i for i in held if _timed(parse_occurrence_id(i)) < new_low}
    assert len(changes.release) == 9  # nine Mondays left the horizon
    assert len(changes.create) == 8  # eight entered it
    assert set(after) == {o.id for o in flatten(SERIES, master, recurrence, now=later)}


def _timed(parsed: tuple[str, OriginalStart] | None) -> dt.datetime:
    assert parsed is not None
    assert isinstance(parsed[1], dt.datetime)
    return parsed[1]


def test_deleting_the_series_deletes_occurrences_in_the_horizon_only() -> None:
    recurrence, master = _weekly(), _master(_at(2026, 1, 5))
    _, held = _sync(recurrence, master, {}, NOW)
    old_id = occurrence_id(SERIES, _at(2026, 1, 5))  # synced long ago, outside the horizon
    held[old_id] = _master(_at(2026, 1, 5))
    changes = reconcile(SERIES, held, [], now=NOW)
    assert len(changes.delete) == 57
    assert changes.release == (old_id,)


def test_reconcile_ignores_ids_of_other_series_and_plain_items() -> None:
    other = {
        "other-series::20260316T080000Z": _master(_at(2026, 3, 16)),
        "single-appointment": _master(_at(2026, 3, 17)),
    }
    changes = reconcile(SERIES, other, [], now=NOW)
    assert changes.is_empty


def test_an_occurrence_written_in_another_zone_is_not_changed() -> None:
    recurrence, master = _weekly(), _master(_at(2026, 1, 5))
    wanted = flatten(SERIES, master, recurrence, now=NOW)
    in_utc = {
        o.id: attrs.evolve(
            o.event,
            start=_aware(o.event.start).astimezone(UTC),
            end=_aware(o.event.end).astimezone(UTC),
        )
        for o in wanted
    }
    assert reconcile(SERIES, in_utc, wanted, now=NOW).is_empty


# --- collapse: flat side changes -------------------------------------------------------------


def test_editing_one_occurrence_on_the_flat_side_becomes_an_exception() -> None:
    recurrence, master = _weekly(), _master(_at(2026, 1, 5))
    key = _at(2026, 3, 16)
    edited = attrs.evolve(_master(_at(2026, 3, 16, 14)), subject="Moved to the afternoon")
    updated = collapse(recurrence, master, {key: edited}, now=NOW)
    assert updated.exceptions == {key.astimezone(UTC): edited}
    assert updated.rule == recurrence.rule
    # Flattening the updated series gives the flat side's version back: nothing to do.
    held = {o.id: o.event for o in flatten(SERIES, master, recurrence, now=NOW)}
    held[occurrence_id(SERIES, key)] = edited
    assert reconcile(SERIES, held, flatten(SERIES, master, updated, now=NOW), now=NOW).is_empty


def test_deleting_one_occurrence_on_the_flat_side_cancels_it() -> None:
    recurrence, master = _weekly(), _master(_at(2026, 1, 5))
    updated = collapse(recurrence, master, {_at(2026, 3, 23): None}, now=NOW)
    assert updated.cancelled == {_at(2026, 3, 23).astimezone(UTC)}
    assert occurrence_id(SERIES, _at(2026, 3, 23)) not in {
        o.id for o in flatten(SERIES, master, updated, now=NOW)
    }


def test_an_occurrence_edited_back_to_the_series_content_is_plain_again() -> None:
    master = _master(_at(2026, 1, 5))
    key = _at(2026, 3, 16)
    recurrence = attrs.evolve(_weekly(), changed={key: _master(_at(2026, 3, 16, 15))})
    updated = collapse(recurrence, master, {key: _master(_at(2026, 3, 16))}, now=NOW)
    assert updated == _weekly()


def test_collapse_ignores_occurrences_outside_the_horizon_or_the_rule() -> None:
    recurrence, master = _weekly(), _master(_at(2026, 1, 5))
    held: dict[OriginalStart, Event | None] = {
        _at(2026, 1, 5): None,  # rolled out of the horizon: absence proves nothing
        _at(2026, 3, 17): None,  # not an occurrence (a Tuesday)
    }
    assert collapse(recurrence, master, held, now=NOW) == recurrence


@st.composite
def _series_with_exceptions(draw: st.DrawFn) -> Recurrence:
    recurrence = _weekly(
        rule=draw(
            st.sampled_from(
                ["FREQ=WEEKLY", "FREQ=WEEKLY;BYDAY=MO,TH", "FREQ=DAILY", "FREQ=MONTHLY;BYDAY=1MO"]
            )
        )
    )
    keys = [
        o.original_start for o in flatten(SERIES, _master(_at(2026, 1, 5)), recurrence, now=NOW)
    ]
    chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=8))
    split = draw(st.integers(0, len(chosen)))
    changed = {
        k: _master(
            _aware(k) + dt.timedelta(hours=draw(st.integers(-48, 48))),
            subject=draw(st.sampled_from(["Moved", "Renamed"])),
        )
        for k in chosen[split:]
    }
    return attrs.evolve(recurrence, cancelled=set(chosen[:split]), changed=changed)


@settings(deadline=None, max_examples=50)
@given(recurrence=_series_with_exceptions())
def test_expand_then_collapse_gives_the_series_back(recurrence: Recurrence) -> None:
    master = _master(_at(2026, 1, 5))
    flat = flatten(SERIES, master, recurrence, now=NOW)
    held: dict[OriginalStart, Event | None] = {o.original_start: o.event for o in flat}
    held.update(dict.fromkeys(recurrence.cancelled))
    assert collapse(recurrence, master, held, now=NOW) == recurrence
    plain = attrs.evolve(recurrence, cancelled=frozenset(), changed=())
    assert collapse(plain, master, held, now=NOW) == recurrence


@settings(deadline=None, max_examples=30)
@given(recurrence=_series_with_exceptions(), days=st.integers(0, 400))
def test_syncing_twice_at_any_time_plans_nothing_the_second_time(
    recurrence: Recurrence, days: int
) -> None:
    master = _master(_at(2026, 1, 5))
    _, held = _sync(recurrence, master, {}, NOW)
    later = NOW + dt.timedelta(days=days)
    first, after = _sync(recurrence, master, held, later)
    second, _ = _sync(recurrence, master, after, later)
    assert second.is_empty
    assert not first.delete  # only time passed: nothing is deleted, the past is released
    assert after == {o.id: o.event for o in flatten(SERIES, master, recurrence, now=later)}


def test_occurrence_value_names_its_id() -> None:
    occurrence = Occurrence(
        series_id=SERIES,
        original_start=_at(2026, 3, 16).astimezone(UTC),
        event=_master(_at(2026, 3, 16)),
    )
    assert occurrence.id == occurrence_id(SERIES, _at(2026, 3, 16))
