"""Restore, calendar identity, busy databases, permissions, reassignment and DSN secrets.

Issue 11 (point 6, "Also") and issue 14 (points 5-7) on SQLite and a real PostgreSQL:
what a user notices -- the same activity back with its customer, a sync that gives up
on a locked database quickly with "busy, try again", a read-only login reported as
such, a reassigned activity moving between Outlooks, and no password in any message.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from pathlib import Path
from typing import Any

import attrs
import pytest

from outlook_sync import Event, InMemoryCalendar, Synchronizer
from outlook_sync.adapters.sql import SoftDelete, SqlCalendar, SqlMapping
from outlook_sync.cli import main
from outlook_sync.errors import (
    BackendUnavailableError,
    BusyError,
    ItemNotFoundError,
    PermissionDeniedError,
    StateError,
)
from outlook_sync.model import Item
from outlook_sync.protocols import IdentifiedCalendar, ItemRestorer
from outlook_sync.sql.connect import connect_postgresql, dsn_secrets, redact
from outlook_sync.state.sql import SqlStateStore
from tests.conftest import HOUR, MONDAY_9, Host, require

SHORT = dt.timedelta(milliseconds=300)


def meeting(subject: str, **kw: Any) -> Event:
    return Event(subject=subject, start=MONDAY_9, end=MONDAY_9 + HOUR, **kw)


def anna(host: Host, **kw: Any) -> SqlCalendar:
    return SqlCalendar(host.db.connect(), user="anna", lookback=dt.timedelta(0), **kw)


def listed(cal: SqlCalendar, item_id: str) -> Item:
    (item,) = [i for i in cal.list_all().items if i.id == item_id]
    return item


# -- restore -------------------------------------------------------------------------------


def test_restore_brings_back_the_same_activity_with_every_host_column(host: Host) -> None:
    activity = host.book("Kundmöte Ågrens", customer_id=5, contact_id=6, by="bertil")
    cal = anna(host)
    assert isinstance(cal, ItemRestorer)
    item = listed(cal, activity)
    cal.delete(activity, expected_version=item.version)  # the sync deletes it
    assert host.row(activity, "id") == ()

    edited = meeting("Kundmöte Ågrens (återställd)")
    restored, lost = cal.restore(activity, edited, partner_key="AAMk-back")
    assert (restored.id, lost, restored.partner_key) == (activity, (), "AAMk-back")
    assert restored.event.subject == "Kundmöte Ågrens (återställd)"
    assert host.row(activity, "customer_id", "contact_id", "created_by") == (5, 6, "bertil")
    assert listed(anna(host), activity).partner_key == "AAMk-back"
    # a lost reply: the same restore again answers with the restored item
    again, _lost = cal.restore(activity, edited, partner_key="AAMk-back")
    assert again.id == activity
    # nothing kept for an activity the sync never deleted
    other = host.book("Raderad av värden")
    host.delete(other)
    with pytest.raises(ItemNotFoundError):
        cal.restore(other, meeting("x"), partner_key="AAMk-x")


def test_restore_names_what_could_not_come_back(host: Host) -> None:
    activity = host.book("Offert", customer_id=5, contact_id=6)
    cal = anna(host)
    cal.delete(activity, expected_version=listed(cal, activity).version)
    host.run("ALTER TABLE activities DROP COLUMN contact_id")  # the host's schema changed
    restored, lost = anna(host).restore(activity, meeting("Offert"), partner_key="AAMk-1")
    assert (restored.id, lost) == (activity, ("contact_id",))
    assert host.row(activity, "customer_id") == (5,)


def test_restore_of_a_shared_activity_puts_the_user_back_on_it(host: Host) -> None:
    activity = host.book("Gemensam lunch", users=("anna", "bertil"), customer_id=9)
    cal = anna(host)
    cal.delete(activity, expected_version=listed(cal, activity).version)
    assert host.subjects("anna") == []
    assert host.subjects("bertil") == ["Gemensam lunch"]
    restored, lost = cal.restore(activity, meeting("Gemensam lunch"), partner_key="AAMk-l")
    assert (restored.id, lost) == (activity, ())
    assert host.subjects("anna") == ["Gemensam lunch"]
    assert host.run("SELECT count(*) FROM activities")[0][0] == 1


def test_restore_in_soft_delete_mode_clears_the_column(host: Host) -> None:
    mapping = SqlMapping(soft_delete=SoftDelete())
    activity = host.book("Mjukt raderad", customer_id=3)
    cal = anna(host, mapping=mapping)
    cal.delete(activity, expected_version=listed(cal, activity).version)
    assert host.row(activity, "deleted_at")[0] is not None
    restored, lost = cal.restore(activity, meeting("Mjukt raderad"), partner_key="AAMk-s")
    assert (restored.id, lost) == (activity, ())
    assert host.row(activity, "deleted_at", "customer_id") == (None, 3)
    assert listed(cal, activity).partner_key == "AAMk-s"


# -- reassignment (issue 14, point 5) ------------------------------------------------------


class TwoUsers:
    """Anna and Bertil, each with an in-memory Outlook, syncing one shared database."""

    def __init__(self, host: Host) -> None:
        self.connection = host.db.connect()
        self.state = SqlStateStore(self.connection)
        self.outlook = {u: InMemoryCalendar(name=u, id_prefix=f"O-{u}-")
                        for u in ("anna", "bertil")}

    def sync(self, user: str) -> None:
        report = Synchronizer(
            saljstod=SqlCalendar(self.connection, user=user, commit=False,
                                 lookback=dt.timedelta(0)),
            outlook=self.outlook[user], state=self.state, user=user,
        ).sync()
        assert report.error is None, report.error
        assert not report.failures, report.failures


def test_a_reassigned_activity_moves_from_one_outlook_to_the_other(host: Host) -> None:
    users = TwoUsers(host)
    sync, outlook = users.sync, users.outlook
    activity = host.book("Kundmöte")
    sync("anna")
    sync("bertil")
    assert [e.subject for e in outlook["anna"].items().values()] == ["Kundmöte"]
    host.run("UPDATE activity_participants SET user_id = 'bertil' WHERE activity_id = ?",
             (int(activity),))
    sync("anna")
    assert outlook["anna"].items() == {}
    sync("bertil")
    assert [e.subject for e in outlook["bertil"].items().values()] == ["Kundmöte"]
    assert host.run("SELECT count(*) FROM activities")[0][0] == 1
    sync("anna")
    sync("bertil")  # and it stays put
    assert outlook["anna"].items() == {}
    assert len(outlook["bertil"].items()) == 1


@pytest.mark.parametrize("how", ["reassigned", "removed"])
def test_a_moved_activity_edited_in_the_old_owners_outlook_is_not_duplicated(
    host: Host, how: str
) -> None:
    # Anna edits the appointment in Outlook before her next sync, but the host has
    # given the activity to Bertil (or taken Anna off it). It must not come back to
    # the CRM as a second activity: her edited copy is kept in her Outlook, unlinked.
    users = TwoUsers(host)
    sync, outlook, state = users.sync, users.outlook, users.state
    activity = host.book("Kundmöte")
    sync("anna")
    (o_id,) = outlook["anna"].items()
    event = outlook["anna"].items()[o_id]
    outlook["anna"].update(o_id, attrs.evolve(event, subject="Kundmöte (Anna ändrade)"))
    if how == "reassigned":
        host.run("UPDATE activity_participants SET user_id = 'bertil' WHERE activity_id = ?",
                 (int(activity),))
    else:
        host.run("DELETE FROM activity_participants WHERE activity_id = ?", (int(activity),))
        host.run("INSERT INTO activity_participants (activity_id, user_id) VALUES (?, ?)",
                 (int(activity), "bertil"))
    sync("anna")
    assert [c.kind for c in state.conflicts("anna")] == ["moved_vs_edit"]  # in the log
    assert host.run("SELECT count(*) FROM activities")[0][0] == 1  # no duplicate
    assert [e.subject for e in outlook["anna"].items().values()] == ["Kundmöte (Anna ändrade)"]
    sync("bertil")
    assert [e.subject for e in outlook["bertil"].items().values()] == ["Kundmöte"]
    sync("anna")
    sync("anna")  # and it stays put: no duplicate on later syncs either
    assert host.run("SELECT count(*) FROM activities")[0][0] == 1


# -- calendar identity ---------------------------------------------------------------------


def test_the_calendar_identity_names_database_table_and_user_without_secrets(
    host: Host, request: pytest.FixtureRequest
) -> None:
    cal = anna(host)
    assert isinstance(cal, IdentifiedCalendar)
    identity = cal.calendar_identity()
    assert identity.startswith("sql:")
    tail = "#activities/anna" if host.db.name == "sqlite" else ".activities/anna"
    assert identity.endswith(tail)
    assert identity == anna(host).calendar_identity()  # stable across connections
    bertil = SqlCalendar(host.db.connect(), user="bertil").calendar_identity()
    assert bertil != identity
    if host.db.name == "sqlite":
        assert str(Path(identity.split(":", 2)[2].split("#")[0]).name) == "saljstod.db"
    else:
        for secret in dsn_secrets(request.getfixturevalue("pg_dsn")):
            assert secret not in identity
        assert host.db.schema in identity


# -- busy and permission errors (issue 14 point 6, issue 11 point 10) ----------------------


def test_a_host_transaction_holding_the_lock_gives_busy_after_the_bounded_wait(
    host: Host,
) -> None:
    activity = host.book("Låst")
    cal = anna(host, busy_timeout=SHORT)
    item = listed(cal, activity)
    holder = host.db.connect()
    if host.db.name == "sqlite":
        holder.execute("BEGIN IMMEDIATE")
    else:
        holder.execute("SELECT 1 FROM activities WHERE id = %s FOR UPDATE", (int(activity),))
    started = time.monotonic()
    with pytest.raises(BusyError, match="try again") as caught:
        cal.update(activity, meeting("Ändrad"), expected_version=item.version)
    assert time.monotonic() - started < 5
    assert caught.value.retry_after is not None
    holder.rollback()
    # the lock is gone: the same write goes through, nothing was half done
    assert cal.update(activity, meeting("Ändrad"), expected_version=item.version).event.subject == (
        "Ändrad"
    )


def test_a_read_only_login_is_permission_denied_not_a_broken_item(
    host: Host, request: pytest.FixtureRequest
) -> None:
    activity = host.book("Bara läsa")
    connection = host.db.connect()
    role = f"reader_{secrets.token_hex(4)}"
    if host.db.name == "sqlite":
        connection.execute("PRAGMA query_only = ON")
    else:
        admin = host.c
        host.run(f"CREATE ROLE {role}")
        host.run(f"GRANT USAGE ON SCHEMA {host.db.schema} TO {role}")
        host.run(f"GRANT SELECT ON ALL TABLES IN SCHEMA {host.db.schema} TO {role}")
        connection.execute(f"SET ROLE {role}")
        connection.commit()
        request.addfinalizer(lambda: _drop_role(host, admin, role))
    cal = SqlCalendar(connection, user="anna")
    item = listed(cal, activity)  # reading works
    with pytest.raises(PermissionDeniedError) as caught:
        cal.update(activity, meeting("Ändrad"), expected_version=item.version)
    assert (caught.value.side, caught.value.item_id) == ("saljstod", activity)
    with pytest.raises(PermissionDeniedError):
        cal.create(meeting("Ny"), partner_key="AAMk-n")


def _drop_role(host: Host, admin: Any, role: str) -> None:
    admin.rollback()
    host.run(f"REVOKE ALL ON ALL TABLES IN SCHEMA {host.db.schema} FROM {role}")
    host.run(f"REVOKE ALL ON SCHEMA {host.db.schema} FROM {role}")
    host.run(f"DROP ROLE {role}")


# -- secrets in DSNs (issue 11, "Also") ----------------------------------------------------

BAD_DSNS = (
    # libpq quotes the token it cannot percent-decode
    ("postgresql://anna:Pct%zzSecret55@127.0.0.1:1/crm", ("Pct%zzSecret55", "Secret55")),
    # an unencoded "@": libpq takes part of the password for the host name
    ("postgresql://anna:pa@ssSecretAt77@127.0.0.1:1/crm", ("ssSecretAt77", "pa@ss")),
    ("host=127.0.0.1 port=1 dbname=crm user=anna password='it\\'s Hemligt99'",
     ("Hemligt99",)),
)


@pytest.mark.parametrize(("dsn", "pieces"), BAD_DSNS)
def test_dsn_passwords_never_reach_error_messages(dsn: str, pieces: tuple[str, ...]) -> None:
    require("psycopg")
    with pytest.raises(BackendUnavailableError) as caught:
        connect_postgresql(dsn, error=BackendUnavailableError, connect_timeout=2)
    with pytest.raises(StateError) as state:
        SqlStateStore.connect_postgresql(dsn, connect_timeout=2)
    for error in (caught.value, state.value):
        text = f"{error} {error!r}"
        assert "cannot connect to PostgreSQL" in text
        for piece in pieces:
            assert piece not in text
        assert error.__context__ is None
        assert error.__cause__ is None
    # the password is registered: wherever it shows up later, it is masked
    assert pieces[0] not in redact(f"something quoted {pieces[0]} later")


@pytest.mark.parametrize(("dsn", "pieces"), BAD_DSNS[:2])
def test_dsn_passwords_never_reach_json_output_or_logs(
    dsn: str, pieces: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require("psycopg")
    path = tmp_path / "outlook-sync.toml"
    path.write_text(
        'user = "anna"\n[saljstod]\nbackend = "sql"\ndatabase = "postgresql"\n'
        'dsn_env = "CRM_DSN"\n[outlook]\nbackend = "memory"\n[logging]\nformat = "json"\n',
        encoding="utf-8",
    )
    code = main(["--config", str(path), "-vv", "plan", "--json"], environ={"CRM_DSN": dsn})
    out, err = capsys.readouterr()
    assert code != 0
    assert "cannot connect to PostgreSQL" in json.loads(out)["error"]
    for piece in pieces:
        assert piece not in out
        assert piece not in err
