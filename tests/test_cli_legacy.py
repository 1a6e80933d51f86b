"""The command line syncs a legacy Säljstöd table mapped in the configuration file.

The worked example of docs/sql.md, end to end through ``outlook-sync``: its SQLite DDL
makes the host's table, its ``[saljstod.mapping]`` TOML goes in the file, a Säljstöd
visit reaches the Outlook stand-in with its times, and the host's columns stay.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from outlook_sync.adapters.sql import upgrade

DOC = Path(__file__).resolve().parent.parent / "docs" / "sql.md"


def _block(language: str, marker: str) -> str:
    for body in re.findall(rf"```{language}\n(.*?)```", DOC.read_text("utf-8"), re.S):
        if marker in body:
            return str(body)
    raise AssertionError(f"no {language} block with {marker!r} in docs/sql.md")


def test_a_legacy_table_mapped_in_the_toml_file_syncs_from_the_command_line(
    tmp_path: Path,
) -> None:
    crm = sqlite3.connect(tmp_path / "crm.db")
    crm.executescript(_block("sql", "legacy example: SQLite"))
    crm.execute("INSERT INTO aktivitet (rubrik, startdatum, starttid, slutdatum, sluttid,"
                " anvandare, privat, kund_id, andrad) VALUES ('Besök hos kund', '2026-12-08',"
                " '09:30', '2026-12-08', '10:45', 'anna', 'J', 42, '2026-12-01 08:00:00')")
    crm.commit()
    outlook = sqlite3.connect(tmp_path / "outlook.db")
    upgrade(outlook)
    outlook.close()
    mapping = _block("toml", "legacy example").replace("[saljstod.mapping", "[saljstod.mapping")
    (tmp_path / "outlook-sync.toml").write_text(
        'user = "anna"\n\n[saljstod]\nbackend = "sql"\ndatabase = "sqlite"\npath = "crm.db"\n'
        'busy_timeout_seconds = 2\n\n'
        '[outlook]\nbackend = "sql"\ndatabase = "sqlite"\npath = "outlook.db"\n\n'
        '[state]\nbackend = "sqlite"\npath = "state.db"\n\n' + mapping,
        encoding="utf-8",
    )
    done = subprocess.run([sys.executable, "-m", "outlook_sync.cli", "sync"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = sqlite3.connect(tmp_path / "outlook.db").execute(
        "SELECT subject, starts_at, ends_at, private FROM activities").fetchall()
    assert len(rows) == 1
    subject, starts, ends, private = rows[0]
    assert subject == "Besök hos kund"
    assert "09:30" in starts or "08:30" in starts  # Swedish wall time, stored with offset
    assert "10:45" in ends or "09:45" in ends
    assert private == 1
    assert crm.execute("SELECT kund_id FROM aktivitet").fetchone() == (42,)
