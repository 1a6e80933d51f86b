"""Opening a PostgreSQL connection from a DSN without leaking its password.

The DSN is handed to psycopg and dropped: it is never stored on an object, and a
connection failure is re-raised with any ``password=…`` or ``user:password@`` removed
from the driver's message.
"""

from __future__ import annotations

from typing import Any

from outlook_sync.adapters.sql.dialect import redact
from outlook_sync.errors import ConfigurationError, OutlookSyncError

__all__ = ["connect_postgresql", "describe"]


def describe(connection: Any) -> str:
    """``"dbname on host:port"`` for a psycopg connection (no user, no password)."""
    info = connection.info
    return f"{info.dbname} on {info.host}:{info.port}"


def connect_postgresql(
    dsn: str, *, error: type[OutlookSyncError], **kwargs: Any
) -> tuple[Any, str]:
    """Connect with psycopg 3; return ``(connection, label for reprs)``.

    Raises:
        ConfigurationError: psycopg is not installed.
        OutlookSyncError: of type ``error``, when the connection fails (redacted message).
    """
    try:
        import psycopg
    except ImportError as exc:
        raise ConfigurationError(
            "PostgreSQL needs psycopg 3: pip install 'outlook_sync[postgres]'", key="dialect"
        ) from exc
    try:
        connection = psycopg.connect(dsn, **kwargs)
    except psycopg.Error as exc:
        raise error(f"cannot connect to PostgreSQL: {redact(str(exc))}") from None
    return connection, describe(connection)
