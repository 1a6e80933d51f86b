"""Shared pytest fixtures.

Real databases:

- ``pg_dsn`` (session): a DSN for a real PostgreSQL. Taken from ``$OUTLOOK_SYNC_PG_DSN``
  if set; otherwise the suite starts a throwaway cluster
  (:class:`outlook_sync.testing.postgres.PostgresCluster`) when the server binaries are
  installed. With neither, PostgreSQL tests are skipped -- except under ``CI=true``,
  where a missing server is a failure.
- ``sql_db`` (function, parametrised ``sqlite`` / ``postgresql``): an empty database for
  one test (a SQLite file, or a fresh PostgreSQL schema), with ``connect()`` to open as
  many connections to it as the test needs (sync, host application, other users).
- ``host`` (function, on ``sql_db``): the reference Säljstöd schema, and a :class:`Host`
  that acts as the Säljstöd application does -- plain SQL on its own connection.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import importlib.util
import os
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from outlook_sync.adapters.sql import upgrade
from outlook_sync.adapters.sql.dialect import Dialect, dialect_for

PG_DSN_ENV = "OUTLOOK_SYNC_PG_DSN"


def missing(reason: str) -> NoReturn:
    """Skip for ``reason`` -- or fail under ``CI=true``, where everything is installed
    (read when called, so a test can set it)."""
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"required under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def require(module: str) -> Any:
    """``pytest.importorskip`` that fails under ``CI=true`` instead of skipping."""
    try:
        return importlib.import_module(module)
    except ImportError:
        missing(f"{module} is not installed")


def require_extra(extra: str, *modules: str) -> None:
    """At the top of a test module: skip the whole module when one of ``modules`` is not
    installed -- or, under ``CI=true``, fail its collection."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            if os.environ.get("CI", "").strip().lower() == "true":  # CI: missing is a failure
                raise ImportError(f"{module} is required under CI=true: pip install "
                                  f"'outlook_sync[{extra}]'")
            pytest.skip(f"{module} is not installed (pip install 'outlook_sync[{extra}]')",
                        allow_module_level=True)


def _missing_server(reason: str) -> None:
    missing(f"PostgreSQL: {reason}")


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A DSN for a real PostgreSQL server (env, or a throwaway cluster started here)."""
    from_env = os.environ.get(PG_DSN_ENV)
    if from_env:
        yield from_env
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _missing_server("psycopg is not installed (pip install 'outlook_sync[postgres]')")
    from outlook_sync.testing.postgres import PostgresCluster, PostgresClusterError, find_bin_dir

    if find_bin_dir() is None:
        _missing_server(f"no PostgreSQL server binaries and no ${PG_DSN_ENV}")
    cluster = PostgresCluster()
    try:
        cluster.start()
    except PostgresClusterError as exc:
        _missing_server(f"the throwaway PostgreSQL cluster did not start: {exc}")
    try:
        yield cluster.dsn
    finally:
        cluster.stop()


class SqlDatabase:
    """One empty test database; ``connect()`` opens connections to it."""

    def __init__(self, name: str, *, path: Path | None = None, dsn: str = "", schema: str = ""):
        self.name = name
        self._path = path
        self._dsn = dsn
        self.schema = schema
        self._connections: list[Any] = []

    def __repr__(self) -> str:
        return f"SqlDatabase({self.name!r})"

    @property
    def dialect(self) -> Dialect:
        return dialect_for(None, self.name)

    def connect(self) -> Any:
        """A new DB-API connection (closed at the end of the test)."""
        connection: Any
        if self.name == "sqlite":
            connection = sqlite3.connect(self._path or ":memory:", timeout=30)
        else:
            import psycopg

            connection = psycopg.connect(self._dsn, options=f"-c search_path={self.schema}")
        self._connections.append(connection)
        return connection

    def close(self) -> None:
        for connection in reversed(self._connections):
            with contextlib.suppress(Exception):  # a test may have closed it already
                connection.rollback()
            connection.close()


@contextlib.contextmanager
def open_database(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[SqlDatabase]:
    """An empty database of ``kind`` ("sqlite" or "postgresql"; a fresh schema per use
    on PostgreSQL), for fixtures parametrized by dialect."""
    if kind == "sqlite":
        database = SqlDatabase("sqlite", path=tmp_path / "saljstod.db")
        try:
            yield database
        finally:
            database.close()
        return
    import psycopg

    dsn = request.getfixturevalue("pg_dsn")
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    database = SqlDatabase("postgresql", dsn=dsn, schema=schema)
    try:
        yield database
    finally:
        database.close()
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def schema_dsn(pg_dsn: str) -> Iterator[str]:
    """The throwaway cluster's DSN in a schema of its own, named (``application_name``)
    so that a test can find its own connections (server mode's in-process tests)."""
    import psycopg

    schema = f"srv_{secrets.token_hex(5)}"
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    yield f"{pg_dsn} application_name={schema} options='-c search_path={schema}'"
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def sql_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlDatabase]:
    """An empty database of each dialect (a fresh schema per test on PostgreSQL)."""
    with open_database(request.param, request, tmp_path) as database:
        yield database


#: A Monday morning meeting, the default activity the host books.
MONDAY_9 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
HOUR = dt.timedelta(hours=1)


class Host:
    """The Säljstöd application: plain SQL on its own connection, committed at once."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db
        self.c = db.connect()
        self.d = db.dialect

    def ts(self, value: dt.datetime | dt.date | None) -> Any:
        """A timestamp as the reference schema stores it in this dialect."""
        if self.db.name == "sqlite" and value is not None:
            return value.isoformat()
        return value

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        cursor = self.d.execute(self.c, sql, params)
        rows = cursor.fetchall() if cursor.description else []
        self.c.commit()
        return list(rows)

    def book(
        self,
        subject: str = "Kundmöte",
        start: dt.datetime | None = MONDAY_9,
        end: dt.datetime | None = MONDAY_9 + HOUR,
        *,
        users: tuple[str, ...] = ("anna",),
        by: str = "bertil",
        **columns: Any,
    ) -> str:
        """Insert an activity on ``users``' calendars; return its id."""
        values = {
            "subject": subject,
            "starts_at": self.ts(start),
            "ends_at": self.ts(end),
            "created_by": by,
            **columns,
        }
        names = ", ".join(values)
        marks = ", ".join("?" * len(values))
        new_id = self.run(
            f"INSERT INTO activities ({names}) VALUES ({marks}) RETURNING id",
            tuple(values.values()),
        )[0][0]
        for user in users:
            self.add(str(new_id), user)
        return str(new_id)

    def add(self, activity_id: str, user: str) -> None:
        """Put an existing activity on ``user``'s calendar too."""
        self.run(
            "INSERT INTO activity_participants (activity_id, user_id) VALUES (?, ?)",
            (int(activity_id), user),
        )

    def edit(self, activity_id: str, **columns: Any) -> None:
        sets = ", ".join(f"{name} = ?" for name in columns)
        self.run(
            f"UPDATE activities SET {sets} WHERE id = ?", (*columns.values(), int(activity_id))
        )

    def delete(self, activity_id: str) -> None:
        """A hard delete, as the host application does it."""
        self.run("DELETE FROM activities WHERE id = ?", (int(activity_id),))

    def row(self, activity_id: str, *columns: str) -> tuple[Any, ...]:
        rows = self.run(
            f"SELECT {', '.join(columns)} FROM activities WHERE id = ?", (int(activity_id),)
        )
        return tuple(rows[0]) if rows else ()

    def subjects(self, user: str) -> list[str]:
        """The subjects on ``user``'s calendar, sorted."""
        rows = self.run(
            "SELECT a.subject FROM activities a JOIN activity_participants p"
            " ON p.activity_id = a.id WHERE p.user_id = ? ORDER BY a.subject",
            (user,),
        )
        return [row[0] for row in rows]


@pytest.fixture
def host(sql_db: SqlDatabase) -> Host:
    """The reference schema on ``sql_db``, and the Säljstöd application using it."""
    upgrade(sql_db.connect())
    return Host(sql_db)
