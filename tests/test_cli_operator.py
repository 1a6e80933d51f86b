"""``outlook-sync`` for operators and integrators: no tracebacks, honest exit codes,
per-item logs, words a user reads, plug-in backends and the configuration's schema."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from outlook_sync._core.merge import MERGE_UNITS
from outlook_sync.cli import ExitCode, main, registry
from outlook_sync.cli.registry import forget_memory, memory_calendar
from outlook_sync.cli.render import (
    display_width,
    field_name_text,
    resolution_text,
    summary,
    table,
)
from outlook_sync.cli.template import DEMO, EXAMPLE
from outlook_sync.config import parse_config
from outlook_sync.config_schema import json_schema
from outlook_sync.errors import (
    BackendUnavailableError,
    ConfigurationError,
    ItemNotFoundError,
)
from outlook_sync.i18n import CONFLICT_RESOLUTIONS, FIELD_NAMES, translator
from outlook_sync.model import Event, Side
from outlook_sync.records import Conflict, ConflictPolicy
from outlook_sync.report import SyncReport
from outlook_sync.scope import FIELD_UNITS, Direction
from tests.conftest import require
from tests.test_cli import BASE, Cli, meeting, write_config

UTC = dt.UTC
SRC = Path(__file__).resolve().parent.parent / "src"


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


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``outlook-sync`` in its own process, as a shell runs it."""
    environ = {**os.environ, "PYTHONPATH": str(SRC), "LANG": "C.UTF-8", **(env or {})}
    environ.pop("LANGUAGE", None)
    return subprocess.run(
        [sys.executable, "-m", "outlook_sync.cli", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# -- no traceback ever -----------------------------------------------------------------


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(cli: Cli) -> None:
    cli.saljstod.add(meeting("Kundmöte"))
    cli.outlook.fail_next("list", RuntimeError("kaboom"))
    assert cli("sync") == ExitCode.ERROR
    assert cli.err.strip() == (
        "outlook-sync: unexpected error: RuntimeError: kaboom "
        "(run again with --debug for the details)"
    )
    cli.outlook.fail_next("list", RuntimeError("kaboom"))
    assert cli("--debug", "sync") == ExitCode.ERROR
    assert "Traceback (most recent call last)" in cli.err
    assert cli.outlook.items() == {}


@pytest.mark.parametrize("sign_in", ["client_secret_env = 'SECRET'", "# device code"])
def test_an_unreachable_sign_in_server_is_exit_5_in_one_line(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, sign_in: str
) -> None:
    pytest.importorskip("msal")
    # every HTTPS request goes to a proxy nobody listens on: a real connection failure
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    cli.path.write_text(
        'user = "anna"\n[saljstod]\nbackend = "memory"\n[outlook]\nbackend = "graph"\n'
        'tenant_id = "contoso.onmicrosoft.com"\n'
        'client_id = "11111111-2222-3333-4444-555555555555"\n'
        f'mailbox = "anna@contoso.com"\n{sign_in}\n[state]\nbackend = "memory"\n',
        encoding="utf-8",
    )
    assert cli("plan", environ={"SECRET": "s3cr3t-value"}) == ExitCode.BACKEND_UNREACHABLE
    # the adapter's own words ("... sign-in server is unreachable") or the CLI's
    assert re.match(r"outlook-sync: .*(unreachable|cannot reach the server)", cli.err)
    assert len(cli.err.strip().splitlines()) == 1
    assert "Traceback" not in cli.err
    assert "s3cr3t-value" not in cli.err


def test_an_unreachable_state_database_is_exit_5_in_one_line(cli: Cli) -> None:
    require("psycopg")
    # a PostgreSQL state store on a port nobody listens on: the server cannot be reached
    cli.path.write_text(BASE + '[state]\nbackend = "postgresql"\ndsn_env = "STATE_DSN"\n',
                        encoding="utf-8")
    dsn = "host=127.0.0.1 port=9 user=sync password=s3cr3t-value dbname=state connect_timeout=3"
    assert cli("sync", environ={"STATE_DSN": dsn}) == ExitCode.BACKEND_UNREACHABLE
    assert len(cli.err.strip().splitlines()) == 1
    assert "Traceback" not in cli.err
    assert "s3cr3t-value" not in cli.err


def test_status_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    (tmp_path / "outlook-sync.toml").write_text(BASE, encoding="utf-8")
    shell = f"{sys.executable} -m outlook_sync.cli status | head -c 1"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", shell],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in done.stderr
    assert "BrokenPipe" not in done.stderr
    assert done.returncode == 0, done.stderr


# -- exit codes as documented -------------------------------------------------------------


def test_a_bad_or_future_date_for_set_last_sync_is_a_usage_error(cli: Cli) -> None:
    assert cli("set-last-sync", "yesterday") == ExitCode.USAGE
    assert "is not an ISO date" in cli.err
    assert "configuration error" not in cli.err
    tomorrow = (dt.datetime.now(UTC) + dt.timedelta(days=2)).date().isoformat()
    assert cli("set-last-sync", tomorrow) == ExitCode.USAGE
    assert "in the future" in cli.err
    assert cli("set-last-sync", "2026-01-01") == ExitCode.OK
    _, data = cli.json("status")
    # a date alone is local midnight
    midnight = dt.datetime(2026, 1, 1).astimezone()
    assert dt.datetime.fromisoformat(data["last_sync"]) == midnight


def test_plan_with_an_unreachable_backend_is_exit_5(cli: Cli) -> None:
    cli.outlook.fail_next("list", ConnectionRefusedError(111, "Connection refused"))
    assert cli("plan") == ExitCode.BACKEND_UNREACHABLE
    assert "cannot reach the server" in cli.err
    cli.outlook.fail_next("list", BackendUnavailableError("Graph is down", side="outlook"))
    assert cli("plan") == ExitCode.BACKEND_UNREACHABLE


@pytest.mark.parametrize(
    "command",
    [("open", "S404"), ("restore", "O404"), ("quarantine", "--clear", "S404")],
)
def test_a_mistyped_id_says_no_such_item(cli: Cli, command: tuple[str, ...]) -> None:
    cli.saljstod.add(meeting("Kundmöte"))
    cli("sync")
    assert cli(*command) == ExitCode.ERROR
    assert cli.err.startswith("outlook-sync: no such item: ")
    assert "backend error" not in cli.err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"outlook-sync {version('outlook_sync')}"


def test_two_runs_on_a_busy_state_database_give_8_not_1(cli: Cli, tmp_path: Path) -> None:
    cli.saljstod.add(meeting("Kundmöte"))
    assert cli("sync") == ExitCode.OK
    holder = sqlite3.connect(tmp_path / "state.db", timeout=0)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another run in the middle of its migration
        write_config(cli, "")
        code = cli("sync")
    finally:
        holder.rollback()
        holder.close()
    assert code == ExitCode.SYNC_IN_PROGRESS, cli.err
    assert "database is locked" not in cli.err or "busy" in cli.err


# -- logs: one line per item, the planner's decisions, JSON with the same fields ---------


def test_verbose_logs_one_line_per_item_written(cli: Cli) -> None:
    cli.saljstod.add(meeting("Kundmöte Nordbygg AB med en mycket lång rubrik som fortsätter"))
    cli.saljstod.add(meeting("Offert", day=2))
    assert cli("sync") == ExitCode.OK
    assert "outlook_sync.items" not in cli.err  # quiet by default
    [o_id, _] = cli.outlook.items()
    cli.outlook.delete(o_id)
    assert cli("-v", "sync") == ExitCode.OK
    lines = [line for line in cli.err.splitlines() if "outlook_sync.items" in line]
    assert len(lines) == 1
    assert "saljstod delete S1 'Kundmöte Nordbygg AB med en mycket lång…'" in lines[0]
    assert "plan:" not in cli.err


def test_very_verbose_logs_the_planners_decisions(cli: Cli) -> None:
    cli.saljstod.add(meeting("Kundmöte"))
    assert cli("-vv", "sync") == ExitCode.OK
    assert "plan: create on outlook S1: copy of saljstod S1: 'Kundmöte'" in cli.err
    assert "outlook create O1 'Kundmöte'" in cli.err


def test_json_logs_carry_the_same_fields(cli: Cli) -> None:
    write_config(cli, '[logging]\nformat = "json"\nlevel = "info"\n')
    cli.saljstod.add(meeting("Kundmöte"))
    assert cli("sync") == ExitCode.OK
    records = [json.loads(line) for line in cli.err.splitlines() if line.startswith("{")]
    items = [r for r in records if r["logger"] == "outlook_sync.items"]
    # the create, then the Säljstöd item stamped with its new partner's id
    assert [(r["side"], r["operation"]) for r in items] == [
        ("outlook", "create"), ("saljstod", "stamp")
    ]
    item = items[0]
    assert {k: item[k] for k in ("side", "operation", "item_id", "subject")} == {
        "side": "outlook",
        "operation": "create",
        "item_id": "O1",
        "subject": "Kundmöte",
    }


# -- words a user reads ---------------------------------------------------------------


def test_the_summary_says_paired_and_created_with_subjects_in_local_time(cli: Cli) -> None:
    for day, subject in enumerate(["Kundmöte", "Offert", "Mässa", "Lunch"], start=1):
        cli.saljstod.add(meeting(subject, day=day))
    cli.outlook.add(meeting("Kundmöte"))  # already on both sides: paired, not copied
    assert cli("sync") == ExitCode.OK
    assert "paired 1 existing appointment" in cli.out
    assert "created 3 in Outlook: Offert, Mässa, Lunch" in cli.out
    assert "linked 0" not in cli.out
    [last] = [line for line in cli.out.splitlines() if "last sync:" in line]
    stamp = last.split("last sync: ")[1]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", stamp)  # local, no microseconds
    assert cli("sync") == ExitCode.OK
    assert "nothing to do" in cli.out


def test_wide_characters_keep_columns_aligned() -> None:
    text = table(["ON", "SUBJECT", "WHEN"], [["Outlook", "会議室の予約", "09:00"],
                                             ["Säljstöd", "Kundmöte", "10:00"]])
    header, *rows = text.splitlines()
    column = display_width(header[: header.index("WHEN")])
    for row in rows:
        before = row[: row.rindex(" ") + 1]
        assert display_width(before) == column, text
    assert display_width("会議") == 4
    assert display_width("Kundmöte") == 8


def test_plan_rows_with_cjk_subjects_line_up(cli: Cli) -> None:
    cli.saljstod.add(meeting("会議室の予約"))
    cli.saljstod.add(meeting("Kundmöte", day=2))
    assert cli("plan") == ExitCode.OK
    lines = cli.out.splitlines()[:3]
    ends = {display_width(line[: line.index("2026")]) for line in lines[1:]}
    assert len(ends) == 1, lines


def test_conflicts_show_both_values_and_the_winner_per_field(cli: Cli, tmp_path: Path) -> None:
    write_config(cli, "[policy]\nmerge_fallback = 'outlook_wins'\n")
    s_id = cli.saljstod.add(meeting("Kundmöte"))
    cli("sync")
    [o_id] = cli.outlook.items()
    cli.saljstod.update(s_id, meeting("Kundmöte", location="Stockholm"))
    cli.outlook.update(o_id, meeting("Kundmöte", location="Göteborg"))
    assert cli("sync") == ExitCode.CONFLICTS_PENDING
    assert cli("conflicts") == ExitCode.CONFLICTS_PENDING
    [row] = [line.split() for line in cli.out.splitlines() if line.strip().startswith("location")]
    assert row == ["location", "Stockholm", "Göteborg", "Outlook"]
    _, data = cli.json("conflicts")
    assert data["conflicts"][0]["values"] == [
        {"field": "location", "saljstod": "Stockholm", "outlook": "Göteborg", "winner": "outlook"}
    ]
    assert cli("conflicts", "--clear", environ={"USER": "operatör"}) == ExitCode.OK
    assert "outlook_sync.audit" in cli.err
    assert "conflict log cleared for anna by operatör: 1 entry (S1/O1)" in cli.err


def test_swedish_messages_from_the_environment_or_lang(cli: Cli) -> None:
    assert cli("status", environ={"LANG": "sv_SE.UTF-8"}) == ExitCode.OK
    assert "Senaste synk:" in cli.out
    assert cli("--lang", "en", "status", environ={"LANG": "sv_SE.UTF-8"}) == ExitCode.OK
    assert "Last sync:" in cli.out
    cli.saljstod.add(meeting("Kundmöte"))
    assert cli("--lang", "sv", "sync") == ExitCode.OK
    assert "skapade 1 i Outlook: Kundmöte" in cli.out
    assert cli("--lang", "sv", "open", "S404") == ExitCode.ERROR
    assert "inget sådant objekt" in cli.err


def _conflict_on_location(cli: Cli) -> tuple[str, str]:
    """A pair whose location was changed differently on both sides since the last sync."""
    s_id = cli.saljstod.add(meeting("Kundmöte"))
    assert cli("sync") == ExitCode.OK
    [o_id] = cli.outlook.items()
    cli.saljstod.update(s_id, meeting("Kundmöte", location="Stockholm"))
    cli.outlook.update(o_id, meeting("Kundmöte", location="Göteborg"))
    return s_id, o_id


def test_a_conflict_line_in_the_sync_summary_is_in_swedish_words(cli: Cli) -> None:
    s_id, o_id = _conflict_on_location(cli)
    assert cli("--lang", "sv", "sync") == ExitCode.CONFLICTS_PENDING
    assert (
        "  konflikt i plats: löst med sammanslagning (nyaste vinner där båda sidor ändrat "
        f"ett fält) [Säljstöd {s_id}, Outlook {o_id}]"
    ) in cli.out.splitlines()
    assert "merge/newest_wins" not in cli.out


def test_a_conflict_line_in_the_sync_summary_is_in_english_words(cli: Cli) -> None:
    s_id, o_id = _conflict_on_location(cli)
    write_config(cli, '[policy]\nconflict = "outlook_wins"\n')
    assert cli("sync") == ExitCode.CONFLICTS_PENDING
    assert (
        f"  conflict on location: resolved by Outlook wins [Säljstöd {s_id}, Outlook {o_id}]"
    ) in cli.out.splitlines()


@pytest.mark.parametrize(
    ("fields", "resolution", "swedish"),
    [
        (("start", "end", "all_day", "recurrence"), "keep_both",
         "konflikt i start, slut, heldag, upprepning: löst med behåll båda"),
        (("show_as", "reminder_minutes"), "saljstod_wins",
         "konflikt i visa som, påminnelse: löst med Säljstöd vinner"),
        (("subject", "body", "categories", "private"), "merge/outlook_wins",
         "konflikt i ämne, beskrivning, kategorier, privat: löst med sammanslagning "
         "(Outlook vinner där båda sidor ändrat ett fält)"),
        ((), "edit_wins", "konflikt i borttagen på ena sidan, ändrad på den andra: löst med "
         "ändringen vinner"),
        (("x_custom",), "some_plugin_rule", "konflikt i x_custom: löst med some_plugin_rule"),
    ],
)
def test_conflict_fields_and_resolutions_in_swedish(
    fields: tuple[str, ...], resolution: str, swedish: str
) -> None:
    kind = "delete_vs_edit" if not fields else "both_changed"
    conflict = Conflict(saljstod_id="S1", outlook_id="O1", kind=kind,
                        resolution=resolution, fields=fields)
    report = SyncReport(user="anna", conflicts=(conflict,))
    lines = summary(report, [], translator("sv"))
    assert f"  {swedish} [Säljstöd S1, Outlook O1]" in lines


def test_every_field_and_policy_has_words_in_both_languages() -> None:
    fields = {name for unit in MERGE_UNITS for name in unit}
    fields |= {name for unit in FIELD_UNITS.values() for name in unit}
    assert fields <= set(FIELD_NAMES)
    assert set(FIELD_NAMES) <= {a.name for a in attrs.fields(Event)}
    assert {p.value for p in ConflictPolicy} | {"edit_wins", "kept_unlinked"} <= set(
        CONFLICT_RESOLUTIONS
    )
    sv, en = translator("sv"), translator("en")
    for name in FIELD_NAMES:
        assert "_" not in field_name_text(name, en)
        assert field_name_text(name, sv)
    for rule in CONFLICT_RESOLUTIONS:
        assert "_" not in resolution_text(rule, en)
        assert "_" not in resolution_text(rule, sv)


def _deleted_in_outlook(cli: Cli) -> str:
    """An Outlook item the sync deleted (its Säljstöd partner was deleted); its id."""
    s_id = cli.saljstod.add(meeting("Kundmöte"))
    assert cli("sync") == ExitCode.OK
    [o_id] = cli.outlook.items()
    cli.saljstod.delete(s_id)
    assert cli("sync") == ExitCode.OK
    assert cli.outlook.items() == {}
    return o_id


def test_restore_says_the_item_came_back_under_its_old_id(cli: Cli) -> None:
    o_id = _deleted_in_outlook(cli)
    assert cli("restore", o_id) == ExitCode.OK
    assert cli.out.splitlines() == [
        f"Restored Outlook item {o_id} (Kundmöte) under its old id; the next sync brings it "
        "to Säljstöd again."
    ]
    assert list(cli.outlook.items()) == [o_id]


def test_restore_says_when_the_item_came_back_as_a_new_one_and_what_was_lost(
    cli: Cli,
) -> None:
    o_id = _deleted_in_outlook(cli)
    cli.outlook.fail_next("restore", ItemNotFoundError("no such item"))  # created anew
    assert cli("restore", o_id) == ExitCode.OK
    [new_id] = cli.outlook.items()
    assert new_id != o_id
    first, second = cli.out.splitlines()
    assert first == (
        f"Restored Outlook item {o_id} (Kundmöte) as a new item {new_id} (the old id is "
        "gone); the next sync brings it to Säljstöd again."
    )
    assert second == (
        "Not restored: the item's id (it was created anew), anything the backend keeps "
        "beyond the synced fields."
    )


def _restores_without_attendees(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Outlook calendar brings items back under their old id, without attendees (as
    the SQL adapter does with columns its table no longer has)."""
    outlook = cli.outlook
    plain = outlook.restore

    def restore_without_attendees(
        item_id: str, event: Event, *, partner_key: str
    ) -> tuple[Any, tuple[str, ...]]:
        item, _ = plain(item_id, event, partner_key=partner_key)
        return item, ("attendees", "the host's own columns")

    monkeypatch.setattr(outlook, "restore", restore_without_attendees)


def test_restore_says_what_could_not_be_restored(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    o_id = _deleted_in_outlook(cli)
    _restores_without_attendees(cli, monkeypatch)
    assert cli("restore", o_id) == ExitCode.OK
    assert cli.out.splitlines() == [
        f"Restored Outlook item {o_id} (Kundmöte) under its old id; the next sync brings it "
        "to Säljstöd again.",
        "Not restored: attendees, the host's own columns.",
    ]


def test_restore_as_json_says_whether_the_id_is_the_same_and_what_was_not_restored(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    o_id = _deleted_in_outlook(cli)
    _restores_without_attendees(cli, monkeypatch)
    code, data = cli.json("restore", o_id)
    assert code == ExitCode.OK
    assert data == {
        "side": "outlook",
        "item_id": o_id,
        "restored_id": o_id,
        "same_id": True,
        "not_restored": ["attendees", "the host's own columns"],
    }


def test_restore_as_json_of_an_item_created_anew(cli: Cli) -> None:
    o_id = _deleted_in_outlook(cli)
    cli.outlook.fail_next("restore", ItemNotFoundError("no such item"))
    code, data = cli.json("restore", o_id)
    assert code == ExitCode.OK
    [new_id] = cli.outlook.items()
    assert (data["restored_id"], data["same_id"]) == (new_id, False)
    assert data["not_restored"] == [
        "the item's id (it was created anew)",
        "anything the backend keeps beyond the synced fields",
    ]


# -- the configuration -----------------------------------------------------------------


def test_the_configuration_takes_a_date_range_filter_and_one_way_directions() -> None:
    config = parse_config(tomllib.loads(BASE + textwrap.dedent("""
        [filter]
        categories = ["Kund"]
        include_private = false
        start_from = 2026-01-01
        start_until = 2027-01-01T00:00:00+01:00
        [directions]
        default = "to_outlook"
        body = "both"
        """)))
    policy = config.policy
    assert policy.filter.categories == frozenset({"kund"})
    assert policy.filter.start_from == dt.date(2026, 1, 1)
    assert policy.filter.include_private is False
    assert policy.direction("subject") is Direction.TO_OUTLOOK
    assert policy.direction("time") is Direction.TO_OUTLOOK
    assert policy.direction("body") is Direction.BOTH


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("[filter]\nstart_from = 'soon'\n", "filter.start_from"),
        ("[filter]\nstart_from = 2027-01-01\nstart_until = 2026-01-01\n", "filter.start_until"),
        ("[filter]\ncategory = ['Kund']\n", "filter.category"),
        ("[directions]\nbody = 'sideways'\n", "directions.body"),
        ("[directions]\nbodies = 'both'\n", "directions.bodies"),
    ],
)
def test_filter_and_direction_errors_name_the_key(extra: str, key: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_config(tomllib.loads(BASE + extra))
    assert caught.value.key == key


def test_a_one_way_sync_from_the_file_ignores_outlook_edits(cli: Cli) -> None:
    write_config(cli, '[directions]\ndefault = "to_outlook"\n')
    s_id = cli.saljstod.add(meeting("Kundmöte"))
    cli("sync")
    [o_id] = cli.outlook.items()
    cli.outlook.update(o_id, meeting("Kundmöte", location="Göteborg"))
    assert cli("sync") == ExitCode.OK
    assert cli.saljstod.items()[s_id].location in ("", None)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def test_the_json_schema_accepts_the_files_init_writes_and_refuses_typos() -> None:
    jsonschema = require("jsonschema")
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for text in (EXAMPLE, DEMO):
        assert not list(validator.iter_errors(_jsonable(tomllib.loads(text))))
    bad = _jsonable(tomllib.loads(EXAMPLE))
    bad["policy"]["conflict"] = "whoever"
    assert list(validator.iter_errors(bad))
    bad = _jsonable(tomllib.loads(EXAMPLE))
    bad["outlook"]["tenant"] = "typo"
    assert list(validator.iter_errors(bad))


def test_the_schema_command_prints_it(cli: Cli) -> None:
    code = cli("schema")
    assert code == ExitCode.OK
    schema = json.loads(cli.out)
    variants = schema["properties"]["outlook"]["oneOf"]
    graph = next(v for v in variants if v["properties"]["backend"]["const"] == "graph")
    assert "base_url" in graph["properties"]


# -- files on disk: the demo, mistyped paths --------------------------------------------


def test_init_demo_keeps_its_state_on_disk_across_processes(tmp_path: Path) -> None:
    assert run("init", "--demo", cwd=tmp_path).returncode == 0
    planned = run("plan", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert "Kundmöte Nordbygg AB" in planned.stdout
    synced = run("sync", cwd=tmp_path)
    assert synced.returncode == 0, synced.stderr
    assert "created 3 in Outlook" in synced.stdout
    status = run("status", cwd=tmp_path)
    assert "never" not in status.stdout
    assert "Linked items:       3" in status.stdout
    again = run("sync", cwd=tmp_path)
    assert "nothing to do" in again.stdout
    refused = run("init", "--demo", cwd=tmp_path)
    assert refused.returncode == ExitCode.ERROR
    assert "--force" in refused.stderr


def test_a_mistyped_database_path_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    (tmp_path / "outlook-sync.toml").write_text(
        'user = "anna"\n[saljstod]\nbackend = "sql"\npath = "crm.db"\n'
        '[outlook]\nbackend = "memory"\n[state]\nbackend = "sqlite"\npath = "stat.db"\n',
        encoding="utf-8",
    )
    for command in ("sync", "plan", "status"):
        done = run(command, cwd=tmp_path)
        assert "Traceback" not in done.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["outlook-sync.toml"], command
    assert run("sync", cwd=tmp_path).returncode == ExitCode.CONFIG_ERROR
    assert "saljstod.path: there is no SQLite database at" in run("sync", cwd=tmp_path).stderr
    (tmp_path / "outlook-sync.toml").write_text(
        'user = "anna"\n[saljstod]\nbackend = "memory"\n[outlook]\nbackend = "memory"\n'
        '[state]\nbackend = "sqlite"\npath = "no-such-folder/state.db"\n',
        encoding="utf-8",
    )
    done = run("sync", cwd=tmp_path)
    assert done.returncode == ExitCode.CONFIG_ERROR
    assert "state.path: the folder" in done.stderr


def test_the_emulator_recipe_works_with_the_file_init_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from outlook_sync.testing.graph import run_emulator

    path = tmp_path / "outlook-sync.toml"
    assert main(["init", str(path)], environ={}) == 0
    text = path.read_text(encoding="utf-8")
    with run_emulator() as emulator:
        text = text.replace(
            '# base_url = "http://127.0.0.1:8765/v1.0"', f'base_url = "{emulator.base_url}"'
        ).replace('backend = "sql"\n', 'backend = "memory"\n# ')
        text = "\n".join(
            line for line in text.splitlines()
            if not line.startswith(("database =", "path = \"saljstod.db\""))
        )
        path.write_text(text, encoding="utf-8")
        cli = Cli(path, capsys)
        cli.saljstod.add(meeting("Kundmöte"))
        # OUTLOOK_SYNC_GRAPH_SECRET is not set: the loopback base_url does not need it
        assert cli("sync") == ExitCode.OK, cli.err
        assert "created 1 in Outlook: Kundmöte" in cli.out


# -- third-party backends -------------------------------------------------------------


PLUGIN = '''
from outlook_sync.adapters.memory import InMemoryCalendar
from outlook_sync.cli.registry import BackendPlugin
from outlook_sync.config import BackendSpec, Option

CALENDARS = {}


def make(config, side, user, environ, resources):
    return CALENDARS.setdefault(config.get("url"), InMemoryCalendar(name="caldav"))


PLUGIN = BackendPlugin(
    spec=BackendSpec(
        name="caldav",
        roles=frozenset({"calendar"}),
        options=(Option(name="url", kind="str", required=True, help="the calendar URL"),),
        summary="a CalDAV server",
    ),
    calendar=make,
)
'''


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A package installed the way pip installs one: a module and its dist-info."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "outlook_sync_caldav_demo.py").write_text(PLUGIN, encoding="utf-8")
    info = site / "outlook_sync_caldav_demo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: outlook-sync-caldav-demo\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[outlook_sync.backends]\ncaldav = outlook_sync_caldav_demo:PLUGIN\n"
        "broken = outlook_sync_caldav_demo:MISSING\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(site))
    registry.load_plugins(reload=True)
    yield importlib.import_module("outlook_sync_caldav_demo")
    monkeypatch.undo()
    sys.modules.pop("outlook_sync_caldav_demo", None)
    registry.load_plugins(reload=True)


def test_a_pip_installed_backend_is_named_by_the_configuration(
    cli: Cli, installed_plugin: Any
) -> None:
    cli.path.write_text(
        BASE.replace('[outlook]\nbackend = "memory"', '[outlook]\nbackend = "caldav"\nurl = "u"')
        + '[state]\nbackend = "memory"\n',
        encoding="utf-8",
    )
    cli.saljstod.add(meeting("Kundmöte"))
    assert cli("sync") == ExitCode.OK, cli.err
    [event] = installed_plugin.CALENDARS["u"].items().values()
    assert event.subject == "Kundmöte"
    assert cli("schema") == ExitCode.OK
    assert '"caldav"' in cli.out
    cli.path.write_text(
        BASE.replace('[outlook]\nbackend = "memory"', '[outlook]\nbackend = "caldav"\nurls = "u"'),
        encoding="utf-8",
    )
    assert cli("sync") == ExitCode.CONFIG_ERROR
    assert "did you mean 'url'" in cli.err


def test_a_broken_plugin_is_named_only_when_used(cli: Cli, installed_plugin: Any) -> None:
    assert "broken" in (registry.plugin_error("broken") or "")
    cli.saljstod.add(meeting("Kundmöte"))
    assert cli("sync") == ExitCode.OK  # the configuration does not name it


def test_memory_calendars_of_the_demo_engine_still_share_by_name() -> None:
    calendar = memory_calendar("x", side=Side.SALJSTOD)
    calendar.add(Event(subject="a", start=dt.datetime(2026, 1, 1, tzinfo=UTC),
                       end=dt.datetime(2026, 1, 1, 1, tzinfo=UTC)))
    assert memory_calendar("x") is calendar


def test_bulk_writes_over_graph_are_logged_item_by_item(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from outlook_sync.testing.graph import run_emulator

    with run_emulator() as emulator:
        path = tmp_path / "outlook-sync.toml"
        path.write_text(
            'user = "anna"\n[saljstod]\nbackend = "memory"\n[outlook]\nbackend = "graph"\n'
            f'base_url = "{emulator.base_url}"\n',
            encoding="utf-8",
        )
        cli = Cli(path, capsys)
        ids = [cli.saljstod.add(meeting(f"Möte {n}", day=n)) for n in (1, 2, 3)]
        assert cli("-v", "sync") == ExitCode.OK, cli.err
        created = [line for line in cli.err.splitlines() if " outlook create " in line]
        assert len(created) == 3
        cli.saljstod.delete(ids[0])
        cli.saljstod.delete(ids[1])
        assert cli("-v", "sync") == ExitCode.OK, cli.err
        deleted = [line for line in cli.err.splitlines() if " outlook delete " in line]
        assert len(deleted) == 2
        assert "deleted 2 in Outlook: Möte 1, Möte 2" in cli.out


def test_the_schema_knows_every_section_and_the_sql_mapping() -> None:
    jsonschema = require("jsonschema")
    from outlook_sync.config import TOP_LEVEL

    schema = json_schema()
    assert set(schema["properties"]) == set(TOP_LEVEL)
    document = tomllib.loads(
        BASE.replace('[saljstod]\nbackend = "memory"', '[saljstod]\nbackend = "sql"\npath = "x.db"')
        + '[saljstod.mapping.activities]\ntable = "aktivitet"\n'
    )
    assert not list(jsonschema.Draft202012Validator(schema).iter_errors(document))


def test_the_schema_file_beside_the_docs_is_current() -> None:
    shipped = Path(__file__).resolve().parent.parent / "docs" / "outlook-sync.schema.json"
    assert json.loads(shipped.read_text(encoding="utf-8")) == json_schema(), (
        "regenerate it: outlook-sync schema > docs/outlook-sync.schema.json"
    )


def test_a_log_file_that_cannot_be_written_is_a_configuration_error(
    cli: Cli, tmp_path: Path
) -> None:
    write_config(cli, f'[logging]\nfile = "{tmp_path / "no-such-folder" / "sync.log"}"\n')
    assert cli("status") == ExitCode.CONFIG_ERROR
    assert "logging.file: cannot write to" in cli.err
    assert "Traceback" not in cli.err
