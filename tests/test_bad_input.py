"""Bad data in, only library errors out (issue 11, point 8).

Generated garbage is fed to the public entry points a host meets: the SQL adapter's
listings and a sync over rows a host wrote with any values in any column; the Graph
adapter's listings over answers with any JSON in them; the settings and the engine's
date handling with any value. What may come out: a result (bad items quarantined, the
rest synced) or an :class:`~outlook_sync.OutlookSyncError` with a message. Never a
``KeyError``, ``OverflowError``, ``RecursionError``, ``TypeError`` or a driver's error.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from outlook_sync import (
    Cursor,
    InMemoryCalendar,
    Listing,
    MemoryStateStore,
    OutlookSyncError,
    Synchronizer,
    SyncReport,
)
from outlook_sync.adapters.sql import SqlCalendar, upgrade
from tests.world import meeting

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

_texts = st.text(max_size=30)
_anything = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    _texts,
    st.binary(max_size=8),
    st.sampled_from(["", "0000-00-00 00:00:00", "1899-12-30T00:00:00", "9999-12-31T23:59:59",
                     "0001-01-01T00:00:00+14:00", "2026-13-01T09:00:00Z", "2026-02-30",
                     "2026-03-29T02:30:00", "2026-06-01T09:00:00+02:00", "not a date",
                     "Europe/Stockholm", "W. Europe Standard Time", "Mars/Olympus"]),
)


def _outcome(run: Any) -> object:
    """What ``run`` returned, or the library error it raised (anything else escapes)."""
    try:
        result: object = run()
    except OutlookSyncError as exc:
        result = exc
    if isinstance(result, OutlookSyncError):
        assert str(result), "a library error says what went wrong"
    return result


# -- the SQL adapter: a host's rows with any values -------------------------------------


@pytest.fixture
def crm(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    path = tmp_path / "crm.db"
    connection = sqlite3.connect(path, isolation_level=None)
    upgrade(connection)
    yield connection
    connection.close()


_ROW = st.fixed_dictionaries({
    "subject": st.one_of(_texts, st.none()),
    "starts_at": _anything,
    "ends_at": _anything,
    "all_day": _anything,
    "time_zone": _anything,
    "location": st.one_of(_texts, st.integers()),
    "categories": _anything,
    "show_as": _anything,
    "private": _anything,
    "reminder_minutes": _anything,
    "outlook_id": st.one_of(st.none(), st.just(""), st.just(b""), _texts, st.binary(max_size=4)),
})


@SETTINGS
@given(rows=st.lists(_ROW, min_size=1, max_size=4))
def test_any_row_a_host_writes_is_quarantined_or_synced_never_a_crash(
    crm: sqlite3.Connection, rows: list[dict[str, Any]]
) -> None:
    crm.execute("DELETE FROM activity_participants")
    crm.execute("DELETE FROM activities")
    good = crm.execute(
        "INSERT INTO activities (subject, starts_at, ends_at) VALUES"
        " ('Bra möte', '2026-12-01T09:00:00+01:00', '2026-12-01T10:00:00+01:00')").lastrowid
    crm.execute("INSERT INTO activity_participants (activity_id, user_id) VALUES (?, 'anna')",
                (good,))
    for row in rows:
        columns = {k: v for k, v in row.items() if k != "outlook_id"}
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        try:
            activity = crm.execute(f"INSERT INTO activities ({names}) VALUES ({marks})",
                                   tuple(columns.values())).lastrowid
            crm.execute("INSERT INTO activity_participants (activity_id, user_id, outlook_id)"
                        " VALUES (?, 'anna', ?)", (activity, row["outlook_id"]))
        except (sqlite3.Error, OverflowError):
            continue  # a value the host's own database refuses never reaches us
    calendar = SqlCalendar(crm, user="anna", lookback=dt.timedelta(0))
    listed = _outcome(calendar.list_all)
    if isinstance(listed, Listing):
        assert "Bra möte" in [item.event.subject for item in listed.items]
    _outcome(lambda: calendar.list_changes(
        Cursor(watermark=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))))
    outlook = InMemoryCalendar(name="outlook", id_prefix="O")
    sync = Synchronizer(saljstod=calendar, outlook=outlook, state=MemoryStateStore(),
                        user="anna")
    report = sync.sync()  # one bad row never stops the user's sync
    assert isinstance(report, SyncReport)
    assert report.error is None, report.error
    assert "Bra möte" in [e.subject for e in outlook.items().values()]


# -- the Graph adapter: any JSON in an answer -------------------------------------------

_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _texts),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(_texts, inner, max_size=3)),
    max_leaves=10,
)
_when = st.one_of(
    _json,
    st.fixed_dictionaries({
        "dateTime": st.one_of(_json, st.sampled_from([
            "9999-12-31T23:00:00.0000000", "0001-01-01T00:00:00.0000000",
            "2026-12-01T09:00:00.0000000", "2026-13-01T09:00:00", ""])),
        "timeZone": st.one_of(_json, st.sampled_from([
            "Dateline Standard Time", "Line Islands Standard Time", "UTC",
            "W. Europe Standard Time", "Customized Time Zone", ""])),
    }),
)
_EVENT = st.fixed_dictionaries(
    {"id": st.one_of(_json, st.text(min_size=1, max_size=10))},
    optional={
        "subject": _json, "start": _when, "end": _when, "isAllDay": _json,
        "type": st.one_of(_json, st.sampled_from(["singleInstance", "seriesMaster",
                                                  "occurrence", "exception"])),
        "recurrence": _json, "body": _json, "location": _json, "categories": _json,
        "showAs": _json, "sensitivity": _json, "reminderMinutesBeforeStart": _json,
        "isReminderOn": _json, "changeKey": _json, "lastModifiedDateTime": _json,
        "singleValueExtendedProperties": _json, "@removed": _json,
    },
)


@pytest.fixture(scope="module")
def graph() -> Iterator[Any]:
    from outlook_sync.testing.graph import run_emulator

    with run_emulator() as emulator:
        yield emulator


def _graph_calendar(graph: Any) -> Any:
    from outlook_sync.adapters.graph import GraphCalendar, GraphClient, StaticToken

    client = GraphClient(graph.base_url, StaticToken("t"), mailbox="bad-input",
                         sleep=lambda _s: None, random=lambda: 0.5, timeout=5.0)
    return GraphCalendar(client), client


@SETTINGS
@given(page=st.one_of(
    st.fixed_dictionaries({"value": st.lists(_EVENT, max_size=3)}),
    st.fixed_dictionaries({"value": _json}),
    _json,
))
def test_any_json_graph_answers_is_a_listing_error_or_quarantined_never_a_crash(
    graph: Any, page: Any
) -> None:
    calendar, client = _graph_calendar(graph)
    try:
        body = json.dumps(page).encode()
        graph.corrupt(body, times=50, method="GET")
        _outcome(calendar.list_all)
        _outcome(lambda: calendar.list_changes(
            Cursor(watermark=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), token="x")))
        _outcome(lambda: calendar.get("AAMk-1"))
    finally:
        graph.faults.clear()
        client.close()


def test_a_deeply_nested_answer_is_a_listing_error(graph: Any) -> None:
    calendar, client = _graph_calendar(graph)
    try:
        graph.corrupt(b"[" * 100_000 + b"]" * 100_000, times=10, method="GET")
        with pytest.raises(OutlookSyncError):
            calendar.list_all()
    finally:
        graph.faults.clear()
        client.close()


_ZONES = ["Dateline Standard Time", "Hawaiian Standard Time", "Tokyo Standard Time",
          "Line Islands Standard Time", "UTC", "W. Europe Standard Time", "Europe/Stockholm",
          "Customized Time Zone"]
_EDGE = st.fixed_dictionaries({
    "dateTime": st.sampled_from([
        "9999-12-31T23:00:00.0000000", "0001-01-01T00:00:00.0000000", "9999-12-31T00:00:00",
        "0001-01-01T23:00:00", "2026-12-01T09:00:00.0000000", "9999-12-31T23:00:00-05:00",
        "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59Z"]),
    "timeZone": st.sampled_from(_ZONES),
})
_DATED_EVENT = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=10), "changeKey": st.just("ck"),
     "start": _EDGE, "end": _EDGE},
    optional={
        "isAllDay": st.booleans(),
        "originalStartTimeZone": st.sampled_from(_ZONES),
        "originalEndTimeZone": st.sampled_from(_ZONES),
        "lastModifiedDateTime": st.sampled_from([
            "0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00", "2026-03-10T08:00:00Z"]),
    },
)


@SETTINGS
@given(events=st.lists(_DATED_EVENT, min_size=1, max_size=3))
def test_any_date_in_any_zone_is_listed_or_quarantined_never_a_crash(
    graph: Any, events: list[dict[str, Any]]
) -> None:
    """Well-formed events whose dates sit at the edges of Python's range, in zones far
    from UTC: the listing succeeds, each event is an item or quarantined."""
    calendar, client = _graph_calendar(graph)
    try:
        page = json.dumps({"value": events}).encode()
        graph.corrupt(page, method="GET", path_contains="/calendar/events")
        listing = calendar.list_all()
        listed = {item.id for item in listing.items} | {item.id for item in listing.broken}
        assert listed == {event["id"] for event in events}
        assert all(item.reason for item in listing.broken)
        graph.corrupt(json.dumps(events[0]).encode(), method="GET")
        _outcome(lambda: calendar.get("AAMk-1"))
    finally:
        graph.faults.clear()
        client.close()


# -- dates a host passes --------------------------------------------------------------


@SETTINGS
@given(when=st.one_of(_anything, st.datetimes(), st.datetimes(timezones=st.just(dt.UTC)),
                      st.dates()))
def test_any_last_sync_date_is_taken_or_refused_with_a_library_error(when: Any) -> None:
    crm, outlook = InMemoryCalendar(), InMemoryCalendar()
    crm.add(meeting())
    sync = Synchronizer(saljstod=crm, outlook=outlook, state=MemoryStateStore(), user="anna")
    _outcome(lambda: sync.set_last_sync(when))
