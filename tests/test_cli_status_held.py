"""``outlook-sync status``: the items held back and a sync that is running, as a user
reads them (English and Swedish, and as JSON for scripts)."""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from outlook_sync import SqliteStateStore
from outlook_sync.cli import ExitCode
from outlook_sync.cli.registry import forget_memory
from outlook_sync.model import Side
from tests.test_cli import BASE, Cli, meeting

UTC = dt.UTC
TTL = dt.timedelta(minutes=2)


@pytest.fixture(autouse=True)
def _fresh_memory() -> Iterator[None]:
    forget_memory()
    yield
    forget_memory()


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def cli(tmp_path: Path, state_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    path = tmp_path / "outlook-sync.toml"
    path.write_text(BASE + f'[state]\nbackend = "sqlite"\npath = "{state_path}"\n',
                    encoding="utf-8")
    return Cli(path, capsys)


def _row(out: str, title: str) -> str:
    """The value of the status row ``title`` (``None`` rows are absent)."""
    found = [line for line in out.splitlines() if line.startswith(title + ":")]
    assert len(found) == 1, out
    return found[0][len(title) + 1:].strip()


def _held_lines(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.startswith("  ")]


# -- held: an unreadable item and its partner's change waiting -------------------------


def _one_unreadable(cli: Cli, broken_side: Side) -> tuple[str, str]:
    """Two synced pairs; one item of the first becomes unreadable on ``broken_side``
    while its partner is edited. Returns the broken item's id and its partner's."""
    s_id = cli.saljstod.add(meeting("Kundmöte"))
    cli.saljstod.add(meeting("Annat", day=2))
    assert cli("sync") == ExitCode.OK
    o_id = next(i for i, e in cli.outlook.items().items() if e.subject == "Kundmöte")
    ids = {Side.SALJSTOD: s_id, Side.OUTLOOK: o_id}
    calendars = {Side.SALJSTOD: cli.saljstod, Side.OUTLOOK: cli.outlook}
    broken_id, partner_id = ids[broken_side], ids[broken_side.other]
    calendars[broken_side].add_broken(broken_id, "start is NULL", partner_key=partner_id)
    calendars[broken_side.other].update(partner_id, meeting("Kundmöte", location="Flyttat"))
    cli("sync")
    return broken_id, partner_id


@pytest.mark.parametrize("broken_side", [Side.SALJSTOD, Side.OUTLOOK])
def test_status_lists_the_held_item_and_counts_its_partner_waiting(
    cli: Cli, broken_side: Side
) -> None:
    broken_id, partner_id = _one_unreadable(cli, broken_side)
    assert cli("status") == ExitCode.OK
    assert _row(cli.out, "Quarantined items") == "1"
    assert _row(cli.out, "Waiting for retry") == "1"  # the partner's edit is kept
    (held,) = _held_lines(cli.out)
    assert held.startswith("held ")
    assert held.endswith(f" {broken_id}: start is NULL")
    assert "Sync running" not in cli.out
    code, data = cli.json("status")
    assert code == ExitCode.OK
    assert data["held"] == [{"side": broken_side.value, "item_id": broken_id,
                             "reason": "start is NULL"}]
    assert data["quarantined"] == 1
    assert data["pending_retries"] == 1
    assert data["lock_holder"] is None
    # repaired: the held list is empty again and the partner's edit went through
    calendars = {Side.SALJSTOD: cli.saljstod, Side.OUTLOOK: cli.outlook}
    calendars[broken_side].update(broken_id, meeting("Kundmöte"), partner_key=partner_id)
    assert cli("sync") == ExitCode.OK
    assert calendars[broken_side].items()[broken_id].location == "Flyttat"
    assert cli("status") == ExitCode.OK
    assert _row(cli.out, "Quarantined items") == "0"
    assert _row(cli.out, "Waiting for retry") == "0"
    assert _held_lines(cli.out) == []
    assert cli.json("status")[1]["held"] == []


def test_status_in_swedish_says_held_in_swedish(cli: Cli) -> None:
    broken_id, _partner = _one_unreadable(cli, Side.SALJSTOD)
    assert cli("--lang", "sv", "status") == ExitCode.OK
    assert _row(cli.out, "Undanlagda poster") == "1"
    assert _row(cli.out, "Väntar på nytt försök") == "1"
    (held,) = _held_lines(cli.out)
    assert held.startswith("hålls kvar ")
    assert held.endswith(f" {broken_id}: start is NULL")


@pytest.mark.parametrize("lang", ["en", "sv"])
def test_status_names_the_side_of_a_held_item_as_the_rest_of_the_cli_does(
    cli: Cli, lang: str
) -> None:
    broken_id, _partner = _one_unreadable(cli, Side.SALJSTOD)
    assert f"set aside Säljstöd {broken_id}" in cli.out  # what the sync said
    assert cli("--lang", lang, "status") == ExitCode.OK
    (held,) = _held_lines(cli.out)
    assert f"Säljstöd {broken_id}: start is NULL" in held


# -- a sync that is running ---------------------------------------------------------------


def _lease_until(value: str) -> dt.datetime:
    found = re.fullmatch(r".+ pid \d+ \(lease until (\S+)\)", value)
    assert found, value
    until = dt.datetime.fromisoformat(found.group(1))
    assert until.tzinfo is not None, value
    return until


def test_status_says_which_process_runs_a_sync_and_until_when_its_lease_lasts(
    cli: Cli, state_path: Path
) -> None:
    cli.saljstod.add(meeting("Kundmöte"))
    assert cli("sync") == ExitCode.OK
    other = SqliteStateStore(state_path)  # another process's sync, as far as status knows
    with other.lock("anna", ttl=TTL):
        before = dt.datetime.now(UTC)
        assert cli("status") == ExitCode.OK
        running = _row(cli.out, "Sync running")
        assert running.startswith(f"{socket.gethostname()} pid {os.getpid()} ")
        until = _lease_until(running)
        assert before < until <= dt.datetime.now(UTC) + TTL + dt.timedelta(seconds=2)
        # a row like the others: its value in the same column as theirs
        rows = [line for line in cli.out.splitlines() if line and not line.startswith(" ")]
        assert len(rows) == 10, cli.out  # the nine rows, the running sync, the state file
        assert len({len(line) - len(line.split(":", 1)[1].lstrip()) for line in rows}) == 1
        code, data = cli.json("status")
        assert code == ExitCode.OK
        assert data["lock_holder"] == running
        assert cli("--lang", "sv", "status") == ExitCode.OK
        assert _row(cli.out, "Synk pågår") == running
        assert cli("sync") == ExitCode.SYNC_IN_PROGRESS  # what the row warns of
    assert cli("status") == ExitCode.OK
    assert "Sync running" not in cli.out
    assert cli.json("status")[1]["lock_holder"] is None


def test_status_does_not_report_a_dead_holder_whose_lease_ran_out(
    cli: Cli, state_path: Path
) -> None:
    cli.saljstod.add(meeting("Kundmöte"))
    assert cli("sync") == ExitCode.OK
    connection = sqlite3.connect(state_path)
    connection.execute(
        "INSERT INTO outlook_sync_locks (user_name, owner, expires_at, holder) VALUES"
        " ('anna', 'dead', (julianday('now') - 2440587.5) * 86400.0 - 60, 'gone-host pid 1')")
    connection.commit()
    connection.close()
    assert cli("status") == ExitCode.OK
    assert "Sync running" not in cli.out
    assert "gone-host" not in cli.out
    assert cli.json("status")[1]["lock_holder"] is None
    assert cli("sync") == ExitCode.OK  # and a sync may run
