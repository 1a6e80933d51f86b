"""The interfaces between the engine and the outside world.

:class:`Calendar` is what every backend (in-memory, SQL Säljstöd, Graph, Outlook COM)
implements, for either side: the engine treats both sides alike. :class:`StateStore`
keeps what the sync knows between runs. The optional capabilities
(:class:`ChangeNotifier`, :class:`ItemOpener`) are separate Protocols so that a backend
only implements what it can do; the engine checks with ``isinstance``.

Contract notes every backend must honour (the shared contract tests check them):

- ``list_changes`` may over-report (re-send unchanged items, report an item as deleted
  that merely left a window) but must never hide a change made at or after the cursor's
  watermark. With a watermark cursor (no token) it always includes items that carry no
  partner key, whatever their time: an activity another user booked may carry an old
  timestamp. A cursor token that tracks every change since the listing it came from
  (Graph delta, a folder's change table) sees such an item when it appears, so an
  unchanged item without a partner key need not be listed again.
- A listing that cannot be completed raises :class:`~outlook_sync.errors.ListingError`;
  it never returns a partial listing marked ``complete``.
- Writes carry the expected version; a mismatch raises
  :class:`~outlook_sync.errors.VersionConflictError` and writes nothing.
- Vendor exceptions are translated to :mod:`outlook_sync.errors` in one place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from outlook_sync.errors import BackendError
from outlook_sync.model import BrokenItem, Cursor, Event, Item, Link, Listing, Side
from outlook_sync.records import Conflict, DeletedItem, Quarantined, SubscriptionRecord

if TYPE_CHECKING:
    from outlook_sync.report import SyncReport

__all__ = [
    "BulkDeleter",
    "BulkWriter",
    "Calendar",
    "ChangeNotifier",
    "IdentifiedCalendar",
    "ItemOpener",
    "ItemRestorer",
    "OccurrenceLinks",
    "StateChange",
    "StateStore",
    "Subscription",
    "SubscriptionStore",
    "SyncObserver",
]


@runtime_checkable
class Calendar(Protocol):
    """One user's calendar on one backend."""

    def list_all(self) -> Listing:
        """Every item of the calendar, as a complete listing (absent means deleted).

        Raises:
            ListingError: the listing failed; nothing may be concluded from it.
        """
        ...

    def list_changes(self, cursor: Cursor) -> Listing:
        """Items changed at or after ``cursor``, deletions since, and unlinked items.

        A backend that cannot answer incrementally (expired token) returns a complete
        listing instead, with ``complete=True``.

        Raises:
            ListingError: the listing failed; nothing may be concluded from it.
        """
        ...

    def get(self, item_id: str) -> Item | BrokenItem | None:
        """One item, a :class:`BrokenItem` if unreadable, or ``None`` if it is gone."""
        ...

    def find_by_partner_key(self, partner_key: str) -> Sequence[Item]:
        """The items carrying ``partner_key`` (crash recovery; normally 0 or 1)."""
        ...

    def create(self, event: Event, *, partner_key: str) -> Item:
        """Store a new item that carries ``partner_key``; return it with its new id.

        Raises:
            ItemRejectedError: the backend refused this item.
        """
        ...

    def update(
        self,
        item_id: str,
        event: Event,
        *,
        expected_version: str,
        partner_key: str | None = None,
    ) -> Item:
        """Replace the item's content if still at the version.

        ``partner_key``, when given, replaces the partner key; ``None`` keeps it.

        Raises:
            VersionConflictError: the item changed since ``expected_version``.
            ItemNotFoundError: the item is gone.
            ItemRejectedError: the backend refused the content.
        """
        ...

    def delete(self, item_id: str, *, expected_version: str) -> None:
        """Delete the item if it is still at ``expected_version``.

        Raises:
            VersionConflictError: the item changed since ``expected_version``.
            ItemNotFoundError: the item is already gone.
        """
        ...


@runtime_checkable
class IdentifiedCalendar(Protocol):
    """Optional, implemented by every built-in backend: which calendar this is.

    The identity is a short, stable, secret-free string naming the calendar the object
    reads and writes *now*: Graph ``graph:<mailbox id>/<calendar id>``, Outlook COM
    ``com:<store id>/<folder EntryID>``, SQL ``sql:<database identity>/<user>``,
    in-memory unique per instance unless given. It is asked once per sync (it may do
    I/O, e.g. the default calendar behind COM can change between syncs). The engine
    records the identity the links were made with, and a changed identity is a
    *switched calendar*: the engine forgets that side's links and re-links by partner
    key and by match, deleting nothing (RELIABILITY.md, invariant 8).

    Raises:
        BackendUnavailableError: the backend cannot be reached to tell.
    """

    def calendar_identity(self) -> str: ...


@runtime_checkable
class ItemRestorer(Protocol):
    """Optional: bring back an item the sync deleted, as the same item where possible.

    ``restore`` recreates the deleted item ``item_id`` with ``event``'s content and the
    partner key, keeping what the backend kept beyond the model (the SQL adapter: the
    same id and every host column of the row; Graph/COM: content and partner key, a new
    id). Returns the restored item and the names of what could not be restored (empty
    when nothing was lost), for the report.

    Raises:
        ItemNotFoundError: the backend kept nothing to restore from; the engine then
            creates the item anew from the deleted-items log.
        ItemRejectedError: the backend refused the restore.
    """

    def restore(
        self, item_id: str, event: Event, *, partner_key: str
    ) -> tuple[Item, tuple[str, ...]]: ...


@runtime_checkable
class BulkWriter(Protocol):
    """Optional: the backend writes many items per round trip (Graph ``$batch``).

    The engine hands runs of creates and of partner-key stamps to these methods during
    a large sync. Each returns one result per request, in order: the written
    :class:`Item`, or the :class:`~outlook_sync.errors.BackendError` for that item alone
    (one refused item never fails the others).
    """

    def create_many(
        self, requests: Sequence[tuple[Event, str]]
    ) -> Sequence[Item | BackendError]:
        """Create ``(event, partner_key)`` items."""
        ...

    def update_many(
        self, requests: Sequence[tuple[str, Event, str, str | None]]
    ) -> Sequence[Item | BackendError]:
        """Update ``(item_id, event, expected_version, partner_key)`` items."""
        ...


@runtime_checkable
class BulkDeleter(Protocol):
    """Optional, beside :class:`BulkWriter`: the backend deletes many items per round
    trip (Graph ``$batch``). A separate capability so that a backend writing in bulk
    without bulk deletes (SQL) stays a :class:`BulkWriter`.

    ``delete_many`` takes ``(item_id, expected_version)`` pairs and returns one result
    per request, in order: ``None`` when deleted, or the
    :class:`~outlook_sync.errors.BackendError` for that item alone.
    """

    def delete_many(self, requests: Sequence[tuple[str, str]]) -> Sequence[BackendError | None]:
        """Delete ``(item_id, expected_version)`` items."""
        ...


@runtime_checkable
class SyncObserver(Protocol):
    """Hears about every sync of a :class:`~outlook_sync.Synchronizer` (status boards).

    ``sync_started`` is called once the user's lock is held (a refused start is not a
    sync); ``sync_failed`` when the sync raised instead of returning a report.
    """

    def sync_started(self, user: str) -> None: ...

    def sync_progress(self, phase: str, done: int, total: int) -> None: ...

    def sync_finished(self, report: SyncReport) -> None: ...

    def sync_failed(self, user: str, error: BaseException) -> None: ...


class Subscription(Protocol):
    """A live change subscription; ``close()`` stops it (idempotent)."""

    def close(self) -> None: ...


@runtime_checkable
class ChangeNotifier(Protocol):
    """Optional: the backend can push "something changed" hints (direct sync).

    The callback receives the ids that changed (possibly empty: "something changed,
    look"). Hints may be duplicated or spurious; they are never the only path by which
    a change is found (the watermark listing still runs).
    """

    def subscribe(self, callback: Callable[[Sequence[str]], None]) -> Subscription: ...


@runtime_checkable
class ItemOpener(Protocol):
    """Optional: show an item in Outlook's own UI ("Open in Outlook").

    Returns a URL to open (Graph ``webLink``) or ``None`` when the backend displayed
    the item itself (desktop Outlook).
    """

    def open_item(self, item_id: str) -> str | None: ...


@attrs.frozen(kw_only=True)
class StateChange:
    """One atomic change to a user's state: applied entirely or not at all."""

    put_links: tuple[Link, ...] = ()
    #: links to drop, as ``(saljstod_id, outlook_id)``.
    drop_links: tuple[tuple[str, str], ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    deleted: tuple[DeletedItem, ...] = ()
    #: items to re-examine next sync, as ``(side, id)``.
    add_pending: tuple[tuple[Side, str], ...] = ()
    clear_pending: tuple[tuple[Side, str], ...] = ()
    #: create intents, as ``(target side, source id)``: "a partner for this item may
    #: exist on the target side already; look for it by partner key".
    add_intents: tuple[tuple[Side, str], ...] = ()
    clear_intents: tuple[tuple[Side, str], ...] = ()
    quarantine: tuple[Quarantined, ...] = ()
    unquarantine: tuple[tuple[Side, str], ...] = ()
    cursors: tuple[tuple[Side, Cursor], ...] = ()
    #: the user-visible "date and time of the last sync", when it changes.
    last_sync: dt.datetime | None = None
    #: clear the last sync date/time (*Full sync now*).
    clear_last_sync: bool = False
    #: the last sync's trouble ``(when, what)``, for status displays; or clear it.
    last_error: tuple[dt.datetime, str] | None = None
    clear_last_error: bool = False
    #: conflict-log entries written ahead of a write that is now known not to have
    #: happened (the backend refused it): removed again.
    withdraw_conflicts: tuple[Conflict, ...] = ()
    #: deleted-items entries written ahead of a delete that did not happen, as
    #: ``(side, id)``.
    withdraw_deleted: tuple[tuple[Side, str], ...] = ()
    #: the identity of each side's calendar the links are made with, when it changes.
    identities: tuple[tuple[Side, str], ...] = ()
    #: forget every link of the user (a switched calendar: re-link by key and match).
    drop_all_links: bool = False

    @classmethod
    def restart_from(cls, when: dt.datetime | None) -> StateChange:
        """The next sync processes every item changed from and including ``when`` on both
        sides; ``None`` clears the date, so the next sync is a full one (*Full sync now*).
        """
        if when is None:
            return cls(cursors=((Side.SALJSTOD, Cursor()), (Side.OUTLOOK, Cursor())),
                       clear_last_sync=True)
        cursor = Cursor(watermark=when)
        return cls(cursors=((Side.SALJSTOD, cursor), (Side.OUTLOOK, cursor)), last_sync=when)


class StateStore(Protocol):
    """Per-user sync state: links with their base, cursors, pending work and logs.

    Every method takes the user name: one store serves many users.
    """

    def lock(self, user: str, *, ttl: dt.timedelta) -> AbstractContextManager[None]:
        """Hold the user's sync lock (a lease) for the ``with`` block.

        The lease is renewed while the block runs (by every commit, and in the
        background by stores shared across processes), so a long sync keeps it; a
        holder that died loses it ``ttl`` after its last renewal. While held, every
        :meth:`commit` checks the lease (fencing): a holder that lost it commits
        nothing and gets :class:`~outlook_sync.errors.LeaseLostError`.

        Raises:
            SyncInProgressError: another live holder has the lock.
        """
        ...

    def links(
        self,
        user: str,
        *,
        saljstod_ids: Iterable[str] | None = None,
        outlook_ids: Iterable[str] | None = None,
    ) -> list[Link]:
        """Links touching any of the given ids; every link when both are ``None``."""
        ...

    def link_count(self, user: str) -> int: ...

    def cursor(self, user: str, side: Side) -> Cursor: ...

    def last_sync(self, user: str) -> dt.datetime | None: ...

    def last_error(self, user: str) -> tuple[dt.datetime, str] | None:
        """When and why the last sync needed attention; ``None`` after a clean sync."""
        ...

    def pending(self, user: str) -> list[tuple[Side, str]]: ...

    def intents(self, user: str) -> list[tuple[Side, str]]: ...

    def conflicts(self, user: str) -> list[Conflict]: ...

    def quarantine(self, user: str) -> list[Quarantined]: ...

    def deleted_items(self, user: str) -> list[DeletedItem]: ...

    def forget_deleted(self, user: str, side: Side, item_id: str) -> None:
        """Drop one entry of the deleted-items log (after a restore)."""
        ...

    def expire_deleted(self, user: str, before: dt.datetime) -> int:
        """Drop deleted-items entries older than ``before``; return how many."""
        ...

    def clear_conflicts(self, user: str) -> None:
        """Empty the conflict log, leaving an audit line that says how many went."""
        ...

    def audit(self, user: str) -> list[tuple[dt.datetime, str]]:
        """The audit lines (e.g. "cleared 3 conflicts"), oldest first."""
        ...

    def identity(self, user: str, side: Side) -> str | None:
        """The calendar identity the user's links on ``side`` were made with."""
        ...

    def generation(self, user: str) -> int:
        """A counter that grows with every commit that puts links.

        Each stored :class:`~outlook_sync.model.Link` carries the generation of the
        commit that put it, so the engine can tell links committed after a listing
        began (which are no evidence of a deletion) from older ones.
        """
        ...

    def lock_holder(self, user: str) -> tuple[str, dt.datetime] | None:
        """Who holds the user's sync lock (host and process) and until when; ``None``
        if nobody does."""
        ...

    def commit(self, user: str, change: StateChange) -> None:
        """Apply ``change`` atomically.

        Raises:
            StateError: nothing was written.
        """
        ...


@runtime_checkable
class SubscriptionStore(Protocol):
    """Optional part of a state store: the user's push subscriptions (Graph webhooks).

    The built-in state stores implement it. ``find_subscription`` answers a webhook
    endpoint that receives a notification and must learn whose it is.
    """

    def subscriptions(self, user: str) -> list[SubscriptionRecord]: ...

    def save_subscription(self, user: str, record: SubscriptionRecord) -> None:
        """Insert or replace (by ``subscription_id``)."""
        ...

    def drop_subscription(self, user: str, subscription_id: str) -> None: ...

    def find_subscription(self, subscription_id: str) -> tuple[str, SubscriptionRecord] | None:
        """``(user, record)`` for a subscription id, or ``None`` if unknown."""
        ...


@runtime_checkable
class OccurrenceLinks(Protocol):
    """Optional part of a state store: the links of a series' occurrences, found without
    reading every link of the user.

    A side shown as occurrences (a series on one side, single items on the other) names
    each occurrence ``"<series id>::<original start>"``. When an incremental listing
    reports a series deleted, changed or unreadable, its linked occurrences are needed;
    a store with this method answers for those series alone, one without it makes the
    view read every link. The built-in state stores implement it.
    """

    def occurrence_links(self, user: str, side: Side, series_ids: Iterable[str]) -> list[Link]:
        """Links whose ``side`` id is ``"<series id>::…"`` for one of ``series_ids``."""
        ...
