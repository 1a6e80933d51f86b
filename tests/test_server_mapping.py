"""Server mode on a legacy Säljstöd table: the worker builds each user's calendar with the
``[saljstod.mapping]`` of the configuration file, as the single-user commands do.

The worked example of docs/sql.md (SQLite DDL and TOML mapping), one user listed in the
``saljstod_users`` table, the Graph emulator as Outlook and a real PostgreSQL for the state
store and the server's ledger. ``Resources.sync_user`` is what a ``sync_user`` job runs.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_extra

require_extra("server", "procrastinate", "psycopg")

from outlook_sync.server.config import parse_server_config  # noqa: E402
from outlook_sync.server.runner import Resources  # noqa: E402
from outlook_sync.testing.graph import GraphEmulator, run_emulator  # noqa: E402
from tests.test_cli_legacy import _block  # noqa: E402

pytestmark = pytest.mark.postgres
NOW = dt.datetime(2026, 12, 5, 8, tzinfo=dt.UTC)


@pytest.fixture
def graph() -> Iterator[GraphEmulator]:
    with run_emulator() as emulator:
        yield emulator


def test_a_worker_syncs_a_legacy_table_mapped_in_the_file(
    tmp_path: Path, schema_dsn: str, graph: GraphEmulator
) -> None:
    crm = sqlite3.connect(tmp_path / "crm.db")
    crm.executescript(_block("sql", "legacy example: SQLite"))
    crm.execute("INSERT INTO aktivitet (rubrik, startdatum, starttid, slutdatum, sluttid,"
                " anvandare, privat, kund_id, andrad) VALUES ('Besök hos kund', '2026-12-08',"
                " '09:30', '2026-12-08', '10:45', 'anna', 'N', 42, '2026-12-01 08:00:00')")
    crm.execute("CREATE TABLE saljstod_users (user_id TEXT PRIMARY KEY, mailbox TEXT NOT NULL,"
                " outlook_enabled BOOLEAN NOT NULL DEFAULT 1)")
    crm.execute("INSERT INTO saljstod_users VALUES ('anna', 'anna@contoso.test', 1)")
    crm.commit()
    text = (f'[saljstod]\nbackend = "sql"\ndatabase = "sqlite"\npath = "{tmp_path / "crm.db"}"\n'
            'busy_timeout_seconds = 2\n\n'
            f'[outlook]\nbackend = "graph"\nbase_url = "{graph.base_url}"\n'
            'token_env = "TEST_TOKEN"\n\n'
            '[state]\nbackend = "postgresql"\ndsn_env = "STATE_DSN"\n\n[server]\n\n'
            + _block("toml", "legacy example"))
    config = parse_server_config(tomllib.loads(text), path=tmp_path / "outlook-sync.toml")
    resources = Resources(config, {"STATE_DSN": schema_dsn, "TEST_TOKEN": "t"}, slots=1)
    try:
        resources.with_ledger(lambda led: led.create())  # what the worker does at start
        resources.with_ledger(lambda led: led.reconcile(resources.directory(), now=NOW))
        outcome = resources.sync_user("anna", "test")
    finally:
        resources.close()
    assert outcome.outcome == "ok", outcome
    events = graph.events(user="anna@contoso.test")
    assert [e.data["subject"] for e in events] == ["Besök hos kund"]
    assert crm.execute("SELECT kund_id FROM aktivitet").fetchone() == (42,)  # host's column
