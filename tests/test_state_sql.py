"""The SQL state store (SQLite and a real PostgreSQL) and the event codec.

Scenarios: what a sync run writes is read back exactly, a commit is all or nothing,
a sync only loads the links it needs, and two syncs for one user never run at once --
not even from two processes.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import sqlite3
import zoneinfo
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outlook_sync.adapters.sql.migrations import Migration, migrate
from outlook_sync.errors import SchemaVersionError, StateError, SyncInProgressError
from outlook_sync.model import Cursor, Event, Link, ShowAs, Side
from outlook_sync.protocols import StateChange
from outlook_sync.records import Conflict, DeletedItem, Quarantined
from outlook_sync.state import codec
from outlook_sync.state.sql import SqlStateStore
from outlook_sync.state.sqlite import SqliteStateStore
from tests.conftest import SqlDatabase

STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
MEETING = Event(
    subject="Kundmöte Ågrens Åkeri",
    start=dt.datetime(2024, 3, 5, 9, 0, tzinfo=STOCKHOLM),
    end=dt.datetime(2024, 3, 5, 10, 0, tzinfo=STOCKHOLM),
    location="Storgatan 1",
    body="Agenda:\n- offert",
    categories=("Kund", "Viktigt"),
    show_as=ShowAs.TENTATIVE,
    reminder_minutes=15,
)
HOLIDAY = Event(
    subject="Midsommar", start=dt.date(2024, 6, 21), end=dt.date(2024, 6, 22), all_day=True
)
ANNA = "anna"


# -- codec ---------------------------------------------------------------------------

zones = st.sampled_from(
    [
        STOCKHOLM,
        NEW_YORK,
        zoneinfo.ZoneInfo("UTC"),
        dt.UTC,
        dt.timezone(dt.timedelta(hours=5, minutes=30)),
    ]
)


@st.composite
def events(draw: st.DrawFn) -> Event:
    text = st.text(
        st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters=",;"), max_size=20
    )
    common: dict[str, Any] = {
        "subject": draw(text),
        "location": draw(text),
        "body": draw(
            st.text(st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from("\r\n\t"))
        ),
        "categories": draw(st.lists(text, max_size=3)),
        "show_as": draw(st.sampled_from(list(ShowAs))),
        "private": draw(st.booleans()),
        "reminder_minutes": draw(st.none() | st.integers(0, 10_000)),
    }
    if draw(st.booleans()):
        day = draw(st.dates(dt.date(1990, 1, 1), dt.date(2100, 1, 1)))
        length = dt.timedelta(days=draw(st.integers(1, 30)))
        return Event(start=day, end=day + length, all_day=True, **common)
    zone = draw(zones)
    naive = draw(st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2100, 1, 1)))
    # through UTC and back: a wall time that exists, with the fold of its instant (a
    # non-existent spring-forward time would read back as another wall time)
    start = naive.replace(tzinfo=zone, fold=draw(st.integers(0, 1)))
    start = start.astimezone(dt.UTC).astimezone(zone)
    # the end is computed on the instant: wall-clock arithmetic across a DST fold could
    # put it before the start
    length = dt.timedelta(minutes=draw(st.integers(0, 10_000)))
    end = (start.astimezone(dt.UTC) + length).astimezone(zone)
    return Event(start=start, end=end, **common)


@given(events())
@settings(max_examples=150, deadline=None)
def test_an_event_reads_back_equal_and_in_its_own_zone(event: Event) -> None:
    back = codec.event_from_json(codec.event_to_json(event))
    assert back == event
    for name in ("start", "end"):
        ours, theirs = getattr(back, name), getattr(event, name)
        assert type(ours) is type(theirs)
        if isinstance(theirs, dt.datetime):
            assert ours.utcoffset() == theirs.utcoffset()
            assert ours.replace(tzinfo=None) == theirs.replace(tzinfo=None)
            if isinstance(theirs.tzinfo, zoneinfo.ZoneInfo):
                assert ours.tzinfo == theirs.tzinfo


def test_the_repeated_hour_at_the_autumn_dst_change_keeps_its_offset() -> None:
    second = dt.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=STOCKHOLM)
    # (second + 10 minutes would lose the fold and land an hour *before* the start)
    event = Event(subject="Natt", start=second, end=second.replace(minute=40))
    back = codec.event_from_json(codec.event_to_json(event))
    assert isinstance(back.start, dt.datetime)
    assert back.start.utcoffset() == dt.timedelta(hours=1)
    assert back.start == second


def test_the_encoding_has_stable_documented_keys() -> None:
    data = codec.encode_event(MEETING)
    assert data["v"] == codec.FORMAT_VERSION == 1
    assert data["start"] == "2024-03-05T09:00:00+01:00"
    assert data["start_zone"] == "Europe/Stockholm"
    assert data["show_as"] == "tentative"
    assert data["categories"] == ["Kund", "Viktigt"]
    assert codec.encode_event(HOLIDAY)["start"] == "2024-06-21"


def test_a_newer_format_or_garbage_is_a_state_error_not_a_wrong_event() -> None:
    newer = {**codec.encode_event(MEETING), "v": 2}
    with pytest.raises(StateError, match="format version"):
        codec.decode_event(newer)
    with pytest.raises(StateError):
        codec.event_from_json("not json")
    with pytest.raises(StateError):
        codec.decode_event({**codec.encode_event(MEETING), "end": "2024-03-05T08:00:00+01:00"})


def test_conflict_log_entries_round_trip() -> None:
    conflict = Conflict(
        saljstod_id="1",
        outlook_id="AAMk",
        kind="both_changed",
        resolution="merge",
        fields=("subject",),
        overridden=Side.OUTLOOK,
        saljstod=MEETING,
        outlook=HOLIDAY,
        base=None,
        detail="subject changed on both sides",
    )
    assert codec.decode_conflict(codec.from_json(codec.to_json(codec.encode_conflict(conflict))))


# -- the store, on both dialects --------------------------------------------------------


@pytest.fixture
def store(sql_db: SqlDatabase) -> SqlStateStore:
    return SqlStateStore(sql_db.connect())


def link(n: int, event: Event = MEETING) -> Link:
    return Link(
        saljstod_id=str(n),
        outlook_id=f"AAMk-{n}",
        base=event,
        saljstod_version=f"s{n}",
        outlook_version=f"o{n}",
    )


def test_links_written_by_a_sync_read_back_exactly(store: SqlStateStore) -> None:
    gone = Link(saljstod_id="3", outlook_id="AAMk-3", base=HOLIDAY, gone=Side.OUTLOOK)
    store.commit(ANNA, StateChange(put_links=(link(1), link(2, HOLIDAY), gone)))
    assert store.link_count(ANNA) == 3
    assert store.links(ANNA) == [link(1), link(2, HOLIDAY), gone]
    assert store.links(ANNA, saljstod_ids=["2"], outlook_ids=["AAMk-1", "nope"]) == [
        link(1),
        link(2, HOLIDAY),
    ]
    assert store.links(ANNA, saljstod_ids=[]) == []
    assert store.links("bertil") == []
    start = store.links(ANNA)[0].base.start
    assert isinstance(start, dt.datetime)
    assert start.tzinfo == STOCKHOLM


@pytest.mark.parametrize("count", [1, 3])  # one statement per link, and PostgreSQL's arrays
def test_an_update_recorded_ahead_of_its_write_reads_back_and_is_cleared(
    store: SqlStateStore, count: int
) -> None:
    attempts = [(Side.SALJSTOD, HOLIDAY, HOLIDAY), (Side.OUTLOOK, HOLIDAY, MEETING),
                (Side.SALJSTOD, MEETING, HOLIDAY)][:count]
    ahead = [attrs.evolve(link(n), attempt=attempt) for n, attempt in enumerate(attempts)]
    store.commit(ANNA, StateChange(put_links=tuple(ahead)))
    back = store.links(ANNA)
    assert [x.attempt for x in back] == attempts
    assert back == ahead  # the base and versions as they were
    store.commit(ANNA, StateChange(put_links=(link(0),)))  # the write's answer came
    assert store.links(ANNA, saljstod_ids=["0"])[0].attempt is None


def test_a_link_is_updated_in_place_and_dropped_by_its_pair(store: SqlStateStore) -> None:
    store.commit(ANNA, StateChange(put_links=(link(1), link(2))))
    newer = Link(saljstod_id="1", outlook_id="AAMk-1", base=HOLIDAY, saljstod_version="s9")
    store.commit(ANNA, StateChange(put_links=(newer,), drop_links=(("2", "AAMk-2"),)))
    assert store.links(ANNA) == [newer]
    store.commit(ANNA, StateChange(drop_links=(("1", "wrong-partner"),)))
    assert store.link_count(ANNA) == 1


def test_a_commit_that_would_link_an_item_twice_writes_nothing(store: SqlStateStore) -> None:
    store.commit(ANNA, StateChange(put_links=(link(1),)))
    clash = Link(saljstod_id="2", outlook_id="AAMk-1", base=MEETING)
    change = StateChange(
        put_links=(link(5), clash),
        add_pending=((Side.OUTLOOK, "x"),),
        cursors=((Side.SALJSTOD, Cursor(watermark=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))),),
        last_sync=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    )
    with pytest.raises(StateError, match="already linked"):
        store.commit(ANNA, change)
    assert store.links(ANNA) == [link(1)]
    assert store.pending(ANNA) == []
    assert store.cursor(ANNA, Side.SALJSTOD) == Cursor()
    assert store.last_sync(ANNA) is None
    # the same pair moved in one change (drop, then put) is fine
    moved = Link(saljstod_id="2", outlook_id="AAMk-1", base=MEETING)
    store.commit(ANNA, StateChange(drop_links=(("1", "AAMk-1"),), put_links=(moved,)))
    assert store.links(ANNA) == [moved]


def test_cursors_and_the_last_sync_date_round_trip(store: SqlStateStore) -> None:
    when = dt.datetime(2024, 3, 5, 14, 30, 15, 123456, tzinfo=STOCKHOLM)
    cursor = Cursor(watermark=when, token="delta-token")
    store.commit(ANNA, StateChange(cursors=((Side.OUTLOOK, cursor),), last_sync=when))
    assert store.cursor(ANNA, Side.OUTLOOK) == cursor
    assert store.cursor(ANNA, Side.OUTLOOK).watermark.tzinfo == STOCKHOLM  # type: ignore[union-attr]
    assert store.cursor(ANNA, Side.SALJSTOD).is_initial
    assert store.last_sync(ANNA) == when
    store.commit(ANNA, StateChange())  # no date: the date is left alone
    assert store.last_sync(ANNA) == when
    store.commit(ANNA, StateChange(clear_last_sync=True, cursors=((Side.OUTLOOK, Cursor()),)))
    assert store.last_sync(ANNA) is None
    assert store.cursor(ANNA, Side.OUTLOOK).is_initial


def test_pending_work_and_intents_are_kept_once_and_cleared(store: SqlStateStore) -> None:
    keys = ((Side.OUTLOOK, "b"), (Side.SALJSTOD, "a"), (Side.OUTLOOK, "a"))
    store.commit(ANNA, StateChange(add_pending=keys, add_intents=keys[:2]))
    store.commit(ANNA, StateChange(add_pending=keys[:1], clear_intents=keys[:1]))
    assert store.pending(ANNA) == [keys[2], keys[0], keys[1]]  # by side, then id
    assert store.intents(ANNA) == [keys[1]]
    store.commit(ANNA, StateChange(clear_pending=keys[1:]))
    assert store.pending(ANNA) == [keys[0]]
    assert store.pending("bertil") == []


def test_the_conflict_log_and_the_quarantine(store: SqlStateStore) -> None:
    first = Conflict(
        saljstod_id="1",
        outlook_id=None,
        kind="ambiguous_match",
        resolution="linked_first",
        saljstod=MEETING,
    )
    second = Conflict(
        saljstod_id="2",
        outlook_id="o",
        kind="both_changed",
        resolution="newest_wins",
        overridden=Side.SALJSTOD,
        saljstod=MEETING,
        outlook=HOLIDAY,
        base=MEETING,
    )
    bad = Quarantined(side=Side.SALJSTOD, item_id="7", reason="start is NULL")
    store.commit(ANNA, StateChange(conflicts=(first,), quarantine=(bad,)))
    store.commit(ANNA, StateChange(conflicts=(second,)))
    assert store.conflicts(ANNA) == [first, second]
    worse = Quarantined(side=Side.SALJSTOD, item_id="7", reason="end before start")
    other = Quarantined(side=Side.OUTLOOK, item_id="7", reason="naive datetime")
    store.commit(ANNA, StateChange(quarantine=(worse, other)))
    assert store.quarantine(ANNA) == [worse, other]
    store.commit(ANNA, StateChange(unquarantine=((Side.SALJSTOD, "7"),)))
    assert store.quarantine(ANNA) == [other]
    store.clear_conflicts(ANNA)
    assert store.conflicts(ANNA) == []


def test_deleted_items_can_be_listed_forgotten_and_expire(store: SqlStateStore) -> None:
    old = dt.datetime(2024, 1, 1, 12, tzinfo=STOCKHOLM)
    new = dt.datetime(2024, 2, 1, 12, tzinfo=NEW_YORK)
    items = (
        DeletedItem(side=Side.OUTLOOK, item_id="o1", event=MEETING, partner_id="1", deleted_at=old),
        DeletedItem(
            side=Side.SALJSTOD, item_id="2", event=HOLIDAY, partner_id=None, deleted_at=new
        ),
        DeletedItem(
            side=Side.SALJSTOD, item_id="3", event=HOLIDAY, partner_id="o3", deleted_at=new
        ),
    )
    store.commit(ANNA, StateChange(deleted=items))
    assert store.deleted_items(ANNA) == list(items)
    assert store.deleted_items(ANNA)[1].deleted_at.tzinfo == NEW_YORK
    # 2024-01-01 12:00 Stockholm is 11:00 UTC: expiring "before 11:30 UTC" takes it
    assert store.expire_deleted(ANNA, dt.datetime(2024, 1, 1, 11, 30, tzinfo=dt.UTC)) == 1
    store.forget_deleted(ANNA, Side.SALJSTOD, "2")
    assert store.deleted_items(ANNA) == [items[2]]


def test_a_sync_loads_only_the_links_it_needs(sql_db: SqlDatabase) -> None:
    store = SqlStateStore(sql_db.connect())
    total = 6_000
    store.commit(ANNA, StateChange(put_links=tuple(link(n) for n in range(total))))
    store.commit("bertil", StateChange(put_links=(link(1),)))
    wanted_s = [str(n) for n in range(0, total, 5)]  # 1 200 ids: several IN chunks
    wanted_o = [f"AAMk-{n}" for n in range(1, total, 7)] + ["AAMk-missing"]
    found = store.links(ANNA, saljstod_ids=iter(wanted_s), outlook_ids=wanted_o)
    expected = {str(n) for n in range(total) if n % 5 == 0 or n % 7 == 1}
    assert {x.saljstod_id for x in found} == expected
    assert len(found) == len(expected)
    # ... through the primary key and the outlook_id index, never a table scan
    connection = store.connection
    for column in ("saljstod_id", "outlook_id"):
        condition, params = next(store.dialect.id_list(column, ["1", "2"]))
        query = f"SELECT base FROM outlook_sync_links WHERE user_name = ? AND {condition}"
        plan = " ".join(
            str(row)
            for row in store.dialect.execute(
                connection,
                "EXPLAIN " + ("QUERY PLAN " if sql_db.name == "sqlite" else "") + query,
                (ANNA, *params),
            ).fetchall()
        )
        assert "SCAN" not in plan.replace("INDEX SCAN", "").replace("Index Scan", "")
        assert "Seq Scan" not in plan
        assert "index" in plan.lower() or "PRIMARY KEY" in plan


def test_migrations_are_recorded_and_never_reapplied(sql_db: SqlDatabase) -> None:
    connection = sql_db.connect()
    SqlStateStore(connection)
    SqlStateStore(connection)  # a second open finds version 1 and does nothing
    rows = sql_db.dialect.execute(
        connection, "SELECT component, version FROM outlook_sync_schema"
    ).fetchall()
    assert [tuple(r) for r in rows] == [("state", 4)]


def test_an_older_state_schema_is_upgraded_with_its_links_kept(sql_db: SqlDatabase) -> None:
    from outlook_sync.sql import state_schema as schema

    connection = sql_db.connect()
    migrate(connection, sql_db.dialect, "state", schema.MIGRATIONS[:1])  # as version 1 left it
    sql_db.dialect.executemany(
        connection,
        "INSERT INTO outlook_sync_links (user_name, saljstod_id, outlook_id, base,"
        " saljstod_version, outlook_version) VALUES (?, ?, ?, ?, '', '')",
        [(ANNA, str(n), f"AAMk-{n}", codec.event_to_json(MEETING)) for n in range(3)],
    )
    connection.commit()
    store = SqlStateStore(connection)  # opening upgrades to version 2
    assert store.link_count(ANNA) == 3
    store.commit(ANNA, StateChange(put_links=(link(7),), drop_links=(("0", "AAMk-0"),)))
    assert store.link_count(ANNA) == 3
    assert store.link_count("bertil") == 0


def test_a_database_from_a_newer_outlook_sync_is_refused_untouched(sql_db: SqlDatabase) -> None:
    from outlook_sync.sql import state_schema as schema

    connection = sql_db.connect()
    SqlStateStore(connection)
    future = Migration(
        version=len(schema.MIGRATIONS) + 1,
        description="from the future",
        statements={
            "sqlite": ["CREATE TABLE later (x INTEGER)"],
            "postgresql": ["CREATE TABLE later (x INTEGER)"],
        },
    )
    migrate(connection, sql_db.dialect, "state", (*schema.MIGRATIONS, future))
    with pytest.raises(SchemaVersionError, match="upgrade outlook_sync"):
        SqlStateStore(sql_db.connect())


def test_a_failing_migration_changes_nothing(sql_db: SqlDatabase) -> None:
    connection = sql_db.connect()
    steps = ["CREATE TABLE half (x INTEGER)", "NOT SQL"]
    broken = Migration(
        version=1, description="half-broken", statements={"sqlite": steps, "postgresql": steps}
    )
    with pytest.raises(StateError, match="nothing changed"):
        migrate(connection, sql_db.dialect, "experiment", (broken,))
    with pytest.raises(sql_db.dialect.driver_errors()):
        sql_db.dialect.execute(connection, "SELECT x FROM half")


# -- the lock ------------------------------------------------------------------------


def test_a_second_sync_for_the_same_user_is_refused(sql_db: SqlDatabase) -> None:
    first, second = SqlStateStore(sql_db.connect()), SqlStateStore(sql_db.connect())
    ttl = dt.timedelta(minutes=5)
    with first.lock(ANNA, ttl=ttl):
        with pytest.raises(SyncInProgressError) as caught, second.lock(ANNA, ttl=ttl):
            pass
        assert caught.value.user == ANNA
        with second.lock("bertil", ttl=ttl):  # other users are independent
            pass
    with second.lock(ANNA, ttl=ttl):  # released at the end of the block
        pass


def test_an_expired_lock_is_taken_over(sql_db: SqlDatabase) -> None:
    first, second = SqlStateStore(sql_db.connect()), SqlStateStore(sql_db.connect())
    five_minutes = dt.timedelta(minutes=5)
    stale = first.lock(ANNA, ttl=dt.timedelta(0))  # a holder that outlived its ttl
    stale.__enter__()
    with second.lock(ANNA, ttl=five_minutes):
        stale.__exit__(None, None, None)  # ... its late exit must not free the new lock
        with pytest.raises(SyncInProgressError):
            first.lock(ANNA, ttl=five_minutes).__enter__()
    with first.lock(ANNA, ttl=five_minutes):
        pass


def test_a_failed_sync_releases_the_lock_and_keeps_nothing_half_done(
    sql_db: SqlDatabase,
) -> None:
    store = SqlStateStore(sql_db.connect())

    def half_a_sync() -> None:
        with store.lock(ANNA, ttl=dt.timedelta(minutes=5)):
            store.dialect.begin(store.connection, write=True)
            store.dialect.execute(
                store.connection,
                "INSERT INTO outlook_sync_users (user_name, last_sync) VALUES (?, ?)",
                (ANNA, "half-done"),
            )
            raise RuntimeError("crash in the middle of a sync")

    with pytest.raises(RuntimeError):
        half_a_sync()
    assert store.last_sync(ANNA) is None
    with store.lock(ANNA, ttl=dt.timedelta(minutes=5)):
        pass


def _hold_lock(path: str, ttl: float, holding: Any, release: Any, die: bool) -> None:
    store = SqliteStateStore(path)
    with store.lock(ANNA, ttl=dt.timedelta(seconds=ttl)):
        holding.set()
        if die:
            import os

            os._exit(0)  # killed while holding: no release
        release.wait(60)


def test_the_lock_holds_across_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    SqliteStateStore(path).close()
    ctx = multiprocessing.get_context("spawn")
    holding, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold_lock, args=(path, 300.0, holding, release, False))
    child.start()
    try:
        assert holding.wait(60)
        store = SqliteStateStore(path)
        with pytest.raises(SyncInProgressError), store.lock(ANNA, ttl=dt.timedelta(minutes=5)):
            pass
        release.set()
        child.join(60)
        assert child.exitcode == 0
        with store.lock(ANNA, ttl=dt.timedelta(minutes=5)):
            pass
    finally:
        release.set()
        child.join(60)


def test_a_lock_left_by_a_killed_process_expires(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    ctx = multiprocessing.get_context("spawn")
    holding, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold_lock, args=(path, 0.0, holding, release, True))
    child.start()
    child.join(60)
    assert holding.is_set()
    store = SqliteStateStore(path)
    rows = store.dialect.execute(store.connection, "SELECT owner FROM outlook_sync_locks")
    assert len(rows.fetchall()) == 1  # the dead holder's row is still there ...
    with store.lock(ANNA, ttl=dt.timedelta(minutes=5)):  # ... and expired: taken over
        pass


# -- SqliteStateStore and secrets ---------------------------------------------------------


def test_the_sqlite_file_keeps_state_between_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        store.commit(ANNA, StateChange(put_links=(link(1),)))
        assert repr(store) == f"SqliteStateStore({str(path)!r})"
    with SqliteStateStore(str(path)) as again:
        assert again.links(ANNA) == [link(1)]
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    check.close()
    memory = SqliteStateStore(":memory:")
    memory.commit(ANNA, StateChange(put_links=(link(2),)))
    assert memory.link_count(ANNA) == 1


def test_a_file_that_is_not_a_database_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not a SQLite database" * 100)
    with pytest.raises(StateError):
        SqliteStateStore(path)


@pytest.mark.postgres
def test_the_postgres_password_never_shows(pg_dsn: str) -> None:
    password = pg_dsn.split("password=")[1].split()[0]
    with SqlStateStore.connect_postgresql(pg_dsn) as store:
        assert password not in repr(store)
        assert "outlook_sync_test" in repr(store)
    wrong = pg_dsn.replace(f"password={password}", "password=s3cret-Wrong")
    with pytest.raises(StateError) as caught:
        SqlStateStore.connect_postgresql(wrong)
    assert "s3cret-Wrong" not in str(caught.value)
    assert password not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_a_missing_postgres_server_fails_under_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.conftest import _missing_server

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required under CI=true"):
        _missing_server("no binaries")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        _missing_server("no binaries")


def test_the_last_error_survives_a_reopen(tmp_path: Path) -> None:
    from outlook_sync import StateChange
    from outlook_sync.state.sqlite import SqliteStateStore

    path = tmp_path / "state.sqlite3"
    when = dt.datetime(2026, 11, 25, 9, 30, tzinfo=STOCKHOLM)
    with SqliteStateStore(path) as store:
        assert store.last_error("anna") is None
        store.commit("anna", StateChange(last_error=(when, "Outlook unreachable")))
    with SqliteStateStore(path) as store:
        assert store.last_error("anna") == (when, "Outlook unreachable")
        store.commit("anna", StateChange(clear_last_error=True))
        assert store.last_error("anna") is None


def test_the_same_conflict_committed_twice_is_logged_once(store: SqlStateStore) -> None:
    conflict = Conflict(saljstod_id="1", outlook_id="AAMk-1", kind="both_changed",
                        resolution="merge", fields=("location",), base=MEETING)
    store.commit(ANNA, StateChange(conflicts=(conflict, conflict)))
    store.commit(ANNA, StateChange(conflicts=(conflict,)))
    assert store.conflicts(ANNA) == [conflict]
