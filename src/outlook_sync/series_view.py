"""A series-capable calendar shown as single occurrences, for a side without series.

Theory of operation
-------------------
Säljstöd has no recurring appointments; Outlook has. :class:`SeriesView` wraps the
Outlook calendar so that the engine and the planner, which know nothing of series, see
what Säljstöd can hold: every single appointment as it is, and every series as its
occurrences inside a rolling *horizon* (``policy.series_horizon``, by default one month
back to one year ahead of the sync host's clock). Each occurrence has a stable id,
``"<series id>::<original start>"`` (:func:`~outlook_sync._core.series.occurrence_id`),
so expanding again never duplicates. The decisions are the pure functions of
:mod:`outlook_sync._core.series`; this module only reads and writes.

Reading
    A complete listing shows every occurrence in the horizon. A change listing shows the
    occurrences that differ from what the sync last agreed on (new ones, including those
    the rolling horizon just reached, and ones the series changed) and reports as
    deleted the linked ones the series no longer has inside the horizon (a cancelled
    occurrence, a shortened rule, a deleted series). A series master itself is never an
    item of the view: a single appointment that became a series is reported deleted and
    its occurrences appear instead.
Writing
    An update of an occurrence becomes an exception of the series, a deletion a
    cancellation (:func:`~outlook_sync._core.series.collapse`); both rewrite the master
    with the version read just before, so a concurrent edit in Outlook is detected.
    Creates are single appointments: an item born in Säljstöd is a plain item.
Released occurrences
    An occurrence whose original start leaves the horizon is *released*: it is neither
    deleted nor kept in step any more. Its Säljstöd activity stays (a CRM keeps its
    history); a complete listing shows the occurrence as the content last agreed on, and
    writes to it change nothing in Outlook. The link stays in the state store, as a
    tombstone does, so the activity is never pushed back to Outlook as a new appointment.
Moved series
    Moving a series to another time of day changes every original start and so every id.
    The view pairs each dropped occurrence with the new one on the same local day
    (:func:`~outlook_sync._core.series.successors`) and gives the new one the dropped
    one's partner, so the planner carries the link over (as it does for an item that
    got a new id) and updates the Säljstöd activity instead of replacing it.

What the sync last agreed on comes from the state store's links (read only): that is
what tells a cancelled occurrence from one that was never there. Each occurrence's
partner key is its link's Säljstöd id, so linked occurrences need no hidden field in
Outlook (an occurrence written in Outlook would become an exception); lost link state is
rebuilt from the partner keys on the Säljstöd side. An occurrence's version is a digest
of its content: an edit of one occurrence does not make the others' versions stale.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, runtime_checkable

import attrs

from outlook_sync._core.series import Occurrence, collapse, parse_occurrence_id
from outlook_sync.errors import (
    BackendError,
    InvalidEventError,
    ItemNotFoundError,
    ItemRejectedError,
    VersionConflictError,
)
from outlook_sync.model import BrokenItem, Cursor, Event, Item, Link, Listing, Side, check_aware
from outlook_sync.policy import SyncPolicy
from outlook_sync.protocols import (
    BulkDeleter,
    BulkWriter,
    Calendar,
    ChangeNotifier,
    OccurrenceLinks,
    StateStore,
    Subscription,
)
from outlook_sync.recurrence import OriginalStart, Recurrence
from outlook_sync.scope import Horizon
from outlook_sync.series_listing import (
    flat_listing,
    occurrence_item,
    occurrence_version,
    occurrences,
    released,
)
from outlook_sync.timezones import localize

__all__ = ["SeriesSupport", "SeriesView", "wrap_for_series"]

Clock = Callable[[], dt.datetime]


@runtime_checkable
class SeriesSupport(Protocol):
    """Optional capability: the calendar keeps recurring series as series masters.

    A backend with ``supports_series`` true stores an :class:`Event` whose
    ``recurrence`` is set as one item (the master) and lists it as such; Outlook does,
    Säljstöd does not. The engine shows such a calendar to a side without series
    through :class:`SeriesView` (see :func:`wrap_for_series`).
    """

    supports_series: bool

    def list_series(self) -> Sequence[Item]:
        """Every series master of the calendar (the rolling horizon needs them all)."""
        ...


def has_series(calendar: object) -> bool:
    """Whether ``calendar`` declares series support."""
    return isinstance(calendar, SeriesSupport) and calendar.supports_series is True


def wrap_for_series(
    saljstod: Calendar,
    outlook: Calendar,
    policy: SyncPolicy,
    now: Clock,
    *,
    state: StateStore,
    user: str,
) -> tuple[Calendar, Calendar]:
    """The two calendars as the engine should see them: a series side faces a flat one
    through a :class:`SeriesView`; otherwise both are returned unchanged.

    Args:
        saljstod, outlook: the two adapters.
        policy: the sync policy (its ``series_horizon``).
        now: the sync host's clock; read at each listing to place the horizon.
        state, user: the link state the view reads (never writes).

    The view of a calendar that pushes change hints (:class:`ChangeNotifier`) pushes
    them on, as "something changed, look": the ids a backend names are series masters,
    which are not items of the view.
    """

    def view(calendar: Calendar, side: Side) -> Calendar:
        return _view_class(calendar)(
            calendar, horizon=policy.series_horizon, now=now, state=state, user=user, side=side
        )

    if has_series(outlook) and not has_series(saljstod):
        return saljstod, view(outlook, Side.OUTLOOK)
    if has_series(saljstod) and not has_series(outlook):
        return view(saljstod, Side.SALJSTOD), outlook
    return saljstod, outlook


class SeriesView:
    """``calendar`` (with series) as a :class:`~outlook_sync.protocols.Calendar` of
    single items and occurrences. See the module docstring.

    Args:
        calendar: the series-capable adapter (:class:`SeriesSupport`).
        horizon: how far back and ahead series are expanded.
        now: the sync host's clock, read once per listing; writes use the same "now"
            as the listing they follow, so the horizon does not move within a sync.
        state, user: where the view reads the links of its occurrences (never writes).
        side: the side ``calendar`` is on (which id of a link is the view's).

    Raises:
        TypeError: ``calendar`` does not declare series support.
    """

    def __init__(
        self,
        calendar: Calendar,
        *,
        horizon: Horizon,
        now: Clock,
        state: StateStore,
        user: str,
        side: Side = Side.OUTLOOK,
    ) -> None:
        if not isinstance(calendar, SeriesSupport) or not has_series(calendar):
            raise TypeError("SeriesView needs a calendar with series support (SeriesSupport)")
        self.calendar = calendar
        self._series = calendar
        self.horizon = horizon
        self._clock = now
        self._state = state
        self._user = user
        self._side = side
        self._now: dt.datetime | None = None

    def __repr__(self) -> str:
        return f"SeriesView({self.calendar!r}, horizon={self.horizon!r})"

    # -- reading -------------------------------------------------------------------

    def list_all(self) -> Listing:
        """Single items and every occurrence in the horizon; complete."""
        return self._flat(self.calendar.list_all())

    def list_changes(self, cursor: Cursor) -> Listing:
        """Changed single items, new and changed occurrences, and deleted ones."""
        return self._flat(self.calendar.list_changes(cursor))

    def get(self, item_id: str) -> Item | BrokenItem | None:
        """A single item, an occurrence (a released one as last agreed), or ``None``."""
        parsed = parse_occurrence_id(item_id)
        if parsed is None:
            found = self.calendar.get(item_id)
            if isinstance(found, Item) and found.event.recurrence is not None:
                return None  # a master is not an item of the view
            return found
        series_id, key = parsed
        now = self._current()
        master = self.calendar.get(series_id)
        if isinstance(master, BrokenItem):
            return BrokenItem(
                id=item_id,
                reason=f"its series is unreadable: {master.reason}",
                partner_key=self._partner(item_id),
            )
        if isinstance(master, Item):
            occurrence = self._occurrence(master, item_id, now)
            if occurrence is not None:
                return occurrence_item(occurrence, master, self._partner(item_id))
        if self.horizon.holds(key, now):
            return None
        link = self._links([item_id]).get(item_id)
        return released(link) if link is not None else None

    def find_by_partner_key(self, partner_key: str) -> Sequence[Item]:
        """Single items carrying ``partner_key`` (occurrences carry none in the backend)."""
        return [
            item
            for item in self.calendar.find_by_partner_key(partner_key)
            if item.event.recurrence is None
        ]

    # -- writing -------------------------------------------------------------------

    def create(self, event: Event, *, partner_key: str) -> Item:
        """Create a single item: an item born on the other side is never an occurrence."""
        return self.calendar.create(event, partner_key=partner_key)

    def update(
        self,
        item_id: str,
        event: Event,
        *,
        expected_version: str,
        partner_key: str | None = None,
    ) -> Item:
        """Update a single item, or make an occurrence an exception of its series.

        An occurrence's partner key is its link's partner id: it is not written. A
        released occurrence is not written at all (see the module docstring).

        Raises:
            VersionConflictError: the item or occurrence changed since
                ``expected_version``, or the series changed while it was rewritten.
            ItemNotFoundError: the item is gone, or the series no longer has the
                occurrence.
            ItemRejectedError: the backend refused the content, or ``event`` is itself
                a series.
        """
        parsed = parse_occurrence_id(item_id)
        if parsed is None:
            return self.calendar.update(
                item_id, event, expected_version=expected_version, partner_key=partner_key
            )
        if event.recurrence is not None:
            raise ItemRejectedError(
                f"occurrence {item_id} cannot become a series of its own", item_id=item_id
            )
        master = self._write(item_id, parsed, event, expected_version)
        if master is None:  # released
            return Item(id=item_id, version=expected_version, event=event, partner_key=partner_key)
        occurrence = self._occurrence(master, item_id, self._current())
        if occurrence is None:
            raise ItemNotFoundError(f"occurrence {item_id} is gone", item_id=item_id)
        return occurrence_item(occurrence, master, partner_key or self._partner(item_id))

    def delete(self, item_id: str, *, expected_version: str) -> None:
        """Delete a single item, or cancel an occurrence of its series.

        A released occurrence is not written (see the module docstring).

        Raises:
            VersionConflictError: as for :meth:`update`.
            ItemNotFoundError: the item is gone, or the series no longer has the
                occurrence.
        """
        parsed = parse_occurrence_id(item_id)
        if parsed is None:
            self.calendar.delete(item_id, expected_version=expected_version)
            return
        self._write(item_id, parsed, None, expected_version)

    # -- internals -------------------------------------------------------------------

    def _write(
        self,
        item_id: str,
        parsed: tuple[str, OriginalStart],
        event: Event | None,
        expected_version: str,
    ) -> Item | None:
        """Give one occurrence new content (``None``: cancel it) by rewriting its series.

        Returns the master as it is afterwards, or ``None`` for a released occurrence.
        """
        series_id, key = parsed
        now = self._current()
        master = self.calendar.get(series_id)
        if not isinstance(master, Item) or master.event.recurrence is None:
            if self.horizon.holds(key, now):
                raise ItemNotFoundError(
                    f"the series of occurrence {item_id} is gone", item_id=item_id
                )
            return None
        recurrence = master.event.recurrence
        current = self._occurrence(master, item_id, now)
        if current is None:
            if self._inside(recurrence, key, now):
                raise ItemNotFoundError(
                    f"the series no longer has occurrence {item_id}", item_id=item_id
                )
            return None
        if occurrence_version(current.event) != expected_version:
            raise VersionConflictError(
                f"occurrence {item_id} changed since version {expected_version}",
                item_id=item_id,
            )
        changed = collapse(recurrence, master.event, {key: event}, now=now, horizon=self.horizon)
        if changed == recurrence:
            return master
        return self.calendar.update(
            series_id,
            attrs.evolve(master.event, recurrence=changed),
            expected_version=master.version,
        )

    def _inside(self, recurrence: Recurrence, key: OriginalStart, now: dt.datetime) -> bool:
        """Whether ``key`` is in the horizon: a date from its midnight in the series zone
        (as expansion counts it), else as :meth:`Horizon.holds` says."""
        if isinstance(key, dt.datetime):
            return self.horizon.holds(key, now)
        low, high = self.horizon.window(now)
        return low <= localize(dt.datetime.combine(key, dt.time()), recurrence.zone_info) < high

    def _occurrence(self, master: Item, item_id: str, now: dt.datetime) -> Occurrence | None:
        return next((o for o in occurrences(master, now, self.horizon) if o.id == item_id), None)

    def _current(self) -> dt.datetime:
        if self._now is None:
            self._now = check_aware("now()", self._clock())
        return self._now

    def _links(self, ids: Iterable[str] | None) -> dict[str, Link]:
        """Links of the view's occurrences (all when ``ids`` is None), in the view's terms:
        the occurrence in the ``outlook_*`` fields, its partner in ``saljstod_*``."""
        if ids is None:
            links = self._state.links(self._user)
        else:
            wanted = sorted(set(ids))
            if not wanted:
                return {}
            if self._side is Side.OUTLOOK:
                links = self._state.links(self._user, outlook_ids=wanted)
            else:
                links = self._state.links(self._user, saljstod_ids=wanted)
        return self._view_links(links)

    def _view_links(self, links: Iterable[Link]) -> dict[str, Link]:
        """The occurrences' links among ``links``, in the view's terms."""
        found = {}
        for link in links:
            if self._side is Side.SALJSTOD:
                link = attrs.evolve(
                    link,
                    outlook_id=link.saljstod_id,
                    saljstod_id=link.outlook_id,
                    outlook_version=link.saljstod_version,
                    saljstod_version=link.outlook_version,
                )
            if parse_occurrence_id(link.outlook_id) is not None and link.gone is None:
                found[link.outlook_id] = link
        return found

    def _series_links(self, series_ids: set[str]) -> dict[str, Link]:
        """Links of every linked occurrence of ``series_ids``, in the view's terms."""
        if not series_ids:
            return {}
        if not isinstance(self._state, OccurrenceLinks):
            return self._links(None)  # a store without the index: every link, filtered
        return self._view_links(
            self._state.occurrence_links(self._user, self._side, series_ids))

    def _partner(self, item_id: str) -> str | None:
        link = self._links([item_id]).get(item_id)
        return link.saljstod_id if link is not None else None

    def _flat(self, listing: Listing) -> Listing:
        now = self._now = check_aware("now()", self._clock())
        masters = {i.id: i for i in listing.items if i.event.recurrence is not None}
        if not listing.complete:
            for master in self._series.list_series():
                masters.setdefault(master.id, master)
        if listing.complete:
            links = self._links(None)
        else:
            # What changed costs what it touched: the horizon's occurrences of every
            # series (exact ids), and every linked occurrence of an item this listing
            # reports changed (a series, or one that was a series), deleted or
            # unreadable (by series id).
            touched = {item.id for item in listing.items}
            touched.update(listing.deleted)
            touched.update(bad.id for bad in listing.broken)
            expanded: list[str] = []
            for master in masters.values():
                try:
                    expanded.extend(o.id for o in occurrences(master, now, self.horizon))
                except InvalidEventError:
                    touched.add(master.id)  # unreadable: its linked occurrences are held
            links = self._links(expanded)
            links.update(self._series_links(touched))
        return flat_listing(
            listing, masters=masters, links=links.values(), now=now, horizon=self.horizon
        )


class _NotifyingSeriesView(SeriesView):
    """A :class:`SeriesView` of a calendar that pushes change hints."""

    def subscribe(self, callback: Callable[[Sequence[str]], None]) -> Subscription:
        """Pass the backend's hints on as "something changed, look" (no ids)."""
        notifier = self.calendar
        assert isinstance(notifier, ChangeNotifier)
        return notifier.subscribe(lambda _ids: callback([]))


class _BulkSeriesView(SeriesView):
    """A :class:`SeriesView` of a calendar that writes in bulk (:class:`BulkWriter`).

    Creates are single items, so they go on in bulk; updates and deletions of single
    items too (deletions in bulk when the calendar is a :class:`BulkDeleter`);
    occurrences are written one by one (each rewrites its series).
    """

    def delete_many(self, requests: Sequence[tuple[str, str]]) -> Sequence[BackendError | None]:
        results: dict[int, BackendError | None] = {}
        plain = [n for n, r in enumerate(requests) if parse_occurrence_id(r[0]) is None]
        plain_set = set(plain)
        for n, (item_id, version) in enumerate(requests):
            if n in plain_set and isinstance(self.calendar, BulkDeleter):
                continue
            try:
                self.delete(item_id, expected_version=version)
                results[n] = None
            except BackendError as exc:
                results[n] = exc
        if isinstance(self.calendar, BulkDeleter):
            answers = self.calendar.delete_many([requests[n] for n in plain])
            for n, result in zip(plain, answers, strict=True):
                results[n] = result
        return [results[n] for n in range(len(requests))]

    def create_many(self, requests: Sequence[tuple[Event, str]]) -> Sequence[Item | BackendError]:
        bulk = self.calendar
        assert isinstance(bulk, BulkWriter)
        return bulk.create_many(requests)

    def update_many(
        self, requests: Sequence[tuple[str, Event, str, str | None]]
    ) -> Sequence[Item | BackendError]:
        bulk = self.calendar
        assert isinstance(bulk, BulkWriter)
        results: dict[int, Item | BackendError] = {}
        plain = [n for n, r in enumerate(requests) if parse_occurrence_id(r[0]) is None]
        plain_set = set(plain)
        for n, (item_id, event, version, key) in enumerate(requests):
            if n in plain_set:
                continue
            try:
                results[n] = self.update(item_id, event, expected_version=version, partner_key=key)
            except BackendError as exc:
                results[n] = exc
        for n, result in zip(plain, bulk.update_many([requests[n] for n in plain]), strict=True):
            results[n] = result
        return [results[n] for n in range(len(requests))]


class _NotifyingBulkSeriesView(_BulkSeriesView, _NotifyingSeriesView):
    """Both of the above."""


def _view_class(calendar: Calendar) -> type[SeriesView]:
    notifies, bulk = isinstance(calendar, ChangeNotifier), isinstance(calendar, BulkWriter)
    if notifies and bulk:
        return _NotifyingBulkSeriesView
    if bulk:
        return _BulkSeriesView
    return _NotifyingSeriesView if notifies else SeriesView
