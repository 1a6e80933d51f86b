"""The worked example of docs/sql.md, run exactly: a Swedish legacy schema, both dialects.

The SQL blocks, the TOML mapping and the Python mapping are read from ``docs/sql.md``
itself, so the page cannot drift from what works. The Säljstöd application is plain SQL
on its own connection; Outlook users act on ``InMemoryCalendar``\\ s; syncs go through
the engine.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
import zoneinfo
from pathlib import Path
from typing import Any

import pytest

from outlook_sync import Event, InMemoryCalendar, MemoryStateStore, Synchronizer, SyncReport
from outlook_sync.adapters.sql import Flag, SqlCalendar, SqlMapping, upgrade
from outlook_sync.config import parse_config
from outlook_sync.errors import ItemNotFoundError
from tests.conftest import SqlDatabase

STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")
DOC = (Path(__file__).parents[1] / "docs" / "sql.md").read_text(encoding="utf-8")


def doc_block(first_line: str) -> str:
    """The fenced block of docs/sql.md whose first line is ``first_line``."""
    for match in re.finditer(r"^```[a-z]*\n(.*?)^```", DOC, re.S | re.M):
        if match.group(1).startswith(first_line):
            return match.group(1)
    raise AssertionError(f"docs/sql.md has no block starting {first_line!r}")


def doc_mapping() -> SqlMapping:
    """The TOML mapping of the worked example, through the configuration file parser."""
    toml = doc_block("# legacy example\n")
    config = parse_config(
        tomllib.loads(
            'user = "anna"\n[outlook]\nbackend = "memory"\n'
            + toml.replace("[saljstod.mapping]", '[saljstod]\nbackend = "sql"\n'
                           'path = "crm.db"\n\n[saljstod.mapping]', 1)
        )
    )
    return SqlMapping.from_config(config.saljstod.get("mapping"))


class LegacyHost:
    """The old Säljstöd application: its own SQL on its own connection."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db
        self.c = db.connect()
        self.d = db.dialect
        if db.name == "sqlite":
            self.c.executescript(doc_block("-- legacy example: SQLite"))
        else:
            self.c.execute(doc_block("-- legacy example: PostgreSQL"))
        self.c.commit()
        upgrade(self.c, state=False, reference_schema=False, archive=True)

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        cursor = self.d.execute(self.c, sql, params)
        rows = cursor.fetchall() if cursor.description else []
        self.c.commit()
        return list(rows)

    def _stamp(self, values: dict[str, Any]) -> dict[str, Any]:
        if self.db.name == "sqlite":  # the application writes its own Swedish wall time
            values["andrad"] = dt.datetime.now(STOCKHOLM).strftime("%Y-%m-%d %H:%M:%S")
        return values

    def book(self, rubrik: str, day: str, start: str | None, end: str | None, **cols: Any) -> str:
        values = self._stamp(
            {"rubrik": rubrik, "startdatum": day, "starttid": start, "slutdatum": day,
             "sluttid": end, "anvandare": "anna", **cols}
        )
        if self.db.name == "postgresql":
            values = {k: self._pg(k, v) for k, v in values.items()}
        names = ", ".join(values)
        marks = ", ".join("?" * len(values))
        sql = f"INSERT INTO aktivitet ({names}) VALUES ({marks}) RETURNING id"
        return str(self.run(sql, tuple(values.values()))[0][0])

    @staticmethod
    def _pg(name: str, value: Any) -> Any:
        if value is None:
            return None
        if name in ("startdatum", "slutdatum"):
            return dt.date.fromisoformat(value)
        if name in ("starttid", "sluttid"):
            return dt.time.fromisoformat(value)
        return value

    def edit(self, activity_id: str, **cols: Any) -> None:
        values = self._stamp(dict(cols))
        sets = ", ".join(f"{name} = ?" for name in values)
        self.run(f"UPDATE aktivitet SET {sets} WHERE id = ?", (*values.values(), int(activity_id)))

    def row(self, activity_id: str, *columns: str) -> tuple[Any, ...]:
        rows = self.run(
            f"SELECT {', '.join(columns)} FROM aktivitet WHERE id = ?", (int(activity_id),)
        )
        return tuple(rows[0]) if rows else ()

    def count(self) -> int:
        return int(self.run("SELECT count(*) FROM aktivitet")[0][0])


class LegacyOffice:
    """Everybody's Outlook and one sync process (its own connection, state in memory)."""

    def __init__(self, host: LegacyHost, mapping: SqlMapping) -> None:
        self.host = host
        self.mapping = mapping
        self.connection = host.db.connect()
        self.state = MemoryStateStore()
        self.outlook: dict[str, InMemoryCalendar] = {}

    def outlook_of(self, user: str) -> InMemoryCalendar:
        return self.outlook.setdefault(user, InMemoryCalendar(name=user, id_prefix=f"O-{user}-"))

    def saljstod(self, user: str) -> SqlCalendar:
        return SqlCalendar(
            self.connection, user=user, mapping=self.mapping, lookback=dt.timedelta(0)
        )

    def sync(self, user: str) -> SyncReport:
        report = Synchronizer(
            saljstod=self.saljstod(user), outlook=self.outlook_of(user), state=self.state,
            user=user,
        ).sync()
        assert report.error is None, report.error
        return report

    def find(self, user: str, subject: str) -> tuple[str, Event]:
        items = self.outlook_of(user).items().items()
        (found,) = [(i, e) for i, e in items if e.subject == subject]
        return found


@pytest.fixture
def legacy(sql_db: SqlDatabase) -> LegacyHost:
    return LegacyHost(sql_db)


def test_the_toml_and_the_python_mapping_of_the_example_are_the_same() -> None:
    namespace: dict[str, Any] = {}
    exec(doc_block("# legacy example (Python)"), namespace)  # our own docs
    assert namespace["mapping"] == doc_mapping()
    assert doc_mapping().codecs == {"private": Flag("J", "N")}


def test_the_worked_example_syncs_a_swedish_legacy_schema(legacy: LegacyHost) -> None:
    office = LegacyOffice(legacy, doc_mapping())
    visit = legacy.book("Kundbesök Ågrens", "2024-03-04", "09:30", "10:45",
                        privat="J", kund_id=7, kontakt_id=70)
    legacy.book("Mässa", "2024-03-06", None, None)  # a whole day: no times

    office.sync("anna")
    _oid, event = office.find("anna", "Kundbesök Ågrens")
    assert event.start == dt.datetime(2024, 3, 4, 9, 30, tzinfo=STOCKHOLM)
    assert event.end == dt.datetime(2024, 3, 4, 10, 45, tzinfo=STOCKHOLM)
    assert event.private is True
    _oid, fair = office.find("anna", "Mässa")
    assert (fair.all_day, fair.start, fair.end) == (True, dt.date(2024, 3, 6), dt.date(2024, 3, 7))

    # an appointment made in Outlook becomes a row of the old table
    office.outlook_of("anna").add(Event(
        subject="Tandläkare",
        start=dt.datetime(2024, 3, 5, 14, 15, tzinfo=STOCKHOLM),
        end=dt.datetime(2024, 3, 5, 15, 0, tzinfo=STOCKHOLM),
    ))
    office.sync("anna")
    (made,) = legacy.run(
        "SELECT anvandare, privat, startdatum, starttid, slutdatum, sluttid, outlook_id"
        " FROM aktivitet WHERE rubrik = 'Tandläkare'"
    )
    assert made[:2] == ("anna", "N")
    assert [str(v)[:5] for v in made[2:6]] == ["2024-", "14:15", "2024-", "15:00"]
    assert str(made[2]) == "2024-03-05"
    assert made[6] is not None

    # an edit in Outlook reaches rubrik, and never touches the host's own columns
    oid, event = office.find("anna", "Kundbesök Ågrens")
    office.outlook_of("anna").update(oid, Event(
        subject="Kundbesök Ågrens AB", start=event.start, end=event.end, private=True
    ))
    office.sync("anna")
    assert legacy.row(visit, "rubrik", "kund_id", "kontakt_id", "privat") == (
        "Kundbesök Ågrens AB", 7, 70, "J"
    )

    # a host edit is found through the naive andrad column
    legacy.edit(visit, starttid="10:00" if legacy.db.name == "sqlite" else dt.time(10, 0))
    office.sync("anna")
    assert office.find("anna", "Kundbesök Ågrens AB")[1].start == dt.datetime(
        2024, 3, 4, 10, 0, tzinfo=STOCKHOLM
    )

    # moved to Bertil: out of Anna's Outlook, into Bertil's; still one activity
    before = legacy.count()
    legacy.edit(visit, anvandare="bertil")
    office.sync("anna")
    anna_subjects = {e.subject for e in office.outlook_of("anna").items().values()}
    assert "Kundbesök Ågrens AB" not in anna_subjects
    office.sync("bertil")
    oid, moved = office.find("bertil", "Kundbesök Ågrens AB")
    assert legacy.count() == before
    assert legacy.row(visit, "outlook_id") == (oid,)

    # Bertil deletes it in Outlook: the sync deletes the row; restore brings back the same
    # activity, customer and contact included
    office.outlook_of("bertil").delete(oid)
    office.sync("bertil")
    assert legacy.row(visit, "id") == ()
    restored, lost = office.saljstod("bertil").restore(visit, moved, partner_key="O-bertil-new")
    assert (restored.id, lost) == (visit, ())
    assert legacy.row(visit, "rubrik", "kund_id", "kontakt_id", "anvandare", "outlook_id") == (
        "Kundbesök Ågrens AB", 7, 70, "bertil", "O-bertil-new"
    )
    with pytest.raises(ItemNotFoundError):  # kept once: the archive entry is used up
        office.saljstod("anna").restore(visit, moved, partner_key="x")
