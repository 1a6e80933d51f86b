"""Moved to :mod:`outlook_sync.sql.dialect` (shared with the SQL state store); re-exported."""

from outlook_sync.sql.dialect import (
    MAX_IDENTIFIER_LENGTH,
    Dialect,
    PostgresDialect,
    SqliteDialect,
    dialect_for,
    quote,
    redact,
    validate_identifier,
)

__all__ = [
    "MAX_IDENTIFIER_LENGTH",
    "Dialect",
    "PostgresDialect",
    "SqliteDialect",
    "dialect_for",
    "quote",
    "redact",
    "validate_identifier",
]
