"""Many rows in one statement on PostgreSQL (issue 15), with the semantics of one per row.

On PostgreSQL the state store writes a commit's links, pending and intent keys as
arrays (``unnest``) in one statement each, and ``SqlCalendar.update_many`` stamps a
batch's partner keys in one ``UPDATE ... FROM unnest(...) RETURNING``. Every test runs
on both dialects (SQLite keeps a statement per row) and pins what must not change: a
link that would give an item a second link rolls the whole commit back; a stamp is
guarded by the expected version and touches only the user's own participants row; a
stamp the batch did not settle is settled by the single ``update``; host schemas with
other names and types stamp as the reference schema does.
"""

from __future__ import annotations

import datetime as dt

import pytest

from outlook_sync.adapters.sql import (
    ActivityColumns,
    ParticipantColumns,
    SoftDelete,
    SqlCalendar,
    SqlMapping,
)
from outlook_sync.errors import ItemNotFoundError, StateError
from outlook_sync.model import Event, Item, Link, ShowAs, Side
from outlook_sync.protocols import StateChange
from outlook_sync.state.sql import SqlStateStore
from tests.conftest import HOUR, MONDAY_9, Host, SqlDatabase

NO_LOOKBACK = dt.timedelta(0)


def meeting(subject: str = "Kundmöte", start: dt.datetime = MONDAY_9) -> Event:
    return Event(subject=subject, start=start, end=start + HOUR)


def links(count: int, *, first: int = 0, prefix: str = "AAMk-") -> tuple[Link, ...]:
    return tuple(
        Link(saljstod_id=str(n), outlook_id=f"{prefix}{n}", base=meeting(f"Möte {n}"),
             saljstod_version="1", outlook_version=f"ck-{n}")
        for n in range(first, first + count)
    )


def used_bulk_stamps(cal: SqlCalendar, db: SqlDatabase) -> bool:
    """Whether the batch ran as one statement (PostgreSQL) -- or, on SQLite, ``True``."""
    built = cal._stamp_unnest_built
    return db.name == "sqlite" or (built is not None and built[0] is not None)


# -- the state store -----------------------------------------------------------------------


@pytest.fixture
def store(sql_db: SqlDatabase) -> SqlStateStore:
    return SqlStateStore(sql_db.connect())


def test_many_links_are_put_and_refreshed_in_one_commit(store: SqlStateStore) -> None:
    first = links(50)
    store.commit("anna", StateChange(put_links=first))
    assert {x.saljstod_id: x for x in store.links("anna")} == {x.saljstod_id: x for x in first}
    refreshed = tuple(
        Link(saljstod_id=x.saljstod_id, outlook_id=x.outlook_id, base=meeting("Flyttat"),
             saljstod_version="2", outlook_version="ck-new", gone=Side.SALJSTOD)
        for x in first[:30]
    ) + links(20, first=100)
    store.commit("anna", StateChange(put_links=refreshed))
    stored = {x.saljstod_id: x for x in store.links("anna")}
    assert len(stored) == 70
    assert stored["3"] == refreshed[3]
    assert stored["3"].gone is Side.SALJSTOD
    assert stored["40"] == first[40]
    assert (stored["3"].generation, stored["100"].generation, stored["40"].generation) == (
        2, 2, 1)
    assert store.link_count("anna") == 70
    assert store.links("bertil") == []


@pytest.mark.parametrize("side", ["saljstod", "outlook"])
def test_a_second_link_for_an_item_rolls_the_whole_commit_back(
    store: SqlStateStore, side: str
) -> None:
    store.commit("anna", StateChange(put_links=links(10)))
    before = store.links("anna")
    intents_before = store.intents("anna")
    if side == "saljstod":  # Säljstöd item 7 is already linked to AAMk-7
        clash = Link(saljstod_id="7", outlook_id="AAMk-other", base=meeting())
    else:  # Outlook item AAMk-7 is already linked to Säljstöd item 7
        clash = Link(saljstod_id="other", outlook_id="AAMk-7", base=meeting())
    change = StateChange(
        put_links=(*links(20, first=50), clash, *links(20, first=80)),
        add_intents=((Side.OUTLOOK, "s-1"), (Side.SALJSTOD, "o-1")),
        add_pending=((Side.OUTLOOK, "p-1"), (Side.OUTLOOK, "p-2")),
    )
    with pytest.raises(StateError, match="already linked to another item"):
        store.commit("anna", change)
    assert store.links("anna") == before
    assert store.link_count("anna") == 10
    assert store.intents("anna") == intents_before
    assert store.pending("anna") == []


def test_pending_and_intent_keys_are_added_and_cleared_per_user(store: SqlStateStore) -> None:
    keys = tuple((side, f"id-{n}") for n in range(30) for side in Side)
    store.commit("anna", StateChange(add_intents=keys, add_pending=keys))
    store.commit("bertil", StateChange(add_intents=keys[:4]))
    # adding keys already there (twice in one change, too) is no error
    store.commit("anna", StateChange(add_intents=(keys[0], keys[0], keys[1])))
    store.commit(
        "anna",
        StateChange(clear_intents=(*keys[:40], (Side.OUTLOOK, "never-added")),
                    clear_pending=keys[10:]),
    )
    assert store.intents("anna") == sorted(keys[40:], key=lambda k: (k[0].value, k[1]))
    assert store.pending("anna") == sorted(keys[:10], key=lambda k: (k[0].value, k[1]))
    assert len(store.intents("bertil")) == 4


# -- partner-key stamps ------------------------------------------------------------------


def listed(cal: SqlCalendar) -> dict[str, Item]:
    return {item.id: item for item in cal.list_all().items}


def stamp_requests(items: dict[str, Item], ids: list[str]) -> list[tuple[str, Event, str, str]]:
    return [(i, items[i].event, items[i].version, f"AAMk-{i}") for i in ids]


def partner_keys(host: Host, user: str) -> dict[str, str | None]:
    rows = host.run("SELECT activity_id, outlook_id FROM activity_participants WHERE user_id = ?",
                    (user,))
    return {str(a): o for a, o in rows}


def test_a_stamp_whose_version_moved_is_left_to_the_single_update(host: Host) -> None:
    ids = [host.book(f"Möte {n}") for n in range(12)]
    anna = SqlCalendar(host.db.connect(), user="anna", lookback=NO_LOOKBACK)
    items = listed(anna)
    host.edit(ids[5], subject="Ändrad av värden")  # version 1 -> 2 after the listing
    results = anna.update_many(stamp_requests(items, ids))
    assert used_bulk_stamps(anna, host.db)
    kinds = [type(r).__name__ for r in results]
    assert kinds == ["Item"] * 5 + ["VersionConflictError"] + ["Item"] * 6
    keys = partner_keys(host, "anna")
    assert keys[ids[5]] is None  # not stamped over the host's newer edit
    assert all(keys[i] == f"AAMk-{i}" for i in ids if i != ids[5])
    done = [r for r in results if isinstance(r, Item)]
    assert all(r.version == "1" and r.partner_key == f"AAMk-{r.id}" for r in done)
    assert host.row(ids[0], "version") == (1,)  # a stamp is no edit


def test_a_stamp_touches_only_the_users_own_participants_row(host: Host) -> None:
    shared = [host.book(f"Delat {n}", users=("anna", "bertil")) for n in range(5)]
    host.run("UPDATE activity_participants SET outlook_id = 'bertils' WHERE user_id = 'bertil'")
    bertils_only = host.book("Bara Bertil", users=("bertil",))
    anna = SqlCalendar(host.db.connect(), user="anna", lookback=NO_LOOKBACK)
    items = listed(anna)
    bertil = listed(SqlCalendar(host.db.connect(), user="bertil", lookback=NO_LOOKBACK))
    requests = [*stamp_requests(items, shared),
                (bertils_only, bertil[bertils_only].event, "1", "AAMk-stolen")]
    results = anna.update_many(requests)
    assert used_bulk_stamps(anna, host.db)
    assert all(isinstance(r, Item) for r in results[:5])
    assert isinstance(results[5], ItemNotFoundError)  # not on Anna's calendar
    assert partner_keys(host, "anna") == {i: f"AAMk-{i}" for i in shared}
    assert set(partner_keys(host, "bertil").values()) == {"bertils", None}


def test_a_soft_deleted_activity_is_not_stamped(host: Host) -> None:
    ids = [host.book(f"Möte {n}") for n in range(4)]
    mapping = SqlMapping(soft_delete=SoftDelete(column="deleted_at"))
    anna = SqlCalendar(host.db.connect(), user="anna", mapping=mapping, lookback=NO_LOOKBACK)
    items = listed(anna)
    # soft-deleted after the listing, the version back where it was listed (the triggers
    # bump a version the writer leaves alone): only the alive guard stops the stamp
    host.run("UPDATE activities SET deleted_at = ?, version = 0 WHERE id = ?",
             (host.ts(MONDAY_9), int(ids[2])))
    host.run("UPDATE activities SET version = 1 WHERE id = ?", (int(ids[2]),))
    assert host.row(ids[2], "version") == (1,)
    results = anna.update_many(stamp_requests(items, ids))
    assert used_bulk_stamps(anna, host.db)
    assert [type(r).__name__ for r in results] == ["Item", "Item", "ItemNotFoundError", "Item"]
    assert partner_keys(host, "anna")[ids[2]] is None


def test_two_stamps_of_one_activity_end_as_before(host: Host) -> None:
    first, second = host.book("Ett"), host.book("Två")
    anna = SqlCalendar(host.db.connect(), user="anna", lookback=NO_LOOKBACK)
    items = listed(anna)
    results = anna.update_many([
        (first, items[first].event, "1", "AAMk-a"),
        (second, items[second].event, "1", "AAMk-2"),
        (first, items[first].event, "1", "AAMk-b"),
    ])
    assert [r.partner_key for r in results if isinstance(r, Item)] == ["AAMk-a", "AAMk-2",
                                                                       "AAMk-b"]
    assert partner_keys(host, "anna") == {first: "AAMk-b", second: "AAMk-2"}


# -- host schemas --------------------------------------------------------------------------

HOST_SCHEMA = {
    "sqlite": [
        "CREATE TABLE crm_aktivitet (akt_id TEXT PRIMARY KEY, rubrik TEXT, fran TEXT,"
        " till TEXT, status TEXT, radera INTEGER NOT NULL DEFAULT 0,"
        " rev INTEGER NOT NULL DEFAULT 1, andrad TEXT)",
        "CREATE TABLE crm_deltagare (akt TEXT, anvandare INTEGER, extern_nyckel VARCHAR(12))",
    ],
    "postgresql": [
        "CREATE DOMAIN nyckel AS varchar(12) CHECK (VALUE <> '')",
        "CREATE TABLE crm_aktivitet (akt_id varchar(6) PRIMARY KEY, rubrik TEXT, fran TIMESTAMP,"
        " till TIMESTAMP, status TEXT, radera SMALLINT NOT NULL DEFAULT 0,"
        " rev BIGINT NOT NULL DEFAULT 1, andrad TIMESTAMPTZ DEFAULT clock_timestamp())",
        "CREATE TABLE crm_deltagare (akt text, anvandare INTEGER, extern_nyckel nyckel)",
    ],
}


def legacy_mapping() -> SqlMapping:
    return SqlMapping(
        activities=ActivityColumns(
            table="crm_aktivitet", id="akt_id", subject="rubrik", starts_at="fran",
            ends_at="till", show_as="status", version="rev", changed_at="andrad",
            all_day=None, time_zone=None, location=None, notes=None, categories=None,
            private=None, reminder_minutes=None, created_by=None,
        ),
        participants=ParticipantColumns(
            table="crm_deltagare", activity_id="akt", user_id="anvandare",
            partner_key="extern_nyckel",
        ),
        deletion_log=None,
        soft_delete=SoftDelete(column="radera", kind="flag", deleted_value=1),
        id_type="text",
        show_as_values={"B": ShowAs.BUSY, "L": ShowAs.FREE},
        naive_time_zone="Europe/Stockholm",
    )


def test_a_legacy_mapping_stamps_through_its_own_names_and_types(sql_db: SqlDatabase) -> None:
    connection = sql_db.connect()
    for statement in HOST_SCHEMA[sql_db.name]:
        sql_db.dialect.execute(connection, statement)
    ids = [f"h{n:02d}" for n in range(8)]
    for n, akt in enumerate(ids):
        sql_db.dialect.execute(
            connection,
            "INSERT INTO crm_aktivitet (akt_id, rubrik, fran, till, status, radera, andrad)"
            " VALUES (?, ?, '2024-03-04 09:00:00', '2024-03-04 10:00:00', 'B', ?, ?)",
            (akt, f"Möte {n}", 0,
             sql_db.dialect.timestamp_param(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))),
        )
        for user in (42, 43):
            sql_db.dialect.execute(connection, "INSERT INTO crm_deltagare VALUES (?, ?, NULL)",
                                   (akt, user))
    connection.commit()
    anna = SqlCalendar(connection, user=42, mapping=legacy_mapping(), lookback=NO_LOOKBACK)
    items = listed(anna)
    assert sorted(items) == ids
    # after the listing: the host edits h03 and soft-deletes h06 (no version bump here)
    sql_db.dialect.execute(connection, "UPDATE crm_aktivitet SET rev = 2 WHERE akt_id = 'h03'")
    sql_db.dialect.execute(connection, "UPDATE crm_aktivitet SET radera = 1 WHERE akt_id = 'h06'")
    connection.commit()
    requests = [(i, items[i].event, items[i].version, f"K-{i}") for i in ids[:7]]
    results = anna.update_many(requests)
    assert used_bulk_stamps(anna, sql_db)
    outcome = {request[0]: type(result).__name__ for request, result in zip(requests, results,
                                                                           strict=True)}
    assert outcome == {
        "h00": "Item", "h01": "Item", "h02": "Item", "h03": "VersionConflictError",
        "h04": "Item", "h05": "Item", "h06": "ItemNotFoundError",
    }
    assert all(r.partner_key == f"K-{r.id}" and r.version == "1"
               for r in results if isinstance(r, Item))
    # a key too long for the domain's varchar(12): PostgreSQL refuses it (the batch
    # fails, each stamp is then settled alone); SQLite's VARCHAR(12) is no limit
    (long_key,) = anna.update_many([("h07", items["h07"].event, "1", "K-too-long-for-12")])
    assert type(long_key).__name__ == ("Item" if sql_db.name == "sqlite"
                                       else "ItemRejectedError")
    rows = sql_db.dialect.execute(
        connection, "SELECT akt, anvandare, extern_nyckel FROM crm_deltagare").fetchall()
    keys = {(str(a).strip(), u): k for a, u, k in rows}
    assert {a: k for (a, u), k in keys.items() if u == 43} == dict.fromkeys(ids)
    expected = {i: f"K-{i}" for i in ("h00", "h01", "h02", "h04", "h05")}
    if sql_db.name == "sqlite":
        expected["h07"] = "K-too-long-for-12"
    assert {a: k for (a, u), k in keys.items() if u == 42 and k is not None} == expected
    assert anna.find_by_partner_key("K-h01")[0].id == "h01"


def test_a_batch_the_database_refuses_is_settled_one_by_one(host: Host) -> None:
    ids = [host.book(f"Möte {n}") for n in range(5)]
    anna = SqlCalendar(host.db.connect(), user="anna", lookback=NO_LOOKBACK)
    items = listed(anna)
    requests = stamp_requests(items, ids)
    requests[2] = (ids[2], items[ids[2]].event, "1", "bad\x00key")  # PostgreSQL refuses NUL
    results = anna.update_many(requests)
    kinds = [type(r).__name__ for r in results]
    refused = "ItemRejectedError" if host.db.name == "postgresql" else "Item"
    assert kinds == ["Item", "Item", refused, "Item", "Item"]
    keys = partner_keys(host, "anna")
    assert [keys[i] for i in ids[:2] + ids[3:]] == [f"AAMk-{i}" for i in ids[:2] + ids[3:]]


def test_a_mapping_whose_types_leave_doubt_keeps_a_statement_per_stamp(
    sql_db: SqlDatabase,
) -> None:
    if sql_db.name != "postgresql":
        pytest.skip("the one-statement stamp is PostgreSQL's")
    connection = sql_db.connect()
    for statement in (
        "CREATE TABLE akt (id integer PRIMARY KEY, rubrik text, fran timestamptz,"
        " till timestamptz, rev text NOT NULL DEFAULT 'a', andrad timestamptz"
        " DEFAULT clock_timestamp(), borta timestamptz)",
        "CREATE TABLE del (akt integer, anv text, nyckel text)",
    ):
        sql_db.dialect.execute(connection, statement)
    connection.commit()
    activities = ActivityColumns(
        table="akt", id="id", subject="rubrik", starts_at="fran", ends_at="till",
        version="rev", changed_at="andrad", all_day=None, time_zone=None, location=None,
        notes=None, categories=None, show_as=None, private=None, reminder_minutes=None,
        created_by=None,
    )
    mapping = SqlMapping(
        activities=activities,
        participants=ParticipantColumns(table="del", activity_id="akt", user_id="anv",
                                        partner_key="nyckel"),
        deletion_log=None,
        soft_delete=SoftDelete(column="borta"),
    )
    # a text version column: the single statement sends a digit version as an integer
    cal = SqlCalendar(connection, user="anna", mapping=mapping)
    assert cal._stamp_unnest_sql() is None
    connection.rollback()
    # integer ids (id_type) on a text column: the same
    sql_db.dialect.execute(connection, "ALTER TABLE akt ALTER COLUMN rev DROP DEFAULT,"
                           " ALTER COLUMN rev TYPE integer USING 1,"
                           " ALTER COLUMN rev SET DEFAULT 1")
    sql_db.dialect.execute(connection, "ALTER TABLE del ALTER COLUMN akt TYPE text")
    connection.commit()
    assert SqlCalendar(connection, user="anna", mapping=mapping)._stamp_unnest_sql() is None
    connection.rollback()
    sql_db.dialect.execute(connection, "ALTER TABLE del ALTER COLUMN akt TYPE integer"
                           " USING akt::integer")
    connection.commit()
    assert SqlCalendar(connection, user="anna", mapping=mapping)._stamp_unnest_sql() is not None
