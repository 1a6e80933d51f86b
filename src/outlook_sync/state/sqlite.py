"""``SqliteStateStore``: the embedded default state store, one SQLite file.

A thin layer over :class:`~outlook_sync.state.sql.SqlStateStore` that opens the file
itself, in WAL mode (readers never block the writer; a crash never leaves a half-written
change), with ``synchronous=NORMAL`` (durable at every checkpoint, atomic always) and a
busy timeout so that a second process waits briefly for the write lock instead of
failing at once.
"""

from __future__ import annotations

import os
import sqlite3
import time

from outlook_sync.errors import BusyError, StateError
from outlook_sync.state.sql.store import SqlStateStore

__all__ = ["SqliteStateStore"]

#: How long a writer waits for another process's write transaction, in seconds.
BUSY_TIMEOUT_SECONDS = 30.0


class SqliteStateStore(SqlStateStore):
    """Sync state in a SQLite database file (or ``":memory:"``).

    Args:
        path: the database file (created if missing), or ``":memory:"``.

    Raises:
        StateError: the file cannot be opened or is not a SQLite database.
        BusyError: another process held the new file past the busy timeout.
        SchemaVersionError: the file was written by a newer outlook_sync.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = os.fspath(path)
        try:
            connection = sqlite3.connect(
                self._path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
            _use_wal(connection, self._path)
            connection.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise StateError(f"cannot open the state database {self._path!r}: {exc}") from exc
        super().__init__(connection, dialect="sqlite", close_connection=True, label=self._path)

    @property
    def path(self) -> str:
        """The database file (``":memory:"`` for an in-memory store)."""
        return self._path

    def __repr__(self) -> str:
        return f"SqliteStateStore({self._path!r})"


def _use_wal(connection: sqlite3.Connection, path: str) -> None:
    """Switch the file to WAL mode, waiting for another process that is creating it.

    Changing the journal mode needs the file to itself, and SQLite answers "database is
    locked" at once instead of running the busy handler; two processes opening a new
    state file together would otherwise fail. Retried up to the busy timeout.

    Raises:
        BusyError: the file stayed locked for the whole busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise BusyError(f"the state database {path!r} stayed locked by another "
                                "process; try again") from exc
            time.sleep(0.02)
