"""``outlook-sync`` as an operator uses it: commands, output, and exit codes.

Every test runs ``main([...])`` in this process with a configuration in ``tmp_path``;
``memory`` calendars are shared by name within the process, so a test can act as the
user on either side between two commands.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from outlook_sync import Event, InMemoryCalendar
from outlook_sync.cli import ExitCode, main
from outlook_sync.cli.registry import forget_memory, memory_calendar, memory_state
from outlook_sync.errors import BackendUnavailableError, ItemRejectedError
from outlook_sync.model import Cursor, Side

UTC = dt.UTC


def meeting(subject: str, day: int = 1, hour: int = 9, **fields: Any) -> Event:
    start = dt.datetime(2026, 12, day, hour, tzinfo=UTC)
    return Event(subject=subject, start=start, end=start + dt.timedelta(hours=1), **fields)


class Cli:
    """Runs ``outlook-sync`` against a configuration file and captures what it says."""

    def __init__(self, path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.path = path
        self.capsys = capsys
        self.out = ""
        self.err = ""

    def __call__(self, *args: str, environ: dict[str, str] | None = None) -> int:
        code = main(["--config", str(self.path), *args], environ=environ or {})
        captured = self.capsys.readouterr()
        self.out, self.err = captured.out, captured.err
        return code

    def json(self, *args: str, environ: dict[str, str] | None = None) -> tuple[int, Any]:
        code = self(*args, "--json", environ=environ)
        return code, json.loads(self.out)

    @property
    def saljstod(self) -> InMemoryCalendar:
        return memory_calendar("saljstod", side=Side.SALJSTOD)

    @property
    def outlook(self) -> InMemoryCalendar:
        return memory_calendar("outlook", side=Side.OUTLOOK)


BASE = """
user = "anna"
[saljstod]
backend = "memory"
[outlook]
backend = "memory"
"""


@pytest.fixture(autouse=True)
def _fresh_memory() -> Iterator[None]:
    forget_memory()
    yield
    forget_memory()


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    path = tmp_path / "outlook-sync.toml"
    path.write_text(
        BASE + f'[state]\nbackend = "sqlite"\npath = "{tmp_path / "state.db"}"\n', encoding="utf-8"
    )
    return Cli(path, capsys)


def write_config(cli: Cli, extra: str) -> None:
    cli.path.write_text(cli.path.read_text(encoding="utf-8") + extra, encoding="utf-8")


# -- the first sync and the summary --------------------------------------------------


def test_plan_shows_the_first_sync_and_writes_nothing(cli: Cli) -> None:
    cli.saljstod.add(meeting("Kundmöte Nordbygg"))
    cli.saljstod.add(meeting("Offertgenomgång", day=2))
    assert cli("plan") == ExitCode.OK
    assert "create  Outlook  copy of Säljstöd S1" in cli.out
    assert "Kundmöte Nordbygg" in cli.out
    assert "Offertgenomgång" in cli.out
    assert "Outlook: create 2, update 0, delete 0" in cli.out
    assert cli.outlook.items() == {}


def test_plan_as_json_lists_the_actions(cli: Cli) -> None:
    cli.saljstod.add(meeting("Kundmöte"))
    code, data = cli.json("plan")
    assert code == ExitCode.OK
    assert data["actions"] == [
        {
            "action": "create",
            "side": "outlook",
            "source_id": "S1",
            "subject": "Kundmöte",
            "start": "2026-12-01T09:00:00+00:00",
            "end": "2026-12-01T10:00:00+00:00",
            "all_day": False,
        }
    ]
    assert data["writes"]["outlook"]["create"] == 1


def test_sync_copies_and_summarises_then_a_second_sync_does_nothing(cli: Cli) -> None:
    cli.saljstod.add(meeting("Kundmöte"))
    cli.outlook.add(meeting("Tandläkare", day=3))
    assert cli("sync") == ExitCode.OK
    assert "created 1 in Outlook: Kundmöte" in cli.out
    assert "created 1 in Säljstöd: Tandläkare" in cli.out
    assert len(cli.outlook.items()) == len(cli.saljstod.items()) == 2

    code, data = cli.json("sync")
    assert code == ExitCode.OK
    assert data["ok"] is True
    assert data["exit_code"] == 0
    assert sum(sum(ops.values()) for ops in data["writes"].values()) == 0


def test_status_shows_the_last_sync_and_the_links(cli: Cli) -> None:
    assert cli("status") == ExitCode.OK
    assert "never (the next sync is full)" in cli.out
    # which state file it read, and that none exists yet: a mistyped path shows here
    state_file = str((cli.path.parent / "state.db").resolve())
    assert f"{state_file} (not created yet: the first sync creates it)" in cli.out
    assert not (cli.path.parent / "state.db").exists()  # status created nothing
    cli.saljstod.add(meeting("Kundmöte"))
    cli("sync")
    code, data = cli.json("status")
    assert code == ExitCode.OK
    assert data["links"] == 1
    assert data["conflicts_pending"] == 0
    assert dt.datetime.fromisoformat(data["last_sync"]).tzinfo is not None
    assert data["state_database"] == {"path": state_file, "exists": True}


def test_progress_is_shown_on_request_and_the_summary_follows(cli: Cli) -> None:
    for day in range(1, 4):
        cli.saljstod.add(meeting(f"Möte {day}", day=day))
    assert cli("sync", "--progress") == ExitCode.OK
    assert "Reading calendars: 0/2" in cli.err
    assert "Writing changes: 3/3" in cli.err
    assert "Synced anna: ok" in cli.out


def test_full_sync_now_lists_everything_again(cli: Cli) -> None:
    cli.saljstod.add(meeting("Kundmöte"))
    cli("sync")
    code, data = cli.json("sync", "--full")
    assert code == ExitCode.OK
    assert data["full"] == {"saljstod": True, "outlook": True}


def test_set_last_sync_takes_a_date_in_local_time_or_an_offset(cli: Cli) -> None:
    assert cli("set-last-sync", "2026-11-01T08:00+01:00") == ExitCode.OK
    _, data = cli.json("status")
    assert dt.datetime.fromisoformat(data["last_sync"]) == dt.datetime(2026, 11, 1, 7, tzinfo=UTC)
    assert cli("set-last-sync", "2026-11-31") == ExitCode.USAGE
    assert "DATE '2026-11-31' is not an ISO date" in cli.err


# -- exit codes that need a person ------------------------------------------------------


def test_conflicts_pending_until_cleared(cli: Cli) -> None:
    s_id = cli.saljstod.add(meeting("Kundmöte"))
    cli("sync")
    [o_id] = cli.outlook.items()
    cli.saljstod.update(s_id, meeting("Kundmöte", location="Stockholm"))
    cli.outlook.update(o_id, meeting("Kundmöte", location="Göteborg"))
    assert cli("sync") == ExitCode.CONFLICTS_PENDING
    assert "1 conflict pending" in cli.out

    assert cli("conflicts") == ExitCode.CONFLICTS_PENDING
    assert "both changed" in cli.out
    assert "location" in cli.out
    assert s_id in cli.out
    assert cli("status") == ExitCode.CONFLICTS_PENDING
    assert cli("conflicts", "--clear") == ExitCode.OK
    assert "Cleared 1 conflict." in cli.out
    assert cli("conflicts") == ExitCode.OK
    assert cli("sync") == ExitCode.OK


def test_a_mass_delete_is_refused_then_confirmed_then_restorable(cli: Cli) -> None:
    ids = [cli.saljstod.add(meeting(f"Möte {day}", day=day)) for day in range(1, 13)]
    cli("sync")
    for s_id in ids[:11]:
        cli.saljstod.delete(s_id)

    assert cli("plan") == ExitCode.MASS_DELETE_REFUSED
    assert "REFUSED" in cli.out
    assert cli("sync") == ExitCode.MASS_DELETE_REFUSED
    assert "--confirm-mass-delete" in cli.out
    assert len(cli.outlook.items()) == 12  # nothing was deleted

    assert cli("sync", "--confirm-mass-delete") == ExitCode.OK
    assert len(cli.outlook.items()) == 1
    code, data = cli.json("restore")
    assert code == ExitCode.OK
    assert len(data["deleted"]) == 11
    gone = data["deleted"][0]["item_id"]
    assert cli("restore", gone) == ExitCode.OK
    assert f"Restored Outlook item {gone}" in cli.out
    assert len(cli.outlook.items()) == 2
    assert cli("restore", gone) == ExitCode.ERROR


def test_an_unreachable_backend_writes_nothing_and_says_so(cli: Cli) -> None:
    cli.saljstod.add(meeting("Kundmöte"))
    cli.outlook.fail_next("list", BackendUnavailableError("Graph is down", side="outlook"))
    assert cli("sync") == ExitCode.BACKEND_UNREACHABLE
    assert "Graph is down" in cli.out
    assert "Nothing was written" in cli.out
    assert cli.outlook.items() == {}
    cli.outlook.fail_next("list", BackendUnavailableError("Graph is down", side="outlook"))
    assert cli("plan") == ExitCode.BACKEND_UNREACHABLE
    assert "backend error: outlook: Graph is down" in cli.err


def test_failed_items_are_reported_and_retried(cli: Cli) -> None:
    cli.saljstod.add(meeting("Kundmöte"))
    cli.outlook.fail_next("create", ItemRejectedError("too big", side="outlook"))
    assert cli("sync") == ExitCode.ITEMS_FAILED
    assert "failed create" in cli.out
    assert "too big" in cli.out
    assert cli("sync") == ExitCode.OK
    assert len(cli.outlook.items()) == 1


def test_a_sync_already_running_is_its_own_exit_code(cli: Cli) -> None:
    cli.path.write_text(BASE + '[state]\nbackend = "memory"\n', encoding="utf-8")
    with memory_state().lock("anna", ttl=dt.timedelta(minutes=5)):
        assert cli("sync") == ExitCode.SYNC_IN_PROGRESS
    assert "already running" in cli.err


def test_quarantined_items_are_listed_and_can_be_cleared(cli: Cli) -> None:
    cli.saljstod.add_broken("S77", "start is NULL")
    cli("sync")
    assert cli("quarantine") == ExitCode.OK
    assert "S77" in cli.out
    assert "start is NULL" in cli.out
    code, data = cli.json("quarantine", "--clear", "S77")
    assert code == ExitCode.OK
    assert data["cleared"][0]["item_id"] == "S77"
    assert cli("quarantine") == ExitCode.OK
    assert "No quarantined items." in cli.out
    assert cli("quarantine", "--clear", "S1") == ExitCode.ERROR


def test_status_of_one_activity(cli: Cli) -> None:
    s_id = cli.saljstod.add(meeting("Kundmöte"))
    cli.saljstod.add_broken("S9", "end before start")
    assert cli("status", s_id) == ExitCode.OK
    assert f"Activity {s_id}: not synced" in cli.out
    cli("sync")
    _code, data = cli.json("status", s_id)
    assert data["state"] == "synced"
    assert data["outlook_id"] == "O1"
    assert data["synced_as_of"] is not None
    assert cli("status", "S9") == ExitCode.OK
    assert "Activity S9: quarantined" in cli.out
    assert "reason:        saljstod: end before start" in cli.out


# -- configuration errors -----------------------------------------------------------------


def test_a_missing_configuration_points_at_init(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--config", str(tmp_path / "none.toml"), "sync"], environ={})
    assert code == ExitCode.CONFIG_ERROR
    assert "outlook-sync init" in capsys.readouterr().err


def test_a_bad_key_is_named_in_the_message(cli: Cli) -> None:
    write_config(cli, "[policy]\nmass_delete_share = 2\n")
    assert cli("sync") == ExitCode.CONFIG_ERROR
    assert "policy.mass_delete_share" in cli.err


def test_a_secret_variable_that_is_unset_is_named(cli: Cli) -> None:
    cli.path.write_text(
        'user = "anna"\n[saljstod]\nbackend = "memory"\n[outlook]\nbackend = "graph"\n'
        'base_url = "http://127.0.0.1:9/v1.0"\ntoken_env = "GRAPH_TOKEN"\n',
        encoding="utf-8",
    )
    assert cli("plan") == ExitCode.CONFIG_ERROR
    assert "outlook.token_env names the environment variable GRAPH_TOKEN" in cli.err


def test_a_missing_extra_names_the_pip_install(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name.startswith("outlook_sync.adapters.graph"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "httpx", None)
    cli.path.write_text(
        'user = "anna"\n[saljstod]\nbackend = "memory"\n[outlook]\nbackend = "graph"\n'
        'client_id = "app"\n',
        encoding="utf-8",
    )
    assert cli("plan") == ExitCode.CONFIG_ERROR
    assert "pip install 'outlook_sync[graph]'" in cli.err
    assert "outlook.backend" in cli.err


def test_usage_errors_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == ExitCode.USAGE
    assert main(["--help"]) == ExitCode.OK
    out = capsys.readouterr().out
    for command in (
        "sync",
        "plan",
        "status",
        "set-last-sync",
        "watch",
        "open",
        "conflicts",
        "quarantine",
        "restore",
        "duplicates",
        "db",
        "init",
    ):
        assert command in out
    assert "3 conflicts pending" in out


# -- open, duplicates ----------------------------------------------------------------------


def test_open_shows_the_linked_outlook_item(cli: Cli) -> None:
    s_id = cli.saljstod.add(meeting("Kundmöte"))
    assert cli("open", s_id) == ExitCode.ERROR
    assert "not linked" in cli.err
    cli("sync")
    assert cli("open", s_id) == ExitCode.OK
    assert cli.out.strip() == "memory://outlook/O1"


def test_duplicates_are_reported_and_merged_only_when_confirmed(cli: Cli) -> None:
    first = cli.outlook.add(meeting("Kundmöte", body="agenda"))
    cli.outlook.add(meeting("  kundmöte "))
    cli.outlook.add(meeting("Kundmöte", day=2))  # another day: not a duplicate
    assert cli("duplicates") == ExitCode.OK
    assert "O1" in cli.out
    assert "O2" in cli.out
    assert "1 group(s)" in cli.out
    assert len(cli.outlook.items()) == 3

    assert cli("duplicates", "--merge") == ExitCode.USAGE
    assert len(cli.outlook.items()) == 3
    code, data = cli.json("duplicates", "--merge", "--yes")
    assert code == ExitCode.OK
    assert data["deleted"] == [{"side": "outlook", "item_id": "O2"}]
    assert set(cli.outlook.items()) == {first, "O3"}
    _, kept = cli.json("restore")
    assert [d["item_id"] for d in kept["deleted"]] == ["O2"]


def test_duplicates_linked_to_different_partners_are_left_alone(cli: Cli) -> None:
    cli.saljstod.add(meeting("Kundmöte"))
    cli.saljstod.add(meeting("Kundmöte", location="B"))  # same key: linked one to one
    cli("sync")
    assert len(cli.outlook.items()) == 2
    assert cli("duplicates", "--side", "outlook", "--merge", "--yes") == ExitCode.OK
    assert "left alone" in cli.out
    assert len(cli.outlook.items()) == 2


# -- watch -----------------------------------------------------------------------------


def test_a_bounded_watch_exits_with_the_last_syncs_code(cli: Cli) -> None:
    for _ in range(2):
        cli.outlook.fail_next("list", BackendUnavailableError("Graph is down", side="outlook"))
    code = cli("watch", "--max-syncs", "1", "--interval", "0.05")
    assert code == ExitCode.BACKEND_UNREACHABLE  # as `sync` would say, not 0


def test_watch_syncs_until_told_to_stop(cli: Cli) -> None:
    cli.saljstod.add(meeting("Kundmöte"))
    assert cli("watch", "--max-syncs", "2", "--interval", "0.05") == ExitCode.OK
    lines = cli.out.strip().splitlines()
    assert len(lines) == 2
    assert "ok: 2 writes" in lines[0]
    assert "ok: 0 writes" in lines[1]
    assert "Ctrl-C stops" in cli.err


def test_ctrl_c_stops_watch_cleanly(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    listing = cli.saljstod.list_changes

    def interrupted(cursor: Cursor) -> Any:
        signal.raise_signal(signal.SIGINT)  # the user presses Ctrl-C during a sync
        return listing(cursor)

    cli("sync")
    monkeypatch.setattr(cli.saljstod, "list_changes", interrupted)
    assert cli("watch", "--interval", "60") == ExitCode.OK
    assert "Stopping after the current item" in cli.err
    assert "Stopped." in cli.err


def test_ctrl_c_during_a_sync_cancels_between_items(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.saljstod.add(meeting("Kundmöte"))
    listing = cli.saljstod.list_all

    def interrupted() -> Any:
        signal.raise_signal(signal.SIGINT)
        return listing()

    monkeypatch.setattr(cli.saljstod, "list_all", interrupted)
    assert cli("sync") == ExitCode.INTERRUPTED
    assert "cancelled" in cli.out
    assert cli.outlook.items() == {}
    monkeypatch.undo()
    assert cli("sync") == ExitCode.OK
    assert len(cli.outlook.items()) == 1


# -- init, db, logging -------------------------------------------------------------------


def test_init_writes_a_commented_example_and_keeps_an_existing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "outlook-sync.toml"
    assert main(["init", str(path)]) == ExitCode.OK
    text = path.read_text(encoding="utf-8")
    assert "client_secret_env" in text
    assert text.count("#") > 20
    assert main(["init", str(path), "--demo"]) == ExitCode.ERROR
    assert "exists" in capsys.readouterr().err
    assert main(["init", str(path), "--demo", "--force"]) == ExitCode.OK
    capsys.readouterr()
    assert main(["--config", str(path), "plan"], environ={}) == ExitCode.OK
    assert "Outlook: create 3" in capsys.readouterr().out


def test_db_upgrade_reports_the_state_schema(cli: Cli) -> None:
    code, data = cli.json("db", "upgrade")
    assert code == ExitCode.OK
    assert data["upgraded"][0]["database"] == "state"
    assert data["upgraded"][0]["version"] >= 1


def test_verbose_json_logs_are_structured_and_never_show_secrets(cli: Cli) -> None:
    write_config(cli, '[logging]\nformat = "json"\n')
    cli.saljstod.add(meeting("Kundmöte", body="secret body text"))
    assert cli("-v", "sync") == ExitCode.OK
    records = [json.loads(line) for line in cli.err.splitlines() if line.startswith("{")]
    assert any(r["logger"] == "outlook_sync.engine" and r["level"] == "info" for r in records)
    [finished] = [r for r in records if r["logger"] == "outlook_sync.cli"]
    assert (finished["user"], finished["operation"]) == ("anna", "sync")
    assert "secret body text" not in cli.err


# -- a SQL Säljstöd database -----------------------------------------------------------


def test_a_sql_saljstod_database_is_created_by_db_upgrade_then_synced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "outlook-sync.toml"
    path.write_text(
        'user = "anna"\n[saljstod]\nbackend = "sql"\npath = "crm.db"\n'
        '[outlook]\nbackend = "memory"\n',
        encoding="utf-8",
    )
    cli = Cli(path, capsys)
    assert cli("plan") == ExitCode.CONFIG_ERROR  # never a new empty database
    assert "no SQLite database at" in cli.err
    assert "outlook-sync db upgrade" in cli.err
    assert not (tmp_path / "crm.db").exists()
    assert not (tmp_path / "outlook-sync-state.db").exists()

    code, data = cli.json("db", "upgrade")
    assert code == ExitCode.OK
    assert {(d["database"], d["component"]) for d in data["upgraded"]} == {
        ("state", "state"),
        ("saljstod", "saljstod"),
    }
    import sqlite3

    from outlook_sync.adapters.sql import SqlCalendar

    connection = sqlite3.connect(tmp_path / "crm.db")
    try:
        crm = SqlCalendar(connection, user="anna")  # the host application adds an activity
        crm.create(meeting("Kundmöte"), partner_key=None)  # type: ignore[arg-type]
    finally:
        connection.close()
    assert cli("sync") == ExitCode.OK
    assert [e.subject for e in cli.outlook.items().values()] == ["Kundmöte"]
    assert (tmp_path / "outlook-sync-state.db").exists()


def test_outlook_over_graph_against_the_local_emulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from outlook_sync.testing.graph import run_emulator

    with run_emulator() as emulator:
        path = tmp_path / "outlook-sync.toml"
        path.write_text(
            'user = "anna"\n[saljstod]\nbackend = "memory"\n[outlook]\nbackend = "graph"\n'
            f'base_url = "{emulator.base_url}"\ntoken_env = "GRAPH_TOKEN"\n',
            encoding="utf-8",
        )
        cli = Cli(path, capsys)
        cli.saljstod.add(meeting("Kundmöte"))
        environ = {"GRAPH_TOKEN": "test-token-4711"}
        assert cli("-vv", "sync", environ=environ) == ExitCode.OK
        assert "created 1 in Outlook: Kundmöte" in cli.out
        assert "test-token-4711" not in cli.err  # debug logs, yet no token
        assert cli("open", "S1", environ=environ) == ExitCode.OK
        assert cli.out.startswith("http")
        assert cli("sync", environ=environ) == ExitCode.OK
        assert "nothing to do" in cli.out


def test_the_command_line_page_documents_every_command_and_exit_code() -> None:
    from outlook_sync.cli.app import build_parser

    page = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text("utf-8")
    parser = build_parser()
    [subcommands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for command in subcommands.choices:
        assert f"`{command}" in page, command
    for code in ExitCode:
        assert f"| {int(code)} | `{code.name}` |" in page, code


def test_errors_are_json_too_when_json_was_asked_for(cli: Cli) -> None:
    write_config(cli, "[policy]\nconflict = 'whoever'\n")
    code, data = cli.json("sync")
    assert code == ExitCode.CONFIG_ERROR
    assert data["exit_code"] == 4
    assert data["key"] == "policy.conflict"


def test_watch_carries_an_edit_across_as_it_happens(cli: Cli) -> None:
    s_id = cli.saljstod.add(meeting("Kundmöte"))
    watchdog = threading.Timer(30, signal.raise_signal, [signal.SIGINT])  # never hang

    def user_edits_after_the_first_sync() -> None:
        while not cli.outlook.items() and watchdog.is_alive():
            time.sleep(0.01)
        cli.saljstod.update(s_id, meeting("Kundmöte", location="Malmö"))

    editor = threading.Thread(target=user_edits_after_the_first_sync)
    watchdog.start()
    editor.start()
    try:  # a long interval: only the change notification can cause the second sync
        assert cli("watch", "--interval", "3600", "--max-syncs", "2") == ExitCode.OK
    finally:
        watchdog.cancel()
        editor.join()
    lines = cli.out.strip().splitlines()
    assert len(lines) == 2
    assert "ok: 1 writes" in lines[1]
    assert [e.location for e in cli.outlook.items().values()] == ["Malmö"]


def _in_schema(dsn: str, schema: str) -> str:
    """The DSN with the test's schema first on the search path."""
    if "://" in dsn:
        joiner = "&" if "?" in dsn else "?"
        return f"{dsn}{joiner}options=-csearch_path%3D{schema}"
    return f"{dsn} options='-c search_path={schema}'"


def test_sql_saljstod_and_sql_state_on_both_dialects(
    sql_db: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from outlook_sync.adapters.sql import SqlCalendar

    environ: dict[str, str] = {}
    if sql_db.name == "sqlite":
        sections = (
            f'[saljstod]\nbackend = "sql"\npath = "{tmp_path / "crm.db"}"\n'
            f'[state]\nbackend = "sqlite"\npath = "{tmp_path / "state.db"}"\n'
        )
    else:
        environ["CRM_DSN"] = _in_schema(sql_db._dsn, sql_db.schema)
        sections = (
            '[saljstod]\nbackend = "sql"\ndatabase = "postgresql"\ndsn_env = "CRM_DSN"\n'
            '[state]\nbackend = "postgresql"\ndsn_env = "CRM_DSN"\n'
        )
    path = tmp_path / "outlook-sync.toml"
    path.write_text(f'user = "anna"\n{sections}[outlook]\nbackend = "memory"\n', "utf-8")
    cli = Cli(path, capsys)
    assert cli("db", "upgrade", environ=environ) == ExitCode.OK
    assert "saljstod: schema 'saljstod' is at version" in cli.out

    connection = (
        __import__("sqlite3").connect(tmp_path / "crm.db") if sql_db.name == "sqlite"
        else sql_db.connect()
    )  # fmt: skip
    crm = SqlCalendar(connection, user="anna")  # the host application adds an activity
    crm.create(meeting("Kundmöte"), partner_key=None)  # type: ignore[arg-type]
    if sql_db.name == "sqlite":
        connection.close()

    assert cli("-vv", "sync", environ=environ) == ExitCode.OK
    assert [e.subject for e in cli.outlook.items().values()] == ["Kundmöte"]
    code, data = cli.json("status", environ=environ)
    assert code == ExitCode.OK
    assert data["links"] == 1
    for secret in environ.values():
        assert secret not in cli.out + cli.err


def test_the_configuration_can_be_named_by_the_environment(
    cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status"], environ={"OUTLOOK_SYNC_CONFIG": str(cli.path)}) == ExitCode.OK
    assert "User:               anna" in capsys.readouterr().out


def test_logs_can_go_to_a_file(cli: Cli) -> None:
    write_config(cli, '[logging]\nlevel = "info"\nfile = "sync.log"\n')
    assert cli("sync") == ExitCode.OK
    assert cli.err == ""
    log_text = (cli.path.parent / "sync.log").read_text(encoding="utf-8")
    assert "outlook_sync.cli: sync finished: ok, 0 writes [user=anna operation=sync]" in log_text


def test_status_shows_the_last_error_across_runs_until_a_clean_sync(cli: Cli) -> None:
    cli.saljstod.add(meeting("Kundmöte"))
    cli.outlook.fail_next("create", ItemRejectedError("the mailbox is full", side="outlook"))
    assert cli("sync") == ExitCode.ITEMS_FAILED
    cli("status")
    assert "Last error:" in cli.out
    assert "the mailbox is full" in cli.out
    _code, data = cli.json("status")
    assert "the mailbox is full" in data["last_error"]["message"]
    assert cli("sync") == ExitCode.OK
    _code, data = cli.json("status")
    assert data["last_error"] is None
