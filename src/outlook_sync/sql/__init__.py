"""SQL plumbing shared by the SQL Säljstöd adapter and the SQL state store.

- :mod:`~outlook_sync.sql.dialect` -- what differs between SQLite and PostgreSQL,
  identifier validation and quoting.
- :mod:`~outlook_sync.sql.connect` -- opening PostgreSQL from a DSN; secret masking.
- :mod:`~outlook_sync.sql.migrations` -- versioned schema migrations per component.

It imports only the vocabulary (errors), so both ``outlook_sync.adapters.sql`` and
``outlook_sync.state.sql`` build on it without importing each other.
"""
