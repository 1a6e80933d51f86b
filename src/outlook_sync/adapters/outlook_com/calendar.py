"""``OutlookComCalendar``: a desktop Outlook calendar folder behind the Calendar Protocol.

The adapter talks to whatever ``connect()`` returns — ``GetActiveObject("Outlook.Application")``
in production (``Dispatch`` with ``start_outlook=True``, see ``dispatch.py``), the fake object
model in tests —
and uses only documented members of the Outlook object model. It keeps no state of its own
between syncs: what the next change listing needs travels in the cursor's token
(``listing.py``).

Promises, and where they are kept:

- *An item that cannot be read is not a deleted item* (``reading.py``): absence is
  concluded only from the folder's id table; ``get`` answers "gone" only when the table
  agrees.
- *Writes never notify attendees; writes carry the expected version; a series the object
  model cannot express is refused, never approximated; a calendar the user may only read
  refuses writes with PermissionDeniedError* (``writing.py``).
- *Recurring series are series* (:class:`~outlook_sync.series_view.SeriesSupport`): a master
  is listed as one item whose event carries its recurrence, exceptions and cancellations
  (``series.py``); occurrences are never listed on their own.
- *A closed Outlook stays closed*: it raises BackendUnavailableError and the next call
  attaches again only if the user has opened it (``connect()`` starts Outlook only with
  ``start_outlook=True``, ``dispatch.py``). Busy Outlook is retried with backoff
  (``errors.py``); without classic Outlook the error names the Graph adapter.
- *The calendar in use is named*: ``calendar_identity()`` is ``com:<StoreID>/<folder
  EntryID>`` of the folder the choice names *now* (``connection.py``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from outlook_sync.adapters.outlook_com import dispatch, listing
from outlook_sync.adapters.outlook_com.connection import Attachment, Connection, FolderChoice
from outlook_sync.adapters.outlook_com.errors import ComCaller, RetryPolicy
from outlook_sync.adapters.outlook_com.events import ItemsEventSink, OutlookSubscription
from outlook_sync.adapters.outlook_com.reading import Reader
from outlook_sync.adapters.outlook_com.regional import WindowsLocale
from outlook_sync.adapters.outlook_com.writing import Writer
from outlook_sync.errors import (
    BackendError,
    BackendUnavailableError,
    ItemNotFoundError,
    ItemRejectedError,
)
from outlook_sync.model import BrokenItem, Cursor, Event, Item, Listing

__all__ = ["FolderChoice", "OutlookComCalendar"]

T = TypeVar("T")
SIDE = "outlook"
WithEvents = Callable[[Any, type], Any]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class OutlookComCalendar:
    """One Outlook calendar folder as a :class:`~outlook_sync.protocols.Calendar`.

    Also implements :class:`~outlook_sync.protocols.ItemOpener` (``open_item``),
    :class:`~outlook_sync.protocols.ChangeNotifier` (``subscribe``) and
    :class:`~outlook_sync.series_view.SeriesSupport` (``supports_series``, ``list_series``).

    Args:
        connect: returns the ``Outlook.Application`` object (called again after Outlook
            was closed).
        folder: which calendar folder (see :data:`FolderChoice`).
        locale: the user's Windows regional settings (filter date format, list separator).
        clock: the machine's clock (aware); the watermark of each listing.
        safety_margin: how far back the watermark query reaches, for Exchange cached mode.
        retry: how long to retry a busy Outlook.
        sleep: how to wait between retries.
        with_events: ``win32com.client.WithEvents`` or the fake's; needed by ``subscribe``.
        week_start: the first day of the week of the user's Outlook calendar options
            (``"MO"``, ``"SU"`` ...): the object model does not expose it, and it decides
            how a weekly series every 2+ weeks on several days reads.
        name: shown in reprs.
    """

    #: Series are kept as series masters (SeriesSupport).
    supports_series = True

    def __init__(
        self,
        connect: Callable[[], Any],
        *,
        folder: FolderChoice = None,
        locale: WindowsLocale | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        safety_margin: dt.timedelta = dt.timedelta(minutes=5),
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        with_events: WithEvents | None = None,
        week_start: str = "MO",
        name: str = "outlook",
    ) -> None:
        self.locale = locale or WindowsLocale()
        self._clock = clock or _utc_now
        self.safety_margin = safety_margin
        self._with_events = with_events
        self.week_start = week_start
        self.name = name
        self._com = ComCaller(retry=retry, sleep=sleep, on_gone=self._lost_connection)
        self._attachment = Attachment(connect, folder, self._com)
        self._gone = False
        #: ids this adapter created: a deletion of one before the next listing's table
        #: includes it is still reported.
        self._created: set[str] = set()
        self._reader = Reader(self._call, week_start=week_start)
        self._writer = Writer(
            call=self._call,
            reader=self._reader,
            connection=self._connection,
            locale=self.locale,
            week_start=week_start,
            created=self._created,
        )

    def __repr__(self) -> str:
        return f"OutlookComCalendar(name={self.name!r}, folder={self._attachment.choice!r})"

    @classmethod
    def connect(
        cls, *, calendar: FolderChoice = None, start_outlook: bool = False, **options: Any
    ) -> OutlookComCalendar:
        """The desktop Outlook of this Windows machine (pywin32, see ``dispatch.py``).

        Args:
            calendar: the folder (default calendar, a folder path, or EntryID+StoreID).
            start_outlook: start Outlook in the background when it is not running. Off by
                default: when the user closes Outlook the sync waits (each call raises
                BackendUnavailableError) until the user opens it again.
            options: passed on to the constructor (``locale`` defaults to Windows' own
                regional settings).

        Raises:
            BackendUnavailableError: not on Windows, or pywin32 is not installed ("Outlook's
                object model is not available", naming the Graph adapter).
        """
        locale = options.pop("locale", None) or dispatch.windows_locale()
        return cls(
            lambda: dispatch.outlook_application(start=start_outlook),
            folder=calendar,
            locale=locale,
            with_events=options.pop("with_events", None) or dispatch.with_events,
            **options,
        )

    # -- connection ---------------------------------------------------------------------

    def _lost_connection(self) -> None:
        self._attachment.drop()
        self._gone = True

    def _call(self, fn: Callable[[], T], what: str, item_id: str | None = None) -> T:
        return self._com.call(fn, what=what, item_id=item_id)

    def _connection(self) -> Connection:
        return self._attachment.current()

    def calendar_identity(self) -> str:
        """``com:<StoreID>/<folder EntryID>`` of the folder this adapter uses *now*.

        The folder choice is resolved again: the default calendar can change between syncs
        (a new profile, another default mailbox). If it did, the adapter switches to the
        new folder (and forgets the ids it created in the old one); the changed identity
        tells the engine the calendar was switched (IdentifiedCalendar).

        Raises:
            BackendUnavailableError: Outlook is not running (or has no object model here),
                or the chosen folder does not exist.
        """
        return self._reading(self._identity)

    def _identity(self) -> str:
        conn, switched = self._attachment.refresh()
        if switched:
            self._created.clear()
        return conn.identity

    def _reading(self, fn: Callable[[], T]) -> T:
        """Run a read; if Outlook was closed meanwhile, attach again and run it once more."""
        self._gone = False
        try:
            return fn()
        except BackendUnavailableError:
            if not self._gone:
                raise
            self._gone = False
            return fn()

    def _now(self) -> dt.datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise BackendError("the adapter's clock returned a naive datetime", side=SIDE)
        return now

    # -- reading ------------------------------------------------------------------------

    def list_all(self) -> Listing:
        """Every item of the folder (complete: an absent item is deleted).

        Raises:
            ListingError: an item vanished or could not be opened mid-listing.
            BackendUnavailableError: Outlook is closed, busy or offline.
        """
        return self._reading(lambda: self._list(None))

    def list_changes(self, cursor: Cursor) -> Listing:
        """Items changed from and including the cursor's watermark, and deletions since.

        Without a token from this folder the listing is complete instead.

        Raises:
            ListingError: a listing that cannot be trusted (see ``list_all``; also a filter
                date format Outlook does not read).
            BackendUnavailableError: Outlook is closed, busy or offline.
        """
        return self._reading(lambda: self._list(cursor))

    def _list(self, cursor: Cursor | None) -> Listing:
        conn = self._connection()
        started = self._now()
        stamps = self._call(lambda: listing.scan(conn.folder), "list the calendar's items")
        token = listing.encode(listing.Snapshot(folder=conn.key, stamps=stamps))
        previous = None
        if cursor is not None and cursor.watermark is not None:
            previous = listing.decode(cursor.token, folder=conn.key)
        if cursor is None or cursor.watermark is None or previous is None:
            items, broken = self._reader.read_many(conn, list(stamps))
            return Listing(
                items=items,
                broken=broken,
                complete=True,
                cursor=Cursor(watermark=started, token=token),
            )
        if not conn.format_proven:
            conn.format_proven = self._call(
                lambda: listing.check_filter_format(conn.folder, self.locale),
                "check the filter date format",
            )
        criteria = listing.watermark_filter(
            cursor.watermark,
            margin=self.safety_margin,
            now=started,
            local_zone=conn.local_zone,
            locale=self.locale,
        )
        recent = self._call(
            lambda: listing.modified_since(conn.folder, criteria),
            "find the items changed since the last sync",
        )
        moved = {
            entry_id for entry_id, stamp in stamps.items() if previous.stamps.get(entry_id) != stamp
        }
        wanted = [entry_id for entry_id in stamps if entry_id in moved or entry_id in recent]
        deleted = (previous.stamps.keys() | self._created) - stamps.keys()
        items, broken = self._reader.read_many(conn, wanted)
        return Listing(
            items=items,
            broken=broken,
            complete=False,
            deleted=deleted,
            cursor=Cursor(watermark=started, token=token),
        )

    def get(self, item_id: str) -> Item | BrokenItem | None:
        """One item; ``None`` only if the folder's id table no longer holds it."""
        return self._reading(lambda: self._get(item_id))

    def _get(self, item_id: str) -> Item | BrokenItem | None:
        conn = self._connection()
        try:
            com_item = self._call(
                lambda: self._reader.open_in_folder(conn, item_id), "open an item", item_id
            )
            if com_item is None:
                return None
            return self._call(
                lambda: self._reader.map(conn, com_item),
                "read an item",
                item_id,
            )
        except (ItemNotFoundError, ItemRejectedError) as exc:
            stamps = self._call(lambda: listing.scan(conn.folder), "list the calendar's items")
            if item_id not in stamps:
                return None
            return BrokenItem(id=item_id, reason=f"Outlook could not open the item: {exc}")

    def find_by_partner_key(self, partner_key: str) -> Sequence[Item]:
        """The items carrying ``partner_key`` (a copy of such an item does not count)."""
        return self._reading(lambda: self._find(partner_key))

    def _find(self, partner_key: str) -> list[Item]:
        conn = self._connection()
        stamps = self._call(lambda: listing.scan(conn.folder), "list the calendar's items")
        found: list[Item] = []
        for entry_id in stamps:
            if self._reader.partner_key_of(conn, entry_id) != partner_key:
                continue
            result = self._reader.read_listed(conn, entry_id)
            if isinstance(result, Item):
                found.append(result)
        return found

    def list_series(self) -> Sequence[Item]:
        """Every readable series master of the folder (the SeriesSupport capability).

        Found through the folder's table restricted to ``[IsRecurring] = True`` (the
        property is kept for "efficient filtering of the Items object",
        https://learn.microsoft.com/en-us/office/vba/api/outlook.recurrencepattern); an
        unreadable series is left out here and reported broken by the listings.

        Raises:
            ListingError: a series vanished or could not be opened while being read.
            BackendUnavailableError: Outlook is closed, busy or offline.
        """
        return self._reading(self._list_series)

    def _list_series(self) -> list[Item]:
        conn = self._connection()
        entry_ids = self._call(lambda: listing.series_ids(conn.folder), "list the series")
        items, _ = self._reader.read_many(conn, entry_ids)
        return [item for item in items if item.event.recurrence is not None]

    # -- writing ------------------------------------------------------------------------

    # -- writing (writing.py) --------------------------------------------------------------

    def create(self, event: Event, *, partner_key: str) -> Item:
        """Save a new appointment carrying ``partner_key``; nothing is sent to anyone.

        Raises:
            PermissionDeniedError: the calendar may only be read.
            ItemRejectedError: Outlook refused the item, or the series cannot be expressed.
            BackendUnavailableError: Outlook is closed, busy or offline.
        """
        return self._writer.create(event, partner_key=partner_key)

    def update(
        self,
        item_id: str,
        event: Event,
        *,
        expected_version: str,
        partner_key: str | None = None,
    ) -> Item:
        """Replace the item's content (and partner key) if it is still at the version.

        Raises:
            VersionConflictError: the item changed since ``expected_version``.
            ItemNotFoundError: the item is gone (or no longer in this folder).
            PermissionDeniedError: the calendar may only be read.
            ItemRejectedError: an unreadable item (read-only), a series the object model
                cannot express, or Outlook refused the values.
        """
        return self._writer.update(
            item_id, event, expected_version=expected_version, partner_key=partner_key
        )

    def delete(self, item_id: str, *, expected_version: str) -> None:
        """Delete the item (to Deleted Items) if it is still at ``expected_version``.

        Raises:
            VersionConflictError: the item changed since ``expected_version``.
            ItemNotFoundError: the item is already gone.
            PermissionDeniedError: the calendar may only be read.
            ItemRejectedError: an unreadable item (never deleted here).
        """
        self._writer.delete(item_id, expected_version=expected_version)

    # -- optional capabilities ----------------------------------------------------------

    def open_item(self, item_id: str) -> str | None:
        """Show the item in Outlook's own window ("Open in Outlook"); returns ``None``.

        Raises:
            ItemNotFoundError: there is no such item any more.
        """
        conn = self._connection()
        com_item = self._call(
            lambda: conn.namespace.GetItemFromID(item_id, conn.store_id), "open an item", item_id
        )
        self._call(com_item.Display, "display the item", item_id)
        return None

    def subscribe(self, callback: Callable[[Sequence[str]], None]) -> OutlookSubscription:
        """Call ``callback`` with changed ids on Outlook's folder events.

        Call ``check()`` on the returned subscription periodically (on the COM thread): it
        catches what the events miss (bulk adds, mass deletions).

        Raises:
            BackendUnavailableError: Outlook is closed, or events cannot be bound here.
        """
        if self._with_events is None:
            self._with_events = dispatch.with_events
        bind = self._with_events
        conn = self._connection()
        items = self._call(lambda: conn.folder.Items, "open the calendar's items")
        sink = self._call(lambda: bind(items, ItemsEventSink), "subscribe to Outlook's events")
        sink.notify = callback
        return OutlookSubscription(
            items=items,
            sink=sink,
            scan=lambda: self._call(
                lambda: listing.scan(self._connection().folder), "list the calendar's items"
            ),
            notify=callback,
        )
