"""Recurring series: validation, expansion across DST, and Outlook's two pattern forms."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import attrs
import pytest
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from outlook_sync._core.expansion import expand
from outlook_sync.errors import InvalidEventError
from outlook_sync.model import Event
from outlook_sync.recurrence import (
    ComRecurrencePattern,
    InvalidRecurrenceError,
    Recurrence,
    UnsupportedRecurrenceError,
    from_com,
    from_graph,
    to_com,
    to_graph,
)
from outlook_sync.timezones import localize

UTC = dt.UTC
STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def _at(
    y: int, m: int, d: int, hh: int = 9, mm: int = 0, tz: zoneinfo.ZoneInfo = STOCKHOLM
) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=tz)


def _series(
    rule: str, start: dt.datetime | dt.date, tz: str = "Europe/Stockholm", **kw: object
) -> Recurrence:
    return Recurrence(rule=rule, start=start, time_zone=tz, **kw)


def _timed(value: dt.datetime | dt.date) -> dt.datetime:
    """The value as a datetime (the test knows the series is timed)."""
    assert isinstance(value, dt.datetime)
    return value


def _template(start: dt.datetime, minutes: int = 30, subject: str = "Pipeline review") -> Event:
    return Event(subject=subject, start=start, end=start + dt.timedelta(minutes=minutes))


def _window(year: int = 2026) -> tuple[dt.datetime, dt.datetime]:
    return dt.datetime(year, 1, 1, tzinfo=UTC), dt.datetime(year + 1, 1, 1, tzinfo=UTC)


# --- the classic cases ------------------------------------------------------------------


def test_weekly_series_with_one_moved_and_one_cancelled_occurrence() -> None:
    first = _at(2026, 3, 2)  # a Monday
    moved_from = _at(2026, 3, 16).astimezone(UTC)
    cancelled = _at(2026, 3, 23)
    moved = attrs.evolve(_template(_at(2026, 3, 17, 14)), location="Room 2")
    series = _series(
        "FREQ=WEEKLY;COUNT=6", first, cancelled={cancelled}, changed={moved_from: moved}
    )

    occurrences = expand(series, _template(first), *_window())

    assert [key for key, _ in occurrences] == [
        _at(2026, 3, d).astimezone(UTC) for d in (2, 9, 16, 30)
    ] + [_at(2026, 4, 6).astimezone(UTC)]
    by_key = dict(occurrences)
    assert by_key[moved_from] == moved  # the exception keeps its own time and room
    assert cancelled.astimezone(UTC) not in by_key
    assert [e.start for _, e in occurrences][2] == _at(2026, 3, 17, 14)
    # The series pattern itself is untouched by its exceptions.
    assert to_graph(series)["pattern"] == {
        "type": "weekly",
        "interval": 1,
        "daysOfWeek": ["monday"],
        "firstDayOfWeek": "monday",
    }


def test_monthly_last_friday_in_every_spelling_and_both_outlook_forms() -> None:
    start = _at(2026, 1, 30)  # the last Friday of January 2026
    spelled = [
        _series(rule, start)
        for rule in (
            "FREQ=MONTHLY;BYDAY=-1FR",
            "RRULE:freq=monthly;byday=FR;bysetpos=-1;interval=1",
        )
    ]
    assert spelled[0] == spelled[1]
    series = spelled[0]
    dates = [_timed(e.start).date() for _, e in expand(series, _template(start), *_window())]
    assert [d.isoformat() for d in dates[:5]] == [
        "2026-01-30",
        "2026-02-27",
        "2026-03-27",
        "2026-04-24",
        "2026-05-29",
    ]
    assert all(d.weekday() == 4 and (d + dt.timedelta(days=7)).month != d.month for d in dates)
    assert to_graph(series)["pattern"] == {
        "type": "relativeMonthly",
        "interval": 1,
        "daysOfWeek": ["friday"],
        "index": "last",
    }
    com = to_com(series)
    assert (com.recurrence_type, com.instance, com.day_of_week_mask) == (3, 5, 32)
    assert from_com(com, start=start, time_zone="W. Europe Standard Time").rule == series.rule


def test_a_series_crossing_both_dst_switches_keeps_nine_o_clock_in_stockholm() -> None:
    first = _at(2026, 3, 23)  # Monday before spring forward (29 March)
    series = _series("FREQ=WEEKLY;UNTIL=20261102T235959", first)
    occurrences = expand(series, _template(first, 60), *_window())
    assert len(occurrences) == 33
    for _, event in occurrences:
        local = _timed(event.start).astimezone(STOCKHOLM)
        assert (local.hour, local.minute) == (9, 0)
        assert _timed(event.end) - _timed(event.start) == dt.timedelta(hours=1)
    utc_hours = {_timed(e.start).astimezone(UTC).hour for _, e in occurrences}
    assert utc_hours == {7, 8}  # 09:00 CEST and 09:00 CET


def test_an_all_day_series_stays_on_its_dates_between_stockholm_and_new_york() -> None:
    day = dt.date(2026, 3, 27)
    series = _series("FREQ=WEEKLY;COUNT=3", day)
    template = Event(subject="Offsite", start=day, end=day + dt.timedelta(days=2), all_day=True)
    in_new_york = from_graph(to_graph(series), start=day, time_zone="Eastern Standard Time")
    assert in_new_york.time_zone == "America/New_York"
    window = (dt.datetime(2026, 3, 1, tzinfo=NEW_YORK), dt.datetime(2026, 5, 1, tzinfo=NEW_YORK))
    here = expand(series, template, *window)
    there = expand(in_new_york, template, *window)
    expected = [dt.date(2026, 3, 27), dt.date(2026, 4, 3), dt.date(2026, 4, 10)]
    for occurrences in (here, there):
        assert [key for key, _ in occurrences] == expected
        assert [(e.start, e.end) for _, e in occurrences] == [
            (d, d + dt.timedelta(days=2)) for d in expected
        ]
        assert all(e.all_day for _, e in occurrences)


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("FREQ=MINUTELY;COUNT=3", "MINUTELY is refused"),
        ("FREQ=SECONDLY", "SECONDLY is refused"),
        ("FREQ=HOURLY", "more than 1100 occurrences a year"),
        ("FREQ=DAILY;BYHOUR=9,10,11,12", "more than 1100"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "not an occurrence"),
        ("FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31", "not an occurrence"),
        ("FREQ=WEEKLY;BYDAY=TU", "not an occurrence"),  # the start is a Monday
        ("FREQ=WEEKLY;COUNT=2;UNTIL=20270101T000000Z", "COUNT and UNTIL"),
        ("FREQ=WEEKLY;UNTIL=20270101", "DATE-TIME"),
        ("FREQ=WEEKLY;UNTIL=20260101T000000Z", "before the series start"),
        ("FREQ=FORTNIGHTLY", "FREQ must be one of"),
        ("FREQ=WEEKLY;BYDAY=XX", "BYDAY value .XX."),
        ("FREQ=WEEKLY;INTERVAL=0", "outside 1..999"),
        ("FREQ=WEEKLY;INTERVAL=1000", "outside 1..999"),
        ("FREQ=MONTHLY;BYMONTHDAY=32", "outside 1..31"),
        ("FREQ=WEEKLY;FREQ=DAILY", "appears twice"),
        ("FREQ=WEEKLY;X-NAME=1", "not an RFC 5545 RRULE part"),
        ("FREQ=WEEKLY;BYDAY", "NAME=VALUE"),
        ("", "empty"),
        ("FREQ=WEEKLY;UNTIL=20261399T000000Z", "not a valid date"),
    ],
)
def test_bad_and_runaway_rules_are_refused_with_a_clear_error(rule: str, message: str) -> None:
    with pytest.raises(InvalidRecurrenceError, match=message) as info:
        _series(rule, _at(2026, 3, 2))
    assert info.value.field == "recurrence"
    assert isinstance(info.value, InvalidEventError)


def test_rules_that_never_end_and_short_hourly_runs_are_fine() -> None:
    assert _series("FREQ=DAILY", _at(2026, 3, 2)).rule == "FREQ=DAILY"
    assert _series("FREQ=HOURLY;INTERVAL=2;COUNT=5", _at(2026, 3, 2)).rule.startswith("FREQ=HOURLY")
    assert _series("FREQ=DAILY;BYHOUR=9,13,17", _at(2026, 3, 2)).rule.endswith("BYHOUR=9,13,17")


def test_an_impossible_rule_is_refused_quickly() -> None:
    # dateutil alone would search until year 9999; the 400-year probe stops early.
    with pytest.raises(InvalidRecurrenceError):
        _series("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", _at(2026, 3, 2))


def test_the_start_must_be_aware_and_the_zone_known() -> None:
    with pytest.raises(InvalidRecurrenceError, match="timezone-aware"):
        _series("FREQ=DAILY", dt.datetime(2026, 3, 2, 9))
    with pytest.raises(InvalidRecurrenceError, match="time zone is unknown"):
        _series("FREQ=DAILY", _at(2026, 3, 2), tz="Mars/Olympus")


def test_exceptions_must_be_occurrences_and_cannot_be_both_kinds() -> None:
    start = _at(2026, 3, 2)
    with pytest.raises(InvalidRecurrenceError, match="not an occurrence"):
        _series("FREQ=WEEKLY", start, cancelled={_at(2026, 3, 3)})
    with pytest.raises(InvalidRecurrenceError, match="not an occurrence"):
        _series("FREQ=WEEKLY;COUNT=2", start, cancelled={_at(2026, 3, 16)})
    with pytest.raises(InvalidRecurrenceError, match="not an occurrence"):
        _series("FREQ=WEEKLY", start, cancelled={dt.datetime(2026, 3, 9, 9)})  # naive
    with pytest.raises(InvalidRecurrenceError, match="both cancelled and changed"):
        _series(
            "FREQ=WEEKLY",
            start,
            cancelled={_at(2026, 3, 9)},
            changed={_at(2026, 3, 9): _template(_at(2026, 3, 9, 10))},
        )


def test_equal_series_are_equal_whatever_zone_their_datetimes_were_written_in() -> None:
    # 02:30 on the last Sunday of October happens twice in Stockholm; the series
    # follows the first-occurrence rule, and its keys compare as instants.
    rule = "FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU"
    first = localize(dt.datetime(2026, 10, 25, 2, 30), STOCKHOLM)
    second_year = localize(dt.datetime(2027, 10, 31, 2, 30), STOCKHOLM)
    local = _series(rule, first, cancelled={second_year})
    utc = _series(
        rule, first.astimezone(UTC), cancelled={dt.datetime(2027, 10, 31, 0, 30, tzinfo=UTC)}
    )
    assert local == utc
    assert hash(local) == hash(utc)
    assert _timed(local.start).tzinfo is STOCKHOLM


def test_the_second_occurrence_of_a_repeated_hour_cannot_start_a_series() -> None:
    second = dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET, after falling back
    with pytest.raises(InvalidRecurrenceError, match="first-occurrence rule"):
        _series("FREQ=YEARLY", second)


def test_canonical_spelling_fills_in_what_dateutil_takes_from_the_start() -> None:
    start = _at(2026, 3, 17)  # a Tuesday
    assert _series("FREQ=WEEKLY", start).rule == "FREQ=WEEKLY;BYDAY=TU"
    assert _series("FREQ=MONTHLY", start).rule == "FREQ=MONTHLY;BYMONTHDAY=17"
    assert _series("FREQ=YEARLY", start).rule == "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=17"
    assert _series("FREQ=DAILY;BYDAY=TU,MO", start).rule == "FREQ=WEEKLY;BYDAY=MO,TU"
    assert _series("FREQ=WEEKLY;INTERVAL=1;WKST=SU", start).rule == "FREQ=WEEKLY;BYDAY=TU"
    assert (
        _series("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,SU;WKST=SU", start).rule
        == "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,SU;WKST=SU"
    )
    # UNTIL moves to the end of the local day of the last occurrence it allows.
    assert _series("FREQ=DAILY;UNTIL=20260320T080000Z", start).rule == (
        "FREQ=DAILY;UNTIL=20260320T225959Z"
    )
    assert _series("FREQ=DAILY;UNTIL=20260320T070000Z", start).rule == (
        "FREQ=DAILY;UNTIL=20260319T225959Z"
    )


def test_cancel_change_and_restore_give_new_values() -> None:
    start = _at(2026, 3, 2)
    series = _series("FREQ=WEEKLY", start)
    key = _at(2026, 3, 9)
    moved = _template(_at(2026, 3, 10))
    assert series.cancel(key).cancelled == {key.astimezone(UTC)}
    assert series.cancel(key).change(key, moved).exceptions == {key.astimezone(UTC): moved}
    assert series.change(key, moved).cancel(key).changed == ()
    assert series.cancel(key).restore(key) == series
    assert series.occurs_at(key)
    assert not series.occurs_at(_at(2026, 3, 10))


# --- expansion -----------------------------------------------------------------------------


def test_expand_refuses_naive_windows_and_templates_of_the_other_kind() -> None:
    series = _series("FREQ=DAILY", _at(2026, 3, 2))
    with pytest.raises(InvalidEventError, match="window_start"):
        expand(series, _template(_at(2026, 3, 2)), dt.datetime(2026, 3, 1), _window()[1])
    all_day = Event(subject="x", start=dt.date(2026, 3, 2), end=dt.date(2026, 3, 3), all_day=True)
    with pytest.raises(InvalidEventError, match="timed template"):
        expand(series, all_day, *_window())


def test_a_moved_occurrence_shows_where_it_was_moved_to() -> None:
    start = _at(2026, 3, 2)
    moved_to_april = _template(_at(2026, 4, 20))
    series = _series("FREQ=WEEKLY;COUNT=3", start, changed={_at(2026, 3, 9): moved_to_april})
    march = (dt.datetime(2026, 3, 1, tzinfo=UTC), dt.datetime(2026, 4, 1, tzinfo=UTC))
    april = (dt.datetime(2026, 4, 1, tzinfo=UTC), dt.datetime(2026, 5, 1, tzinfo=UTC))
    assert len(expand(series, _template(start), *march)) == 2
    assert expand(series, _template(start), *april) == [
        (_at(2026, 3, 9).astimezone(UTC), moved_to_april)
    ]


@st.composite
def _weekly_series(draw: st.DrawFn) -> tuple[Recurrence, Event]:
    start = localize(
        draw(
            st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2027, 1, 1))
        ).replace(second=0, microsecond=0),
        STOCKHOLM,
    )
    days = draw(st.sets(st.sampled_from(["MO", "TU", "WE", "TH", "FR"]), min_size=1))
    days.add(["MO", "TU", "WE", "TH", "FR", "SA", "SU"][start.weekday()])
    base = Recurrence(
        rule=f"FREQ=WEEKLY;BYDAY={','.join(sorted(days))}",
        start=start,
        time_zone="Europe/Stockholm",
    )
    keys = [
        _timed(k) for k, _ in expand(base, _template(start), start, start + dt.timedelta(days=60))
    ]
    chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=6))
    split = draw(st.integers(0, len(chosen)))
    shift = dt.timedelta(hours=draw(st.integers(-30, 30)))
    changed = {k: _template(k + shift, subject="Moved") for k in chosen[split:]}
    return attrs.evolve(base, cancelled=set(chosen[:split]), changed=changed), _template(start)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(series=_weekly_series(), cut_days=st.integers(1, 100))
def test_expansion_is_consistent(series: tuple[Recurrence, Event], cut_days: int) -> None:
    recurrence, template = series
    low = _timed(recurrence.start).astimezone(UTC) - dt.timedelta(days=3)
    high = low + dt.timedelta(days=120)
    cut = low + dt.timedelta(days=cut_days)
    whole = expand(recurrence, template, low, high)
    # Splitting the window splits the result.
    assert whole == expand(recurrence, template, low, cut) + expand(recurrence, template, cut, high)
    keys = [k for k, _ in whole]
    assert len(keys) == len(set(keys))
    assert not set(keys) & recurrence.cancelled
    starts = [_timed(e.start).astimezone(UTC) for _, e in whole]
    assert starts == sorted(starts)
    for key, event in whole:
        if key in recurrence.exceptions:
            assert event == recurrence.exceptions[key]
        else:  # regular occurrences: the template at the original start, same local time
            assert isinstance(event.start, dt.datetime)
            assert event.start.astimezone(UTC) == key  # PEP 495: compare in UTC, never ==
            wall = _timed(recurrence.start).astimezone(STOCKHOLM).time()
            same_time = localize(dt.datetime.combine(event.start.date(), wall), STOCKHOLM)
            assert event.start.astimezone(UTC) == same_time.astimezone(UTC)
            assert event.subject == template.subject
            elapsed = _timed(event.end).astimezone(UTC) - event.start.astimezone(UTC)
            assert elapsed == dt.timedelta(minutes=30)  # in UTC: one zone ignores fold
    # Everything the rule produces in the window is accounted for.
    produced = set(recurrence.occurrences_between(low, high))
    regular = {k for k in keys if k not in recurrence.exceptions}
    assert regular == produced - recurrence.cancelled - set(recurrence.exceptions)


# --- Outlook's forms -------------------------------------------------------------------------

_DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
_ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "UTC"]


@st.composite
def _outlook_rule(draw: st.DrawFn) -> str:
    """A rule in one of the six Outlook patterns, in varied (non-canonical) spellings."""
    interval = draw(st.sampled_from([1, 1, 2, 3, 12]))
    weekday = st.sampled_from(_DAYS)
    relative = st.one_of(
        st.builds(lambda n, d: f"BYDAY={n}{d}", st.sampled_from([1, 2, 3, 4, -1]), weekday),
        st.builds(
            lambda ds, n: f"BYDAY={','.join(sorted(ds))};BYSETPOS={n}",
            st.sets(weekday, min_size=2, max_size=7),
            st.sampled_from([1, 2, 3, 4, -1]),
        ),
    )
    month_day = st.sampled_from(
        [
            "BYMONTHDAY=1",
            "BYMONTHDAY=15",
            "BYMONTHDAY=28",
            "BYMONTHDAY=-1",
            "BYMONTHDAY=28,29;BYSETPOS=-1",
            "BYMONTHDAY=28,29,30;BYSETPOS=-1",
        ]
    )
    kind = draw(
        st.sampled_from(["daily", "weekly", "month-abs", "month-rel", "year-abs", "year-rel"])
    )
    if kind == "daily":
        body = "FREQ=DAILY"
    elif kind == "weekly":
        days = draw(st.sets(weekday, min_size=1, max_size=7))
        wkst = draw(st.sampled_from(_DAYS))
        body = f"FREQ=WEEKLY;BYDAY={','.join(sorted(days))};WKST={wkst}"
    elif kind == "month-abs":
        body = f"FREQ=MONTHLY;{draw(month_day)}"
    elif kind == "month-rel":
        body = f"FREQ=MONTHLY;{draw(relative)}"
    else:
        month = draw(st.integers(1, 12))
        if kind == "year-rel":
            body = f"FREQ=YEARLY;BYMONTH={month};{draw(relative)}"
        else:
            longest = (
                28 if month == 2 else [31, 0, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
            )
            day = draw(st.sampled_from([1, 10, longest] + ([-1] if month == 2 else [])))
            body = f"FREQ=YEARLY;BYMONTH={month};BYMONTHDAY={day}"
    return f"{body};INTERVAL={interval}"


@st.composite
def _outlook_spelled(draw: st.DrawFn) -> tuple[str, Recurrence]:
    """A series and the (non-canonical) rule text it was built from."""
    body = draw(_outlook_rule())
    tz = zoneinfo.ZoneInfo(draw(st.sampled_from(_ZONES)))
    all_day = draw(st.booleans())
    seed = draw(st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 1, 1)))
    seed = seed.replace(minute=seed.minute // 15 * 15, second=0, microsecond=0)
    if all_day:
        seed = seed.replace(hour=0, minute=0)
    first = rrulestr(body, dtstart=seed).after(seed, inc=True)  # dateutil as the oracle
    assume(first is not None)
    assert first is not None
    end = draw(st.sampled_from(["", "count", "until"]))
    if end == "count":
        body += f";COUNT={draw(st.integers(1, 40))}"
    elif end == "until":
        last = first + dt.timedelta(days=draw(st.integers(0, 2000)), hours=draw(st.integers(0, 23)))
        body += ";UNTIL=" + (last.strftime("%Y%m%d") if all_day else last.strftime("%Y%m%dT%H%M%S"))
    start = first.date() if all_day else localize(first, tz)
    return body, Recurrence(rule=body, start=start, time_zone=tz.key)


def _outlook_series() -> st.SearchStrategy[Recurrence]:
    return _outlook_spelled().map(lambda pair: pair[1])


@settings(max_examples=150, deadline=None)
@given(series=_outlook_series())
def test_rule_to_graph_pattern_to_rule_is_lossless(series: Recurrence) -> None:
    graph = to_graph(series)
    assert graph["range"]["startDate"] == _local_date(series).isoformat()
    assert from_graph(graph, start=series.start) == series


@settings(max_examples=150, deadline=None)
@given(series=_outlook_series())
def test_rule_to_com_pattern_to_rule_is_lossless(series: Recurrence) -> None:
    week_start = series.rule.split("WKST=")[1] if "WKST=" in series.rule else "MO"
    com = to_com(series, week_start=week_start)
    assert com.pattern_start_date == _local_date(series)
    back = from_com(com, start=series.start, time_zone=series.time_zone, week_start=week_start)
    assert back == series


@settings(max_examples=150, deadline=None)
@given(spelled=_outlook_spelled())
def test_canonical_rule_yields_exactly_what_dateutil_yields_for_the_original(
    spelled: tuple[str, Recurrence],
) -> None:
    # dateutil on the rule text as written is the oracle: canonicalisation must not add,
    # drop or move a single occurrence.
    original, series = spelled
    tz = series.zone_info
    wall = (
        series.start.astimezone(tz).replace(tzinfo=None)
        if isinstance(series.start, dt.datetime)
        else dt.datetime.combine(series.start, dt.time())
    )
    horizon = wall + dt.timedelta(days=800)
    oracle = list(rrulestr(original, dtstart=wall).between(wall, horizon, inc=True))
    low = localize(wall, tz)
    mine = list(series.occurrences_between(low, localize(wall + dt.timedelta(days=800), tz)))
    expected = [w.date() if series.all_day else localize(w, tz).astimezone(UTC) for w in oracle]
    assert mine == expected[: len(mine)]
    assert len(expected) - len(mine) <= 1  # the window edge may hold one more


def _local_date(series: Recurrence) -> dt.date:
    start = series.start
    return start.date() if isinstance(start, dt.datetime) else start


@pytest.mark.parametrize(
    ("rule", "graph_pattern", "com_fields"),
    [
        ("FREQ=DAILY;INTERVAL=3", {"type": "daily", "interval": 3}, (0, 3, 0, 0, 0, 0)),
        (
            "FREQ=WEEKLY;BYDAY=MO,WE,FR;INTERVAL=2;WKST=SU",
            {
                "type": "weekly",
                "interval": 2,
                "daysOfWeek": ["monday", "wednesday", "friday"],
                "firstDayOfWeek": "sunday",
            },
            (1, 2, 2 | 8 | 32, 0, 0, 0),
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=15;INTERVAL=3",
            {"type": "absoluteMonthly", "interval": 3, "dayOfMonth": 15},
            (2, 3, 0, 15, 0, 0),
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=-1",
            {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
            (2, 1, 0, 31, 0, 0),
        ),
        (
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1",
            {
                "type": "relativeMonthly",
                "interval": 1,
                "index": "first",
                "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
            },
            (3, 1, 62, 0, 0, 1),
        ),
        (
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1",
            {"type": "absoluteYearly", "interval": 1, "dayOfMonth": 29, "month": 2},
            (5, 1, 0, 29, 2, 0),
        ),
        (
            "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH",
            {
                "type": "relativeYearly",
                "interval": 1,
                "daysOfWeek": ["thursday"],
                "index": "fourth",
                "month": 11,
            },
            (6, 1, 16, 0, 11, 4),
        ),
    ],
)
def test_each_outlook_pattern_maps_to_the_documented_fields(
    rule: str, graph_pattern: dict[str, object], com_fields: tuple[int, ...]
) -> None:
    seed = dt.datetime(2026, 1, 1, 9)
    first = rrulestr(rule, dtstart=seed).after(seed, inc=True)
    assert first is not None
    series = _series(rule, localize(first, STOCKHOLM))
    assert to_graph(series)["pattern"] == graph_pattern
    com = to_com(series, week_start="SU")
    assert (
        com.recurrence_type,
        com.interval,
        com.day_of_week_mask,
        com.day_of_month,
        com.month_of_year,
        com.instance,
    ) == com_fields
    assert com.no_end_date


def test_ranges_map_to_end_date_numbered_and_no_end() -> None:
    start = _at(2026, 3, 2)
    until = to_graph(_series("FREQ=WEEKLY;UNTIL=20260601T070000Z", start))["range"]
    assert until == {
        "type": "endDate",
        "startDate": "2026-03-02",
        "endDate": "2026-06-01",
        "recurrenceTimeZone": "W. Europe Standard Time",
    }
    numbered = to_graph(_series("FREQ=WEEKLY;COUNT=7", start))["range"]
    assert (numbered["type"], numbered["numberOfOccurrences"]) == ("numbered", 7)
    com = to_com(_series("FREQ=WEEKLY;UNTIL=20260601T070000Z", start))
    assert (com.pattern_end_date, com.occurrences, com.no_end_date) == (
        dt.date(2026, 6, 1),
        None,
        False,
    )


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        ("FREQ=HOURLY;COUNT=5", "FREQ=HOURLY"),
        ("FREQ=DAILY;BYHOUR=9,13", "BYHOUR"),
        ("FREQ=MONTHLY;BYMONTHDAY=31", "last day"),  # RFC skips short months; Outlook doesn't
        ("FREQ=MONTHLY;BYMONTHDAY=2,16", "last day"),
        ("FREQ=MONTHLY;BYDAY=+5MO", "position 5"),
        ("FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=2,3", "weekday choice"),
        ("FREQ=MONTHLY;BYDAY=1MO,3MO", "weekday choice"),
        ("FREQ=MONTHLY;BYMONTH=3,6;BYMONTHDAY=2", "some months"),
        ("FREQ=YEARLY;BYMONTH=3,9;BYMONTHDAY=2", "exactly one month"),
        ("FREQ=YEARLY;BYWEEKNO=10;BYDAY=MO", "BYWEEKNO"),
        ("FREQ=DAILY;INTERVAL=2;BYDAY=MO,TU", "BY... limits"),
        ("FREQ=WEEKLY;BYDAY=MO;BYMONTH=3", "plain weekdays"),
    ],
)
def test_a_pattern_outlook_cannot_express_is_reported_not_altered(rule: str, why: str) -> None:
    seed = dt.datetime(2026, 1, 1, 9)
    first = rrulestr(rule, dtstart=seed).after(seed, inc=True)
    assert first is not None
    series = _series(rule, localize(first, STOCKHOLM))
    for convert, target in ((to_graph, "graph"), (to_com, "com")):
        with pytest.raises(UnsupportedRecurrenceError, match=why) as info:
            convert(series)
        assert info.value.target == target
        assert isinstance(info.value, InvalidEventError)


def test_leap_day_only_yearly_rule_is_not_mistaken_for_outlooks_february_29() -> None:
    series = _series("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", _at(2028, 2, 29))
    with pytest.raises(UnsupportedRecurrenceError, match="last day"):
        to_graph(series)
    outlook = from_graph(
        {
            "pattern": {"type": "absoluteYearly", "interval": 1, "month": 2, "dayOfMonth": 29},
            "range": {"type": "numbered", "numberOfOccurrences": 3, "startDate": "2028-02-29"},
        },
        start=_at(2028, 2, 29),
        time_zone="W. Europe Standard Time",
    )
    window = (dt.datetime(2028, 1, 1, tzinfo=UTC), dt.datetime(2031, 1, 1, tzinfo=UTC))
    occurrences = expand(outlook, _template(_at(2028, 2, 29)), *window)
    dates = [_timed(e.start).date() for _, e in occurrences]
    assert dates == [dt.date(2028, 2, 29), dt.date(2029, 2, 28), dt.date(2030, 2, 28)]


def test_com_week_start_must_match_a_rule_that_depends_on_it() -> None:
    series = _series("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,SU;WKST=SU", _at(2026, 3, 2))
    with pytest.raises(UnsupportedRecurrenceError, match="week start"):
        to_com(series, week_start="MO")
    assert to_com(series, week_start="SU").day_of_week_mask == 1 | 2
    plain = _series("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,SU", _at(2026, 3, 2))
    with pytest.raises(UnsupportedRecurrenceError, match="week start"):
        to_com(plain, week_start="SU")


def test_graph_json_as_graph_returns_it_with_unused_defaults() -> None:
    data = {
        "pattern": {
            "type": "relativeMonthly",
            "interval": 1,
            "month": 0,
            "dayOfMonth": 0,
            "daysOfWeek": ["Friday"],
            "firstDayOfWeek": "sunday",
            "index": "last",
        },
        "range": {
            "type": "noEnd",
            "startDate": "2026-01-01",
            "endDate": "0001-01-01",
            "recurrenceTimeZone": "W. Europe Standard Time",
            "numberOfOccurrences": 0,
        },
    }
    # Graph lets the series start before its first occurrence; the start moves to it.
    series = from_graph(data, start=_at(2026, 1, 1))
    assert series.rule == "FREQ=MONTHLY;BYDAY=-1FR"
    assert series.start == _at(2026, 1, 30)
    assert series.time_zone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"pattern": {"type": "hourly", "interval": 1}, "range": {"type": "noEnd"}}, "unknown"),
        ({"pattern": {"type": "weekly", "interval": 1}, "range": {"type": "noEnd"}}, "day of"),
        ({"pattern": {"type": "daily", "interval": 0}, "range": {"type": "noEnd"}}, "interval"),
        ({"pattern": {"type": "daily", "interval": "1"}, "range": {"type": "noEnd"}}, "integer"),
        (
            {
                "pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 32},
                "range": {"type": "noEnd"},
            },
            "day of month",
        ),
        (
            {
                "pattern": {"type": "absoluteYearly", "interval": 1, "dayOfMonth": 31, "month": 4},
                "range": {"type": "noEnd"},
            },
            "outside 1..30",
        ),
        (
            {
                "pattern": {
                    "type": "relativeMonthly",
                    "interval": 1,
                    "daysOfWeek": ["friday"],
                    "index": "fifth",
                },
                "range": {"type": "noEnd"},
            },
            "week index",
        ),
        ({"pattern": {"type": "daily", "interval": 1}, "range": {"type": "sometimes"}}, "range"),
        ({"pattern": {"type": "daily", "interval": 1}, "range": {"type": "numbered"}}, ">= 1"),
        (
            {
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "endDate", "endDate": "soon"},
            },
            "not a date",
        ),
        ({"pattern": {"type": "daily", "interval": 1}}, "'range'"),
    ],
)
def test_malformed_graph_recurrence_is_a_clear_error(data: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRecurrenceError, match=message):
        from_graph(data, start=_at(2026, 3, 2), time_zone="Europe/Stockholm")


def test_com_every_weekday_written_as_daily_reads_as_weekly_weekdays() -> None:
    com = ComRecurrencePattern(
        recurrence_type=0,
        day_of_week_mask=62,
        pattern_start_date=dt.date(2026, 3, 2),
        no_end_date=True,
    )
    series = from_com(com, start=_at(2026, 3, 2), time_zone="W. Europe Standard Time")
    assert series.rule == "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"


def test_com_pattern_values_are_validated() -> None:
    with pytest.raises(ValueError, match="recurrence_type"):
        ComRecurrencePattern(recurrence_type=4, pattern_start_date=dt.date(2026, 3, 2))
    with pytest.raises(ValueError, match="instance"):
        ComRecurrencePattern(recurrence_type=3, instance=6, pattern_start_date=dt.date(2026, 3, 2))
    bounded = ComRecurrencePattern(
        recurrence_type=1, day_of_week_mask=2, pattern_start_date=dt.date(2026, 3, 2)
    )
    with pytest.raises(InvalidRecurrenceError, match="bounded pattern"):
        from_com(bounded, start=_at(2026, 3, 2), time_zone="W. Europe Standard Time")
    elsewhere = attrs.evolve(bounded, no_end_date=True, pattern_start_date=dt.date(2026, 3, 9))
    with pytest.raises(InvalidRecurrenceError, match="PatternStartDate"):
        from_com(elsewhere, start=_at(2026, 3, 2), time_zone="W. Europe Standard Time")


def test_com_end_date_wins_when_outlook_reports_both_bounds() -> None:
    both = ComRecurrencePattern(
        recurrence_type=1,
        day_of_week_mask=2,
        occurrences=4,
        pattern_end_date=dt.date(2026, 3, 23),
        pattern_start_date=dt.date(2026, 3, 2),
    )
    series = from_com(both, start=_at(2026, 3, 2), time_zone="W. Europe Standard Time")
    assert "UNTIL=" in series.rule
    assert len(expand(series, _template(_at(2026, 3, 2)), *_window())) == 4
