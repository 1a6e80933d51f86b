"""Graph recurrence patterns: the week start places the first occurrence, and intervals
Exchange cannot store are refused before anything is written."""

from __future__ import annotations

import datetime as dt

import pytest

from outlook_sync.recurrence import Recurrence, UnsupportedRecurrenceError, from_graph, to_graph


def _weekly(first_day: str, start_date: str) -> Recurrence:
    return from_graph(
        {
            "pattern": {
                "type": "weekly",
                "interval": 2,
                "daysOfWeek": ["monday"],
                "firstDayOfWeek": first_day,
            },
            "range": {"type": "noEnd", "startDate": start_date, "recurrenceTimeZone": "UTC"},
        },
        start=dt.datetime.fromisoformat(f"{start_date}T09:00:00+00:00"),
    )


def test_every_other_monday_with_weeks_starting_sunday_starts_the_next_day() -> None:
    # Sunday 2026-03-01 opens a week (firstDayOfWeek sunday) that holds Monday 03-02:
    # that Monday is the first occurrence, not the Monday a fortnight after the
    # Monday-based week of 02-23 (2026-03-09), which the week start used to be lost for.
    assert _weekly("sunday", "2026-03-01").start == dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


def test_with_weeks_starting_monday_the_same_start_skips_a_week() -> None:
    # The Monday-based week holding Sunday 03-01 began on 02-23 (before the start), so the
    # next week of the pattern is the one of 03-09.
    assert _weekly("monday", "2026-03-01").start == dt.datetime(2026, 3, 9, 9, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("rule", "interval", "allowed"),
    [
        ("FREQ=MONTHLY;INTERVAL=150;BYMONTHDAY=3", 150, False),
        ("FREQ=MONTHLY;INTERVAL=99;BYMONTHDAY=3", 99, True),
        ("FREQ=WEEKLY;INTERVAL=100;BYDAY=TU", 100, False),
        ("FREQ=DAILY;INTERVAL=500", 500, True),
    ],
)
def test_intervals_outside_exchanges_limits_are_refused_before_writing(
    rule: str, interval: int, allowed: bool
) -> None:
    series = Recurrence(rule=rule, start=dt.datetime(2026, 3, 3, 9, tzinfo=dt.UTC), time_zone="UTC")
    if allowed:
        assert to_graph(series)["pattern"]["interval"] == interval
    else:
        with pytest.raises(UnsupportedRecurrenceError, match=r"1\.\.99"):
            to_graph(series)
