"""Full syncs through the engine: Säljstöd in SQLite / PostgreSQL <-> an in-memory Outlook.

The sync runs the way a host is told to run it (docs/sql.md): one connection per sync
process, the SQL state store and ``SqlCalendar(commit=False)`` sharing it, so an
activity and its link commit together. The Säljstöd application is a second connection
(``host``); Outlook users act on ``InMemoryCalendar``\\ s.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest

from outlook_sync import Event, InMemoryCalendar, Side, Synchronizer, SyncReport
from outlook_sync.adapters.sql import SqlCalendar
from outlook_sync.errors import StateError
from outlook_sync.model import Item
from outlook_sync.protocols import StateChange
from outlook_sync.state.sql import SqlStateStore
from tests.conftest import HOUR, MONDAY_9, Host

STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")


def meeting(subject: str, start: dt.datetime = MONDAY_9, **kw: Any) -> Event:
    return Event(subject=subject, start=start, end=start + HOUR, **kw)


class Office:
    """Everybody's Outlook, and one sync process with its own database connection."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.outlook: dict[str, InMemoryCalendar] = {}
        self.reconnect()

    def reconnect(self) -> None:
        """A new sync process: a new connection, store and calendars (Outlook stays)."""
        self.connection = self.host.db.connect()
        self.state = SqlStateStore(self.connection)

    def outlook_of(self, user: str) -> InMemoryCalendar:
        return self.outlook.setdefault(user, InMemoryCalendar(name=user, id_prefix=f"O-{user}-"))

    def synchronizer(self, user: str) -> Synchronizer:
        saljstod = SqlCalendar(self.connection, user=user, commit=False)
        return Synchronizer(
            saljstod=saljstod, outlook=self.outlook_of(user), state=self.state, user=user
        )

    def sync(self, user: str, **kw: Any) -> SyncReport:
        report = self.synchronizer(user).sync(**kw)
        assert report.error is None, report.error
        return report

    def outlook_subjects(self, user: str) -> list[str]:
        return sorted(event.subject for event in self.outlook_of(user).items().values())

    def settled(self, user: str) -> bool:
        """Both sides agree, and another sync would do nothing."""
        return (
            self.host.subjects(user) == self.outlook_subjects(user)
            and len(self.synchronizer(user).plan()) == 0
        )


@pytest.fixture
def office(host: Host) -> Office:
    return Office(host)


def outlook_id(office: Office, user: str, subject: str) -> str:
    (found,) = [i for i, e in office.outlook_of(user).items().items() if e.subject == subject]
    return found


def test_the_first_sync_brings_both_calendars_together_without_duplicates(
    office: Office, host: Host
) -> None:
    host.book("Kundmöte Ågrens", by="anna")
    host.book("Planering", MONDAY_9 + 2 * HOUR, MONDAY_9 + 3 * HOUR, by="anna")
    host.book("Gemensam lunch", MONDAY_9 + 3 * HOUR, MONDAY_9 + 4 * HOUR, users=("anna", "bertil"))
    anna_outlook = office.outlook_of("anna")
    anna_outlook.add(meeting("Tandläkare", MONDAY_9 + dt.timedelta(days=1)))
    anna_outlook.add(meeting("Planering", MONDAY_9 + 2 * HOUR))  # the same appointment

    report = office.sync("anna")

    everything = ["Gemensam lunch", "Kundmöte Ågrens", "Planering", "Tandläkare"]
    assert office.host.subjects("anna") == everything
    assert len(anna_outlook.items()) == 4  # "Planering" linked, not copied
    assert report.writes["outlook"]["create"] == 2
    assert report.writes["saljstod"]["create"] == 1
    created = host.run("SELECT created_by FROM activities WHERE subject = 'Tandläkare'")
    assert [tuple(row) for row in created] == [("anna",)]
    unlinked = host.run(
        "SELECT count(*) FROM activity_participants WHERE user_id = 'anna' AND outlook_id IS NULL"
    )
    assert unlinked[0][0] == 0  # every activity carries its Outlook id now
    assert office.settled("anna")
    again = office.sync("anna")
    assert again.total_writes == 0


def test_edits_travel_both_ways(office: Office, host: Host) -> None:
    activity = host.book("Demo")
    office.sync("anna")
    host.edit(activity, subject="Demo hos kund", location="Kundens kontor")
    office.sync("anna")
    appointment = outlook_id(office, "anna", "Demo hos kund")
    assert office.outlook_of("anna").items()[appointment].location == "Kundens kontor"

    moved = meeting("Demo hos kund", MONDAY_9 + dt.timedelta(days=2), location="Kundens kontor")
    office.outlook_of("anna").update(appointment, moved)
    version_before = host.row(activity, "version")[0]
    office.sync("anna")
    assert host.row(activity, "subject", "location") == ("Demo hos kund", "Kundens kontor")
    sync_side = SqlCalendar(host.db.connect(), user="anna").get(activity)
    assert isinstance(sync_side, Item)
    assert sync_side.event == moved
    assert host.row(activity, "version")[0] > version_before
    assert office.settled("anna")


def test_deletes_travel_both_ways(office: Office, host: Host) -> None:
    doomed = host.book("Struken av värden")
    host.book("Struken i Outlook", MONDAY_9 + 2 * HOUR, MONDAY_9 + 3 * HOUR)
    office.sync("anna")

    host.delete(doomed)  # a hard delete in the Säljstöd application
    office.outlook_of("anna").delete(outlook_id(office, "anna", "Struken i Outlook"))
    report = office.sync("anna")

    assert office.outlook_subjects("anna") == []
    assert host.subjects("anna") == []
    assert report.writes["outlook"]["delete"] == 1
    assert report.writes["saljstod"]["delete"] == 1
    assert {d.side for d in office.state.deleted_items("anna")} == {Side.SALJSTOD, Side.OUTLOOK}
    assert office.settled("anna")


def test_an_activity_booked_by_a_colleague_reaches_the_users_outlook(
    office: Office, host: Host
) -> None:
    office.sync("anna")
    office.sync("bertil")
    booked = host.book("Kundbesök", users=("anna", "bertil"), by="bertil")
    office.sync("anna")
    assert office.outlook_subjects("anna") == ["Kundbesök"]

    # Anna moves it in her Outlook; Bertil sees the change after his next sync.
    appointment = outlook_id(office, "anna", "Kundbesök")
    office.outlook_of("anna").update(appointment, meeting("Kundbesök (flyttat)"))
    office.sync("anna")
    office.sync("bertil")
    assert office.outlook_subjects("bertil") == ["Kundbesök (flyttat)"]
    partner_keys = host.run(
        "SELECT user_id, outlook_id FROM activity_participants WHERE activity_id = ?"
        " ORDER BY user_id",
        (int(booked),),
    )
    assert [(u, k.split("-")[1]) for u, k in partner_keys] == [
        ("anna", "anna"),
        ("bertil", "bertil"),
    ]

    # An old activity that Bertil later puts on Anna's calendar is pushed whatever its age.
    old = host.book("Gammal aktivitet", MONDAY_9 - dt.timedelta(days=30), users=("bertil",))
    office.sync("anna")
    host.add(old, "anna")
    office.sync("anna")
    assert "Gammal aktivitet" in office.outlook_subjects("anna")
    office.sync("bertil")
    assert office.settled("anna")
    assert office.settled("bertil")


def test_a_concurrent_host_edit_is_never_overwritten(office: Office, host: Host) -> None:
    activity = host.book("Offertgenomgång")
    office.sync("anna")
    appointment = outlook_id(office, "anna", "Offertgenomgång")
    office.outlook_of("anna").update(appointment, meeting("Offertgenomgång", location="Rum 4"))
    edited: list[int] = []

    def host_edits_meanwhile(phase: str, done: int, total: int) -> None:
        if phase == "apply" and not edited:  # after the listing, before the write
            host.edit(activity, notes="Ta med avtalet")
            edited.append(1)

    report = office.synchronizer("anna").sync(progress=host_edits_meanwhile)
    # The write carried the version it had read: refused, re-read, merged -- never forced.
    assert report.concurrent_edits == 1
    assert host.row(activity, "notes", "location") == ("Ta med avtalet", "Rum 4")
    event = office.outlook_of("anna").items()[appointment]
    assert (event.body, event.location) == ("Ta med avtalet", "Rum 4")
    assert office.settled("anna")


def test_a_bad_row_is_quarantined_while_the_rest_syncs(office: Office, host: Host) -> None:
    host.book("Bra möte")
    bad = host.book("Utan starttid", start=None)
    report = office.sync("anna")
    assert office.outlook_subjects("anna") == ["Bra möte"]
    assert [(q.side, q.item_id) for q in report.quarantined] == [(Side.SALJSTOD, bad)]
    assert "NULL" in report.quarantined[0].reason
    assert [q.item_id for q in office.state.quarantine("anna")] == [bad]

    host.edit(bad, starts_at=host.ts(MONDAY_9 - HOUR), ends_at=host.ts(MONDAY_9))  # repaired
    office.sync("anna")
    assert office.outlook_subjects("anna") == ["Bra möte", "Utan starttid"]
    assert office.state.quarantine("anna") == []


def test_a_crash_before_the_link_is_saved_leaves_no_orphan_and_no_duplicate(
    office: Office, host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    office.outlook_of("anna").add(meeting("Från Outlook"))
    real_commit = SqlStateStore.commit

    def crash_on_links(self: SqlStateStore, user: str, change: StateChange) -> None:
        if change.put_links:
            raise KeyboardInterrupt("the sync process dies here")
        real_commit(self, user, change)

    monkeypatch.setattr(SqlStateStore, "commit", crash_on_links)
    with pytest.raises(KeyboardInterrupt):
        office.sync("anna")
    monkeypatch.undo()
    assert host.subjects("anna") == []  # the activity went with its link

    office.reconnect()  # the next run, in a new process
    office.sync("anna")
    assert host.subjects("anna") == ["Från Outlook"]
    assert office.outlook_subjects("anna") == ["Från Outlook"]
    assert office.settled("anna")


def test_two_syncs_for_one_user_do_not_run_at_once(office: Office, host: Host) -> None:
    host.book("Möte")
    other = SqlStateStore(host.db.connect())
    with other.lock("anna", ttl=dt.timedelta(minutes=5)), pytest.raises(StateError):
        office.synchronizer("anna").sync()
    assert office.outlook_subjects("anna") == []
    office.sync("anna")
    assert office.outlook_subjects("anna") == ["Möte"]
