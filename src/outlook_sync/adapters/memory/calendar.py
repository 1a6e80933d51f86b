"""The in-memory calendar: the reference adapter, and a stand-in user for tests.

It implements :class:`~outlook_sync.protocols.Calendar` with the semantics every other
backend must match (the shared contract tests run against it first), plus the means for
a test to act as a user would (``add``, ``update``, ``delete`` without versions) and to
inject faults (a failing listing, a rejected write, a crash after a write).

Its clock is injectable, and sets an item's ``changed`` on every change; the watermark it
hands out comes from that clock, as a real backend's would come from its server.

Series: with ``supports_series=True`` it keeps a recurring :class:`Event` (one whose
``recurrence`` is set) as one item, the series master, as Outlook does, and offers
:meth:`InMemoryCalendar.list_series` (the :class:`~outlook_sync.series_view.SeriesSupport`
capability). Without it, it stands for a backend without series (Säljstöd): a recurring
event is refused with :class:`~outlook_sync.errors.ItemRejectedError`, never flattened
or stored half.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Callable, Mapping, Sequence

from outlook_sync.adapters.memory.write_log import WriteLog
from outlook_sync.errors import (
    BackendError,
    InvalidEventError,
    ItemNotFoundError,
    ItemRejectedError,
    OutlookSyncError,
    VersionConflictError,
)
from outlook_sync.model import (
    BrokenItem,
    Cursor,
    Event,
    Item,
    Listing,
    check_aware,
    trusted_item,
)

__all__ = ["InMemoryCalendar"]

Clock = Callable[[], dt.datetime]

#: numbers each calendar made without an explicit identity (unique per process)
_instances = itertools.count(1)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class InMemoryCalendar:
    """A calendar held in memory.

    Args:
        clock: returns the current aware datetime; sets the items' ``changed``.
        name: shown in reprs and errors.
        id_prefix: prefix of generated ids (``"S"`` and ``"O"`` make tests readable).
        supports_series: keep recurring events as series masters (Outlook); ``False``
            refuses them (a backend without series, like Säljstöd).
        identity: the calendar identity (:meth:`calendar_identity`); by default
            unique to this instance, so a new instance is another calendar. Give the
            same identity to stand for the same calendar across instances.
    """

    #: entries the change index may hold beyond twice the items before it is compacted
    _changes_slack = 64

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        name: str = "calendar",
        id_prefix: str = "item-",
        supports_series: bool = False,
        identity: str | None = None,
    ) -> None:
        self._clock = clock or _utc_now
        self.name = name
        #: which calendar this is (see :meth:`calendar_identity`); assignable, so a
        #: test can stand for a user switching calendars.
        self.identity = identity or f"memory:{name}#{next(_instances)}"
        #: whether recurring events are kept as series masters.
        self.supports_series = supports_series
        self._prefix = id_prefix
        # every readable item; its ``changed`` is when it last changed
        self._items: dict[str, Item] = {}
        self._broken: dict[str, BrokenItem] = {}
        self._tombstones: dict[str, dt.datetime] = {}
        # Change index: ids in the order of their writes, the ids without a partner
        # key, and whether the clock has only moved forward (then the order is also
        # time order and a change listing need not scan every item). An id is appended
        # at each write: an earlier entry of it, or one of a deleted item, is skipped
        # when read, and the list is compacted when it holds twice as many entries as
        # there are items (appending costs less than moving a key in a dict).
        self._changes: list[str] = []
        self._unkeyed: set[str] = set()
        self._latest: dt.datetime | None = None
        self._ordered = True
        self._counter = 0
        self._version = 0
        self._faults: dict[str, list[BaseException]] = {}
        self._listeners: list[Callable[[Sequence[str]], None]] = []
        self._lock = threading.RLock()
        #: every backend write made through the Calendar protocol, ``(operation,
        #: item_id)``, for tests to count (reads as a list of pairs).
        self.write_log = WriteLog()

    def __repr__(self) -> str:
        return f"InMemoryCalendar(name={self.name!r}, items={len(self._items)})"

    # -- acting as a user ---------------------------------------------------------

    def add(self, event: Event, *, partner_key: str | None = None) -> str:
        """Add an item as a user would; return its new id."""
        with self._lock:
            self._counter += 1
            item_id = f"{self._prefix}{self._counter}"
            self._store(item_id, event, partner_key)
        self._notify(item_id)
        return item_id

    def add_broken(self, item_id: str, reason: str, *, partner_key: str | None = None) -> None:
        """Put an unreadable item in the calendar (it will be listed as broken)."""
        with self._lock:
            self._forget(item_id)
            self._broken[item_id] = BrokenItem(id=item_id, reason=reason,
                                               partner_key=partner_key)
        self._notify(item_id)

    def items(self) -> Mapping[str, Event]:
        """Every readable item's content, by id."""
        with self._lock:
            return {item_id: item.event for item_id, item in self._items.items()}

    def fail_next(self, operation: str, error: BaseException) -> None:
        """Make the next call of ``operation`` raise ``error``.

        Operations: ``list``, ``get``, ``find``, ``create``, ``update``, ``delete`` (before
        the write) and ``after_create``, ``after_update``, ``after_delete`` (after the
        write succeeded: a crash or a lost reply).
        """
        self._faults.setdefault(operation, []).append(error)

    def list_series(self) -> Sequence[Item]:
        """Every series master (the SeriesSupport capability); empty without series."""
        with self._lock:
            return [item for item in self._items.values() if item.event.recurrence is not None]

    # -- the Calendar protocol ----------------------------------------------------

    def list_all(self) -> Listing:
        """Every item, complete."""
        self._fault("list")
        with self._lock:
            now = self._now()
            return Listing(
                items=list(self._items.values()),
                broken=list(self._broken.values()),
                complete=True,
                cursor=Cursor(watermark=now),
            )

    def list_changes(self, cursor: Cursor) -> Listing:
        """Items changed at or after the watermark, items without partner key, deletions."""
        if cursor.watermark is None:
            return self.list_all()
        self._fault("list")
        since = cursor.watermark
        with self._lock:
            now = self._now()
            return Listing(
                items=self._changed_since(since),
                broken=list(self._broken.values()),
                deleted=[i for i, when in self._tombstones.items() if when >= since],
                complete=False,
                cursor=Cursor(watermark=now),
            )

    def get(self, item_id: str) -> Item | BrokenItem | None:
        """The item, a broken item, or ``None`` when it does not exist."""
        self._fault("get")
        with self._lock:
            if item_id in self._broken:
                return self._broken[item_id]
            return self._items.get(item_id)

    def find_by_partner_key(self, partner_key: str) -> Sequence[Item]:
        """Items carrying ``partner_key``."""
        self._fault("find")
        with self._lock:
            return [item for item in self._items.values() if item.partner_key == partner_key]

    def create(self, event: Event, *, partner_key: str) -> Item:
        """Create an item carrying ``partner_key``."""
        self._fault("create")
        with self._lock:
            self._counter += 1
            item_id = f"{self._prefix}{self._counter}"
            item = self._store(item_id, event, partner_key)
        self._notify(item_id)
        self.write_log.append("create", item_id)
        self._fault("after_create")
        return item

    def update(
        self,
        item_id: str,
        event: Event,
        *,
        expected_version: str | None = None,
        partner_key: str | None = None,
    ) -> Item:
        """Replace an item's content; with ``expected_version``, only if unchanged.

        ``partner_key=None`` leaves the partner key as it is.

        Called without ``expected_version`` it acts as a user editing the item.

        Raises:
            ItemNotFoundError: no such item.
            VersionConflictError: the item is not at ``expected_version``.
        """
        if expected_version is not None:
            self._fault("update")
        with self._lock:
            if expected_version is None and item_id in self._broken:
                # a user repairing an unreadable item
                broken = self._broken[item_id]
                item = self._store(item_id, event, partner_key or broken.partner_key)
                self._notify(item_id)
                return item
            stored = self._existing(item_id)
            if expected_version is not None:
                self._check_version(item_id, stored, expected_version)
            item = self._store(item_id, event, partner_key or stored.partner_key)
            if expected_version is not None:
                self.write_log.append("update", item_id)
        self._notify(item_id)
        if expected_version is not None:
            self._fault("after_update")
        return item

    def delete(self, item_id: str, *, expected_version: str | None = None) -> None:
        """Delete an item; with ``expected_version``, only if unchanged.

        Raises:
            ItemNotFoundError: no such item.
            VersionConflictError: the item is not at ``expected_version``.
        """
        if expected_version is not None:
            self._fault("delete")
        with self._lock:
            if item_id in self._broken and expected_version is None:
                del self._broken[item_id]
            else:
                stored = self._existing(item_id)
                if expected_version is not None:
                    self._check_version(item_id, stored, expected_version)
                self._forget(item_id)
            self._tombstones[item_id] = self._now()
            if expected_version is not None:
                self.write_log.append("delete", item_id)
        self._notify(item_id)
        if expected_version is not None:
            self._fault("after_delete")

    def calendar_identity(self) -> str:
        """Which calendar this is (the IdentifiedCalendar capability)."""
        return self.identity

    def restore(
        self, item_id: str, event: Event, *, partner_key: str
    ) -> tuple[Item, tuple[str, ...]]:
        """Bring back a deleted item under its old id (the ItemRestorer capability).

        Raises:
            ItemNotFoundError: no item with that id was deleted here, or it exists.
        """
        self._fault("restore")
        with self._lock:
            if item_id not in self._tombstones or item_id in self._items:
                raise ItemNotFoundError(f"{self.name}: no deleted item {item_id} to restore",
                                        item_id=item_id)
            item = self._store(item_id, event, partner_key)  # drops the tombstone too
            self.write_log.append("restore", item_id)
        self._notify(item_id)
        return item, ()

    # -- change notifications (ChangeNotifier) ------------------------------------

    def subscribe(self, callback: Callable[[Sequence[str]], None]) -> _Subscription:
        """Call ``callback`` with the changed ids after every change."""
        with self._lock:
            self._listeners.append(callback)
        return _Subscription(self, callback)

    def open_item(self, item_id: str) -> str | None:
        """Return a pseudo-URL for the item (the ItemOpener capability).

        Raises:
            ItemNotFoundError: no such item.
        """
        self._existing(item_id)
        return f"memory://{self.name}/{item_id}"

    # -- internals ----------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return check_aware("clock()", self._clock())

    def _existing(self, item_id: str) -> Item:
        stored = self._items.get(item_id)
        if stored is None:
            raise ItemNotFoundError(f"{self.name}: no item {item_id}", item_id=item_id)
        return stored

    def _stale(self, item_id: str, stored: Item | None,
               expected_version: str) -> BackendError | None:
        """Why a write at ``expected_version`` is refused, or ``None``."""
        if stored is None:
            return ItemNotFoundError(f"{self.name}: no item {item_id}", item_id=item_id)
        if stored.version != expected_version:
            return VersionConflictError(
                f"{self.name}: item {item_id} changed since version {expected_version}",
                item_id=item_id)
        return None

    def _check_version(self, item_id: str, stored: Item, expected_version: str) -> None:
        refusal = self._stale(item_id, stored, expected_version)
        if refusal is not None:
            raise refusal

    def _store(self, item_id: str, event: Event, partner_key: str | None) -> Item:
        refusal = self._refusal(item_id, event)
        if refusal is not None:
            raise refusal
        return self._put(item_id, event, partner_key, self._now())

    def _refusal(self, item_id: str, event: object) -> OutlookSyncError | None:
        """Why ``event`` cannot be stored here, or ``None``."""
        if not isinstance(event, Event):
            return InvalidEventError("expected an Event", item_id=item_id)
        if event.recurrence is not None and not self.supports_series:
            return ItemRejectedError(
                f"{self.name}: a recurring series cannot be stored here (no series support)",
                item_id=item_id,
            )
        return None

    def _put(self, item_id: str, event: Event, partner_key: str | None,
             now: dt.datetime) -> Item:
        """Store a checked event as the item's content, changed ``now`` (an aware time
        from :meth:`_now`), under an id that is valid (issued here, or an existing
        item's); the lock is held."""
        if not _plain_key(partner_key):  # the full check, which names what is wrong
            Item(id=item_id, version="0", event=event, partner_key=partner_key)
        self._version += 1
        # the event is stored as given (immutable, validated once, when built)
        item = self._items[item_id] = trusted_item(item_id, str(self._version), event,
                                                   partner_key, now)
        self._broken.pop(item_id, None)
        self._tombstones.pop(item_id, None)
        self._changes.append(item_id)  # the newest change last
        if partner_key is None:
            self._unkeyed.add(item_id)
        else:
            self._unkeyed.discard(item_id)
        self._changed_at_time(now)
        return item

    def _changed_at_time(self, now: dt.datetime) -> None:
        """Note that items changed ``now``: the change index stays in time order
        while the clock only moves forward, and keeps one entry per item after it
        doubled."""
        changes = self._changes
        if len(changes) > 2 * len(self._items) + self._changes_slack:
            last_first = dict.fromkeys(reversed(changes))  # each id once, its last write first
            items = self._items
            self._changes = [item_id for item_id in reversed(last_first) if item_id in items]
        latest = self._latest
        if latest is None or now > latest:
            self._latest = now
        elif now < latest:
            self._ordered = False

    def _forget(self, item_id: str) -> None:
        self._items.pop(item_id, None)
        self._unkeyed.discard(item_id)

    @staticmethod
    def _changed_at(item: Item) -> dt.datetime:
        when = item.changed
        assert when is not None  # every stored item is stamped
        return when

    def _changed_since(self, since: dt.datetime) -> list[Item]:
        if not self._ordered:
            return [
                item
                for item in self._items.values()
                if self._changed_at(item) >= since or item.partner_key is None
            ]
        found: dict[str, Item] = {}
        items = self._items
        for item_id in reversed(self._changes):
            if item_id in found:
                continue  # an earlier write of an item seen already
            item = items.get(item_id)
            if item is None:
                continue  # deleted since
            if self._changed_at(item) < since:
                break
            found[item_id] = item
        for item_id in self._unkeyed:
            found.setdefault(item_id, self._items[item_id])
        return list(found.values())

    def _fault(self, operation: str) -> None:
        fault = self._struck(operation)
        if fault is not None:
            raise fault

    def _struck(self, operation: str) -> BaseException | None:
        """The fault armed for this call of ``operation`` (taken), or ``None``."""
        if not self._faults:
            return None
        queue = self._faults.get(operation)
        return queue.pop(0) if queue else None

    def _notify(self, item_id: str) -> None:
        if not self._listeners:
            return
        for callback in list(self._listeners):
            callback([item_id])

    def _unsubscribe(self, callback: Callable[[Sequence[str]], None]) -> None:
        with self._lock:
            if callback in self._listeners:
                self._listeners.remove(callback)


def _plain_key(partner_key: object) -> bool:
    """``Item``'s check of a partner key, for the common case (``None``, or a str of
    1 to 1024 characters); anything else takes the full check."""
    return partner_key is None or (type(partner_key) is str and 0 < len(partner_key) <= 1024)


class _Subscription:
    def __init__(
        self, calendar: InMemoryCalendar, callback: Callable[[Sequence[str]], None]
    ) -> None:
        self._calendar = calendar
        self._callback = callback

    def close(self) -> None:
        self._calendar._unsubscribe(self._callback)
