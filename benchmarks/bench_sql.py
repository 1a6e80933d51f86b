"""Benchmark of the SQL Säljstöd adapter: SQLite and PostgreSQL <-> an in-memory Outlook.

Usage::

    python benchmarks/bench_sql.py             # N = 10 000 and 100 000 (about 10 minutes)
    python benchmarks/bench_sql.py --quick     # N = 10 000 only (CI)
    python benchmarks/bench_sql.py --json      # one JSON object per measurement and line
    python benchmarks/bench_sql.py --dialects sqlite --scenarios incremental --sizes 100000
    python benchmarks/bench_sql.py --schemas legacy --plans   # the legacy mapping, with plans

PostgreSQL comes from ``$OUTLOOK_SYNC_PG_DSN`` or, when the server binaries are
installed, a throwaway cluster this script starts (and removes); without either the
PostgreSQL rows are skipped with a note (``--json``: ``{"skipped": ...}``).

Scenarios (issue 3, "Benchmark"), for one user with N activities:

- **initial**: N activities in the Säljstöd database, Outlook empty, never synced. A
  whole ``Synchronizer.sync()``: the complete listing, N creates in Outlook, N
  partner-key stamps in the participants table, N link commits.
- **incremental**: N activities already linked to N Outlook appointments (seeded
  directly, as a settled sync leaves them), then the host application edits 10
  activities. A whole ``sync()``; the figure that matters is ``db_seconds``.
- **changed_since**: the same world; ``SqlCalendar.list_changes(cursor)`` alone -- the
  changed-since, unlinked and deletion-log queries plus decoding. ``--plans`` prints the
  three queries' plans (``EXPLAIN QUERY PLAN`` / ``EXPLAIN``).

Schemas (``--schemas``): ``reference`` (the shipped tables) and ``legacy`` -- the Swedish
legacy table of docs/sql.md's worked example, through its documented mapping (date and
time columns, a naive ``andrad``, J/N flags, the user on the row; ``sql_legacy.py``).
The legacy schema runs the incremental and changed-since scenarios (issue 14: its
incremental sync at 100 000 activities must cost the same order as the reference's).

How it measures:

- One fresh child process per measurement (this script with ``--child``), a fresh
  database each time (a SQLite file in a temporary directory; a fresh schema on the
  PostgreSQL server). SQLite runs in WAL mode with ``synchronous=NORMAL``, as
  ``SqliteStateStore`` does; the throwaway PostgreSQL cluster runs with ``fsync=off``.
- The sync runs as ``docs/sql.md`` recommends: one connection, ``SqlStateStore`` and
  ``SqlCalendar(commit=False)`` sharing it, so each activity commits with its link.
- ``seconds`` is wall time of the measured stage only (seeding is setup).
  ``db_seconds`` is the part of it spent inside the database driver (execute, fetch,
  commit), measured by a thin timing wrapper around the connection. ``cpu_seconds`` is
  the child's CPU time for the stage: on a machine shared with other work, wall time
  grows with the load and CPU time does not (a PostgreSQL server's CPU is not in it).
  ``peak_rss_mb`` is the child's peak RSS while the stage ran (the peak is reset before
  it through ``/proc/self/clear_refs``; ``rss_scope`` says ``process`` where it could not).
- Sanity checks: the initial sync must report exactly N Outlook creates and no failure
  and leave N appointments; the incremental sync exactly 10 Outlook updates; the
  changed-since listing exactly the 10 edited activities; the changed-since query's plan
  must use the ``activities_changed_at`` index (``uses_index``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import random
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sql_legacy
from rss import maxrss_mb, reset_peak_rss

from outlook_sync import InMemoryCalendar, Link, ShowAs, Side, Synchronizer
from outlook_sync.adapters.sql import SqlCalendar, upgrade
from outlook_sync.adapters.sql.dialect import Dialect, dialect_for
from outlook_sync.adapters.sql.schema import _SQLITE_V1
from outlook_sync.model import Cursor, Listing
from outlook_sync.protocols import StateChange
from outlook_sync.state.sql import SqlStateStore

SCENARIOS = ("initial", "incremental", "changed_since")
SCHEMAS = ("reference", "legacy")
DIALECTS = ("sqlite", "postgresql")
FULL_SIZES = (10_000, 100_000)
QUICK_SIZES = (10_000,)
EDITS = 10
USER = "anna"
STOCKHOLM = ZoneInfo("Europe/Stockholm")
PG_DSN_ENV = "OUTLOOK_SYNC_PG_DSN"

# -- timing the database driver ------------------------------------------------------------


class TimedCursor:
    """A DB-API cursor that adds the time spent in the driver to its connection's total."""

    def __init__(self, owner: TimedConnection, inner: Any) -> None:
        self._owner = owner
        self._inner = inner

    def _timed(self, name: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return getattr(self._inner, name)(*args, **kwargs)
        finally:
            self._owner.seconds += time.perf_counter() - started

    def execute(self, *args: Any, **kwargs: Any) -> TimedCursor:
        self._timed("execute", *args, **kwargs)
        return self

    def executemany(self, *args: Any, **kwargs: Any) -> None:
        self._timed("executemany", *args, **kwargs)

    def fetchall(self) -> Any:
        return self._timed("fetchall")

    def fetchone(self) -> Any:
        return self._timed("fetchone")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class TimedConnection:
    """Wraps a sqlite3 / psycopg connection; ``seconds`` is the time spent in the driver."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.seconds = 0.0

    def cursor(self, *args: Any, **kwargs: Any) -> TimedCursor:
        return TimedCursor(self, self._inner.cursor(*args, **kwargs))

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        return TimedCursor(self, self._inner.cursor()).execute(*args, **kwargs)

    def commit(self) -> None:
        started = time.perf_counter()
        try:
            self._inner.commit()
        finally:
            self.seconds += time.perf_counter() - started

    def rollback(self) -> None:
        started = time.perf_counter()
        try:
            self._inner.rollback()
        finally:
            self.seconds += time.perf_counter() - started

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class CountingCalendar:
    """Delegates to a calendar and remembers how many items its listings returned."""

    def __init__(self, inner: SqlCalendar) -> None:
        self._inner = inner
        self.listed = 0

    def list_changes(self, cursor: Cursor) -> Listing:
        listing = self._inner.list_changes(cursor)
        self.listed += len(listing.items) + len(listing.broken) + len(listing.deleted)
        return listing

    def list_all(self) -> Listing:
        listing = self._inner.list_all()
        self.listed += len(listing.items) + len(listing.broken)
        return listing

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


# -- a database per measurement ---------------------------------------------------------------


@contextmanager
def database(dialect: str) -> Iterator[tuple[Any, Any]]:
    """``(sync connection, host connection)`` to a fresh, upgraded database."""
    if dialect == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench_sql_") as folder:
            path = Path(folder) / "saljstod.db"
            connections = [sqlite3.connect(path, isolation_level=None, timeout=60)]
            connections[0].execute("PRAGMA journal_mode=WAL")
            connections.append(sqlite3.connect(path, isolation_level=None, timeout=60))
            for connection in connections:
                connection.execute("PRAGMA synchronous=NORMAL")
            upgrade(connections[0])
            try:
                yield connections[0], connections[1]
            finally:
                for connection in connections:
                    connection.close()
        return
    import psycopg

    dsn = os.environ[PG_DSN_ENV]
    schema = f"bench_{secrets.token_hex(5)}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        sync = psycopg.connect(dsn, options=f"-c search_path={schema}")
        host = psycopg.connect(dsn, options=f"-c search_path={schema}", autocommit=True)
        upgrade(sync)
        try:
            yield sync, host
        finally:
            sync.close()
            host.close()
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


SUBJECTS = (
    "Kundmöte",
    "Uppföljning",
    "Offertgenomgång",
    "Demo",
    "Telefonmöte",
    "Avtalsförhandling",
    "Lunch",
    "Serviceärende",
    "Leveransavstämning",
    "Workshop",
)
CUSTOMERS = (
    "Ågrens Åkeri",
    "Norrbygg AB",
    "Lundqvist & Söner",
    "Sjöfartsverket",
    "Kiruna El",
    "Bergström Konsult",
    "Västkustfisk",
    "Ölands Handel",
    "Mälardalens VVS",
    "Tjänstebolaget",
)
PLACES = ("", "Kundens kontor", "Teams", "Storgatan 1, Umeå", "Rum Aurora", "Telefon")


def activity_rows(n: int, dialect: Dialect, seed: int = 3) -> Iterator[tuple[Any, ...]]:
    """N realistic activities, changed over the past N minutes (oldest first)."""
    rng = random.Random(seed)
    first_day = dt.datetime(2025, 1, 6, tzinfo=STOCKHOLM)
    now = dt.datetime.now(dt.UTC)
    for number in range(n):
        day = first_day + dt.timedelta(days=rng.randrange(730))
        if rng.random() < 0.05:
            start: dt.datetime = dt.datetime.combine(day.date(), dt.time(), dt.UTC)
            end = start + dt.timedelta(days=1)
            all_day, zone = True, None
        else:
            start = day.replace(hour=rng.randrange(7, 17), minute=rng.choice((0, 15, 30, 45)))
            end = start + dt.timedelta(minutes=rng.choice((30, 45, 60, 90)))
            all_day, zone = False, "Europe/Stockholm"
        customer = rng.choice(CUSTOMERS)
        notes = f"Kontakt: {customer}. " + "Agenda: status, offert, nästa steg. " * rng.randrange(4)
        changed = now - dt.timedelta(minutes=n - number + 60)
        values: tuple[Any, ...] = (
            f"{rng.choice(SUBJECTS)} {customer}",
            start,
            end,
            all_day,
            zone,
            rng.choice(PLACES),
            notes.strip(),
            rng.choice(("", "", "Kund", "Kund;Viktigt", "Intern")),
            rng.choice((ShowAs.BUSY, ShowAs.BUSY, ShowAs.BUSY, ShowAs.TENTATIVE)).value,
            rng.random() < 0.05,
            rng.choice((None, 15, 15, 30)),
            USER,
            changed,
        )
        if dialect.name == "sqlite":
            values = (
                values[0],
                start.isoformat(),
                end.isoformat(),
                int(all_day),
                zone,
                *values[5:9],
                int(values[9]),
                values[10],
                USER,
                dialect.timestamp_param(changed),
            )
        yield values


COLUMNS = (
    "subject",
    "starts_at",
    "ends_at",
    "all_day",
    "time_zone",
    "location",
    "notes",
    "categories",
    "show_as",
    "private",
    "reminder_minutes",
    "created_by",
    "changed_at",
)


def seed(host: Any, dialect: Dialect, n: int) -> None:
    """Insert N activities on the user's calendar with back-dated server stamps.

    The stamp trigger is switched off for the load (as for a one-off import), so the
    activities look changed over the past N minutes rather than all just now.
    """
    rows = activity_rows(n, dialect)
    if dialect.name == "sqlite":
        host.execute("BEGIN IMMEDIATE")
        host.execute("DROP TRIGGER activities_stamp_insert")
        marks = ", ".join("?" * len(COLUMNS))
        host.executemany(f"INSERT INTO activities ({', '.join(COLUMNS)}) VALUES ({marks})", rows)
        host.execute(next(s for s in _SQLITE_V1 if "TRIGGER activities_stamp_insert" in s))
        host.execute(
            "INSERT INTO activity_participants (activity_id, user_id) SELECT id, ? FROM activities",
            (USER,),
        )
        host.execute("COMMIT")
        host.execute("ANALYZE")
        return
    host.execute("ALTER TABLE activities DISABLE TRIGGER activities_stamp")
    with (
        host.cursor() as cursor,
        cursor.copy(f"COPY activities ({', '.join(COLUMNS)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
    host.execute("ALTER TABLE activities ENABLE TRIGGER activities_stamp")
    host.execute(
        "INSERT INTO activity_participants (activity_id, user_id) SELECT id, %s FROM activities",
        (USER,),
    )
    host.execute("ANALYZE")


def settle(
    sync_connection: Any, host: Any, dialect: Dialect, n: int
) -> tuple[InMemoryCalendar, SqlStateStore]:
    """Link every activity to an Outlook appointment, as a finished sync leaves them."""
    saljstod = SqlCalendar(sync_connection, user=USER, dialect=dialect, lookback=dt.timedelta(0))
    listing = saljstod.list_all()
    assert len(listing.items) == n, len(listing.items)
    assert not listing.broken, listing.broken[:3]
    outlook = InMemoryCalendar(name="outlook", id_prefix="O")
    links = []
    pairs = []
    for item in listing.items:
        appointment = outlook.add(item.event, partner_key=item.id)
        pairs.append((appointment, item.id))
        links.append((item, appointment))
    versions = {i.id: i.version for i in outlook.list_all().items}
    dialect.begin(host, write=True)
    dialect.executemany(
        host,
        "UPDATE activity_participants SET outlook_id = ? WHERE activity_id = ? AND user_id = ?",
        [(appointment, int(activity), USER) for appointment, activity in pairs],
    )
    host.commit()
    host.execute("ANALYZE")
    state = SqlStateStore(sync_connection, dialect=dialect)
    watermark = saljstod.list_all().cursor
    state.commit(
        USER,
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
                (Side.SALJSTOD, watermark),
                (Side.OUTLOOK, outlook.list_all().cursor),
            ),
            last_sync=dt.datetime.now(dt.UTC),
        ),
    )
    return outlook, state


def host_edits(host: Any, dialect: Dialect, n: int) -> None:
    step = max(n // EDITS, 1)
    for number in range(EDITS):
        dialect.execute(
            host,
            "UPDATE activities SET location = ? WHERE id = ?",
            (f"Flyttat {number}", 1 + number * step),
        )
        host.commit()


# -- measuring (in the child process) ---------------------------------------------------------




def measure(scenario: str, dialect_name: str, n: int, schema: str = "reference") -> dict[str, Any]:
    """Set up ``scenario``, run and time its stage once, check the outcome."""
    dialect = dialect_for(None, dialect_name)
    legacy = schema == "legacy"
    if legacy and scenario == "initial":
        raise SystemExit("the legacy schema runs the incremental and changed_since scenarios")
    with database(dialect_name) as (raw, host):
        if legacy:
            sql_legacy.create(host, dialect)
            sql_legacy.seed(host, dialect, n, USER)
        else:
            seed(host, dialect, n)
        if dialect.name == "sqlite":
            host.commit()
        sql_legacy.seed_log(host, dialect, legacy, max(n // 10, 1))
        timed = TimedConnection(raw)
        extra: dict[str, Any] = {"schema": schema}
        mapping = sql_legacy.mapping() if legacy else None
        if scenario == "initial":
            outlook = InMemoryCalendar(name="outlook", id_prefix="O")
            state = SqlStateStore(timed, dialect=dialect)
        elif legacy:
            outlook, state = sql_legacy.settle(timed, host, dialect, n, USER)
            sql_legacy.host_edits(host, dialect, n, EDITS)
        else:
            outlook, state = settle(timed, host, dialect, n)
            host_edits(host, dialect, n)
        if scenario != "initial":
            plans = sql_legacy.query_plans(
                timed, dialect, SqlCalendar(timed, user=USER, dialect=dialect, mapping=mapping)
            )
            index = "aktivitet_andrad" if legacy else "activities_changed_at"
            # the activity queries must use their indexes (a small deletion log may be
            # read whole on PostgreSQL: its plan is printed with --plans)
            extra["uses_index"] = index in plans["changed since"] and not any(
                "Seq Scan" in plans[name] or "SCAN " in plans[name]
                for name in ("changed since", "unlinked")
            )
            if scenario == "changed_since":
                extra["plans"] = plans
        saljstod = CountingCalendar(
            SqlCalendar(timed, user=USER, dialect=dialect, commit=False, mapping=mapping)
        )
        sync = Synchronizer(saljstod=saljstod, outlook=outlook, state=state, user=USER)
        gc.collect()
        setup_peak = maxrss_mb()
        scope = "stage" if reset_peak_rss() else "process"
        timed.seconds = 0.0
        cpu_started = time.process_time()
        started = time.perf_counter()
        if scenario == "changed_since":
            listing = saljstod.list_changes(state.cursor(USER, Side.SALJSTOD))
            seconds = time.perf_counter() - started
            assert len(listing.items) == EDITS, len(listing.items)
            assert all(i.event.location.startswith("Flyttat") for i in listing.items)
        else:
            report = sync.sync()
            seconds = time.perf_counter() - started
            assert report.ok, str(report)
            expected = {
                "create": n if scenario == "initial" else 0,
                "update": 0 if scenario == "initial" else EDITS,
                "delete": 0,
            }
            def kinds(side: str) -> dict[str, int]:  # partner-key stamps are counted apart
                return {k: v for k, v in report.writes[side].items() if k != "stamp"}

            assert kinds("outlook") == expected, report.writes
            assert kinds("saljstod") == {"create": 0, "update": 0, "delete": 0}, report.writes
            extra["stamps"] = report.writes["saljstod"].get("stamp", 0)
            assert len(outlook.items()) == n
            extra["total_writes"] = report.total_writes
        db_seconds = timed.seconds
        cpu_seconds = time.process_time() - cpu_started
        peak = maxrss_mb()
    return {
        "bench": "sql",
        "scenario": scenario,
        "dialect": dialect_name,
        "n": n,
        "seconds": round(seconds, 6),
        "db_seconds": round(db_seconds, 6),
        "cpu_seconds": round(cpu_seconds, 6),
        "rows_per_s": round(n / seconds) if scenario == "initial" else None,
        "listed": saljstod.listed,
        "peak_rss_mb": round(peak, 1),
        "setup_peak_rss_mb": round(setup_peak, 1),
        "rss_scope": scope,
        **extra,
    }


# -- driving (in the parent process) ----------------------------------------------------------


def run_child(scenario: str, dialect: str, n: int, schema: str = "reference") -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        f"{scenario}:{dialect}:{n}:{schema}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"measurement {scenario} {dialect} n={n} failed (exit {done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@contextmanager
def postgres_available() -> Iterator[str | None]:
    """Make ``$OUTLOOK_SYNC_PG_DSN`` point at a server; yield why not if impossible."""
    if os.environ.get(PG_DSN_ENV):
        yield None
        return
    try:
        import psycopg  # noqa: F401

        from outlook_sync.testing.postgres import PostgresCluster, PostgresClusterError
    except ImportError:
        yield "psycopg is not installed"
        return
    try:
        cluster = PostgresCluster(database="bench_sql").start()
    except (PostgresClusterError, Exception) as exc:  # no binaries, no OS user, ...
        yield f"no PostgreSQL server: {exc}"
        return
    os.environ[PG_DSN_ENV] = cluster.dsn
    try:
        yield None
    finally:
        del os.environ[PG_DSN_ENV]
        cluster.stop()


def _csv(allowed: tuple[str, ...] | None = None, kind: type = str) -> Any:
    def parse(text: str) -> tuple[Any, ...]:
        values = tuple(kind(part.strip()) for part in text.split(",") if part.strip())
        if not values or (allowed is not None and not set(values) <= set(allowed)):
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {allowed}")
        return values

    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="N = 10 000 only (CI)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--sizes", type=_csv(kind=int), default=None, help="e.g. 10000,100000")
    parser.add_argument("--dialects", type=_csv(DIALECTS), default=DIALECTS)
    parser.add_argument("--scenarios", type=_csv(SCENARIOS), default=SCENARIOS)
    parser.add_argument("--schemas", type=_csv(SCHEMAS), default=SCHEMAS)
    parser.add_argument("--plans", action="store_true", help="print the listing's query plans")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        scenario, dialect, n, schema = args.child.split(":")
        print(json.dumps(measure(scenario, dialect, int(n), schema)))
        return 0
    sizes = args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)
    with postgres_available() as missing:
        if not args.json:
            print("seconds: the measured stage only; db_seconds: inside the database driver;")
            print("one fresh process and database per measurement.")
            print(
                f"{'scenario':<14}{'schema':<10}{'dialect':<11}{'N':>8}{'seconds':>10}"
                f"{'db s':>9}{'rows/s':>8}{'listed':>8}{'peak MB':>9}  index"
            )
        for dialect in args.dialects:
            if dialect == "postgresql" and missing:
                note = {"bench": "sql", "dialect": dialect, "skipped": missing}
                print(json.dumps(note) if args.json else f"postgresql skipped: {missing}")
                continue
            for n in sizes:
                for schema in args.schemas:
                    for scenario in args.scenarios:
                        if schema == "legacy" and scenario == "initial":
                            continue
                        result = run_child(scenario, dialect, n, schema)
                        if args.json:
                            print(json.dumps(result), flush=True)
                            continue
                        rate = result["rows_per_s"] or ""
                        print(
                            f"{scenario:<14}{schema:<10}{dialect:<11}{n:>8}"
                            f"{result['seconds']:>10.3f}{result['db_seconds']:>9.3f}{rate:>8}"
                            f"{result['listed']:>8}{result['peak_rss_mb']:>9.1f}"
                            f"  {result.get('uses_index', '')}",
                            flush=True,
                        )
                        for name, plan in result.get("plans", {}).items() if args.plans else ():
                            print(f"  plan, {name}:\n    " + plan.replace("\n", "\n    "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
