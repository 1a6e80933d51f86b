"""Moved to :mod:`outlook_sync.sql.migrations` (shared with the SQL state store); re-exported."""

from outlook_sync.sql.migrations import SCHEMA_TABLE, Migration, migrate, schema_version

__all__ = ["SCHEMA_TABLE", "Migration", "migrate", "schema_version"]
