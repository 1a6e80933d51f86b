"""A date at the edge of Python's range, read in a time zone, never fails a Graph listing.

Python's datetimes stop at 0001-01-01 and 9999-12-31. A wall time of 9999-12-31 23:00 in
"Dateline Standard Time" (UTC-12) is an instant after that, and 0001-01-01 00:00 in
"Tokyo Standard Time" one before it: converting either to UTC overflows. Such an event is
quarantined (a :class:`BrokenItem` with the reason), the other events are listed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from outlook_sync import BrokenItem, Item
from outlook_sync.adapters.graph import GraphCalendar, GraphClient, StaticToken
from outlook_sync.adapters.graph.mapping import item_from_graph, parse_instant
from outlook_sync.testing.graph import GraphEmulator, run_emulator

UTC = dt.UTC
HOUR = dt.timedelta(hours=1)


def _event(item_id: str, start: str, end: str, zone: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": item_id,
        "changeKey": f"ck-{item_id}",
        "type": "singleInstance",
        "subject": item_id,
        "isAllDay": False,
        "start": {"dateTime": start, "timeZone": zone},
        "end": {"dateTime": end, "timeZone": zone},
        "lastModifiedDateTime": "2026-03-10T08:00:00Z",
        **fields,
    }


@pytest.mark.parametrize(
    ("start", "end", "zone"),
    [
        ("9999-12-31T22:00:00.0000000", "9999-12-31T23:00:00.0000000", "Dateline Standard Time"),
        ("9999-12-31T22:00:00", "9999-12-31T23:00:00", "Hawaiian Standard Time"),
        ("9999-12-31T22:00:00", "9999-12-31T23:00:00", "America/Los_Angeles"),
        ("0001-01-01T00:00:00", "0001-01-01T01:00:00", "Tokyo Standard Time"),
        ("0001-01-01T00:00:00", "0001-01-01T01:00:00", "Arabian Standard Time"),
        ("0001-01-01T00:00:00+05:00", "0001-01-01T01:00:00+05:00", "UTC"),
        ("9999-12-31T22:00:00-05:00", "9999-12-31T23:00:00-05:00", "UTC"),
    ],
)
def test_a_wall_time_outside_utc_is_a_broken_item_with_its_reason(
    start: str, end: str, zone: str
) -> None:
    mapped = item_from_graph(_event("edge", start, end, zone))
    assert isinstance(mapped, BrokenItem)
    assert mapped.id == "edge"
    assert mapped.reason.startswith(f"start {start.split('.')[0]!r}")
    if zone != "UTC":
        assert f"in {zone!r}" in mapped.reason
    assert mapped.reason.endswith("outside the years 1..9999 in UTC (a sentinel or corrupt date)")


@pytest.mark.parametrize(
    ("instant", "zone"),
    [("9999-12-31T20:00:00", "Tokyo Standard Time"),
     ("0001-01-01T05:00:00", "Hawaiian Standard Time")],
)
def test_an_instant_without_a_wall_time_in_its_original_zone_is_broken(
    instant: str, zone: str
) -> None:
    later = (dt.datetime.fromisoformat(instant) + HOUR).isoformat()
    data = _event("edge", instant, later, "UTC",
                  originalStartTimeZone=zone, originalEndTimeZone=zone)
    mapped = item_from_graph(data)
    assert isinstance(mapped, BrokenItem)
    assert "outside the years 1900..2999" in mapped.reason


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"])
def test_a_change_time_outside_utc_is_no_change_time(value: str) -> None:
    assert parse_instant(value) is None
    mapped = item_from_graph(_event("e", "2026-03-10T09:00:00", "2026-03-10T10:00:00", "UTC",
                                    lastModifiedDateTime=value))
    assert isinstance(mapped, Item)
    assert mapped.changed is None


def test_a_change_time_is_read_in_utc() -> None:
    assert parse_instant("2026-03-10T09:00:00+01:00") == dt.datetime(2026, 3, 10, 8, tzinfo=UTC)


# -- through the Graph emulator ---------------------------------------------------------


@pytest.fixture
def graph() -> Iterator[GraphEmulator]:
    with run_emulator() as emulator:
        yield emulator


@pytest.fixture
def cal(graph: GraphEmulator) -> Iterator[GraphCalendar]:
    client = GraphClient(graph.base_url, StaticToken("token-1"), mailbox="me",
                         sleep=lambda _s: None, random=lambda: 0.5, timeout=5.0)
    calendar = GraphCalendar(client)
    yield calendar
    calendar.close()


def test_a_listing_with_a_date_beyond_utc_in_its_zone_lists_the_others(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    """The events page as Graph sends it when the start is in the event's own zone (the
    adapter asks for UTC; anything else that arrives is still handled)."""
    page = {"value": [
        _event("fine-1", "2026-03-10T09:00:00.0000000", "2026-03-10T10:00:00.0000000", "UTC"),
        _event("dateline", "9999-12-31T22:00:00.0000000", "9999-12-31T23:00:00.0000000",
               "Dateline Standard Time"),
        _event("tokyo", "0001-01-01T00:00:00.0000000", "0001-01-01T01:00:00.0000000",
               "Tokyo Standard Time"),
        _event("fine-2", "2026-03-11T09:00:00.0000000", "2026-03-11T10:00:00.0000000",
               "W. Europe Standard Time"),
    ]}
    graph.corrupt(json.dumps(page).encode(), method="GET", path_contains="/calendar/events")

    listing = cal.list_all()

    assert sorted(item.id for item in listing.items) == ["fine-1", "fine-2"]
    broken = {item.id: item.reason for item in listing.broken}
    assert broken.keys() == {"dateline", "tokyo"}
    assert "'Dateline Standard Time' falls outside the years 1..9999 in UTC" in broken["dateline"]
    assert "'Tokyo Standard Time' falls outside the years 1..9999 in UTC" in broken["tokyo"]


def test_list_all_and_list_changes_quarantine_an_event_with_no_wall_time_in_its_zone(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    """Stored in UTC, served in UTC, but its original zone is one where the instant has no
    wall time (Tokyo is nine hours ahead of 9999-12-31 20:00 UTC)."""
    t0 = dt.datetime(2026, 3, 10, 9, tzinfo=UTC)
    fine = graph.seed_event("fine", t0, t0 + HOUR)
    bad = graph.seed_event("bad", t0 + 24 * HOUR, t0 + 25 * HOUR)
    with graph.store.lock:
        stored = graph.event(bad)
        stored.start = dt.datetime(9999, 12, 31, 20, tzinfo=UTC)
        stored.end = dt.datetime(9999, 12, 31, 21, tzinfo=UTC)
        stored.start_zone = stored.end_zone = "Tokyo Standard Time"

    listing = cal.list_all()

    assert [item.id for item in listing.items] == [fine]
    assert [item.id for item in listing.broken] == [bad]
    assert "outside the years 1900..2999" in listing.broken[0].reason

    graph.user_edit(bad, subject="still bad")
    graph.user_edit(fine, subject="still fine")
    changes = cal.list_changes(listing.cursor)

    assert [(item.id, item.event.subject) for item in changes.items] == [(fine, "still fine")]
    assert [item.id for item in changes.broken] == [bad]


def test_a_series_ending_at_the_end_of_the_calendar_is_broken_not_a_crash() -> None:
    # A range to 9999-12-31 in a zone west of UTC cannot be converted: the master is
    # quarantined with the reason; it never ends the listing with OverflowError.
    from outlook_sync.adapters.graph import GraphCalendar, GraphClient, StaticToken
    from outlook_sync.adapters.graph.series import series_item
    from outlook_sync.model import BrokenItem

    cal = GraphCalendar(GraphClient("http://127.0.0.1:9/v1.0", StaticToken("t")))
    wall = {"timeZone": "UTC"}
    data = {
        "id": "M1", "changeKey": "ck1", "type": "seriesMaster", "subject": "Serie",
        "start": {**wall, "dateTime": "2026-03-02T09:00:00"},
        "end": {**wall, "dateTime": "2026-03-02T10:00:00"},
        "originalStartTimeZone": "Dateline Standard Time",
        "originalEndTimeZone": "Dateline Standard Time",
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"],
                        "firstDayOfWeek": "sunday"},
            "range": {"type": "endDate", "startDate": "2026-03-01", "endDate": "9999-12-31",
                      "recurrenceTimeZone": "Dateline Standard Time"},
        },
        "exceptionOccurrences": [], "cancelledOccurrences": [],
    }
    mapped = series_item(cal, data, None)
    assert isinstance(mapped, BrokenItem)
    assert "outside the years" in mapped.reason
