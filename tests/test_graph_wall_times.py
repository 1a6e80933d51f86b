"""How event times are written to Graph: the event's own zone by its Windows name when
the wall time names one instant, UTC when it does not (the repeated hour of a DST change).

Graph reads ``dateTimeTimeZone`` as a wall time in the named zone
(https://learn.microsoft.com/en-us/graph/api/resources/datetimetimezone), so a wall time
that happens twice would be ambiguous there: it goes as UTC, and the instant stays right.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from outlook_sync.adapters.graph.mapping import event_from_graph, event_to_graph
from outlook_sync.model import Event

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def _instant(value: dt.date) -> float:
    assert isinstance(value, dt.datetime)
    return value.timestamp()


def _event(start: dt.datetime) -> Event:
    return Event(subject="Möte", start=start, end=start + dt.timedelta(hours=1))


def test_an_ordinary_wall_time_goes_in_the_events_own_zone() -> None:
    body = event_to_graph(_event(dt.datetime(2026, 3, 16, 9, 30, tzinfo=STOCKHOLM)))
    assert body["start"] == {"dateTime": "2026-03-16T09:30:00",
                             "timeZone": "W. Europe Standard Time"}


def test_both_readings_of_the_repeated_hour_go_as_utc_and_keep_their_instant() -> None:
    for fold, utc_hour in ((0, 0), (1, 1)):
        start = dt.datetime(2026, 10, 25, 2, 30, fold=fold, tzinfo=STOCKHOLM)
        body = event_to_graph(_event(start))
        assert body["start"] == {"dateTime": f"2026-10-25T0{utc_hour}:30:00", "timeZone": "UTC"}
        read = event_from_graph({**body, "id": "x"})
        # the same instant, whichever reading was meant (compared as timestamps: PEP 495
        # makes == across zones false for a wall time whose reading depends on fold)
        assert _instant(read.start) == start.timestamp()


def test_a_skipped_wall_time_is_written_as_the_instant_it_stands_for() -> None:
    skipped = dt.datetime(2026, 3, 29, 2, 30, tzinfo=STOCKHOLM)  # 02:00-03:00 does not exist
    body = event_to_graph(_event(skipped))
    read = event_from_graph({**body, "id": "x"})
    assert _instant(read.start) == skipped.timestamp()


def test_a_zone_windows_has_no_name_for_goes_as_utc() -> None:
    start = dt.datetime(2026, 6, 1, 12, 0, tzinfo=ZoneInfo("Antarctica/Troll"))
    body = event_to_graph(_event(start))
    assert body["start"]["timeZone"] == "UTC"
    assert event_from_graph({**body, "id": "x"}).start == start
