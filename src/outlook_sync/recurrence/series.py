"""The :class:`Recurrence` value: rule, zone, start, cancelled and changed occurrences.

It is validated and canonicalised at construction (see :mod:`.rule`), so an invalid or
runaway series never exists. Every cancelled or changed occurrence must be an occurrence
of the rule, and none is both. Their keys, the *original starts*, are UTC datetimes
(timed series) or dates (all-day series): PEP 495 makes a datetime in a repeated
(fall-back) hour unequal to every datetime of another zone, so keys are kept in UTC to
compare and hash reliably.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

import attrs
from dateutil import rrule as du

from outlook_sync.recurrence.rule import (
    UTC,
    InvalidRecurrenceError,
    OriginalStart,
    canonical_rule,
    check_density,
    invalid,
    parse_rule,
    to_dateutil,
    until_wall,
)
from outlook_sync.timezones import UnknownTimeZoneError, localize, zone

__all__ = ["OccurrenceContent", "Recurrence", "instant_key"]


@runtime_checkable
class OccurrenceContent(Protocol):
    """What a changed occurrence is: an :class:`~outlook_sync.model.Event` without a
    recurrence of its own. A protocol here so the calendar math does not import the
    model (the model's ``Event`` holds a ``Recurrence``; the layers allow one direction).
    """

    @property
    def recurrence(self) -> object: ...

    def content(self) -> tuple[object, ...]: ...



def instant_key(value: object) -> object:
    """Aware datetimes as UTC (PEP 495-safe equality); anything else unchanged."""
    if isinstance(value, dt.datetime) and value.utcoffset() is not None:
        return value.astimezone(UTC)
    return value


def _sort_key(pair: tuple[object, object]) -> tuple[str, str]:
    return type(pair[0]).__name__, str(pair[0])  # UTC ISO strings sort chronologically


def _zone_key(value: object) -> str:
    try:
        return zone(value).key  # type: ignore[arg-type]
    except UnknownTimeZoneError as exc:
        raise InvalidRecurrenceError(f"the series time zone is unknown: {exc}") from exc


def _changed(value: object) -> object:
    if isinstance(value, Mapping):
        value = value.items()
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return tuple(sorted(((instant_key(k), e) for k, e in value), key=_sort_key))
    return value


def _cancelled(value: object) -> object:
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return frozenset(instant_key(v) for v in value)
    return value


@attrs.frozen(kw_only=True)
class Recurrence:
    """A recurring series: rule, zone, start, cancelled and changed occurrences.

    Attributes:
        rule: an RFC 5545 RRULE (with or without the ``RRULE:`` prefix); kept in the
            canonical spelling described in :mod:`outlook_sync.recurrence.rule`.
        start: the first occurrence's start. A timezone-aware datetime (any zone; kept
            in ``time_zone``) for a timed series, a ``date`` for an all-day series.
        time_zone: the series' zone, an IANA name (a Windows name is accepted and kept as
            its CLDR IANA zone). Occurrences keep their local wall time in this zone.
        cancelled: original starts of deleted occurrences (kept as UTC datetimes/dates).
        changed: original start -> the occurrence's own content (a mapping or pairs;
            kept as pairs sorted by original start).

    Raises:
        InvalidRecurrenceError: malformed or runaway rule, start not an occurrence, an
            exception for a time the rule does not produce, an unknown zone.
    """

    rule: str
    start: dt.datetime | dt.date = attrs.field(eq=instant_key)
    time_zone: str = attrs.field(converter=_zone_key)
    cancelled: frozenset[OriginalStart] = attrs.field(default=frozenset(), converter=_cancelled)
    #: original start -> that occurrence's own content, an ``Event`` (typed ``Any``
    #: here: this module sits below the model and does not import it).
    changed: tuple[tuple[OriginalStart, Any], ...] = attrs.field(
        default=(), converter=_changed
    )

    def __attrs_post_init__(self) -> None:
        tz = zone(self.time_zone)
        if isinstance(self.start, dt.datetime):
            if self.start.tzinfo is None or self.start.utcoffset() is None:
                raise invalid("the series start must be timezone-aware (or a date, all day)")
            local = self.start.astimezone(tz)
            if localize(local.replace(tzinfo=None), tz).astimezone(UTC) != instant_key(self.start):
                raise invalid(
                    f"the series start {self.start.isoformat()} is the second "
                    "occurrence of a repeated local time; series follow the "
                    "first-occurrence rule"
                )
            object.__setattr__(self, "start", local)
        elif not isinstance(self.start, dt.date):
            raise invalid(f"the series start must be a datetime or date, not {self.start!r}")
        wall = self._wall(self.start)
        rule = canonical_rule(parse_rule(self.rule), wall, tz, self.all_day)
        until = until_wall(rule, tz)
        if until is not None and until < wall:
            raise invalid("UNTIL is before the series start")
        check_density(rule, wall, until)
        object.__setattr__(self, "rule", rule.text())
        self._check_exceptions()

    @property
    def all_day(self) -> bool:
        """True for a series of all-day events (``start`` is a date)."""
        return not isinstance(self.start, dt.datetime)

    @property
    def zone_info(self) -> zoneinfo.ZoneInfo:
        """The series' zone as a ZoneInfo."""
        return zone(self.time_zone)

    @property
    def exceptions(self) -> dict[OriginalStart, Any]:
        """The changed occurrences as a dict (original start -> content)."""
        return dict(self.changed)

    def _wall(self, value: dt.datetime | dt.date) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value.astimezone(self.zone_info).replace(tzinfo=None)
        return dt.datetime.combine(value, dt.time())

    def _rrule(self) -> du.rrule:
        rule = parse_rule(self.rule)
        return to_dateutil(rule, self._wall(self.start), until_wall(rule, self.zone_info))

    def _key(self, wall: dt.datetime) -> OriginalStart:
        if self.all_day:
            return wall.date()
        return localize(wall, self.zone_info).astimezone(UTC)

    def occurrences_between(self, low: dt.datetime, high: dt.datetime) -> Iterator[OriginalStart]:
        """Original starts of the rule (ignoring exceptions) with key in ``[low, high)``.

        ``low`` and ``high`` are aware; for an all-day series a date counts from its
        local midnight in the series zone.
        """
        tz = self.zone_info
        margin = dt.timedelta(hours=3)  # DST shifts and the gap rule move by at most 3 h
        lo_wall = low.astimezone(tz).replace(tzinfo=None) - margin - dt.timedelta(days=1)
        hi_wall = high.astimezone(tz).replace(tzinfo=None) + margin
        low, high = low.astimezone(UTC), high.astimezone(UTC)
        for wall in self._rrule().between(lo_wall, hi_wall, inc=True):
            moment = localize(wall, tz).astimezone(UTC)
            if low <= moment < high:
                yield self._key(wall)

    def occurs_at(self, original_start: OriginalStart) -> bool:
        """True if the rule (ignoring exceptions) has an occurrence starting then."""
        return not self._not_occurrences([instant_key(original_start)])

    def _not_occurrences(self, keys: list[object]) -> list[object]:
        """The keys that are not original starts of this series (one pass over the rule)."""
        wrong = [k for k in keys if not self._well_typed(k)]
        moments = {k: self._moment_of(k) for k in keys if self._well_typed(k)}
        if moments:
            low, high = min(moments.values()), max(moments.values())
            found = set(self.occurrences_between(low, high + dt.timedelta(seconds=1)))
            wrong += [k for k in moments if k not in found]
        return wrong

    def _well_typed(self, key: object) -> bool:
        if self.all_day:
            return isinstance(key, dt.date) and not isinstance(key, dt.datetime)
        return isinstance(key, dt.datetime) and key.utcoffset() is not None

    def _moment_of(self, key: object) -> dt.datetime:
        if isinstance(key, dt.datetime):
            return key.astimezone(UTC)
        assert isinstance(key, dt.date)
        return localize(self._wall(key), self.zone_info).astimezone(UTC)

    def _check_exceptions(self) -> None:
        changed_keys = [k for k, _ in self.changed]
        if len(set(changed_keys)) != len(changed_keys):
            raise invalid("two changed occurrences share one original start")
        if self.cancelled & set(changed_keys):
            raise invalid("an occurrence cannot be both cancelled and changed")
        for _key, event in self.changed:
            if not isinstance(event, OccurrenceContent):
                raise invalid(f"a changed occurrence must be an Event, not {type(event).__name__}")
            if event.recurrence is not None:
                raise invalid("a changed occurrence is a single event; it has no recurrence")
        wrong = self._not_occurrences([*self.cancelled, *changed_keys])
        if wrong:
            kind = "dates" if self.all_day else "aware datetimes"
            raise invalid(
                f"{wrong[0]!r} is not an occurrence of the series (original starts "
                f"are {kind} the rule produces)"
            )

    def cancel(self, original_start: OriginalStart) -> Recurrence:
        """A copy with that occurrence cancelled (any exception for it is dropped)."""
        key = instant_key(original_start)
        changed = tuple(p for p in self.changed if p[0] != key)
        return attrs.evolve(self, cancelled=self.cancelled | {key}, changed=changed)

    def change(self, original_start: OriginalStart, event: OccurrenceContent) -> Recurrence:
        """A copy where that occurrence has ``event`` as its own content."""
        key = instant_key(original_start)
        changed = [*(p for p in self.changed if p[0] != key), (key, event)]
        return attrs.evolve(self, cancelled=self.cancelled - {key}, changed=changed)

    def restore(self, original_start: OriginalStart) -> Recurrence:
        """A copy where that occurrence follows the series again."""
        key = instant_key(original_start)
        changed = tuple(p for p in self.changed if p[0] != key)
        return attrs.evolve(self, cancelled=self.cancelled - {key}, changed=changed)
