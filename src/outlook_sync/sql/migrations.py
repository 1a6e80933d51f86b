"""Versioned schema migrations for the tables outlook_sync ships.

Theory of operation
-------------------
Each *component* (``"state"``: the sync's own tables; ``"saljstod"``: the reference
Säljstöd activity schema) has an ordered tuple of :class:`Migration` steps, numbered from
1. The table ``outlook_sync_schema`` records, per component, the last step applied.
:func:`migrate` applies the missing steps and the new version number in ONE transaction
(both SQLite and PostgreSQL have transactional DDL), so a failed upgrade leaves the
previous schema intact. Concurrent upgrades are serialised: SQLite by ``BEGIN
IMMEDIATE``, PostgreSQL by a transaction-scoped advisory lock.

A database whose recorded version is newer than this library knows raises
:class:`~outlook_sync.errors.SchemaVersionError` and is left untouched: an older
outlook_sync must not write into a schema it does not understand.

Migrations are never edited once released; a change is a new step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from outlook_sync.errors import SchemaVersionError, StateError
from outlook_sync.sql.dialect import Dialect, redact

__all__ = ["SCHEMA_TABLE", "Migration", "migrate", "schema_version"]

#: The table that records the applied version of every component.
SCHEMA_TABLE = "outlook_sync_schema"
#: Key for ``pg_advisory_xact_lock``: serialises concurrent upgrades on PostgreSQL.
_ADVISORY_KEY = 0x6F75746C6F6F6B  # "outlook"


@attrs.frozen(kw_only=True)
class Migration:
    """One schema step: per dialect name, the statements to run, in order."""

    version: int
    description: str
    statements: Mapping[str, Sequence[str]]


def _ensure_table(connection: Any, dialect: Dialect) -> None:
    dialect.execute(
        connection,
        f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} ("
        " component TEXT PRIMARY KEY,"
        " version INTEGER NOT NULL,"
        " description TEXT NOT NULL)",
    )


def _read_version(connection: Any, dialect: Dialect, component: str) -> int:
    row = dialect.execute(
        connection, f"SELECT version FROM {SCHEMA_TABLE} WHERE component = ?", (component,)
    ).fetchone()
    return 0 if row is None else int(row[0])


def _table_exists(connection: Any, dialect: Dialect) -> bool:
    if dialect.name == "sqlite":
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    else:
        sql = (
            "SELECT 1 FROM pg_catalog.pg_tables"
            " WHERE tablename = ? AND schemaname = ANY(current_schemas(false))"
        )
    return dialect.execute(connection, sql, (SCHEMA_TABLE,)).fetchone() is not None


def schema_version(connection: Any, dialect: Dialect, component: str) -> int:
    """The applied version of ``component`` (0 when never applied). Reads only."""
    if not _table_exists(connection, dialect):
        return 0
    return _read_version(connection, dialect, component)


def migrate(
    connection: Any, dialect: Dialect, component: str, migrations: Sequence[Migration]
) -> int:
    """Apply the missing ``migrations`` of ``component`` and commit; return the version.

    The connection's open transaction, if any, is committed with the upgrade.

    Raises:
        SchemaVersionError: the database holds a newer version than ``migrations`` know.
        StateError: a statement failed; nothing was changed.
    """
    latest = migrations[-1].version if migrations else 0
    if [m.version for m in migrations] != list(range(1, latest + 1)):
        raise ValueError(f"{component} migrations must be numbered 1..n without gaps")
    errors = dialect.driver_errors()
    try:
        dialect.begin(connection, write=True)
        if dialect.name == "postgresql":
            dialect.execute(connection, "SELECT pg_advisory_xact_lock(?)", (_ADVISORY_KEY,))
        _ensure_table(connection, dialect)
        current = _read_version(connection, dialect, component)
        if current > latest:
            raise SchemaVersionError(
                f"the database holds {component} schema version {current}; this version "
                f"of outlook_sync knows up to {latest}: upgrade outlook_sync"
            )
        for step in migrations[current:]:
            for statement in step.statements[dialect.name]:
                dialect.execute(connection, statement)
        if latest > current:
            dialect.execute(
                connection,
                f"INSERT INTO {SCHEMA_TABLE} (component, version, description)"
                " VALUES (?, ?, ?) ON CONFLICT (component) DO UPDATE"
                " SET version = excluded.version, description = excluded.description",
                (component, latest, migrations[-1].description),
            )
        connection.commit()
    except SchemaVersionError:
        connection.rollback()
        raise
    except errors as exc:
        connection.rollback()
        raise StateError(
            f"applying the {component} schema failed; nothing changed: "
            f"{type(exc).__name__}: {redact(str(exc))}"
        ) from exc
    return latest
