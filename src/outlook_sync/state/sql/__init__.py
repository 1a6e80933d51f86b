"""The SQL state store (SQLite and PostgreSQL): see :class:`SqlStateStore`."""

from outlook_sync.state.sql.store import SqlStateStore

__all__ = ["SqlStateStore"]
