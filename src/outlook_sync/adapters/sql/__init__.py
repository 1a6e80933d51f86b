"""The SQL Säljstöd adapter (SQLite and PostgreSQL)."""
