"""The legacy schema of docs/sql.md's worked example, for ``bench_sql.py``.

The DDL and the mapping are read from ``docs/sql.md`` itself (as
``tests/test_sql_legacy.py`` does), so the benchmark measures exactly the documented
layout: date and time columns, a naive ``andrad``, ``J``/``N`` flags, the user on the
activity row, a removal log.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from outlook_sync import InMemoryCalendar, Link, Side
from outlook_sync.adapters.sql import SqlCalendar, SqlMapping, upgrade
from outlook_sync.protocols import StateChange
from outlook_sync.sql.dialect import Dialect
from outlook_sync.state.sql import SqlStateStore

STOCKHOLM = ZoneInfo("Europe/Stockholm")
DOC = Path(__file__).resolve().parents[1] / "docs" / "sql.md"
COLUMNS = (
    "rubrik", "startdatum", "starttid", "slutdatum", "sluttid", "anvandare", "privat",
    "plats", "kund_id", "andrad",
)


def doc_block(first_line: str) -> str:
    """The fenced block of docs/sql.md whose first line is ``first_line``."""
    text = DOC.read_text(encoding="utf-8")
    for match in re.finditer(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M):
        if match.group(1).startswith(first_line):
            return match.group(1)
    raise LookupError(f"docs/sql.md has no block starting {first_line!r}")


def mapping() -> SqlMapping:
    """The worked example's mapping, from its TOML block."""
    toml = tomllib.loads(doc_block("# legacy example\n"))
    return SqlMapping.from_config(toml["saljstod"]["mapping"])


def create(host: Any, dialect: Dialect) -> None:
    """The legacy tables (and the sync's archive) on ``host`` (autocommit)."""
    if dialect.name == "sqlite":
        host.executescript(doc_block("-- legacy example: SQLite"))
    else:
        host.execute(doc_block("-- legacy example: PostgreSQL"))
    upgrade(host, dialect=dialect, state=False, reference_schema=False, archive=True)


def _wall(value: dt.datetime, dialect: Dialect) -> Any:
    local = value.astimezone(STOCKHOLM).replace(tzinfo=None, microsecond=0)
    return local.strftime("%Y-%m-%d %H:%M:%S") if dialect.name == "sqlite" else local


def rows(n: int, dialect: Dialect, user: str, seed: int = 3) -> Iterator[tuple[Any, ...]]:
    """N activities, changed over the past N minutes (oldest first)."""
    rng = random.Random(seed)
    first_day = dt.date(2025, 1, 6)
    now = dt.datetime.now(dt.UTC)
    sqlite = dialect.name == "sqlite"
    for number in range(n):
        day = first_day + dt.timedelta(days=rng.randrange(730))
        clock = dt.time(rng.randrange(7, 17), rng.choice((0, 15, 30, 45)))
        start: dt.time | None = clock
        end: dt.time | None = (dt.datetime.combine(day, clock) + dt.timedelta(minutes=45)).time()
        if rng.random() < 0.05:
            start = end = None  # a whole day
        changed = now - dt.timedelta(minutes=n - number + 60)
        yield (
            f"Kundbesök {number}",
            day.isoformat() if sqlite else day,
            (start.isoformat() if sqlite else start) if start else None,
            day.isoformat() if sqlite else day,
            (end.isoformat() if sqlite else end) if end else None,
            user,
            rng.choice(("J", "N", "N", "N")),
            rng.choice(("", "Kundens kontor", "Teams")),
            rng.randrange(1, 5000),
            _wall(changed, dialect),
        )


def seed(host: Any, dialect: Dialect, n: int, user: str) -> None:
    """Insert N activities of ``user`` with back-dated ``andrad``; ANALYZE."""
    data = rows(n, dialect, user)
    if dialect.name == "sqlite":
        host.execute("BEGIN IMMEDIATE")
        marks = ", ".join("?" * len(COLUMNS))
        host.executemany(f"INSERT INTO aktivitet ({', '.join(COLUMNS)}) VALUES ({marks})", data)
        host.execute("COMMIT")
    else:
        with (
            host.cursor() as cursor,
            cursor.copy(f"COPY aktivitet ({', '.join(COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in data:
                copy.write_row(row)
    host.execute("ANALYZE")


def seed_log(host: Any, dialect: Dialect, legacy: bool, n: int) -> None:
    """``n`` removals of *another* user in the deletion log (a log in use); ANALYZE."""
    table, columns = (
        ("aktivitet_borttagen", "aktivitet_id, anvandare, tidpunkt")
        if legacy
        else ("activity_deletions", "activity_id, user_id, deleted_at")
    )
    now = dt.datetime.now(dt.UTC)
    data = [
        (number, "bertil", dialect.timestamp_param(now - dt.timedelta(minutes=n - number)))
        for number in range(n)
    ]
    dialect.begin(host, write=True)
    dialect.executemany(host, f"INSERT INTO {table} ({columns}) VALUES (?, ?, ?)", data)
    host.commit()
    host.execute("ANALYZE")


def settle(
    sync_connection: Any, host: Any, dialect: Dialect, n: int, user: str
) -> tuple[InMemoryCalendar, SqlStateStore]:
    """Link every activity to an Outlook appointment, as a finished sync leaves them."""
    # Outlook ids O1, O2, ... in id order; the update must not look like host edits.
    if dialect.name == "postgresql":
        host.execute("ALTER TABLE aktivitet DISABLE TRIGGER aktivitet_andrad")
    host.execute("UPDATE aktivitet SET outlook_id = 'O' || id")
    if dialect.name == "postgresql":
        host.execute("ALTER TABLE aktivitet ENABLE TRIGGER aktivitet_andrad")
    host.execute("ANALYZE")
    saljstod = SqlCalendar(
        sync_connection, user=user, dialect=dialect, mapping=mapping(), lookback=dt.timedelta(0)
    )
    listing = saljstod.list_all()
    assert len(listing.items) == n, (len(listing.items), listing.broken[:3])
    outlook = InMemoryCalendar(name="outlook", id_prefix="O")
    links = []
    for item in sorted(listing.items, key=lambda i: int(i.id)):
        appointment = outlook.add(item.event, partner_key=item.id)
        assert appointment == item.partner_key, (appointment, item.partner_key)
        links.append((item, appointment))
    versions = {i.id: i.version for i in outlook.list_all().items}
    state = SqlStateStore(sync_connection, dialect=dialect)
    state.commit(
        user,
        StateChange(
            put_links=tuple(
                Link(
                    saljstod_id=item.id,
                    outlook_id=appointment,
                    base=item.event,
                    saljstod_version=item.version,
                    outlook_version=versions[appointment],
                )
                for item, appointment in links
            ),
            cursors=(
                (Side.SALJSTOD, listing.cursor),
                (Side.OUTLOOK, outlook.list_all().cursor),
            ),
            last_sync=dt.datetime.now(dt.UTC),
        ),
    )
    return outlook, state


def host_edits(host: Any, dialect: Dialect, n: int, edits: int) -> None:
    """The old application moves ``edits`` visits (it stamps ``andrad`` on SQLite)."""
    step = max(n // edits, 1)
    for number in range(edits):
        values: tuple[Any, ...] = (f"Flyttat {number}", 1 + number * step)
        sql = "UPDATE aktivitet SET plats = ? WHERE id = ?"
        if dialect.name == "sqlite":
            sql = "UPDATE aktivitet SET plats = ?, andrad = ? WHERE id = ?"
            values = (values[0], _wall(dt.datetime.now(dt.UTC), dialect), values[1])
        dialect.execute(host, sql, values)
        host.commit()


def query_plans(connection: Any, dialect: Dialect, calendar: SqlCalendar) -> dict[str, str]:
    """The plans of the three queries of an incremental listing (5 minutes back)."""
    watermark = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    prefix = "EXPLAIN QUERY PLAN " if dialect.name == "sqlite" else "EXPLAIN "
    plans = {}
    for name, (sql, params) in calendar.hot_queries(watermark).items():
        found = dialect.execute(connection, prefix + sql, params).fetchall()
        plans[name] = "\n".join(str(row[-1]) for row in found)
    connection.rollback()
    return plans
