"""Series for a side without series: expand into occurrences, map flat edits back.

Theory of operation
-------------------
Säljstöd has no recurring appointments. When a series from Outlook is synced to it,
each occurrence inside a rolling *horizon* (by default one month back to one year
ahead of ``now``) becomes a single item, identified by a deterministic
*occurrence id* built from the series id and the occurrence's original start::

    occurrence_id("AAMkAD...", 2026-03-16 08:00 UTC) == "AAMkAD...::20260316T080000Z"
    occurrence_id("AAMkAD...", date(2026, 3, 16))    == "AAMkAD...::20260316"   (all day)

The same series always yields the same ids, so re-expanding never duplicates. An
occurrence belongs to the horizon by its *original* start, never by where an exception
moved it: an occurrence the user moved 14 months ahead stays linked instead of being
deleted as "gone".

Pure functions do the work; the shell (:mod:`outlook_sync.series_view`) owns the I/O:

- :func:`flatten` — the occurrences a flat side should hold for a series now;
- :func:`reconcile` — what to do on the flat side, given what it holds for the series:
  create new occurrences, update changed ones, delete occurrences the series no longer
  has (cancelled, rule edited, series deleted), and *release* (keep, no longer in
  step) those whose original start left the horizon — a CRM keeps its history;
- :func:`successors` — when a series moves to another time of day, every original
  start and so every occurrence id changes; each dropped occurrence is paired with the
  new one on the same local day, so the flat side's item is carried over (updated)
  instead of deleted and created again;
- :func:`collapse` — the reverse: the flat side's state of the occurrences inside the
  horizon turned into the series' exceptions (an edited occurrence becomes a changed
  occurrence, a deleted one a cancellation, an occurrence edited back to the series'
  content a plain occurrence again). Exceptions outside the horizon are kept.

``collapse(flatten(...))`` gives the series back unchanged, and a second ``reconcile``
after applying the first plans nothing. Nothing here reads the clock: ``now`` is an
argument.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping

import attrs

from outlook_sync._core.expansion import expand
from outlook_sync.errors import InvalidEventError
from outlook_sync.model import Event
from outlook_sync.recurrence import OriginalStart, Recurrence
from outlook_sync.scope import DEFAULT_HORIZON, Horizon
from outlook_sync.scope import inside_horizon as _inside

__all__ = [
    "DEFAULT_HORIZON",
    "FlatChanges",
    "Horizon",
    "Occurrence",
    "collapse",
    "flatten",
    "occurrence_id",
    "parse_occurrence_id",
    "reconcile",
    "successors",
]

_UTC = dt.UTC
_SEPARATOR = "::"
_KEY_RE = re.compile(r"^(\d{8})(?:T(\d{6})Z)?$")


def occurrence_id(series_id: str, original_start: OriginalStart) -> str:
    """The flat side's stable id of one occurrence: ``"<series id>::<original start>"``.

    The original start is written in UTC, RFC 5545 basic form (``20260316T080000Z``),
    or as ``20260316`` for an all-day series.

    Raises:
        InvalidEventError: empty series id, or a naive original start.
    """
    if not isinstance(series_id, str) or not series_id:
        raise InvalidEventError("series id must be a non-empty str", field="series_id")
    if isinstance(original_start, dt.datetime):
        if original_start.utcoffset() is None:
            raise InvalidEventError("an original start must be aware", field="original_start")
        return f"{series_id}{_SEPARATOR}{original_start.astimezone(_UTC):%Y%m%dT%H%M%SZ}"
    return f"{series_id}{_SEPARATOR}{original_start:%Y%m%d}"


def occurrence_prefix(series_id: str) -> str:
    """What every occurrence id of the series starts with (``"<series id>::"``)."""
    return f"{series_id}{_SEPARATOR}"


def parse_occurrence_id(text: str) -> tuple[str, OriginalStart] | None:
    """The (series id, original start) an occurrence id names, or None if it is not one."""
    series_id, sep, key = text.rpartition(_SEPARATOR)
    match = _KEY_RE.match(key)
    if not sep or not series_id or not match:
        return None
    try:
        day = dt.date(int(key[:4]), int(key[4:6]), int(key[6:8]))
        if match.group(2) is None:
            return series_id, day
        clock = dt.time(int(key[9:11]), int(key[11:13]), int(key[13:15]), tzinfo=_UTC)
    except ValueError:
        return None
    return series_id, dt.datetime.combine(day, clock)


@attrs.frozen(kw_only=True)
class Occurrence:
    """One occurrence of a series as a flat side holds it."""

    series_id: str
    original_start: OriginalStart
    event: Event

    @property
    def id(self) -> str:
        """The stable occurrence id (see :func:`occurrence_id`)."""
        return occurrence_id(self.series_id, self.original_start)


def _plain(
    recurrence: Recurrence, master: Event, window: tuple[dt.datetime, dt.datetime]
) -> dict[OriginalStart, Event]:
    """Original start -> the occurrence as the series alone makes it, inside ``window``.

    Without exceptions an occurrence starts at its original start, so ``expand``'s
    selection by actual start is a selection by original start.
    """
    plain = attrs.evolve(recurrence, cancelled=frozenset(), changed=())
    return dict(expand(plain, master, *window))


def flatten(
    series_id: str,
    master: Event,
    recurrence: Recurrence,
    *,
    now: dt.datetime,
    horizon: Horizon = DEFAULT_HORIZON,
) -> list[Occurrence]:
    """The occurrences a side without series holds for this series at ``now``.

    Those whose original start is inside the horizon, minus cancelled ones; a changed
    occurrence carries its own content. Sorted by original start.

    Args:
        series_id: the series master's id on the side that has the series.
        master: the master's content (subject, duration, location, ...).
        recurrence: the series.
        now: the sync's "now" (aware).
        horizon: how far back and ahead to expand.

    Raises:
        InvalidEventError: naive ``now``; a master of the wrong kind (all-day vs timed).
    """
    exceptions = recurrence.exceptions
    return [
        Occurrence(series_id=series_id, original_start=key, event=exceptions.get(key, event))
        for key, event in _plain(recurrence, master, horizon.window(now)).items()
        if key not in recurrence.cancelled
    ]


@attrs.frozen(kw_only=True)
class FlatChanges:
    """What to do on the flat side for one series (all ids are occurrence ids).

    Attributes:
        create: occurrences the flat side lacks.
        update: occurrences whose content on the flat side differs from the series'.
        delete: ids the flat side holds whose original start is inside the horizon
            but that the series no longer has (cancelled, rule edited, series deleted).
        release: ids whose original start is outside the horizon: kept, no longer in
            step.
    """

    create: tuple[Occurrence, ...] = ()
    update: tuple[Occurrence, ...] = ()
    delete: tuple[str, ...] = ()
    release: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when nothing needs doing."""
        return not (self.create or self.update or self.delete or self.release)


def reconcile(
    series_id: str,
    held: Mapping[str, Event],
    wanted: Iterable[Occurrence],
    *,
    now: dt.datetime,
    horizon: Horizon = DEFAULT_HORIZON,
) -> FlatChanges:
    """Plan the flat side's writes that make it hold ``wanted`` for this series.

    Args:
        series_id: the series' id; ids in ``held`` of other series are ignored.
        held: what the flat side holds for the series, occurrence id -> content.
        wanted: :func:`flatten`'s result (an empty list when the series was deleted).
        now, horizon: as given to :func:`flatten`.

    Content is compared zone-independently (:meth:`Event.content`), so an occurrence
    written in another zone is not "changed".
    """
    low, high = horizon.window(now)
    wanted_by_id = {occurrence.id: occurrence for occurrence in wanted}
    create, update, delete, release = [], [], [], []
    for occurrence_key, occurrence in sorted(wanted_by_id.items()):
        current = held.get(occurrence_key)
        if current is None:
            create.append(occurrence)
        elif current.content() != occurrence.event.content():
            update.append(occurrence)
    for held_id in sorted(held):
        parsed = parse_occurrence_id(held_id)
        if parsed is None or parsed[0] != series_id or held_id in wanted_by_id:
            continue
        if _inside(parsed[1], low, high):
            delete.append(held_id)
        else:
            release.append(held_id)
    return FlatChanges(
        create=tuple(create), update=tuple(update), delete=tuple(delete), release=tuple(release)
    )


def successors(changes: FlatChanges, recurrence: Recurrence) -> dict[str, str]:
    """Pair occurrences the series dropped with new ones on the same local day.

    Args:
        changes: :func:`reconcile`'s result for one series.
        recurrence: the series as it is now (its zone gives the local day).

    Returns:
        Deleted occurrence id -> created occurrence id; one-to-one, earliest with
        earliest within a day. Releases and unpaired ids are left out.
    """
    zone = recurrence.zone_info

    def day(key: OriginalStart) -> dt.date:
        if isinstance(key, dt.datetime):
            return key.astimezone(zone).date()
        return key

    fresh: dict[dt.date, list[str]] = {}
    for occurrence in sorted(changes.create, key=lambda o: o.id):
        fresh.setdefault(day(occurrence.original_start), []).append(occurrence.id)
    pairs: dict[str, str] = {}
    for gone in sorted(changes.delete):
        parsed = parse_occurrence_id(gone)
        candidates = fresh.get(day(parsed[1]), []) if parsed is not None else []
        if candidates:
            pairs[gone] = candidates.pop(0)
    return pairs


def collapse(
    recurrence: Recurrence,
    master: Event,
    held: Mapping[OriginalStart, Event | None],
    *,
    now: dt.datetime,
    horizon: Horizon = DEFAULT_HORIZON,
) -> Recurrence:
    """The series with the flat side's edits to its occurrences applied.

    Args:
        recurrence: the series as last synced.
        master: the master's content.
        held: original start -> the occurrence's content on the flat side, or ``None``
            when the flat side deleted it. Original starts outside the horizon, or
            that the rule does not produce, are ignored (they cannot be told apart
            from occurrences that rolled out of the horizon).
        now, horizon: as given to :func:`flatten`.

    Returns:
        The series with: a deleted occurrence cancelled; an occurrence whose content
        differs from the series' a changed occurrence; one equal to the series' plain
        content neither. Occurrences not in ``held`` keep their current state.
    """
    plain = _plain(recurrence, master, horizon.window(now))
    cancelled = set(recurrence.cancelled)
    changed = recurrence.exceptions
    for raw_key, event in held.items():
        key = raw_key.astimezone(_UTC) if isinstance(raw_key, dt.datetime) else raw_key
        if key not in plain:
            continue
        changed.pop(key, None)
        cancelled.discard(key)
        if event is None:
            cancelled.add(key)
        elif event.content() != plain[key].content():
            changed[key] = event
    if cancelled == recurrence.cancelled and changed == recurrence.exceptions:
        return recurrence
    return attrs.evolve(recurrence, cancelled=cancelled, changed=changed)
