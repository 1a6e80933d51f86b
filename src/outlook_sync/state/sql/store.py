"""A :class:`~outlook_sync.protocols.StateStore` in a SQL database (SQLite or PostgreSQL).

Theory of operation
-------------------
The store works on one DB-API connection and a :class:`~outlook_sync.adapters.sql.dialect.
Dialect`. Reads run in whatever transaction the connection has; every write
(:meth:`SqlStateStore.commit`, the lock, the small log edits) opens a write transaction,
applies everything and ends with ``connection.commit()`` — or ``rollback()`` and a
:class:`~outlook_sync.errors.StateError` naming the problem, with nothing written.

Sharing a connection with :class:`~outlook_sync.adapters.sql.SqlCalendar` (built with
``commit=False``) is how "write an activity and record its link in one transaction"
works: the calendar's writes stay in the open transaction and this store's ``commit``
commits them together with the link state. A failed state commit rolls both back.

The lock is a lease: a row ``(user_name, owner token, expires_at, holder)``. Taking it
is one upsert that only overwrites a row whose expiry has passed (by the database
server's clock), followed by reading back the owner: exactly one of several racing
processes finds its own token. While the ``with`` block runs, every commit renews the
lease in its own transaction and refuses to commit if the row no longer carries our
token (fencing: :class:`~outlook_sync.errors.LeaseLostError`), and a background
heartbeat renews it every third of ``ttl`` between commits (skipping a beat while a
shared connection has a transaction open). Leaving the block deletes the row if it
still carries our token; a holder that died stops renewing, and its lease runs out
``ttl`` after the last renewal.

A database held by another transaction past the connection's wait (SQLite's busy
timeout, PostgreSQL's ``lock_timeout``) is a :class:`~outlook_sync.errors.BusyError`
("try again"), not a :class:`~outlook_sync.errors.StateError`.

On PostgreSQL a commit's links, and its pending and intent keys, travel as arrays in one
statement each (``INSERT ... SELECT ... FROM unnest(...)``, ``DELETE ... WHERE (side,
item_id) IN (SELECT * FROM unnest(...))``) with the guards of the statement per row
SQLite runs: psycopg's cost is per statement.

Links are fetched by id in chunks (``IN`` lists on SQLite, one ``= ANY(array)`` per
10 000 ids on PostgreSQL) over the primary key and the unique ``outlook_id`` index, so
an incremental sync loads only the links it needs, whatever the total.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from outlook_sync._core.series import occurrence_prefix
from outlook_sync.errors import BusyError, LeaseLostError, StateError, SyncInProgressError
from outlook_sync.model import Cursor, Link, Side
from outlook_sync.protocols import StateChange
from outlook_sync.records import Conflict, DeletedItem, Quarantined, SubscriptionRecord
from outlook_sync.sql import state_schema as schema
from outlook_sync.sql.dialect import Dialect, dialect_for, redact
from outlook_sync.sql.migrations import migrate
from outlook_sync.state import codec

__all__ = ["SqlStateStore"]

_T = TypeVar("_T")

_LINK_COLUMNS = "saljstod_id, outlook_id, base, saljstod_version, outlook_version, gone"
_LINK_READ = _LINK_COLUMNS + ", generation"

#: Words in a driver's message that mean "another transaction holds the database".
_BUSY_WORDS = ("database is locked", "database table is locked", "lock timeout",
               "canceling statement due to lock timeout", "could not obtain lock")


def _utc_key(value: dt.datetime) -> str:
    """Fixed-width UTC text that sorts like the instants it stands for."""
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _side(text: str) -> Side:
    try:
        return Side(text)
    except ValueError as exc:
        raise StateError(f"stored side {text!r} is unknown") from exc


def _link(row: Sequence[Any]) -> Link:
    base, attempt = codec.link_base_from_json(row[2])
    return Link(
        saljstod_id=row[0],
        outlook_id=row[1],
        base=base,
        saljstod_version=row[3],
        outlook_version=row[4],
        gone=None if row[5] is None else _side(row[5]),
        generation=int(row[6]) if len(row) > 6 and row[6] is not None else 0,
        attempt=attempt,
    )


def _link_row(user: str, link: Link, generation: int = 0) -> tuple[Any, ...]:
    gone = link.gone
    return (
        user,
        link.saljstod_id,
        link.outlook_id,
        _base_text(link),
        link.saljstod_version,
        link.outlook_version,
        None if gone is None else _SIDE_TEXT[gone],
        generation,
    )


_event_to_json = codec.event_to_json


def _base_text(link: Link) -> str:
    """The stored base of ``link`` (with the update being written, if any)."""
    if link.attempt is None:
        return _event_to_json(link.base)
    return codec.link_base_to_json(link.base, link.attempt)
#: ``Side.value`` is a property written in Python; a lookup is cheaper
_SIDE_TEXT = {side: side.value for side in Side}
#: the upsert of :meth:`SqlStateStore._put_links` (``?`` placeholders)
_PUT_LINK = (
    f"INSERT INTO outlook_sync_links (user_name, {_LINK_READ})"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (user_name, saljstod_id) DO UPDATE SET"
    " base = excluded.base, saljstod_version = excluded.saljstod_version,"
    " outlook_version = excluded.outlook_version, gone = excluded.gone,"
    " generation = excluded.generation"
    " WHERE outlook_sync_links.outlook_id = excluded.outlook_id"
)
#: the same upsert for many links in one statement (PostgreSQL only, in psycopg's
#: paramstyle: one array per column, sent in binary (``%b``: no per-element quoting of
#: the base's JSON), the user and the generation once); the same conflict target,
#: refresh and guard, so the row count and the unique index's refusal mean what they
#: mean for ``_PUT_LINK``
_PUT_LINKS_UNNEST = (
    f"INSERT INTO outlook_sync_links (user_name, {_LINK_READ})"
    " SELECT %s::text, s.saljstod_id, s.outlook_id, s.base, s.saljstod_version,"
    " s.outlook_version, s.gone, %s::bigint FROM unnest(%b::text[], %b::text[], %b::text[],"
    " %b::text[], %b::text[], %b::text[])"
    " AS s (saljstod_id, outlook_id, base, saljstod_version, outlook_version, gone)"
    " ON CONFLICT (user_name, saljstod_id) DO UPDATE SET"
    " base = excluded.base, saljstod_version = excluded.saljstod_version,"
    " outlook_version = excluded.outlook_version, gone = excluded.gone,"
    " generation = excluded.generation"
    " WHERE outlook_sync_links.outlook_id = excluded.outlook_id"
)


def _datetime(text: str | None, zone: str | None) -> dt.datetime | None:
    return None if text is None else codec.decode_datetime(text, zone)


class SqlStateStore:
    """Per-user sync state in SQL tables (``outlook_sync_*``), on one DB-API connection.

    Args:
        connection: an open ``sqlite3`` or psycopg 3 connection.
        dialect: ``"sqlite"`` or ``"postgresql"``; detected from the connection if omitted.
        migrate: apply missing schema migrations now (the default). With ``False`` the
            schema must have been created by :func:`outlook_sync.adapters.sql.upgrade`.
        close_connection: close the connection in :meth:`close` (stores that opened
            their own connection).
        label: what ``repr`` shows for the database; never a DSN or password.

    A store is safe to share between threads (calls are serialised); a connection
    shared with a :class:`~outlook_sync.adapters.sql.SqlCalendar` must then be used from
    the same threads only.

    Raises:
        StateError: the schema could not be created or upgraded.
        SchemaVersionError: the database was written by a newer outlook_sync.
    """

    def __init__(
        self,
        connection: Any,
        *,
        dialect: str | Dialect | None = None,
        migrate: bool = True,
        close_connection: bool = False,
        label: str | None = None,
    ) -> None:
        self._connection = connection
        self._dialect = dialect_for(connection, dialect)
        self._close_connection = close_connection
        self._label = label or self._dialect.name
        self._mutex = threading.RLock()
        self._errors = self._dialect.driver_errors()
        #: (user, thread) -> (owner token, lease seconds) of the lease this thread holds
        self._held: dict[tuple[str, int], tuple[str, float]] = {}
        self._put_link_sql = self._dialect.sql(_PUT_LINK)
        #: PostgreSQL: many rows travel as arrays in one statement (psycopg's cost is per
        #: statement: an executemany of 200 rows costs 200 statements' work)
        self._unnest = self._dialect.name == "postgresql"
        self._put_links_sql = _PUT_LINKS_UNNEST
        if migrate:
            migrate_schema(connection, self._dialect)

    @classmethod
    def connect_postgresql(cls, dsn: str, **kwargs: Any) -> SqlStateStore:
        """Open a psycopg 3 connection to ``dsn`` and build a store that owns it.

        The DSN (and its password) is not kept and never appears in errors or reprs.

        Raises:
            StateError: the connection failed (message redacted).
            ConfigurationError: psycopg is not installed (``pip install outlook_sync[postgres]``).
        """
        from outlook_sync.sql.connect import connect_postgresql

        connection, label = connect_postgresql(dsn, error=StateError)
        return cls(connection, dialect="postgresql", close_connection=True, label=label, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dialect={self._dialect.name!r}, database={self._label!r})"

    @property
    def connection(self) -> Any:
        """The DB-API connection (to share with a ``SqlCalendar(..., commit=False)``)."""
        return self._connection

    @property
    def dialect(self) -> Dialect:
        """The SQL dialect in use."""
        return self._dialect

    def close(self) -> None:
        """Close the connection if this store opened it. Idempotent."""
        if self._close_connection:
            self._connection.close()

    def __enter__(self) -> SqlStateStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------

    def _run(self, what: str, body: Callable[[], _T]) -> _T:
        """Run ``body`` holding the mutex; translate driver errors (the one place)."""
        with self._mutex:
            try:
                return body()
            except self._errors as exc:
                message = str(exc).lower()
                if any(word in message for word in _BUSY_WORDS):
                    raise BusyError(
                        f"state store: {what}: the database is busy (another transaction "
                        "holds it); try again shortly"
                    ) from exc
                raise StateError(
                    f"state store: {what} failed: {type(exc).__name__}: {redact(str(exc))}"
                ) from exc

    def _write(self, what: str, body: Callable[[], None]) -> None:
        """Run ``body`` in a write transaction and commit, or roll back and raise."""

        def transaction() -> None:
            try:
                self._dialect.begin(self._connection, write=True)
                body()
                self._connection.commit()
            except BaseException:
                self._connection.rollback()
                raise

        self._run(what, transaction)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self._dialect.execute(self._connection, sql, params).fetchall())

    # -- the lock --------------------------------------------------------------------

    @contextmanager
    def lock(self, user: str, *, ttl: dt.timedelta) -> Iterator[None]:
        """Hold the user's sync lease for the ``with`` block (works across processes).

        Taking and releasing the lock commit the connection. If the block raises, the
        connection's uncommitted work is rolled back before the lock is released. The
        lease is renewed by every commit and by a heartbeat every ``ttl / 3``.

        Raises:
            SyncInProgressError: another holder has the lock and it has not expired.
            BusyError: the database stayed busy past the connection's wait.
            StateError: the lock table could not be read or written.
        """
        token = secrets.token_hex(16)
        seconds = max(ttl.total_seconds(), 0.0)
        epoch = self._dialect.epoch_sql
        holder = f"{socket.gethostname()} pid {os.getpid()}"
        owner: list[str | None] = [None]

        def take() -> None:
            self._dialect.execute(
                self._connection,
                "INSERT INTO outlook_sync_locks (user_name, owner, expires_at, holder)"
                f" VALUES (?, ?, {epoch} + ?, ?)"
                " ON CONFLICT (user_name) DO UPDATE"
                " SET owner = excluded.owner, expires_at = excluded.expires_at,"
                " holder = excluded.holder"
                f" WHERE outlook_sync_locks.expires_at <= {epoch}",
                (user, token, seconds, holder),
            )
            rows = self._rows("SELECT owner FROM outlook_sync_locks WHERE user_name = ?", (user,))
            owner[0] = rows[0][0] if rows else None

        self._write("taking the sync lock", take)
        if owner[0] != token:
            raise SyncInProgressError(f"a sync for {user!r} is already running", user=user)
        key = (user, threading.get_ident())
        self._held[key] = (token, seconds)
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(user, token, seconds, stop),
                                name=f"outlook-sync lease {user}", daemon=True)
        beat.start()
        try:
            yield
        except BaseException:
            self._run("rolling back", self._connection.rollback)
            raise
        finally:
            stop.set()
            self._held.pop(key, None)
            self._write(
                "releasing the sync lock",
                lambda: self._dialect.execute(
                    self._connection,
                    "DELETE FROM outlook_sync_locks WHERE user_name = ? AND owner = ?",
                    (user, token),
                ),
            )

    def _renew(self, user: str, token: str, seconds: float) -> bool:
        """Extend our lease inside the open write transaction; ``False`` if it is lost."""
        cursor = self._dialect.execute(
            self._connection,
            f"UPDATE outlook_sync_locks SET expires_at = {self._dialect.epoch_sql} + ?"
            " WHERE user_name = ? AND owner = ?",
            (seconds, user, token),
        )
        return bool(cursor.rowcount)

    def _heartbeat(self, user: str, token: str, seconds: float, stop: threading.Event) -> None:
        """Renew the lease every third of its time between commits, until ``stop``."""
        interval = max(seconds / 3.0, 0.05)
        while not stop.wait(interval):
            with self._mutex:
                if stop.is_set():
                    return
                try:
                    if self._dialect.in_transaction(self._connection):
                        continue  # a shared connection mid-transaction: its commit renews
                    self._dialect.begin(self._connection, write=True)
                    alive = self._renew(user, token, seconds)
                    self._connection.commit()
                except Exception:  # a missed beat is retried; every commit fences anyway
                    with contextlib.suppress(Exception):
                        self._connection.rollback()
                    continue
                if not alive:
                    return

    def lock_holder(self, user: str) -> tuple[str, dt.datetime] | None:
        """Who holds the user's sync lock (host and process) and until when.

        Raises:
            StateError: the lock table could not be read.
        """
        sql = (f"SELECT holder, expires_at - {self._dialect.epoch_sql} FROM outlook_sync_locks"
               f" WHERE user_name = ? AND expires_at > {self._dialect.epoch_sql}")
        rows = self._run("reading the sync lock", lambda: self._rows(sql, (user,)))
        if not rows:
            return None
        remaining = max(float(rows[0][1]), 0.0)
        return (str(rows[0][0] or "unknown holder"),
                dt.datetime.now(dt.UTC) + dt.timedelta(seconds=remaining))

    # -- reads -----------------------------------------------------------------------

    def links(
        self,
        user: str,
        *,
        saljstod_ids: Iterable[str] | None = None,
        outlook_ids: Iterable[str] | None = None,
    ) -> list[Link]:
        """Links touching any of the given ids; every link of the user when both are ``None``.

        Raises:
            StateError: the links could not be read or decoded.
        """

        def read() -> list[Link]:
            base = f"SELECT {_LINK_READ} FROM outlook_sync_links WHERE user_name = ?"
            if saljstod_ids is None and outlook_ids is None:
                return [_link(row) for row in self._rows(base + " ORDER BY saljstod_id", (user,))]
            found: dict[str, Link] = {}
            for column, ids in (("saljstod_id", saljstod_ids), ("outlook_id", outlook_ids)):
                wanted = sorted(set(ids or ()))
                for condition, params in self._dialect.id_list(column, wanted):
                    for row in self._rows(f"{base} AND {condition}", (user, *params)):
                        found.setdefault(row[0], _link(row))
            return [found[key] for key in sorted(found)]

        return self._run("reading links", read)

    def occurrence_links(self, user: str, side: Side, series_ids: Iterable[str]) -> list[Link]:
        """Links whose ``side`` id is an occurrence of one of ``series_ids``
        (``"<series id>::…"``), up to 100 series per query.

        SQLite compares text byte by byte, so each prefix is a range on the unique index;
        PostgreSQL may compare in a locale's order, where a range is not a prefix, so
        there the prefixes are compared as such in one pass over the user's ids (only
        the matching rows are decoded).

        Raises:
            StateError: the links could not be read or decoded.
        """
        column = "outlook_id" if side is Side.OUTLOOK else "saljstod_id"
        prefixes = [occurrence_prefix(series_id) for series_id in sorted(set(series_ids))]
        sqlite = self._dialect.name == "sqlite"
        term = f"({column} >= ? AND {column} < ?)" if sqlite else f"substr({column}, 1, ?) = ?"

        def params(prefix: str) -> tuple[Any, ...]:
            if sqlite:
                return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)
            return len(prefix), prefix

        def read() -> list[Link]:
            found: dict[str, Link] = {}
            for first in range(0, len(prefixes), 100):
                chunk = prefixes[first:first + 100]
                sql = (f"SELECT {_LINK_READ} FROM outlook_sync_links WHERE user_name = ?"
                       f" AND ({' OR '.join([term] * len(chunk))})")
                flat = [value for prefix in chunk for value in params(prefix)]
                for row in self._rows(sql, (user, *flat)):
                    found.setdefault(row[0], _link(row))
            return [found[key] for key in sorted(found)]

        return self._run("reading the links of series occurrences", read)

    def link_count(self, user: str) -> int:
        """How many links the user has (a trigger-kept count: no table scan)."""
        sql = "SELECT links FROM outlook_sync_link_counts WHERE user_name = ?"
        rows = self._run("counting links", lambda: self._rows(sql, (user,)))
        return int(rows[0][0]) if rows else 0

    def cursor(self, user: str, side: Side) -> Cursor:
        """The cursor stored for ``side`` (an initial cursor if none)."""
        sql = (
            "SELECT watermark, watermark_zone, token FROM outlook_sync_cursors"
            " WHERE user_name = ? AND side = ?"
        )
        rows = self._run("reading a cursor", lambda: self._rows(sql, (user, side.value)))
        if not rows:
            return Cursor()
        return Cursor(watermark=_datetime(rows[0][0], rows[0][1]), token=rows[0][2])

    def last_sync(self, user: str) -> dt.datetime | None:
        """The user-visible date and time of the last sync."""
        sql = "SELECT last_sync, last_sync_zone FROM outlook_sync_users WHERE user_name = ?"
        rows = self._run("reading the last sync", lambda: self._rows(sql, (user,)))
        return _datetime(rows[0][0], rows[0][1]) if rows else None

    def last_error(self, user: str) -> tuple[dt.datetime, str] | None:
        """When and why the last sync needed attention; ``None`` after a clean sync."""
        sql = ("SELECT last_error_at, last_error_zone, last_error FROM outlook_sync_users"
               " WHERE user_name = ?")
        rows = self._run("reading the last error", lambda: self._rows(sql, (user,)))
        if not rows or rows[0][2] is None:
            return None
        when = _datetime(rows[0][0], rows[0][1])
        return None if when is None else (when, str(rows[0][2]))

    def identity(self, user: str, side: Side) -> str | None:
        """The calendar identity the user's links on ``side`` were made with."""
        column = f"{side.value}_identity"
        sql = f"SELECT {column} FROM outlook_sync_users WHERE user_name = ?"
        rows = self._run("reading a calendar identity", lambda: self._rows(sql, (user,)))
        return None if not rows or rows[0][0] is None else str(rows[0][0])

    def generation(self, user: str) -> int:
        """The generation of the user's last commit that put links."""
        sql = "SELECT generation FROM outlook_sync_users WHERE user_name = ?"
        rows = self._run("reading the generation", lambda: self._rows(sql, (user,)))
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    def audit(self, user: str) -> list[tuple[dt.datetime, str]]:
        """The audit lines, oldest first."""
        sql = "SELECT at, at_zone, what FROM outlook_sync_audit WHERE user_name = ? ORDER BY seq"
        rows = self._run("reading the audit log", lambda: self._rows(sql, (user,)))
        return [(codec.decode_datetime(at, zone), str(what)) for at, zone, what in rows]

    # -- subscriptions (SubscriptionStore) -----------------------------------------

    def subscriptions(self, user: str) -> list[SubscriptionRecord]:
        """The user's push subscriptions, by id."""
        sql = ("SELECT subscription_id, resource, client_state, expires, expires_zone,"
               " notification_url FROM outlook_sync_subscriptions WHERE user_name = ?"
               " ORDER BY subscription_id")
        rows = self._run("reading subscriptions", lambda: self._rows(sql, (user,)))
        return [_subscription(row) for row in rows]

    def find_subscription(self, subscription_id: str) -> tuple[str, SubscriptionRecord] | None:
        """``(user, record)`` for a subscription id, or ``None``."""
        sql = ("SELECT subscription_id, resource, client_state, expires, expires_zone,"
               " notification_url, user_name FROM outlook_sync_subscriptions"
               " WHERE subscription_id = ?")
        rows = self._run("reading a subscription", lambda: self._rows(sql, (subscription_id,)))
        return (str(rows[0][6]), _subscription(rows[0])) if rows else None

    def save_subscription(self, user: str, record: SubscriptionRecord) -> None:
        """Insert or replace a subscription (by id)."""
        text, zone = codec.encode_datetime(record.expires)
        self._write(
            "saving a subscription",
            lambda: self._dialect.execute(
                self._connection,
                "INSERT INTO outlook_sync_subscriptions (subscription_id, user_name, resource,"
                " client_state, expires, expires_zone, notification_url)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subscription_id) DO UPDATE SET"
                " user_name = excluded.user_name, resource = excluded.resource,"
                " client_state = excluded.client_state, expires = excluded.expires,"
                " expires_zone = excluded.expires_zone,"
                " notification_url = excluded.notification_url",
                (record.subscription_id, user, record.resource, record.client_state, text,
                 zone, record.notification_url),
            ),
        )

    def drop_subscription(self, user: str, subscription_id: str) -> None:
        """Forget a subscription."""
        self._write(
            "dropping a subscription",
            lambda: self._dialect.execute(
                self._connection,
                "DELETE FROM outlook_sync_subscriptions WHERE user_name = ?"
                " AND subscription_id = ?",
                (user, subscription_id),
            ),
        )

    def _keys(self, table: str, user: str) -> list[tuple[Side, str]]:
        sql = f"SELECT side, item_id FROM {table} WHERE user_name = ? ORDER BY side, item_id"
        rows = self._run(f"reading {table}", lambda: self._rows(sql, (user,)))
        return [(_side(side), item_id) for side, item_id in rows]

    def pending(self, user: str) -> list[tuple[Side, str]]:
        """Items to re-examine next sync, by side and id."""
        return self._keys("outlook_sync_pending", user)

    def intents(self, user: str) -> list[tuple[Side, str]]:
        """Open create intents ``(target side, source id)``, by side and id."""
        return self._keys("outlook_sync_intents", user)

    def conflicts(self, user: str) -> list[Conflict]:
        """The conflict log, oldest first."""
        sql = "SELECT record FROM outlook_sync_conflicts WHERE user_name = ? ORDER BY seq"
        rows = self._run("reading conflicts", lambda: self._rows(sql, (user,)))
        return [codec.decode_conflict(codec.from_json(row[0])) for row in rows]

    def quarantine(self, user: str) -> list[Quarantined]:
        """Items set aside, in the order they were first quarantined."""
        sql = (
            "SELECT side, item_id, reason FROM outlook_sync_quarantine"
            " WHERE user_name = ? ORDER BY seq"
        )
        rows = self._run("reading the quarantine", lambda: self._rows(sql, (user,)))
        return [Quarantined(side=_side(s), item_id=i, reason=r) for s, i, r in rows]

    def deleted_items(self, user: str) -> list[DeletedItem]:
        """Items the sync deleted and can still restore, oldest first."""
        sql = (
            "SELECT side, item_id, event, partner_id, deleted_at, deleted_at_zone"
            " FROM outlook_sync_deleted WHERE user_name = ? ORDER BY seq"
        )
        rows = self._run("reading deleted items", lambda: self._rows(sql, (user,)))
        return [
            DeletedItem(
                side=_side(row[0]),
                item_id=row[1],
                event=codec.event_from_json(row[2]),
                partner_id=row[3],
                deleted_at=codec.decode_datetime(row[4], row[5]),
            )
            for row in rows
        ]

    # -- small writes ----------------------------------------------------------------

    def forget_deleted(self, user: str, side: Side, item_id: str) -> None:
        """Drop one entry of the deleted-items log (after a restore)."""
        self._write(
            "forgetting a deleted item",
            lambda: self._dialect.execute(
                self._connection,
                "DELETE FROM outlook_sync_deleted WHERE user_name = ? AND side = ? AND item_id = ?",
                (user, side.value, item_id),
            ),
        )

    def expire_deleted(self, user: str, before: dt.datetime) -> int:
        """Drop deleted-items entries older than ``before``; return how many."""
        count = [0]

        def expire() -> None:
            cursor = self._dialect.execute(
                self._connection,
                "DELETE FROM outlook_sync_deleted WHERE user_name = ? AND deleted_at_utc < ?",
                (user, _utc_key(before)),
            )
            count[0] = max(cursor.rowcount, 0)

        self._write("expiring deleted items", expire)
        return count[0]

    def clear_conflicts(self, user: str) -> None:
        """Empty the user's conflict log, leaving an audit line with the count."""

        def clear() -> None:
            cursor = self._dialect.execute(
                self._connection, "DELETE FROM outlook_sync_conflicts WHERE user_name = ?",
                (user,))
            at, zone = codec.encode_datetime(dt.datetime.now(dt.UTC))
            self._dialect.execute(
                self._connection,
                "INSERT INTO outlook_sync_audit (user_name, at, at_zone, what)"
                " VALUES (?, ?, ?, ?)",
                (user, at, zone, f"cleared {max(cursor.rowcount, 0)} conflict(s)"))

        self._write("clearing conflicts", clear)

    # -- the atomic commit -----------------------------------------------------------

    def commit(self, user: str, change: StateChange) -> None:
        """Apply ``change`` (and any shared calendar writes) in one transaction.

        Raises:
            StateError: the change would give an item two links, or the database
                failed; nothing was written.
        """
        self._write("committing sync state", lambda: self._apply(user, change))

    def _apply(self, user: str, change: StateChange) -> None:
        d, c = self._dialect, self._connection
        held = self._held.get((user, threading.get_ident()))
        if held is not None and not self._renew(user, *held):
            raise LeaseLostError(
                f"the sync lock for {user!r} was lost (it expired and may be held by another"
                " sync); this sync commits nothing more", user=user)
        if change.drop_all_links:
            d.execute(c, "DELETE FROM outlook_sync_links WHERE user_name = ?", (user,))
        d.executemany(
            c,
            "DELETE FROM outlook_sync_links"
            " WHERE user_name = ? AND saljstod_id = ? AND outlook_id = ?",
            [(user, s_id, o_id) for s_id, o_id in change.drop_links],
        )
        if change.put_links:
            rows = self._rows(
                "INSERT INTO outlook_sync_users (user_name, generation) VALUES (?, 1)"
                " ON CONFLICT (user_name) DO UPDATE"
                " SET generation = outlook_sync_users.generation + 1 RETURNING generation",
                (user,))
            self._put_links(user, change.put_links, int(rows[0][0]))
        self._apply_keys("outlook_sync_pending", user, change.clear_pending, change.add_pending)
        self._apply_keys("outlook_sync_intents", user, change.clear_intents, change.add_intents)
        d.executemany(
            c,
            "DELETE FROM outlook_sync_conflicts WHERE seq = (SELECT max(seq) FROM"
            " outlook_sync_conflicts WHERE user_name = ? AND record = ?)",
            [(user, codec.to_json(codec.encode_conflict(x))) for x in change.withdraw_conflicts],
        )
        d.executemany(
            c,
            "DELETE FROM outlook_sync_deleted WHERE user_name = ? AND side = ? AND item_id = ?",
            [(user, _SIDE_TEXT[side], item_id) for side, item_id in change.withdraw_deleted],
        )
        # a conflict written ahead of a write that failed is planned again, the same:
        # it is logged once
        records = dict.fromkeys(codec.to_json(codec.encode_conflict(x)) for x in change.conflicts)
        d.executemany(
            c,
            "INSERT INTO outlook_sync_conflicts (user_name, record) SELECT ?, ? WHERE NOT EXISTS"
            " (SELECT 1 FROM outlook_sync_conflicts WHERE user_name = ? AND record = ?)",
            [(user, record, user, record) for record in records],
        )
        self._apply_deleted(user, change.deleted)
        d.executemany(
            c,
            "DELETE FROM outlook_sync_quarantine WHERE user_name = ? AND side = ? AND item_id = ?",
            [(user, _SIDE_TEXT[side], item_id) for side, item_id in change.unquarantine],
        )
        d.executemany(
            c,
            "INSERT INTO outlook_sync_quarantine (user_name, side, item_id, reason)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (user_name, side, item_id)"
            " DO UPDATE SET reason = excluded.reason",
            [(user, _SIDE_TEXT[q.side], q.item_id, q.reason) for q in change.quarantine],
        )
        self._apply_cursors(user, change.cursors)
        if change.clear_last_sync or change.last_sync is not None:
            when = change.last_sync
            text, zone = (None, None) if when is None else codec.encode_datetime(when)
            d.execute(
                c,
                "INSERT INTO outlook_sync_users (user_name, last_sync, last_sync_zone)"
                " VALUES (?, ?, ?) ON CONFLICT (user_name) DO UPDATE"
                " SET last_sync = excluded.last_sync, last_sync_zone = excluded.last_sync_zone",
                (user, text, zone),
            )
        for side, identity in change.identities:
            column = f"{side.value}_identity"
            d.execute(
                c,
                f"INSERT INTO outlook_sync_users (user_name, {column}) VALUES (?, ?)"
                f" ON CONFLICT (user_name) DO UPDATE SET {column} = excluded.{column}",
                (user, identity),
            )
        if change.clear_last_error or change.last_error is not None:
            at, what = change.last_error or (None, None)
            at_text, at_zone = (None, None) if at is None else codec.encode_datetime(at)
            d.execute(
                c,
                "INSERT INTO outlook_sync_users (user_name, last_error, last_error_at,"
                " last_error_zone) VALUES (?, ?, ?, ?) ON CONFLICT (user_name) DO UPDATE"
                " SET last_error = excluded.last_error, last_error_at = excluded.last_error_at,"
                " last_error_zone = excluded.last_error_zone",
                (user, what, at_text, at_zone),
            )

    def _put_links(self, user: str, put: Sequence[Link], generation: int) -> None:
        """Insert or refresh links; refuse one that would give an item a second link.

        One upsert per link, no read: it refreshes a link only if it joins the same
        pair (``WHERE outlook_id = excluded.outlook_id``), so a Säljstöd item already
        linked elsewhere changes no row, and the unique ``outlook_id`` index rejects an
        Outlook item already linked elsewhere. Either way the whole commit rolls back.
        """
        by_s = {link.saljstod_id for link in put}
        by_o = {link.outlook_id for link in put}
        if len(by_s) != len(put) or len(by_o) != len(put):
            raise _LinkClash("the change links one item twice")
        named = ", ".join(f"{x.saljstod_id}<->{x.outlook_id}" for x in put[:5])
        clash = f"an item of the new link(s) {named} is already linked to another item"
        cursor = self._dialect.cursor(self._connection)
        try:
            if self._unnest and len(put) > 1:
                # one statement, one row per link in the arrays' order: the same upsert,
                # guard and count as the statement per link below
                gone = [x.gone for x in put]
                cursor.execute(
                    self._put_links_sql,
                    (
                        user,
                        generation,
                        [x.saljstod_id for x in put],
                        [x.outlook_id for x in put],
                        [_base_text(x) for x in put],
                        [x.saljstod_version for x in put],
                        [x.outlook_version for x in put],
                        [None if g is None else _SIDE_TEXT[g] for g in gone],
                    ),
                )
            else:
                rows = [_link_row(user, link, generation) for link in put]
                (cursor.execute if len(rows) == 1 else cursor.executemany)(
                    self._put_link_sql, rows[0] if len(rows) == 1 else rows
                )
        except self._dialect.integrity_errors() as exc:
            raise _LinkClash(f"{clash} (Outlook side)") from exc
        if cursor.rowcount != len(put):
            raise _LinkClash(f"{clash} (Säljstöd side)")

    def _apply_keys(
        self,
        table: str,
        user: str,
        clear: Sequence[tuple[Side, str]],
        add: Sequence[tuple[Side, str]],
    ) -> None:
        d, c = self._dialect, self._connection
        if self._unnest:
            # one statement each, whatever the number of keys (see ``_put_links``)
            # (psycopg's paramstyle; the arrays in binary, like the links')
            if len(clear) > 1:
                d.cursor(c).execute(
                    f"DELETE FROM {table} WHERE user_name = %s AND (side, item_id) IN"
                    " (SELECT * FROM unnest(%b::text[], %b::text[]))",
                    (user, [_SIDE_TEXT[side] for side, _ in clear], [i for _, i in clear]),
                )
                clear = ()
            if len(add) > 1:
                d.cursor(c).execute(
                    f"INSERT INTO {table} (user_name, side, item_id)"
                    " SELECT %s::text, * FROM unnest(%b::text[], %b::text[])"
                    " ON CONFLICT (user_name, side, item_id) DO NOTHING",
                    (user, [_SIDE_TEXT[side] for side, _ in add], [i for _, i in add]),
                )
                add = ()
        d.executemany(
            c,
            f"DELETE FROM {table} WHERE user_name = ? AND side = ? AND item_id = ?",
            [(user, _SIDE_TEXT[side], item_id) for side, item_id in clear],
        )
        d.executemany(
            c,
            f"INSERT INTO {table} (user_name, side, item_id) VALUES (?, ?, ?)"
            " ON CONFLICT (user_name, side, item_id) DO NOTHING",
            [(user, _SIDE_TEXT[side], item_id) for side, item_id in add],
        )

    def _apply_deleted(self, user: str, deleted: Sequence[DeletedItem]) -> None:
        rows = []
        for entry in deleted:
            text, zone = codec.encode_datetime(entry.deleted_at)
            rows.append(
                (
                    user,
                    entry.side.value,
                    entry.item_id,
                    entry.partner_id,
                    codec.event_to_json(entry.event),
                    text,
                    zone,
                    _utc_key(entry.deleted_at),
                )
            )
        self._dialect.executemany(
            self._connection,
            "INSERT INTO outlook_sync_deleted (user_name, side, item_id, partner_id, event,"
            " deleted_at, deleted_at_zone, deleted_at_utc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (user_name, side, item_id) DO UPDATE SET"
            " partner_id = excluded.partner_id, event = excluded.event,"
            " deleted_at = excluded.deleted_at, deleted_at_zone = excluded.deleted_at_zone,"
            " deleted_at_utc = excluded.deleted_at_utc",
            rows,
        )

    def _apply_cursors(self, user: str, cursors: Sequence[tuple[Side, Cursor]]) -> None:
        rows = []
        for side, cursor in cursors:
            text, zone = (
                (None, None)
                if cursor.watermark is None
                else codec.encode_datetime(cursor.watermark)
            )
            rows.append((user, side.value, text, zone, cursor.token))
        self._dialect.executemany(
            self._connection,
            "INSERT INTO outlook_sync_cursors (user_name, side, watermark, watermark_zone, token)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_name, side) DO UPDATE SET"
            " watermark = excluded.watermark, watermark_zone = excluded.watermark_zone,"
            " token = excluded.token",
            rows,
        )


def _subscription(row: Sequence[Any]) -> SubscriptionRecord:
    return SubscriptionRecord(
        subscription_id=str(row[0]),
        resource=str(row[1]),
        client_state=str(row[2]),
        expires=codec.decode_datetime(row[3], row[4]),
        notification_url=str(row[5]),
    )


class _LinkClash(StateError):
    """A commit would give an item two links (raised inside the transaction)."""


def migrate_schema(connection: Any, dialect: Dialect) -> int:
    """Apply the state store's migrations on ``connection``; return the schema version.

    Raises:
        StateError: the upgrade failed; nothing changed.
        SchemaVersionError: the database is newer than this library.
    """
    return migrate(connection, dialect, schema.COMPONENT, schema.MIGRATIONS)
