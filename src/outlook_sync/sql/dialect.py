"""What differs between the SQL databases outlook_sync talks to, in one place.

Theory of operation
-------------------
Everything SQL in outlook_sync (the :class:`~outlook_sync.adapters.sql.SqlCalendar`
adapter and the SQL state store) is written once, with ``?`` placeholders and
identifiers passed through :func:`quote`. A :class:`Dialect` turns that text into what
the driver wants and supplies the few expressions that differ:

=====================  ==================================  ===============================
                       SQLite (stdlib ``sqlite3``)          PostgreSQL (psycopg 3)
=====================  ==================================  ===============================
placeholders           ``?`` (qmark)                        ``%s`` (``%`` escaped)
server time            ``strftime(...'now')`` as ISO text   ``clock_timestamp()``
timestamp column       ISO-8601 UTC text, millisecond       ``timestamptz``
epoch seconds          from ``julianday('now')``            ``extract(epoch ...)::float8``
opening a write        ``BEGIN IMMEDIATE`` (no lock         psycopg opens the transaction;
                       upgrade deadlocks in WAL)             ``BEGIN`` only in autocommit
id lists               chunks of ``IN (?, ...)``            ``= ANY(?)`` with one array
=====================  ==================================  ===============================

Values always travel as parameters, never inside the SQL text. Identifiers (table and
column names, which may come from an integrator's mapping) are checked to be plain
identifiers and double-quoted; anything else is a
:class:`~outlook_sync.errors.ConfigurationError`.

psycopg is imported lazily, only when a PostgreSQL connection is actually used, so that
``import outlook_sync`` works without the ``[postgres]`` extra.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from outlook_sync.errors import ConfigurationError
from outlook_sync.sql.connect import redact

__all__ = [
    "Dialect",
    "PostgresDialect",
    "SqliteDialect",
    "dialect_for",
    "quote",
    "redact",
    "validate_identifier",
]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: PostgreSQL truncates identifiers at 63 bytes; refusing longer ones avoids surprises.
MAX_IDENTIFIER_LENGTH = 63

def validate_identifier(name: object, *, key: str) -> str:
    """Return ``name`` if it is a plain SQL identifier, else raise.

    A plain identifier is ASCII letters, digits and underscores, not starting with a
    digit, at most 63 characters. Quoting makes reserved words safe; refusing
    everything else makes injection through a mapping impossible.

    Raises:
        ConfigurationError: ``name`` is not a plain identifier; ``key`` names the setting.
    """
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ConfigurationError(
            f"{key} must be a plain SQL identifier (letters, digits, _), got {name!r}",
            key=key,
        )
    if len(name) > MAX_IDENTIFIER_LENGTH:
        raise ConfigurationError(
            f"{key} is longer than {MAX_IDENTIFIER_LENGTH} characters", key=key
        )
    return name


def quote(name: str) -> str:
    """The double-quoted form of a validated identifier.

    Raises:
        ConfigurationError: ``name`` is not a plain identifier.
    """
    return '"' + validate_identifier(name, key="identifier") + '"'


class Dialect:
    """The per-database differences; see the module docstring for the table."""

    #: ``"sqlite"`` or ``"postgresql"``.
    name: str = ""
    #: SQL for the server's current time, in the dialect's timestamp representation.
    now_sql: str = ""
    #: SQL for the server's current time as float seconds since the epoch.
    epoch_sql: str = ""
    #: SQL types used by the shipped schemas.
    timestamp_type: str = ""
    #: Longest id list bound into one statement.
    chunk_size: int = 500

    def sql(self, text: str) -> str:
        """Rewrite ``?`` placeholders into the driver's paramstyle."""
        return text

    def unlikely(self, condition: str) -> str:
        """``condition``, marked as rarely true where the planner takes such hints."""
        return condition

    def cursor(self, connection: Any) -> Any:
        """A cursor yielding plain tuples, whatever the connection's row factory."""
        return connection.cursor()

    def execute(self, connection: Any, text: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; return its cursor."""
        cursor = self.cursor(connection)
        cursor.execute(self.sql(text), tuple(params))
        return cursor

    def executemany(self, connection: Any, text: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for many parameter rows."""
        rows = [tuple(row) for row in rows]
        if len(rows) == 1:  # one round trip, without a pipeline's set-up (psycopg)
            self.cursor(connection).execute(self.sql(text), rows[0])
        elif rows:
            self.cursor(connection).executemany(self.sql(text), rows)

    def in_transaction(self, connection: Any) -> bool:
        """Whether the connection has an open transaction."""
        raise NotImplementedError

    def begin(self, connection: Any, *, write: bool) -> None:
        """Make sure a transaction is open (so savepoints nest inside it)."""
        raise NotImplementedError

    def timestamp_param(self, value: dt.datetime) -> Any:
        """``value`` as a parameter comparable with the dialect's timestamp columns.

        SQLite keeps ISO text at millisecond precision; the value is truncated (never
        rounded up), so an inclusive ``>=`` comparison stays inclusive.
        """
        return value

    def timestamp_value(self, raw: Any) -> dt.datetime:
        """A timestamp read from the database, as an aware datetime.

        Raises:
            ValueError: ``raw`` is not a timestamp.
        """
        if isinstance(raw, dt.datetime) and raw.tzinfo is not None:
            return raw
        raise ValueError(f"not an aware timestamp: {raw!r}")

    def id_list(self, column: str, ids: Sequence[Any]) -> Iterator[tuple[str, tuple[Any, ...]]]:
        """``(condition, params)`` pairs that together select ``column`` in ``ids``."""
        for start in range(0, len(ids), self.chunk_size):
            chunk = tuple(ids[start : start + self.chunk_size])
            yield f"{column} IN ({', '.join('?' * len(chunk))})", chunk

    @contextlib.contextmanager
    def savepoint(self, connection: Any, name: str = "outlook_sync_write") -> Iterator[None]:
        """Run the block inside a savepoint of the current transaction.

        On an exception only the block's writes are undone; earlier uncommitted work on
        the connection (a shared transaction) survives.
        """
        self.begin(connection, write=True)
        self.execute(connection, f"SAVEPOINT {quote(name)}")
        try:
            yield
        except BaseException:
            self.execute(connection, f"ROLLBACK TO SAVEPOINT {quote(name)}")
            self.execute(connection, f"RELEASE SAVEPOINT {quote(name)}")
            raise
        self.execute(connection, f"RELEASE SAVEPOINT {quote(name)}")

    def driver_errors(self) -> tuple[type[BaseException], ...]:
        """The driver's exception base classes (what adapters translate)."""
        raise NotImplementedError

    def is_unavailable(self, exc: BaseException) -> bool:
        """Whether ``exc`` means "cannot talk to the database" rather than "bad statement"."""
        raise NotImplementedError

    def integrity_errors(self) -> tuple[type[BaseException], ...]:
        """The driver's constraint-violation exceptions."""
        raise NotImplementedError

    def is_busy(self, exc: BaseException) -> bool:
        """Whether ``exc`` means "another transaction holds the lock past our wait"."""
        raise NotImplementedError

    def is_permission_denied(self, exc: BaseException) -> bool:
        """Whether ``exc`` means "this login may not write (or read) that"."""
        raise NotImplementedError

    def set_lock_wait(self, connection: Any, seconds: float) -> None:
        """Bound how long a statement on ``connection`` waits for another's lock."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


_SQLITE_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"


class SqliteDialect(Dialect):
    """The stdlib ``sqlite3`` driver (SQLite 3.35 or newer, for ``RETURNING``)."""

    name = "sqlite"
    now_sql = _SQLITE_NOW
    epoch_sql = "((julianday('now') - 2440587.5) * 86400.0)"
    timestamp_type = "TEXT"
    chunk_size = 500

    def in_transaction(self, connection: Any) -> bool:
        return bool(connection.in_transaction)

    def unlikely(self, condition: str) -> str:
        # Without it, statistics gathered while most rows matched (ANALYZE before the
        # first sync) make SQLite scan the table instead of using the index.
        return f"unlikely({condition})"

    def begin(self, connection: Any, *, write: bool) -> None:
        if not connection.in_transaction:
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def timestamp_param(self, value: dt.datetime) -> Any:
        utc = value.astimezone(dt.UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"

    def timestamp_value(self, raw: Any) -> dt.datetime:
        if isinstance(raw, str):
            value = dt.datetime.fromisoformat(raw)
            if value.tzinfo is not None:
                return value
        raise ValueError(f"not an ISO timestamp with offset: {raw!r}")

    def driver_errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)

    def integrity_errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.IntegrityError,)

    def is_unavailable(self, exc: BaseException) -> bool:
        if isinstance(exc, sqlite3.ProgrammingError):
            return "closed" in str(exc)
        return isinstance(exc, sqlite3.OperationalError) and any(
            word in str(exc) for word in ("locked", "busy", "unable to open", "disk I/O")
        )

    def is_busy(self, exc: BaseException) -> bool:
        name = str(getattr(exc, "sqlite_errorname", ""))
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return True
        return isinstance(exc, sqlite3.OperationalError) and (
            "database is locked" in str(exc) or "database table is locked" in str(exc)
        )

    def is_permission_denied(self, exc: BaseException) -> bool:
        name = str(getattr(exc, "sqlite_errorname", ""))
        if name.startswith(("SQLITE_READONLY", "SQLITE_AUTH", "SQLITE_PERM")):
            return True
        text = str(exc)
        return "readonly database" in text or "not authorized" in text

    def set_lock_wait(self, connection: Any, seconds: float) -> None:
        # connection-wide and not transactional: the busy handler's total wait
        connection.execute(f"PRAGMA busy_timeout = {max(0, round(seconds * 1000))}")


class PostgresDialect(Dialect):
    """PostgreSQL through psycopg 3 (the ``[postgres]`` extra)."""

    name = "postgresql"
    now_sql = "clock_timestamp()"
    epoch_sql = "extract(epoch from clock_timestamp())::float8"
    timestamp_type = "timestamptz"
    chunk_size = 10_000

    def sql(self, text: str) -> str:
        return text.replace("%", "%%").replace("?", "%s")

    def cursor(self, connection: Any) -> Any:
        from psycopg.rows import tuple_row  # optional dependency: imported lazily

        return connection.cursor(row_factory=tuple_row)

    def in_transaction(self, connection: Any) -> bool:
        from psycopg.pq import TransactionStatus

        return bool(connection.info.transaction_status != TransactionStatus.IDLE)

    def begin(self, connection: Any, *, write: bool) -> None:
        if connection.autocommit and not self.in_transaction(connection):
            connection.execute("BEGIN")

    def id_list(self, column: str, ids: Sequence[Any]) -> Iterator[tuple[str, tuple[Any, ...]]]:
        for start in range(0, len(ids), self.chunk_size):
            yield f"{column} = ANY(?)", (list(ids[start : start + self.chunk_size]),)

    def driver_errors(self) -> tuple[type[BaseException], ...]:
        import psycopg

        return (psycopg.Error,)

    def integrity_errors(self) -> tuple[type[BaseException], ...]:
        import psycopg

        return (psycopg.IntegrityError,)

    def is_unavailable(self, exc: BaseException) -> bool:
        import psycopg

        if self.is_busy(exc) or self.is_permission_denied(exc):
            return False
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)

    def is_busy(self, exc: BaseException) -> bool:
        from psycopg import errors

        return isinstance(exc, errors.LockNotAvailable)

    def is_permission_denied(self, exc: BaseException) -> bool:
        from psycopg import errors

        return isinstance(exc, errors.InsufficientPrivilege | errors.ReadOnlySqlTransaction)

    def set_lock_wait(self, connection: Any, seconds: float) -> None:
        # session-wide (is_local false); kept when the current transaction commits
        self.execute(
            connection,
            "SELECT set_config('lock_timeout', ?, false)",
            (f"{max(1, round(seconds * 1000))}ms",),
        )


def dialect_for(connection: Any, name: str | Dialect | None = None) -> Dialect:
    """The dialect for a DB-API connection, by explicit ``name`` or by the driver's module.

    Raises:
        ConfigurationError: the name or the connection's driver is not supported.
    """
    if isinstance(name, Dialect):
        return name
    if name is None:
        module = type(connection).__module__.split(".")[0]
        name = {"sqlite3": "sqlite", "psycopg": "postgresql"}.get(module, module)
    if name == "sqlite":
        return SqliteDialect()
    if name in ("postgresql", "postgres"):
        return PostgresDialect()
    raise ConfigurationError(
        f"unsupported SQL dialect {name!r}; use 'sqlite' or 'postgresql'", key="dialect"
    )
