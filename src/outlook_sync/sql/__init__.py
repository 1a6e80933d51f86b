"""SQL plumbing shared by the SQL Säljstöd adapter and the SQL state store.

- :mod:`~outlook_sync.sql.dialect` -- what differs between SQLite and PostgreSQL,
  identifier validation and quoting.
- :mod:`~outlook_sync.sql.connect` -- opening PostgreSQL from a DSN; secret masking.
- :mod:`~outlook_sync.sql.migrations` -- versioned schema migrations per component.
- :mod:`~outlook_sync.sql.state_schema` -- the state store's tables (component
  ``"state"``): the SQL state store reads and writes them, and the SQL adapter's
  ``upgrade()`` creates them with the activity tables when asked to.

It imports only the vocabulary (errors), so both ``outlook_sync.adapters.sql`` and
``outlook_sync.state.sql`` build on it without importing each other.
"""
