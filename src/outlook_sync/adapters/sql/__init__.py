"""The SQL Säljstöd adapter: activities in SQLite (stdlib) or PostgreSQL (psycopg 3).

- :class:`SqlCalendar` -- one user's activities, as a :class:`~outlook_sync.Calendar`.
- :class:`SqlMapping` -- table and column names of an existing host schema.
- :class:`Flag`, :class:`ColumnCodec` -- per-column conversions for a host's own types.
- :func:`upgrade` -- create or upgrade the shipped schemas (``outlook-sync db upgrade``).

The SQL plumbing shared with the SQL state store (dialects, connecting, migrations)
lives in :mod:`outlook_sync.sql`; the names that used to live here are re-exported.
psycopg is imported only when a PostgreSQL connection is used.
"""

from __future__ import annotations

from typing import Any

from outlook_sync.adapters.sql import schema
from outlook_sync.adapters.sql.calendar import (
    DEFAULT_BUSY_TIMEOUT,
    DEFAULT_KEEP_ARCHIVED,
    DEFAULT_LOOKBACK,
    SqlCalendar,
)
from outlook_sync.adapters.sql.mapping import (
    ActivityColumns,
    ColumnCodec,
    DeletionLog,
    Flag,
    ParticipantColumns,
    SoftDelete,
    SqlMapping,
)
from outlook_sync.sql import state_schema
from outlook_sync.sql.dialect import Dialect, dialect_for
from outlook_sync.sql.migrations import migrate, schema_version

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "DEFAULT_KEEP_ARCHIVED",
    "DEFAULT_LOOKBACK",
    "ActivityColumns",
    "ColumnCodec",
    "DeletionLog",
    "Flag",
    "ParticipantColumns",
    "SoftDelete",
    "SqlCalendar",
    "SqlMapping",
    "schema_version",
    "upgrade",
]


def upgrade(
    connection: Any,
    *,
    dialect: str | Dialect | None = None,
    state: bool = True,
    reference_schema: bool = True,
    archive: bool = False,
) -> dict[str, int]:
    """Create or upgrade outlook_sync's tables on ``connection``; commit.

    Args:
        connection: an open ``sqlite3`` or psycopg 3 connection.
        dialect: ``"sqlite"`` or ``"postgresql"``; detected if omitted.
        state: apply the state store's tables (``outlook_sync_*``).
        reference_schema: apply the reference activity schema (``activities``,
            ``activity_participants``, ``activity_deletions``). Leave it out when the
            host application has its own tables (see :class:`SqlMapping`).
        archive: apply the adapter's archive table (``outlook_sync_activity_archive``)
            on its own: it keeps deleted activities' full rows so that restore brings
            back the same activity with every host column. Pass it with
            ``reference_schema=False`` for a host schema; the reference schema has it.

    Returns:
        The schema version of each component applied, e.g.
        ``{"state": 3, "saljstod": 3}``.

    Raises:
        SchemaVersionError: the database was written by a newer outlook_sync.
        StateError: a migration failed; that component is unchanged.
    """
    chosen = dialect_for(connection, dialect)
    versions: dict[str, int] = {}
    if state:
        versions[state_schema.COMPONENT] = migrate(
            connection, chosen, state_schema.COMPONENT, state_schema.MIGRATIONS
        )
    if reference_schema:
        versions[schema.COMPONENT] = migrate(
            connection, chosen, schema.COMPONENT, schema.MIGRATIONS
        )
    if archive:
        versions[schema.ARCHIVE_COMPONENT] = migrate(
            connection, chosen, schema.ARCHIVE_COMPONENT, schema.ARCHIVE_MIGRATIONS
        )
    return versions
