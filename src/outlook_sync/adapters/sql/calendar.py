"""``SqlCalendar``: one user's Säljstöd calendar in the CRM's SQL database.

Theory of operation
-------------------
**The user's view.** An activity is on a user's calendar when a participants row
``(activity, user)`` exists. Every query joins the participants table filtered on this
user, so a sync for Anna never reads or writes an activity Anna is not on -- Bertil's
private activities included. The partner key (the id of *this user's* Outlook
appointment) lives in the participants row, because one shared activity has a different
Outlook appointment in every participant's mailbox.

**Change detection** (:meth:`SqlCalendar.list_changes`). First the server's clock is
read: the new cursor's watermark is that time (minus ``lookback``). Then three queries,
each on its own index:

1. rows whose ``changed_at >= watermark`` (inclusive; ``changed_at`` is server time),
2. every row of the user with no partner key (booked by someone else, or never synced),
   whatever its timestamp,
3. deletion-log entries for the user with ``deleted_at >= watermark``, and rows whose
   soft-delete column is set (they come with query 1, because setting it bumps
   ``changed_at``).

``lookback`` covers host transactions that stamped a row before the listing began but
committed after it: their rows carry a ``changed_at`` older than the new watermark and
were invisible to this listing. Listing ``lookback`` further back re-reads a few rows
(harmless: content that did not change plans nothing) and never misses such a row,
provided no host write transaction lasts longer than ``lookback``.

**Writes** check the version column (``WHERE version = ?``): a row changed by the host
between read and write raises :class:`~outlook_sync.errors.VersionConflictError` and is
not overwritten. An update whose content equals the row's only writes the partner key,
so re-stamping partner keys never bumps versions. Deleting removes the user from the
activity; the activity itself goes (hard or soft delete) only when no one else is on it.

**Transactions.** With ``commit=True`` (the default) every write is its own committed
transaction. With ``commit=False`` the writes stay in the connection's open transaction,
each inside a savepoint (a failed write undoes only itself), and whoever shares the
connection commits them: a :class:`~outlook_sync.state.sql.SqlStateStore` on the same
connection commits the activity together with its link (see ``docs/sql.md``).

**Errors.** Driver exceptions are translated in :meth:`SqlCalendar._guard` only:
another transaction holding a lock past ``busy_timeout`` -> ``BusyError`` (try again);
a permission refusal -> ``PermissionDeniedError``; "cannot talk to the database" ->
``BackendUnavailableError``; a failed listing -> ``ListingError``; a refused write ->
``ItemRejectedError``; messages are redacted.

**Configuration time.** The constructor reads the mapped tables' columns from the
catalog (``columns.py``) and refuses a mapping the adapter could not read faithfully,
so a wrong mapping never reaches a sync. Restore and the calendar identity live in
``restore.py``, the bulk writes in ``bulk.py`` (mixins of this class).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import attrs

from outlook_sync.adapters.sql.archive import Archive
from outlook_sync.adapters.sql.bulk import BulkWrites
from outlook_sync.adapters.sql.columns import flag_codecs, read_catalog
from outlook_sync.adapters.sql.mapping import SqlMapping
from outlook_sync.adapters.sql.queries import ActivityQueries
from outlook_sync.adapters.sql.restore import Restoring
from outlook_sync.adapters.sql.rows import RowCodec
from outlook_sync.errors import (
    BackendUnavailableError,
    BusyError,
    ConfigurationError,
    InvalidEventError,
    ItemNotFoundError,
    ItemRejectedError,
    ListingError,
    PermissionDeniedError,
    VersionConflictError,
)
from outlook_sync.model import BrokenItem, Cursor, Event, Item, Listing
from outlook_sync.sql.dialect import Dialect, dialect_for, quote, redact

__all__ = ["DEFAULT_LOOKBACK", "SqlCalendar"]

#: How far before the listing's start the next listing begins (see the module docstring).
DEFAULT_LOOKBACK = dt.timedelta(seconds=5)
#: How long a write waits for a lock another transaction holds before ``BusyError``.
DEFAULT_BUSY_TIMEOUT = dt.timedelta(seconds=5)
#: How long the full rows of deleted activities are kept for restore.
DEFAULT_KEEP_ARCHIVED = dt.timedelta(days=90)

_T = TypeVar("_T")
_first = operator.itemgetter(0)  # a listing row's activity id


class SqlCalendar(BulkWrites, Restoring):
    """One user's activities in a SQL database, as a :class:`~outlook_sync.protocols.Calendar`.

    Args:
        connection: an open ``sqlite3`` or psycopg 3 connection.
        user: the user's key in the participants table (and ``created_by``).
        mapping: table and column names; the reference schema's by default. A plain
            mapping is read as the ``[saljstod.mapping]`` TOML table
            (:meth:`SqlMapping.from_config`).
        dialect: ``"sqlite"`` or ``"postgresql"``; detected from the connection if omitted.
        commit: ``True``: commit every write. ``False``: leave writes in the open
            transaction for the sharer of the connection to commit.
        lookback: how far before its start a listing's watermark is set.
        side: the side name put on errors (``"saljstod"``).
        busy_timeout: how long a write waits for another transaction's lock before
            :class:`~outlook_sync.errors.BusyError` (set on the connection: SQLite's
            busy timeout, PostgreSQL's ``lock_timeout``).
        keep_archived: how long deleted activities' full rows are kept for restore.

    Raises:
        ConfigurationError: bad mapping (also: one that does not fit the tables'
            columns), unsupported dialect, negative lookback or busy timeout.
        BackendUnavailableError: the database cannot be reached to read its catalog.
    """

    def __init__(
        self,
        connection: Any,
        *,
        user: str | int,
        mapping: SqlMapping | Mapping[str, Any] | None = None,
        dialect: str | Dialect | None = None,
        commit: bool = True,
        lookback: dt.timedelta = DEFAULT_LOOKBACK,
        side: str = "saljstod",
        busy_timeout: dt.timedelta = DEFAULT_BUSY_TIMEOUT,
        keep_archived: dt.timedelta = DEFAULT_KEEP_ARCHIVED,
    ) -> None:
        if lookback < dt.timedelta(0):
            raise ConfigurationError("lookback must not be negative", key="lookback")
        if busy_timeout < dt.timedelta(0):
            raise ConfigurationError("busy_timeout must not be negative", key="busy_timeout")
        self._c = connection
        self._d = dialect_for(connection, dialect)
        if mapping is None:
            mapping = SqlMapping()
        elif not isinstance(mapping, SqlMapping):
            mapping = SqlMapping.from_config(mapping)  # the [saljstod.mapping] TOML table
        self._m = mapping
        self._user = user
        self._commit = commit
        self._lookback = lookback
        self._side = side
        self._busy = busy_timeout.total_seconds()
        self._errors = self._d.driver_errors()
        self._catalog = self._read("reading the mapped tables' columns", self._read_catalog)
        with self._guard("setting the lock wait"):
            pending = self._d.in_transaction(self._c)
            self._d.set_lock_wait(self._c, self._busy)
            if not pending and self._d.in_transaction(self._c):
                self._c.commit()  # only the setting is in it: keep it (PostgreSQL)
        self._codec = RowCodec(
            self._m,
            self._d,
            codecs=flag_codecs(self._catalog, self._m),
            changed_at_naive=self._catalog.changed_at_naive,
        )
        if self._d.name == "sqlite" and self._codec.changed_at_naive():
            self._c.create_function(
                "outlook_sync_naive_now", 0, self._codec.naive_now_text, deterministic=False
            )
        a = self._m.activities
        self._archive = (
            Archive(self._d, a.table, self._m.table(Archive.TABLE), keep_archived)
            if self._catalog.archive
            else None
        )
        #: The items this calendar last listed or wrote, by id. A row still at an item's
        #: version still holds that item's content (every change bumps the version), so
        #: an update can tell "content unchanged" without decoding the row again.
        self._seen: dict[str, Item] = {}
        self._q = ActivityQueries(self._m, self._d, self._codec)

    def _read_catalog(self) -> Any:
        return read_catalog(self._c, self._d, self._m)

    def __repr__(self) -> str:
        return f"SqlCalendar(user={self._user!r}, dialect={self._d.name!r})"

    @property
    def user(self) -> str | int:
        """Whose calendar this is."""
        return self._user

    @property
    def queries(self) -> ActivityQueries:
        """The SQL this calendar runs (to show query plans: ``EXPLAIN`` + ``.changed``)."""
        return self._q

    def hot_queries(
        self, watermark: dt.datetime, now: dt.datetime | None = None
    ) -> dict[str, tuple[str, tuple[Any, ...]]]:
        """The statements of an incremental listing from ``watermark``, with parameters.

        For showing query plans (``EXPLAIN`` + the SQL, in the dialect's paramstyle via
        ``dialect.sql``): ``"changed since"``, ``"unlinked"`` and, with a deletion log,
        ``"removed since"``.
        """
        now = now or dt.datetime.now(dt.UTC)
        found = {
            "changed since": (
                self._q.changed, (self._user, self._codec.watermark(watermark, now))
            ),
            "unlinked": (self._q.unlinked, (self._user,)),
        }
        log = self._m.deletion_log
        if self._q.removed is not None and log is not None:
            since = self._codec.watermark(watermark, now, naive=log.naive)
            found["removed since"] = (self._q.removed, (self._user, since))
        return found

    # -- the one place where driver errors become ours ----------------------------------

    @contextlib.contextmanager
    def _guard(
        self, what: str, *, item_id: str | None = None, listing: bool = False
    ) -> Iterator[None]:
        try:
            yield
        except self._errors as exc:
            message = f"Säljstöd database: {what} failed: {type(exc).__name__}: {redact(str(exc))}"
            if self._d.is_busy(exc):
                raise BusyError(
                    f"{message} (another transaction held a lock for more than "
                    f"{self._busy:g} s; try again)",
                    retry_after=max(1.0, self._busy),
                ) from exc
            kind: type[ListingError | ItemRejectedError | BackendUnavailableError]
            if self._d.is_permission_denied(exc) and not listing:
                kind = PermissionDeniedError
            elif self._d.is_unavailable(exc):
                kind = BackendUnavailableError
            else:
                kind = ListingError if listing else ItemRejectedError
            raise kind(message, side=self._side, item_id=item_id) from exc

    def _read(self, what: str, body: Callable[[], _T], *, listing: bool = False) -> _T:
        with self._guard(what, listing=listing):
            opened = not self._d.in_transaction(self._c)
            try:
                return body()
            finally:
                # Our own read transaction (psycopg opens one for a SELECT): end it, so
                # the connection does not sit "idle in transaction".
                if self._commit and opened and self._d.in_transaction(self._c):
                    self._c.rollback()

    def _write(self, what: str, item_id: str | None, body: Callable[[], _T]) -> _T:
        with self._guard(what, item_id=item_id):
            pending = self._d.in_transaction(self._c)
            if not self._commit and pending:
                # Someone else's uncommitted work shares the transaction: a failure
                # must undo only this write.
                with self._d.savepoint(self._c):
                    return body()
            # Nothing else is pending: the transaction is ours (cheaper than a savepoint).
            try:
                self._d.begin(self._c, write=True)
                result = body()
                if self._commit:
                    self._c.commit()
            except BaseException:
                self._c.rollback()
                raise
            return result

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return list(self._d.execute(self._c, sql, params).fetchall())

    # -- reading -------------------------------------------------------------------------

    def _server_now(self) -> dt.datetime:
        return self._d.timestamp_value(self._rows(self._q.now, ())[0][0])

    def _is_soft_deleted(self, raw: Any) -> bool:
        soft = self._m.soft_delete
        if soft is None or raw is None:
            return False
        if soft.kind == "timestamp":
            return True
        return bool(raw == soft.deleted_value)

    def _split(self, rows: Sequence[Any]) -> tuple[list[Item], list[BrokenItem], set[str]]:
        items: list[Item] = []
        broken: list[BrokenItem] = []
        gone: set[str] = set()
        seen: set[str] = set()
        soft = self._m.soft_delete is not None
        decode = self._codec.item_with_id
        remember = self._seen
        for row in sorted(rows, key=_first):
            item_id = str(row[0])
            if item_id in seen:
                continue
            seen.add(item_id)
            if soft and self._is_soft_deleted(row[-1]):
                gone.add(item_id)
                continue
            found = decode(row, item_id)
            if isinstance(found, Item):
                items.append(found)
                remember[item_id] = found
            else:
                broken.append(found)
        return items, broken, gone

    def _cursor_at(self, now: dt.datetime) -> Cursor:
        return Cursor(watermark=now - self._lookback)

    def list_all(self) -> Listing:
        """Every activity on the user's calendar (soft-deleted ones excluded).

        Raises:
            ListingError: the query failed.
            BackendUnavailableError: the database cannot be reached.
        """

        def body() -> Listing:
            self._seen.clear()
            now = self._server_now()
            items, broken, _gone = self._split(self._rows(self._q.all, (self._user,)))
            return Listing(items=items, broken=broken, complete=True, cursor=self._cursor_at(now))

        return self._read("listing all activities", body, listing=True)

    def list_changes(self, cursor: Cursor) -> Listing:
        """Activities changed at or after the watermark, unlinked ones, and deletions.

        An initial cursor (no watermark) gives a complete listing.

        Raises:
            ListingError: a query failed.
            BackendUnavailableError: the database cannot be reached.
        """
        if cursor.watermark is None:
            return self.list_all()
        watermark = cursor.watermark
        log = self._m.deletion_log

        def body() -> Listing:
            self._seen.clear()
            now = self._server_now()
            changed_since = self._codec.watermark(watermark, now)
            rows = self._rows(self._q.changed, (self._user, changed_since))
            rows += self._rows(self._q.unlinked, (self._user,))
            items, broken, gone = self._split(rows)
            removed: set[str] = set()
            if self._q.removed is not None and log is not None:
                since = self._codec.watermark(watermark, now, naive=log.naive)
                removed = {str(row[0]) for row in self._rows(self._q.removed,
                                                              (self._user, since))}
                gone.update(removed)
            present = {item.id for item in items} | {bad.id for bad in broken}
            return Listing(
                items=items,
                broken=broken,
                deleted=gone - present,
                complete=False,
                cursor=self._cursor_at(now),
                moved=self._still_existing(removed - present),
            )

        return self._read("listing changed activities", body, listing=True)

    def _still_existing(self, item_ids: set[str]) -> set[str]:
        """Of activities that left this user's calendar, those that still exist:
        reassigned to another user, or this user was removed from them."""
        wanted = sorted({db for db in map(self._m.db_id, item_ids) if db is not None},
                        key=str)
        found: set[str] = set()
        for condition, params in self._d.id_list(self._q.activity_id, wanted):
            rows = self._rows(f"{self._q.existing_prefix} AND {condition}",
                              (*self._q.alive_params, *params))
            found.update(str(row[0]) for row in rows)
        return found & item_ids

    def _one(self, item_id: str) -> Any:
        db_id = self._m.db_id(item_id)
        if db_id is None:
            return None
        rows = self._rows(self._q.one, (self._user, db_id))
        if not rows or self._is_soft_deleted(rows[0][-1]):
            return None
        return rows[0]

    def _head(self, item_id: str) -> Any:
        """``(version, partner key, soft-delete)`` of the user's activity, or ``None``."""
        db_id = self._m.db_id(item_id)
        if db_id is None:
            return None
        rows = self._rows(self._q.head, (self._user, db_id))
        if not rows or self._is_soft_deleted(rows[0][-1]):
            return None
        return rows[0]

    def _remember(self, item: Item) -> Item:
        self._seen[item.id] = item
        return item

    def get(self, item_id: str) -> Item | BrokenItem | None:
        """The activity if it is on the user's calendar; a BrokenItem if unreadable."""

        def body() -> Item | BrokenItem | None:
            row = self._one(item_id)
            found = None if row is None else self._codec.item(row)
            return self._remember(found) if isinstance(found, Item) else found

        return self._read(f"reading activity {item_id}", body)

    def find_by_partner_key(self, partner_key: str) -> Sequence[Item]:
        """The user's activities whose participants row carries ``partner_key``."""

        def body() -> list[Item]:
            items, _broken, _gone = self._split(
                self._rows(self._q.by_partner_key, (self._user, partner_key))
            )
            return items

        return self._read("finding by partner key", body)

    # -- writing -------------------------------------------------------------------------

    def _values(self, event: Event, item_id: str | None) -> dict[str, Any]:
        if event.recurrence is not None:
            # The activity schema holds single activities; storing a series master as
            # one activity would silently drop every other occurrence.
            raise ItemRejectedError(
                "a recurring series cannot be stored as one Säljstöd activity",
                side=self._side,
                item_id=item_id,
            )
        try:
            return self._codec.values(event)
        except InvalidEventError as exc:
            raise ItemRejectedError(str(exc), side=self._side, item_id=item_id) from exc

    def _read_back(self, item_id: str) -> Item:
        row = self._one(item_id)
        found = None if row is None else self._codec.item(row)
        if not isinstance(found, Item):
            reason = "it is gone" if found is None else found.reason
            raise ItemRejectedError(
                f"activity {item_id} does not read back after the write: {reason}",
                side=self._side,
                item_id=item_id,
            )
        return self._remember(found)

    def create(self, event: Event, *, partner_key: str) -> Item:
        """Insert an activity on the user's calendar, created by the user.

        Raises:
            ItemRejectedError: the database refused it.
            BackendUnavailableError: the database cannot be reached.
        """
        values = self._values(event, None)
        a = self._m.activities
        if a.created_by is not None:
            values[a.created_by] = self._user
        if a.owner is not None and a.partner_key is not None:
            values[a.owner] = self._user  # the user is a column of the activity row
            values[a.partner_key] = partner_key
        columns = [quote(name) for name in values]
        marks = ["?"] * len(values)
        sql = (
            f"INSERT INTO {self._q.activities} ({', '.join([*columns, *self._q.insert_columns])})"
            f" VALUES ({', '.join([*marks, *self._q.insert_values])}) RETURNING {quote(a.id)}"
        )
        add = self._q.add_participant

        def body() -> Item:
            new_id = self._rows(sql, list(values.values()))[0][0]
            if add is not None:
                self._d.execute(self._c, add, (new_id, self._user, partner_key))
            return self._read_back(str(new_id))

        return self._write("creating an activity", None, body)

    def _check_version(self, item_id: str, row: Any, expected_version: str) -> None:
        if row is None:
            raise ItemNotFoundError(
                f"activity {item_id} is not on {self._user}'s calendar",
                side=self._side,
                item_id=item_id,
            )
        if str(row[0]) != expected_version:
            raise VersionConflictError(
                f"activity {item_id} is at version {row[0]}, not {expected_version}",
                side=self._side,
                item_id=item_id,
            )

    def _version_param(self, version: str) -> Any:
        return int(version) if version.isdigit() else version

    def _stamped(self, item_id: str, item: Item, partner_key: str) -> Item:
        """``item`` with the partner key just written (and the row's version, which a
        host trigger may have bumped when the key lives on the activity row)."""
        stamped = attrs.evolve(item, partner_key=partner_key)
        if self._q.single:
            head = self._head(item_id)
            if head is not None:
                stamped = attrs.evolve(stamped, version=str(head[0]))
        return stamped

    def update(
        self,
        item_id: str,
        event: Event,
        *,
        expected_version: str,
        partner_key: str | None = None,
    ) -> Item:
        """Replace the activity's content (and this user's partner key) at the version.

        Raises:
            VersionConflictError: the activity changed since ``expected_version``.
            ItemNotFoundError: it is gone, or not on the user's calendar.
            ItemRejectedError: the database refused the content.
        """
        values = self._values(event, item_id)

        def body() -> Item:
            db_id = self._m.db_id(item_id)
            cached = self._seen.get(item_id)
            fresh = cached is not None and cached.version == expected_version
            if fresh and cached is not None and cached.event == event and partner_key:
                # Stamping a partner key on content we listed: one guarded statement.
                cursor = self._d.execute(
                    self._c,
                    self._q.stamp,
                    (
                        partner_key,
                        db_id,
                        self._user,
                        db_id,
                        self._version_param(expected_version),
                        *self._q.alive_params,
                    ),
                )
                if cursor.rowcount == 1:
                    return self._remember(self._stamped(item_id, cached, partner_key))
            head = self._head(item_id)
            self._check_version(item_id, head, expected_version)
            current: Item | BrokenItem
            if fresh and cached is not None:
                current = attrs.evolve(cached, partner_key=self._codec.partner(head[1]))
            else:
                current = self._codec.item(self._one(item_id))
            unchanged = isinstance(current, Item) and current.event == event
            if not unchanged:
                sets = ", ".join(f"{quote(name)} = ?" for name in values)
                cursor = self._d.execute(
                    self._c,
                    self._q.update_prefix + sets + self._q.update_suffix,
                    [*values.values(), db_id, self._version_param(expected_version)],
                )
                if cursor.rowcount == 0:
                    raise VersionConflictError(
                        f"activity {item_id} changed during the update",
                        side=self._side,
                        item_id=item_id,
                    )
            stamp = partner_key is not None and partner_key != current.partner_key
            if stamp:
                self._d.execute(self._c, self._q.set_partner, (partner_key, db_id, self._user))
            if unchanged and isinstance(current, Item):
                # only the partner key moved: no need to read the row back
                if stamp and partner_key:
                    return self._remember(self._stamped(item_id, current, partner_key))
                return self._remember(current)
            return self._read_back(item_id)

        return self._write(f"updating activity {item_id}", item_id, body)

    def delete(self, item_id: str, *, expected_version: str) -> None:
        """Take the activity off the user's calendar if it is still at the version.

        The activity itself is deleted (or soft-deleted) only when no other user is on
        it; otherwise only this user's participation goes.

        Raises:
            VersionConflictError: the activity changed since ``expected_version``.
            ItemNotFoundError: it is already gone from the user's calendar.
        """

        def body() -> None:
            self._check_version(item_id, self._head(item_id), expected_version)
            db_id = self._m.db_id(item_id)
            others = 0
            if self._q.others is not None:
                others = self._rows(self._q.others, (db_id, self._user))[0][0]
            if others and self._q.leave is not None:
                self._keep(item_id, db_id, activity=False)
                self._d.execute(self._c, self._q.leave, (db_id, self._user))
                return
            version = self._version_param(expected_version)
            soft = self._m.soft_delete
            if soft is None:
                self._keep(item_id, db_id, activity=True)
                cursor = self._d.execute(self._c, self._q.delete, (db_id, version))
            elif soft.kind == "timestamp":
                cursor = self._d.execute(self._c, self._q.soft_delete, (db_id, version))
            else:
                cursor = self._d.execute(
                    self._c, self._q.soft_delete, (soft.deleted_value, db_id, version)
                )
            if cursor.rowcount == 0:
                raise VersionConflictError(
                    f"activity {item_id} changed during the delete",
                    side=self._side,
                    item_id=item_id,
                )

        self._write(f"deleting activity {item_id}", item_id, body)
