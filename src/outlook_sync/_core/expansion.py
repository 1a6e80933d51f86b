"""Expansion: the occurrences of a series inside a window, as events.

Occurrences are computed on local wall times and turned into instants with
:func:`outlook_sync.timezones.localize`, so a 09:00 series stays at 09:00 local across
daylight-saving changes, and the one documented DST rule (gap: forward; fold: first)
applies to every occurrence.
"""

from __future__ import annotations

import datetime as dt

import attrs

from outlook_sync.model import Event
from outlook_sync.recurrence.rule import UTC, OriginalStart, aware_utc, invalid
from outlook_sync.recurrence.series import Recurrence
from outlook_sync.timezones import localize

__all__ = ["expand"]


def _occurrence(template: Event, recurrence: Recurrence, key: OriginalStart) -> Event:
    """The template moved to ``key``; an occurrence is a single event (no recurrence)."""
    if recurrence.all_day:
        assert isinstance(key, dt.date)
        days = _days(template)
        return attrs.evolve(template, start=key, end=key + days, all_day=True, recurrence=None)
    assert isinstance(key, dt.datetime)
    begin = key.astimezone(recurrence.zone_info)
    duration = _duration(template)
    end = (key + duration).astimezone(recurrence.zone_info)
    if end < begin:
        # It starts before the fall-back switch and ends in the repeated hour after it.
        # Two times of one zone compare by wall clock, ignoring fold (PEP 495), so the
        # end is written in UTC: the same instant, in an order every reader agrees on.
        end = (key + duration).astimezone(UTC)
    return attrs.evolve(template, start=begin, end=end, all_day=False, recurrence=None)


def _days(template: Event) -> dt.timedelta:
    if not template.all_day:
        raise invalid("an all-day series needs an all-day template event")
    return template.end - template.start


def _duration(template: Event) -> dt.timedelta:
    if template.all_day:
        raise invalid("a timed series needs a timed template event")
    start, end = template.start, template.end
    assert isinstance(start, dt.datetime)
    assert isinstance(end, dt.datetime)
    return end.astimezone(UTC) - start.astimezone(UTC)  # elapsed, not wall-clock


def _moment(recurrence: Recurrence, value: dt.datetime | dt.date) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC)
    return localize(dt.datetime.combine(value, dt.time()), recurrence.zone_info).astimezone(UTC)


def expand(
    recurrence: Recurrence, template: Event, window_start: dt.datetime, window_end: dt.datetime
) -> list[tuple[OriginalStart, Event]]:
    """The occurrences whose (actual) start lies in ``[window_start, window_end)``.

    Regular occurrences are the template moved to each start of the rule, keeping its
    elapsed duration (all-day: its number of days); cancelled ones are left out; a
    changed one is its own event, included when *its* start is in the window, wherever
    the original start was. An all-day start counts from its local midnight in the
    series zone.

    Args:
        recurrence: the series.
        template: the series master's content (subject, duration, location, ...).
        window_start, window_end: aware datetimes.

    Returns:
        ``(original_start, event)`` pairs sorted by actual start, then original start.

    Raises:
        InvalidEventError: naive window bounds, or a template of the wrong kind
            (all-day vs timed).
    """
    low = aware_utc("window_start", window_start)
    high = aware_utc("window_end", window_end)
    result: list[tuple[OriginalStart, Event]] = []
    skip = recurrence.cancelled | {k for k, _ in recurrence.changed}
    for key in recurrence.occurrences_between(low, high):
        if key not in skip:
            result.append((key, _occurrence(template, recurrence, key)))
    for key, event in recurrence.changed:
        if low <= _moment(recurrence, event.start) < high:
            result.append((key, event))
    result.sort(key=lambda p: (_moment(recurrence, p[1].start), _moment(recurrence, p[0])))
    return result
