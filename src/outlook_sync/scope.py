"""What syncs, and which way: the per-user filter and per-field directions.

Both are plain values inside :class:`~outlook_sync.policy.SyncPolicy`; the pure planner
applies them.

Filter
    An item the filter rejects is not synced. A linked item that *leaves* the filter (a
    user changed its category, made it private, ...) is unlinked, never deleted on the
    other side; its former partner is not pushed back as a new item either (it names the
    filtered item as its partner). When the item comes back into the filter, the two
    are linked again. A changed filter applies to items as they are listed: run *Full
    sync now* after changing it to re-examine every item.
Directions
    Per field unit (``subject``, ``time`` = start/end/all-day, ``location``, ``body``,
    ``categories``, ``show_as``, ``private``, ``reminder_minutes``): ``both`` (default),
    ``to_outlook`` (Säljstöd's value wins and Outlook's edits of it are ignored) or
    ``to_saljstod``. Directions govern changes to linked items; a new item is created
    with all of its fields.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from outlook_sync.errors import ConfigurationError, InvalidEventError
from outlook_sync.model import Event, Side

__all__ = [
    "DEFAULT_HORIZON",
    "FIELD_UNITS",
    "Direction",
    "Horizon",
    "SyncFilter",
    "directions_from",
    "inside_horizon",
]

#: An occurrence's original start: its start before any change (a date for all-day).
OriginalStart = dt.datetime | dt.date

#: The units a direction can be set for, and the fields each covers.
FIELD_UNITS: dict[str, tuple[str, ...]] = {
    "subject": ("subject",),
    "time": ("start", "end", "all_day", "recurrence"),
    "location": ("location",),
    "body": ("body",),
    "categories": ("categories",),
    "show_as": ("show_as",),
    "private": ("private",),
    "reminder_minutes": ("reminder_minutes",),
}


class Direction(enum.Enum):
    """Which way changes of one field unit travel."""

    BOTH = "both"
    TO_OUTLOOK = "to_outlook"
    TO_SALJSTOD = "to_saljstod"

    def flows_from(self, side: Side) -> bool:
        """Whether a change made on ``side`` travels to the other side."""
        if self is Direction.BOTH:
            return True
        return (self is Direction.TO_OUTLOOK) == (side is Side.SALJSTOD)

    def mirrored(self) -> Direction:
        swap = {Direction.TO_OUTLOOK: Direction.TO_SALJSTOD,
                Direction.TO_SALJSTOD: Direction.TO_OUTLOOK}
        return swap.get(self, self)


def directions_from(value: object) -> tuple[tuple[str, Direction], ...]:
    """Normalise ``{"body": "to_outlook"}`` (or pairs) to a sorted tuple of pairs.

    Raises:
        ConfigurationError: an unknown unit or direction.
    """
    if isinstance(value, Mapping):
        pairs: Iterable[Any] = value.items()
    elif isinstance(value, Iterable) and not isinstance(value, str):
        pairs = value
    else:
        raise ConfigurationError("directions must be a mapping of unit to direction",
                                 key="directions")
    result: dict[str, Direction] = {}
    for unit, direction in pairs:
        if unit not in FIELD_UNITS:
            raise ConfigurationError(
                f"unknown field unit {unit!r} in directions; use one of {sorted(FIELD_UNITS)}",
                key=f"directions.{unit}",
            )
        try:
            result[unit] = Direction(direction) if isinstance(direction, str) else direction
        except ValueError:
            raise ConfigurationError(
                f"direction {direction!r} for {unit!r} must be both, to_outlook or to_saljstod",
                key=f"directions.{unit}",
            ) from None
        if not isinstance(result[unit], Direction):
            raise ConfigurationError(f"bad direction for {unit!r}", key=f"directions.{unit}")
    return tuple(sorted(result.items()))


def _names(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        raise ConfigurationError("give categories as a list, not one string", key="categories")
    return frozenset(name.casefold() for name in value)


def _bound(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ConfigurationError(f"{attr.name} must be timezone-aware", key=attr.name)
    elif not isinstance(value, dt.date):
        raise ConfigurationError(f"{attr.name} must be a date or datetime", key=attr.name)


def _start_instant(value: dt.datetime | dt.date) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)


@attrs.frozen(kw_only=True)
class SyncFilter:
    """Which items sync. The default accepts everything.

    Attributes:
        categories: if not empty, only items with at least one of these categories
            (case-insensitive). Säljstöd activity types reach the filter as categories.
        exclude_categories: items with any of these categories never sync.
        include_private: ``False`` keeps private items out of the sync.
        start_from, start_until: only items starting in ``[start_from, start_until)``.
    """

    categories: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    exclude_categories: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    include_private: bool = True
    start_from: dt.datetime | dt.date | None = attrs.field(default=None, validator=_bound)
    start_until: dt.datetime | dt.date | None = attrs.field(default=None, validator=_bound)

    @property
    def accepts_everything(self) -> bool:
        return self == SyncFilter()

    def accepts(self, event: Event) -> bool:
        """Whether ``event`` is in the sync."""
        names = {name.casefold() for name in event.categories}
        if self.categories and not names & self.categories:
            return False
        if names & self.exclude_categories:
            return False
        if event.private and not self.include_private:
            return False
        start = _start_instant(event.start)
        if self.start_from is not None and start < _start_instant(self.start_from):
            return False
        return not (self.start_until is not None and start >= _start_instant(self.start_until))


# -- the series horizon (how far around now a series is shown as occurrences) ---------

def _positive(_inst: object, attr: attrs.Attribute[dt.timedelta], value: object) -> None:
    if not isinstance(value, dt.timedelta) or value < dt.timedelta(0):
        raise ConfigurationError(
            f"horizon {attr.name} must be a timedelta >= 0", key=f"horizon.{attr.name}"
        )


@attrs.frozen(kw_only=True)
class Horizon:
    """How far around ``now`` series are expanded for a side without series.

    Attributes:
        back: how far into the past (default 31 days: about one month).
        ahead: how far into the future (default 365 days: one year).

    Raises:
        ConfigurationError: a negative or non-timedelta bound.
    """

    back: dt.timedelta = attrs.field(default=dt.timedelta(days=31), validator=_positive)
    ahead: dt.timedelta = attrs.field(default=dt.timedelta(days=365), validator=_positive)

    def window(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """The half-open UTC window ``[now - back, now + ahead)``.

        Raises:
            InvalidEventError: ``now`` is naive.
        """
        if not isinstance(now, dt.datetime) or now.utcoffset() is None:
            raise InvalidEventError("now must be a timezone-aware datetime", field="now")
        moment = now.astimezone(dt.UTC)
        return moment - self.back, moment + self.ahead

    def holds(self, original_start: OriginalStart, now: dt.datetime) -> bool:
        """Whether the occurrence with this original start belongs to the horizon at ``now``.

        The same test :func:`reconcile` uses to tell "delete" from "release": exact for
        timed series; a date counts as inside only if it is inside in every zone.

        Raises:
            InvalidEventError: ``now`` is naive.
        """
        return inside_horizon(original_start, *self.window(now))


#: One month back, one year ahead.
DEFAULT_HORIZON = Horizon()


def inside_horizon(key: OriginalStart, low: dt.datetime, high: dt.datetime) -> bool:
    """Whether a held occurrence is inside the horizon, erring towards "outside".

    An all-day date's midnight depends on a zone the caller may no longer know (the
    series may be gone), so the date counts as inside only if it is inside in every
    zone (UTC-12 to UTC+14): near the edges it is released, never deleted.
    """
    if isinstance(key, dt.datetime):
        return low <= key.astimezone(dt.UTC) < high
    midnight = dt.datetime.combine(key, dt.time(), dt.UTC)
    return low <= midnight - dt.timedelta(hours=14) and midnight + dt.timedelta(hours=12) < high
