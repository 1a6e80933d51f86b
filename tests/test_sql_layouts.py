"""Host layouts beyond the reference schema, on SQLite and PostgreSQL (issue 14, points 1-4, 8).

Each test builds the host's own table the way an older CRM has it and checks what a
user would notice: the times Outlook shows, that creates and updates from Outlook are
stored in the column's own type, that a mapping the adapter cannot read faithfully is
refused when the calendar is built (never at sync time), and that names in the new
mapping forms cannot inject SQL.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from typing import Any

import pytest

from outlook_sync import Event
from outlook_sync.adapters.sql import (
    ActivityColumns,
    DeletionLog,
    SoftDelete,
    SqlCalendar,
    SqlMapping,
)
from outlook_sync.errors import ConfigurationError
from outlook_sync.model import Cursor, Item
from tests.conftest import Host, SqlDatabase

STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")

#: A visit table with naive timestamps, a smallint flag and the user on the row.
BESOK = {
    "sqlite": """
        CREATE TABLE besok (id INTEGER PRIMARY KEY AUTOINCREMENT, rubrik TEXT NOT NULL,
            fran TEXT, till TEXT, privat SMALLINT NOT NULL DEFAULT 0, saljare TEXT NOT NULL,
            extern_id TEXT, andrad TEXT NOT NULL, rev INTEGER NOT NULL DEFAULT 1);
        CREATE TABLE besok_bort (besok_id INTEGER, saljare TEXT, tid TEXT);""",
    "postgresql": """
        CREATE TABLE besok (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            rubrik text NOT NULL, fran timestamp, till timestamp,
            privat smallint NOT NULL DEFAULT 0, saljare text NOT NULL, extern_id text,
            andrad timestamp NOT NULL, rev integer NOT NULL DEFAULT 1);
        CREATE TABLE besok_bort (besok_id bigint, saljare text, tid timestamp);""",
}


def besok_mapping(**kw: Any) -> SqlMapping:
    return SqlMapping(
        participants=None,
        activities=ActivityColumns(
            table="besok", subject="rubrik", starts_at="fran", ends_at="till",
            private="privat", owner="saljare", partner_key="extern_id", changed_at="andrad",
            version="rev", all_day=None, time_zone=None, location=None, notes=None,
            categories=None, show_as=None, reminder_minutes=None, created_by=None,
        ),
        **{
            "naive_time_zone": "Europe/Stockholm",
            "deletion_log": DeletionLog(
                table="besok_bort", activity_id="besok_id", user_id="saljare",
                deleted_at="tid", naive=True,
            ),
            **kw,
        },
    )


def create_tables(db: SqlDatabase, ddl: str) -> Any:
    connection = db.connect()
    for statement in filter(str.strip, ddl.split(";")):
        connection.execute(statement)
    connection.commit()
    return connection


def wall(value: dt.datetime, db: SqlDatabase) -> Any:
    local = value.astimezone(STOCKHOLM).replace(tzinfo=None)
    return local.strftime("%Y-%m-%d %H:%M:%S") if db.name == "sqlite" else local


def test_naive_timestamps_smallint_flags_and_the_user_on_the_row(sql_db: SqlDatabase) -> None:
    host = create_tables(sql_db, BESOK[sql_db.name])
    d = sql_db.dialect
    nine = dt.datetime(2024, 3, 4, 9, 30, tzinfo=STOCKHOLM)
    now = dt.datetime.now(dt.UTC)
    d.execute(
        host,
        "INSERT INTO besok (rubrik, fran, till, privat, saljare, andrad) VALUES (?, ?, ?, 1, ?, ?)",
        ("Kundbesök", wall(nine, sql_db), wall(nine + dt.timedelta(minutes=75), sql_db),
         "anna", wall(now, sql_db)),
    )
    host.commit()
    anna = SqlCalendar(sql_db.connect(), user="anna", mapping=besok_mapping(),
                       lookback=dt.timedelta(0))
    listing = anna.list_all()
    (visit,) = listing.items
    assert (visit.event.start, visit.event.end) == (nine, nine + dt.timedelta(minutes=75))
    assert visit.event.private is True
    # changed_at is a Swedish wall time too: read in that zone, close to now
    assert visit.changed is not None
    assert abs(visit.changed - now) < dt.timedelta(seconds=5)

    # a create from Outlook works with the user on the row, the flag in its own type
    made = anna.create(
        Event(subject="Från Outlook", start=nine + dt.timedelta(days=1),
              end=nine + dt.timedelta(days=1, hours=1), private=False),
        partner_key="AAMk-1",
    )
    row = d.execute(host, "SELECT saljare, extern_id, privat, fran FROM besok WHERE id = ?",
                    (int(made.id),)).fetchone()
    host.rollback()
    assert row[:3] == ("anna", "AAMk-1", 0)
    assert str(row[3]).replace("T", " ")[:16] == "2024-03-05 09:30"
    updated = anna.update(
        made.id, Event(subject="Från Outlook", start=made.event.start, end=made.event.end,
                       private=True),
        expected_version=made.version,
    )
    assert updated.event.private is True
    assert updated.version != made.version

    # the host edits the visit, stamping its own wall time: the next listing has it
    d.execute(host, "UPDATE besok SET rubrik = ?, andrad = ?, rev = rev + 1 WHERE id = ?",
              ("Kundbesök ändrat", wall(dt.datetime.now(dt.UTC), sql_db), int(visit.id)))
    host.commit()
    changes = anna.list_changes(listing.cursor)
    assert "Kundbesök ändrat" in {item.event.subject for item in changes.items}

    # a deletion logged with a naive time reaches the listing too
    d.execute(host, "DELETE FROM besok WHERE id = ?", (int(visit.id),))
    d.execute(host, "INSERT INTO besok_bort VALUES (?, 'anna', ?)",
              (int(visit.id), wall(dt.datetime.now(dt.UTC), sql_db)))
    host.commit()
    assert visit.id in anna.list_changes(listing.cursor).deleted


def test_a_change_in_the_repeated_autumn_hour_is_not_missed(sql_db: SqlDatabase) -> None:
    host = create_tables(sql_db, BESOK[sql_db.name])
    d = sql_db.dialect
    # The watermark was taken at 02:30 summer time; the row changed 20 minutes later,
    # at 02:10 winter time -- an earlier wall time, a later instant.
    first_pass = dt.datetime(2024, 10, 27, 2, 30, tzinfo=STOCKHOLM)  # fold=0: +02:00
    later = (first_pass.astimezone(dt.UTC) + dt.timedelta(minutes=40)).astimezone(STOCKHOLM)
    assert later.astimezone(STOCKHOLM).strftime("%H:%M") == "02:10"
    d.execute(
        host,
        "INSERT INTO besok (rubrik, fran, till, saljare, extern_id, andrad)"
        " VALUES ('Sent ändrad', ?, ?, 'anna', 'AAMk-9', ?)",
        (wall(first_pass, sql_db), wall(first_pass + dt.timedelta(hours=2), sql_db),
         wall(later, sql_db)),
    )
    host.commit()
    anna = SqlCalendar(sql_db.connect(), user="anna", mapping=besok_mapping(),
                       lookback=dt.timedelta(0))
    listing = anna.list_changes(Cursor(watermark=first_pass))
    assert [item.event.subject for item in listing.items] == ["Sent ändrad"]


DATES_ONLY = {
    "sqlite": "CREATE TABLE akt (id INTEGER PRIMARY KEY, rubrik TEXT, dag DATE, slutdag DATE,"
              " vem TEXT, nyckel TEXT, andrad TEXT, version INTEGER, privat CHAR(1))",
    "postgresql": "CREATE TABLE akt (id serial PRIMARY KEY, rubrik text, dag date,"
                  " slutdag date, vem text, nyckel text, andrad timestamptz, version integer,"
                  " privat char(1))",
}


def akt(**kw: Any) -> SqlMapping:
    columns: dict[str, Any] = {
        "table": "akt", "subject": "rubrik", "starts_at": "dag", "ends_at": "slutdag",
        "owner": "vem", "partner_key": "nyckel", "changed_at": "andrad", "private": None,
        "all_day": None, "time_zone": None, "location": None, "notes": None,
        "categories": None, "show_as": None, "reminder_minutes": None, "created_by": None,
    }
    return SqlMapping(
        participants=None, deletion_log=None, soft_delete=SoftDelete(column="rubrik"),
        activities=ActivityColumns(**{**columns, **kw.pop("columns", {})}), **kw,
    )


def test_a_mapping_that_cannot_be_read_faithfully_is_refused_when_built(
    sql_db: SqlDatabase,
) -> None:
    connection = create_tables(sql_db, DATES_ONLY[sql_db.name])
    # dates only: every visit would read as midnight
    with pytest.raises(ConfigurationError, match="holds dates only") as caught:
        SqlCalendar(connection, user="anna", mapping=akt())
    assert caught.value.key == "activities.starts_at"
    # a J/N column without its two values
    with pytest.raises(ConfigurationError, match="character column") as caught:
        SqlCalendar(connection, user="anna", mapping=akt(
            naive_time_zone="Europe/Stockholm",
            columns={"start_time": "rubrik", "end_time": "rubrik", "private": "privat"}))
    assert caught.value.key == "flags.private"
    # a column that is not there
    with pytest.raises(ConfigurationError, match="no column 'fran'") as caught:
        SqlCalendar(connection, user="anna", mapping=akt(columns={"starts_at": "fran"}))
    assert caught.value.key == "activities.starts_at"


def test_naive_timestamps_without_a_zone(sql_db: SqlDatabase) -> None:
    """PostgreSQL knows the column type: refused when built. SQLite has no types: each
    row without offset is quarantined with the reason, never read in a guessed zone."""
    host = create_tables(sql_db, BESOK[sql_db.name])
    mapping = besok_mapping(naive_time_zone=None, deletion_log=None,
                            soft_delete=SoftDelete(column="extern_id"))
    if sql_db.name == "postgresql":
        with pytest.raises(ConfigurationError, match="without time zone") as caught:
            SqlCalendar(host, user="anna", mapping=mapping)
        assert caught.value.key == "naive_time_zone"
        return
    host.execute("INSERT INTO besok (rubrik, fran, till, saljare, andrad) VALUES"
                 " ('Naiv', '2024-03-04 09:00:00', '2024-03-04 10:00:00', 'anna',"
                 " '2024-03-04 08:00:00')")
    host.commit()
    (broken,) = SqlCalendar(host, user="anna", mapping=mapping).list_all().broken
    assert "no UTC offset" in broken.reason


def test_a_sqlite_view_is_refused_and_a_postgresql_view_is_written_through(
    host: Host,
) -> None:
    host.run("CREATE VIEW v_activities AS SELECT * FROM activities")
    mapping = SqlMapping(activities=ActivityColumns(table="v_activities"))
    connection = host.db.connect()
    if host.db.name == "sqlite":
        with pytest.raises(ConfigurationError, match="map its base table") as caught:
            SqlCalendar(connection, user="anna", mapping=mapping)
        assert caught.value.key == "activities.table"
        return
    anna = SqlCalendar(connection, user="anna", mapping=mapping)
    start = dt.datetime(2024, 3, 4, 9, tzinfo=STOCKHOLM)
    made = anna.create(Event(subject="Via vyn", start=start, end=start + dt.timedelta(hours=1)),
                       partner_key="AAMk-v")
    assert host.row(made.id, "subject") == ("Via vyn",)
    anna.delete(made.id, expected_version=made.version)
    assert host.row(made.id, "subject") == ()


class JsonCategories:
    """Categories stored as a JSON array (the codec example of docs/sql.md)."""

    def decode(self, raw: Any) -> str:
        return ";".join(json.loads(raw))

    def encode(self, value: Any) -> str:
        return json.dumps([name for name in value.split(";") if name])


def test_a_per_column_codec_converts_what_the_adapter_cannot_know(host: Host) -> None:
    good = host.book("Offert", categories='["Kund", "Offert"]')
    bad = host.book("Trasig", categories="[not json")
    anna = SqlCalendar(host.db.connect(), user="anna",
                       mapping=SqlMapping(codecs={"categories": JsonCategories()}))
    listing = anna.list_all()
    (item,) = listing.items
    assert (item.id, item.event.categories) == (good, ("Kund", "Offert"))
    (broken,) = listing.broken
    assert broken.id == bad
    assert broken.reason.startswith("categories:")
    made = anna.create(Event(subject="Ny", start=item.event.start, end=item.event.end,
                             categories=("Möte", "Kund")), partner_key="AAMk-c")
    assert sorted(json.loads(host.row(made.id, "categories")[0])) == ["Kund", "Möte"]
    assert isinstance(anna.get(made.id), Item)


@pytest.mark.parametrize(
    ("where", "table", "key"),
    [
        ("start_time", {"activities": {"start_time": 'x"; DROP TABLE activities; --',
                                       "end_time": "y"}}, "activities.start_time"),
        ("owner", {"participants": False,
                   "activities": {"owner": "a b", "partner_key": "k"}}, "activities.owner"),
        ("partner_key", {"participants": False,
                         "activities": {"owner": "a", "partner_key": "1x"}},
         "activities.partner_key"),
        ("deletion_log", {"deletion_log": {"deleted_at": "t; DELETE FROM x"}},
         "deletion_log.deleted_at"),
        ("schema", {"schema": "public.x"}, "schema"),
        ("flags", {"flags": {"subject; --": ["J", "N"]}}, "codecs.subject; --"),
        ("codecs", {"codecs": {"notes": "os:system"}}, "codecs.notes"),
    ],
)
def test_names_in_the_new_mapping_forms_cannot_inject_sql(
    where: str, table: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        SqlMapping.from_config(table)
    assert caught.value.key == f"mapping.{key}", where


def test_python_mappings_refuse_the_same_names() -> None:
    with pytest.raises(ConfigurationError, match="plain SQL identifier"):
        ActivityColumns(start_time='t"--', end_time="e")
    with pytest.raises(ConfigurationError, match="plain SQL identifier"):
        ActivityColumns(owner="o; DROP TABLE x", partner_key="k")
    with pytest.raises(ConfigurationError, match="go together"):
        ActivityColumns(start_time="t")
    with pytest.raises(ConfigurationError, match="naive_time_zone"):
        SqlMapping(activities=ActivityColumns(start_time="t", end_time="e"))


def test_the_configuration_file_carries_the_mapping_table() -> None:
    from outlook_sync.config import parse_config

    def sql(extra: str) -> dict[str, Any]:
        import tomllib

        return tomllib.loads(
            'user = "anna"\n[outlook]\nbackend = "memory"\n'
            f'[saljstod]\nbackend = "sql"\npath = "crm.db"\n{extra}'
        )

    config = parse_config(sql('busy_timeout_seconds = 2\n[saljstod.mapping]\nid_type = "text"\n'))
    assert config.saljstod.get("busy_timeout_seconds") == 2.0
    assert SqlMapping.from_config(config.saljstod.get("mapping")).id_type == "text"
    with pytest.raises(ConfigurationError) as caught:
        parse_config(sql('mapping = "aktivitet"\n'))
    assert caught.value.key == "saljstod.mapping"
    with pytest.raises(ConfigurationError) as caught:
        SqlMapping.from_config({"activites": {"table": "x"}})  # a typo is named
    assert caught.value.key == "mapping.activites"
