"""SqlCalendar against real databases (SQLite and PostgreSQL), as the host application uses them.

Every test runs on both dialects. The "host" is a second connection that books, edits
and deletes activities with plain SQL, the way the Säljstöd application would, so
triggers, server time and version checks are exercised for real.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import zoneinfo
from typing import Any

import pytest

from outlook_sync.adapters.sql import (
    ActivityColumns,
    DeletionLog,
    ParticipantColumns,
    SoftDelete,
    SqlCalendar,
    SqlMapping,
    upgrade,
)
from outlook_sync.errors import (
    BackendUnavailableError,
    ConfigurationError,
    ItemNotFoundError,
    ItemRejectedError,
    ListingError,
    StateError,
    VersionConflictError,
)
from outlook_sync.model import BrokenItem, Cursor, Event, Item, Link, ShowAs
from outlook_sync.protocols import BulkWriter, Calendar, StateChange
from outlook_sync.state.sql import SqlStateStore
from tests.conftest import HOUR, Host, SqlDatabase

STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")
MONDAY_9 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=STOCKHOLM)
NO_LOOKBACK = dt.timedelta(0)


def meeting(subject: str = "Kundmöte", start: dt.datetime = MONDAY_9, **kw: Any) -> Event:
    return Event(subject=subject, start=start, end=start + HOUR, **kw)


def calendar(db: SqlDatabase, user: str = "anna", **kw: Any) -> SqlCalendar:
    kw.setdefault("lookback", NO_LOOKBACK)
    return SqlCalendar(db.connect(), user=user, **kw)


def link_it(cal: SqlCalendar, activity: str) -> Item:
    """Stamp a partner key on the activity, as a sync does once it is linked."""
    item = cal.get(activity)
    assert isinstance(item, Item)
    return cal.update(activity, item.event, expected_version=item.version, partner_key="AAMk-1")


def only(listing_items: Any) -> Item:
    (item,) = listing_items
    assert isinstance(item, Item)
    return item


# -- schema and reading -------------------------------------------------------------------


def test_upgrade_creates_both_schemas_once(sql_db: SqlDatabase) -> None:
    from outlook_sync.sql import state_schema

    connection = sql_db.connect()
    expected = {"state": state_schema.MIGRATIONS[-1].version, "saljstod": 3}
    assert upgrade(connection) == expected
    assert upgrade(connection) == expected
    assert isinstance(SqlCalendar(connection, user="anna"), Calendar)


def test_an_activity_reads_back_with_every_field(host: Host) -> None:
    activity = host.book(
        "Offert\u00e5terkoppling",
        location="Storgatan 1",
        notes="Rad 1\nRad 2",
        categories="Kund;Viktigt",
        show_as="out_of_office",
        private=True,
        reminder_minutes=15,
        time_zone="Europe/Stockholm",
    )
    holiday = host.book(
        "Midsommar",
        dt.datetime(2024, 6, 21, tzinfo=dt.UTC),
        dt.datetime(2024, 6, 22, tzinfo=dt.UTC),
        all_day=True,
    )
    listing = calendar(host.db).list_all()
    assert listing.complete
    assert listing.broken == ()
    by_id = {item.id: item for item in listing.items}
    event = by_id[activity].event
    assert event == meeting(
        "Offert\u00e5terkoppling",
        location="Storgatan 1",
        body="Rad 1\nRad 2",
        categories=("Kund", "Viktigt"),
        show_as=ShowAs.OUT_OF_OFFICE,
        private=True,
        reminder_minutes=15,
    )
    assert isinstance(event.start, dt.datetime)
    assert event.start.tzinfo == STOCKHOLM
    assert by_id[activity].changed is not None
    assert by_id[holiday].event == Event(
        subject="Midsommar", start=dt.date(2024, 6, 21), end=dt.date(2024, 6, 22), all_day=True
    )
    assert by_id[activity].version == "1"
    assert by_id[activity].partner_key is None


def test_a_user_sees_only_activities_they_are_on(host: Host) -> None:
    shared = host.book("Gemensamt", users=("anna", "bertil"))
    private = host.book("Bertils privata", users=("bertil",), private=True)
    anna, bertil = calendar(host.db, "anna"), calendar(host.db, "bertil")
    assert [item.id for item in anna.list_all().items] == [shared]
    assert sorted(item.id for item in bertil.list_all().items) == sorted([shared, private])
    assert anna.get(private) is None
    assert anna.list_changes(Cursor(watermark=MONDAY_9)).items == (anna.get(shared),)
    with pytest.raises(ItemNotFoundError):
        anna.update(private, meeting("Hijack"), expected_version="1")
    with pytest.raises(ItemNotFoundError):
        anna.delete(private, expected_version="1")
    assert host.row(private, "subject") == ("Bertils privata",)


def test_an_unknown_or_foreign_id_is_simply_not_there(host: Host) -> None:
    anna = calendar(host.db)
    assert anna.get("999") is None
    assert anna.get("not-a-number") is None
    assert anna.find_by_partner_key("AAMk-nothing") == []
    with pytest.raises(ItemNotFoundError):
        anna.update("abc", meeting(), expected_version="1")


# -- writing ----------------------------------------------------------------------------


def test_create_books_the_activity_on_the_users_calendar(host: Host) -> None:
    anna = calendar(host.db)
    created = anna.create(meeting(categories=("Kund",)), partner_key="AAMk-1")
    assert created.event == meeting(categories=("Kund",))
    assert created.partner_key == "AAMk-1"
    assert host.row(created.id, "created_by", "version") == ("anna", 1)
    assert anna.find_by_partner_key("AAMk-1") == [created]
    assert calendar(host.db, "bertil").find_by_partner_key("AAMk-1") == []


def test_a_recurring_series_is_refused_rather_than_stored_as_one_activity(host: Host) -> None:
    from outlook_sync.recurrence import Recurrence

    weekly = Recurrence(rule="FREQ=WEEKLY;COUNT=5", start=MONDAY_9, time_zone="Europe/Stockholm")
    with pytest.raises(ItemRejectedError, match="recurring"):
        calendar(host.db).create(meeting("Veckomöte", recurrence=weekly), partner_key="AAMk-1")
    assert calendar(host.db).list_all().items == ()


def test_updates_check_the_version_and_never_overwrite_a_host_edit(host: Host) -> None:
    activity = host.book()
    anna = calendar(host.db)
    seen = anna.get(activity)
    assert isinstance(seen, Item)
    host.edit(activity, subject="Flyttat av Bertil")  # the host edits between read and write
    with pytest.raises(VersionConflictError) as caught:
        anna.update(activity, meeting("Från Outlook"), expected_version=seen.version)
    assert caught.value.item_id == activity
    assert host.row(activity, "subject", "version") == ("Flyttat av Bertil", 2)
    fresh = anna.get(activity)
    assert isinstance(fresh, Item)
    written = anna.update(activity, meeting("Från Outlook"), expected_version=fresh.version)
    assert written.event.subject == "Från Outlook"
    assert int(written.version) > int(fresh.version)


def test_stamping_the_partner_key_alone_does_not_change_the_version(host: Host) -> None:
    activity = host.book()
    anna = calendar(host.db)
    seen = anna.get(activity)
    assert isinstance(seen, Item)
    stamped = anna.update(activity, seen.event, expected_version=seen.version, partner_key="AAMk-9")
    assert stamped.version == seen.version
    assert stamped.partner_key == "AAMk-9"
    assert calendar(host.db, "bertil").get(activity) is None  # still only Anna's key


def test_many_writes_at_once_settle_each_request_on_its_own(host: Host) -> None:
    first, second, third = host.book("Ett"), host.book("Två"), host.book("Tre")
    anna = calendar(host.db)
    assert isinstance(anna, BulkWriter)
    listed = {item.id: item for item in anna.list_all().items}
    host.edit(second, subject="Två (ändrad av värden)")
    results = anna.update_many(
        [
            (first, listed[first].event, "1", "AAMk-1"),  # a stamp on listed content
            (second, listed[second].event, "1", "AAMk-2"),  # stale: the host edited it
            (third, meeting("Tre flyttad"), "1", "AAMk-3"),  # new content and a stamp
            ("4711", meeting("Finns inte"), "1", "AAMk-4"),
        ]
    )
    assert [type(r).__name__ for r in results] == [
        "Item",
        "VersionConflictError",
        "Item",
        "ItemNotFoundError",
    ]
    assert anna.find_by_partner_key("AAMk-1")[0].version == "1"  # a stamp is no edit
    assert anna.find_by_partner_key("AAMk-3")[0].event.subject == "Tre flyttad"
    assert anna.find_by_partner_key("AAMk-2") == []
    created = anna.create_many([(meeting("Ny"), "AAMk-5"), (meeting("Ny 2"), "AAMk-6")])
    assert [c.partner_key for c in created if isinstance(c, Item)] == ["AAMk-5", "AAMk-6"]


def test_the_server_stamps_changes_whatever_the_client_writes(host: Host) -> None:
    activity = host.book()
    before = calendar(host.db).get(activity)
    assert isinstance(before, Item)
    last_year = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    host.edit(activity, subject="Ny", changed_at=host.ts(last_year))  # a skewed client clock
    after = calendar(host.db).get(activity)
    assert isinstance(after, Item)
    assert after.changed is not None
    assert before.changed is not None
    assert after.changed >= before.changed
    assert int(after.version) == int(before.version) + 1  # bumped though the host did not


def test_deleting_a_shared_activity_only_takes_it_off_this_calendar(host: Host) -> None:
    shared = host.book(users=("anna", "bertil"))
    alone = host.book("Bara Anna")
    anna, bertil = calendar(host.db, "anna"), calendar(host.db, "bertil")
    anna.delete(shared, expected_version="1")
    assert anna.get(shared) is None
    assert isinstance(bertil.get(shared), Item)
    with pytest.raises(VersionConflictError):
        anna.delete(alone, expected_version="7")
    anna.delete(alone, expected_version="1")
    assert host.row(alone, "id") == ()
    with pytest.raises(ItemNotFoundError):
        anna.delete(alone, expected_version="1")


# -- change detection -------------------------------------------------------------------------


def test_the_watermark_is_inclusive_and_taken_from_the_server(host: Host) -> None:
    activity = host.book()
    anna = calendar(host.db)
    linked = link_it(anna, activity)  # linked now, so only its timestamp lists it
    stamp = linked.changed
    assert stamp is not None
    assert only(anna.list_changes(Cursor(watermark=stamp)).items).id == activity
    later = anna.list_changes(Cursor(watermark=stamp + dt.timedelta(milliseconds=1)))
    assert later.items == ()
    first = anna.list_changes(Cursor(watermark=stamp))
    assert first.cursor.watermark is not None
    assert first.cursor.watermark >= stamp
    assert anna.list_changes(first.cursor).items == ()  # nothing changed since
    host.edit(activity, location="Rum 2")
    assert only(anna.list_changes(first.cursor).items).event.location == "Rum 2"


def test_the_lookback_rereads_recent_rows_instead_of_risking_a_miss(host: Host) -> None:
    activity = host.book()
    careful = calendar(host.db, lookback=dt.timedelta(minutes=10))
    link_it(careful, activity)
    listing = careful.list_all()
    assert only(careful.list_changes(listing.cursor).items).id == activity


def test_an_activity_booked_on_the_users_calendar_long_ago_is_listed(host: Host) -> None:
    anna = calendar(host.db)
    old = host.book("Bokad av Bertil", users=("bertil",))
    future = Cursor(watermark=dt.datetime(2999, 1, 1, tzinfo=dt.UTC))
    assert anna.list_changes(future).items == ()
    host.run(
        "INSERT INTO activity_participants (activity_id, user_id) VALUES (?, ?)", (int(old), "anna")
    )  # Bertil adds Anna
    assert only(anna.list_changes(future).items).id == old  # unlinked: whatever its time


def test_host_deletions_are_reported_per_user(host: Host) -> None:
    gone = host.book("Struken", users=("anna", "bertil"))
    left = host.book("Anna lämnar", users=("anna", "bertil"))
    anna, bertil = calendar(host.db, "anna"), calendar(host.db, "bertil")
    since = anna.list_all().cursor
    host.run("DELETE FROM activities WHERE id = ?", (int(gone),))  # a hard delete
    host.run(
        "DELETE FROM activity_participants WHERE activity_id = ? AND user_id = ?",
        (int(left), "anna"),
    )
    assert anna.list_changes(since).deleted == {gone, left}
    assert bertil.list_changes(since).deleted == {gone}
    assert [item.id for item in anna.list_all().items] == []


def test_soft_deletes_are_seen_and_written_in_soft_delete_mode(host: Host) -> None:
    mapping = SqlMapping(soft_delete=SoftDelete(column="deleted_at"), deletion_log=None)
    anna = calendar(host.db, mapping=mapping)
    doomed = host.book("Makuleras")
    mine = anna.create(meeting("Mitt"), partner_key="AAMk-2")
    since = anna.list_all().cursor
    host.edit(doomed, deleted_at=host.ts(dt.datetime(2024, 3, 1, tzinfo=dt.UTC)))
    assert anna.list_changes(since).deleted == {doomed}
    assert anna.get(doomed) is None
    anna.delete(mine.id, expected_version=mine.version)
    assert host.row(mine.id, "deleted_at")[0] is not None  # kept, marked deleted
    assert anna.list_changes(since).deleted == {doomed, mine.id}
    assert anna.list_all().items == ()


# -- bad rows ---------------------------------------------------------------------------


def test_bad_rows_are_reported_with_their_reason_and_the_rest_is_listed(host: Host) -> None:
    good = host.book("Bra")
    no_start = host.book("Ingen start", start=None)
    backwards = host.book("Baklänges", MONDAY_9 + HOUR, MONDAY_9)
    odd_status = host.book("Konstig status", show_as="maybe")
    if host.db.name == "sqlite":
        broken = host.book("x")
        host.run(
            "UPDATE activities SET subject = CAST(X'4D6FFF74' AS TEXT) WHERE id = ?", (int(broken),)
        )  # invalid UTF-8
        garbage = host.book("Trasigt datum")
        host.run("UPDATE activities SET starts_at = 'igår' WHERE id = ?", (int(garbage),))
        expected_reasons = {broken: "UTF-8", garbage: "ISO 8601"}
    else:
        broken = host.book("Styrtecken \x01 i ämnet")
        expected_reasons = {broken: "control character"}
    expected_reasons |= {no_start: "NULL", backwards: "before start", odd_status: "maybe"}
    listing = calendar(host.db).list_all()
    assert [item.id for item in listing.items] == [good]
    reasons = {bad.id: bad.reason for bad in listing.broken}
    assert reasons.keys() == expected_reasons.keys()
    for item_id, fragment in expected_reasons.items():
        assert fragment in reasons[item_id]
    assert isinstance(calendar(host.db).get(no_start), BrokenItem)


# -- host schemas and the mapping --------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: SqlMapping(activities=ActivityColumns(table="activities; DROP TABLE x")),
        lambda: SqlMapping(activities=ActivityColumns(subject='subject" --')),
        lambda: SqlMapping(activities=ActivityColumns(notes="notes)/*")),
        lambda: SqlMapping(participants=ParticipantColumns(user_id="user_id OR 1=1")),
        lambda: SqlMapping(deletion_log=DeletionLog(table="log\x00")),
        lambda: SqlMapping(schema="public.x"),
        lambda: SqlMapping(activities=ActivityColumns(version="1version")),
        lambda: SqlMapping(activities=ActivityColumns(changed_at="x" * 64)),
        lambda: SqlMapping(activities=ActivityColumns(location="plats\u00e5")),
        lambda: SqlMapping(soft_delete=SoftDelete(column="a b")),
        lambda: SqlMapping(deletion_log=None),
        lambda: SqlMapping(category_separator="|"),
        lambda: SqlMapping(naive_time_zone="Mars/Olympus"),
    ],
)
def test_a_bad_mapping_is_a_configuration_error(make: Any) -> None:
    with pytest.raises(ConfigurationError):
        make()


HOST_SCHEMA = {
    "sqlite": [
        "CREATE TABLE crm_aktivitet (akt_id TEXT PRIMARY KEY DEFAULT (lower(hex(randomblob(8)))),"
        " rubrik TEXT, fran TEXT, till TEXT, status TEXT, radera INTEGER NOT NULL DEFAULT 0,"
        " rev INTEGER NOT NULL DEFAULT 1, andrad TEXT)",
        "CREATE TABLE crm_deltagare (akt TEXT, anvandare INTEGER, extern_nyckel TEXT)",
    ],
    "postgresql": [
        "CREATE TABLE crm_aktivitet (akt_id TEXT PRIMARY KEY DEFAULT md5(random()::text),"
        " rubrik TEXT, fran TIMESTAMP, till TIMESTAMP, status TEXT,"
        " radera SMALLINT NOT NULL DEFAULT 0, rev INTEGER NOT NULL DEFAULT 1, andrad TIMESTAMPTZ)",
        "CREATE TABLE crm_deltagare (akt TEXT, anvandare INTEGER, extern_nyckel TEXT)",
    ],
}


def test_an_existing_host_schema_works_through_a_mapping(sql_db: SqlDatabase) -> None:
    connection = sql_db.connect()
    for statement in HOST_SCHEMA[sql_db.name]:
        sql_db.dialect.execute(connection, statement)
    connection.commit()
    mapping = SqlMapping(
        activities=ActivityColumns(
            table="crm_aktivitet",
            id="akt_id",
            subject="rubrik",
            starts_at="fran",
            ends_at="till",
            show_as="status",
            version="rev",
            changed_at="andrad",
            all_day=None,
            time_zone=None,
            location=None,
            notes=None,
            categories=None,
            private=None,
            reminder_minutes=None,
            created_by=None,
        ),
        participants=ParticipantColumns(
            table="crm_deltagare",
            activity_id="akt",
            user_id="anvandare",
            partner_key="extern_nyckel",
        ),
        deletion_log=None,
        soft_delete=SoftDelete(column="radera", kind="flag", deleted_value=1),
        id_type="text",
        show_as_values={"B": ShowAs.BUSY, "L": ShowAs.FREE, "P": ShowAs.TENTATIVE},
        naive_time_zone="Europe/Stockholm",
    )
    anna = SqlCalendar(connection, user=42, mapping=mapping, lookback=NO_LOOKBACK)
    created = anna.create(meeting("Lunch", show_as=ShowAs.FREE), partner_key="AAMk-7")
    assert created.event == meeting("Lunch", show_as=ShowAs.FREE)
    assert len(created.id) >= 8  # the host's own text id
    sql_db.dialect.execute(
        connection,
        "INSERT INTO crm_aktivitet (akt_id, rubrik, fran, till, status, andrad)"
        " VALUES ('h1', 'Lokal tid', '2024-03-04 09:00:00', '2024-03-04 10:00:00', 'B', ?)",
        (sql_db.dialect.timestamp_param(dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),),
    )  # naive local times in the host's table
    sql_db.dialect.execute(connection, "INSERT INTO crm_deltagare VALUES ('h1', 42, NULL)")
    connection.commit()
    listing = anna.list_all()
    assert {item.id: item.event for item in listing.items}["h1"] == meeting("Lokal tid")
    updated = anna.update(created.id, meeting("Lunch flyttad"), expected_version="1")
    assert updated.version == "2"
    with pytest.raises(ItemRejectedError):  # no database value for out-of-office
        anna.update(created.id, meeting(show_as=ShowAs.OUT_OF_OFFICE), expected_version="2")
    anna.delete(created.id, expected_version="2")
    assert anna.get(created.id) is None
    assert anna.list_changes(Cursor(watermark=MONDAY_9)).deleted == {created.id}


# -- one transaction for the activity and its link -----------------------------------------


def test_a_shared_connection_commits_the_activity_with_its_link(host: Host) -> None:
    connection = host.db.connect()
    state = SqlStateStore(connection)
    anna = SqlCalendar(connection, user="anna", commit=False)
    created = anna.create(meeting("Från Outlook"), partner_key="AAMk-1")
    observer = calendar(host.db)
    assert observer.get(created.id) is None  # not committed yet
    link = Link(saljstod_id=created.id, outlook_id="AAMk-1", base=created.event)
    state.commit("anna", StateChange(put_links=(link,)))
    assert observer.get(created.id) == created
    assert state.links("anna") == [link]


def test_a_failed_state_commit_takes_the_activity_with_it(host: Host) -> None:
    connection = host.db.connect()
    state = SqlStateStore(connection)
    state.commit(
        "anna", StateChange(put_links=(Link(saljstod_id="x", outlook_id="AAMk-1", base=meeting()),))
    )
    anna = SqlCalendar(connection, user="anna", commit=False)
    first = anna.create(meeting("Ett"), partner_key="AAMk-1")
    with pytest.raises(StateError):  # AAMk-1 is linked already: the commit is refused
        state.commit(
            "anna",
            StateChange(
                put_links=(Link(saljstod_id=first.id, outlook_id="AAMk-1", base=meeting()),)
            ),
        )
    assert anna.get(first.id) is None
    assert calendar(host.db).list_all().items == ()


def test_a_failed_write_undoes_only_itself_in_a_shared_transaction(host: Host) -> None:
    connection = host.db.connect()
    state = SqlStateStore(connection)
    anna = SqlCalendar(connection, user="anna", commit=False)
    kept = anna.create(meeting("Behålls"), partner_key="AAMk-1")
    with pytest.raises(VersionConflictError):
        anna.update(kept.id, meeting("Fel version"), expected_version="99")
    with pytest.raises(ItemNotFoundError):
        anna.delete("12345", expected_version="1")
    state.commit("anna", StateChange())
    assert calendar(host.db).get(kept.id) == kept


# -- failures and plans ------------------------------------------------------------------


def test_database_failures_become_typed_errors(host: Host) -> None:
    missing = SqlMapping(activities=ActivityColumns(table="no_such_table"))
    with pytest.raises(ConfigurationError, match="no_such_table") as refused:
        calendar(host.db, mapping=missing)  # refused when configured, not at sync time
    assert refused.value.key == "activities.table"
    anna = calendar(host.db)
    host.run("ALTER TABLE activity_deletions RENAME TO gone")  # changed under the sync
    with pytest.raises(ListingError) as caught:
        anna.list_changes(anna.list_all().cursor)
    assert caught.value.side == "saljstod"
    host.run("ALTER TABLE gone RENAME TO activity_deletions")
    closed = host.db.connect()
    anna = SqlCalendar(closed, user="anna")
    closed.close()
    with pytest.raises(BackendUnavailableError):
        anna.list_all()
    with pytest.raises(BackendUnavailableError):
        anna.create(meeting(), partner_key="AAMk-1")


def load_history(host: Host, n: int) -> None:
    """``n`` activities changed over the past ``n`` minutes, on Anna's and Bertil's calendars,
    all linked, Bertil since removed from half of them: what a database in use looks like.

    The server-stamp trigger is switched off for the load, as for a one-off import.
    """
    if host.db.name == "sqlite":
        from outlook_sync.adapters.sql.schema import _SQLITE_V1

        host.run("DROP TRIGGER activities_stamp_insert")
        host.run(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
            " INSERT INTO activities (subject, changed_at)"
            " SELECT 'x', strftime('%Y-%m-%dT%H:%M:%fZ', 'now', -i || ' minutes') FROM n",
            (n,),
        )
        host.run(next(s for s in _SQLITE_V1 if "TRIGGER activities_stamp_insert" in s))
    else:
        host.run("ALTER TABLE activities DISABLE TRIGGER activities_stamp")
        host.run(
            "INSERT INTO activities (subject, changed_at) SELECT 'x',"
            " now() - i * interval '1 minute' FROM generate_series(1, ?) AS i",
            (n,),
        )
        host.run("ALTER TABLE activities ENABLE TRIGGER activities_stamp")
    for user in ("anna", "bertil"):
        host.run(
            "INSERT INTO activity_participants (activity_id, user_id, outlook_id)"
            " SELECT id, ?, 'AAMk-' || id FROM activities",
            (user,),
        )
    host.run("DELETE FROM activity_participants WHERE user_id = 'bertil' AND activity_id % 2 = 0")
    host.run("ANALYZE")


def _plan(host: Host, sql: str, params: tuple[Any, ...]) -> str:
    prefix = "EXPLAIN QUERY PLAN " if host.db.name == "sqlite" else "EXPLAIN "
    return "\n".join(str(row[-1]) for row in host.run(prefix + sql, params))


def test_the_hot_queries_use_their_indexes(host: Host) -> None:
    load_history(host, 20_000)
    anna = calendar(host.db)
    now = dt.datetime.now(dt.UTC)
    ten_minutes_ago = host.d.timestamp_param(now - dt.timedelta(minutes=10))
    plans = {
        "changed": _plan(host, anna.queries.changed, ("anna", ten_minutes_ago)),
        "unlinked": _plan(host, anna.queries.unlinked, ("anna",)),
        "removed": _plan(host, anna.queries.removed or "", ("bertil", host.d.timestamp_param(now))),
    }
    assert "activities_changed_at" in plans["changed"], plans
    assert "activity_participants_by_user" in plans["unlinked"], plans
    assert "activity_deletions_by_user" in plans["removed"], plans
    for plan in plans.values():
        assert "Seq Scan" not in plan, plans
        assert not any(line.startswith("SCAN") for line in plan.splitlines()), plans


def test_importing_outlook_sync_does_not_need_psycopg() -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "import sqlite3, outlook_sync\n"
        "from outlook_sync.adapters.sql import SqlCalendar, upgrade\n"
        "from outlook_sync.state.sqlite import SqliteStateStore\n"
        "c = sqlite3.connect(':memory:'); upgrade(c)\n"
        "print(len(SqlCalendar(c, user='anna').list_all().items))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
