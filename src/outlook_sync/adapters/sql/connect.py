"""Moved to :mod:`outlook_sync.sql.connect` (shared with the SQL state store); re-exported."""

from outlook_sync.sql.connect import (
    connect_postgresql,
    describe,
    dsn_secrets,
    redact,
    register_secret,
    registered_secrets,
)

__all__ = [
    "connect_postgresql",
    "describe",
    "dsn_secrets",
    "redact",
    "register_secret",
    "registered_secrets",
]
