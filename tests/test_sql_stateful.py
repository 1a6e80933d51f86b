"""The data promises with the real SQL Säljstöd adapter (SQLite) as one side.

A host application books, edits and hard-deletes activities with plain SQL; a user edits
Outlook (in memory); syncs run, some with the Outlook side failing or the process
dying after a write. After every sync that reports no trouble: both sides hold the same
events, every item is in exactly one link, and a second sync plans nothing and writes
nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import tempfile
from collections import Counter
from pathlib import Path

import attrs
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from outlook_sync import BackendUnavailableError, InMemoryCalendar, Item, Synchronizer
from outlook_sync.adapters.sql import SqlCalendar, upgrade
from outlook_sync.state.sqlite import SqliteStateStore
from tests.strategies import SUBJECTS
from tests.world import STOCKHOLM, ManualClock, meeting


class Crash(Exception):
    """The process dies here."""


class SqlAndOutlook(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        folder = Path(self.tmp.name)
        self.host = sqlite3.connect(folder / "crm.db")
        upgrade(self.host)
        self.crm = SqlCalendar(sqlite3.connect(folder / "crm.db"), user="anna")
        self.state = SqliteStateStore(folder / "state.db")
        self.outlook = InMemoryCalendar(clock=ManualClock(), name="outlook", id_prefix="O")
        self.sync = Synchronizer(saljstod=self.crm, outlook=self.outlook, state=self.state,
                                 user="anna")

    def teardown(self) -> None:
        self.state.close()
        self.host.close()
        self.tmp.cleanup()

    def _activities(self) -> list[int]:
        return [row[0] for row in self.host.execute(
            "SELECT a.id FROM activities a JOIN activity_participants p"
            " ON p.activity_id = a.id WHERE p.user_id = 'anna' ORDER BY a.id")]

    # -- the host application (Säljstöd) ------------------------------------------

    @rule(subject=st.sampled_from(SUBJECTS), hour=st.integers(8, 16),
          booked_by=st.sampled_from(["anna", "erik"]))
    def host_books(self, subject: str, hour: int, booked_by: str) -> None:
        start = dt.datetime(2026, 12, 1, hour, tzinfo=STOCKHOLM)
        new_id = self.host.execute(
            "INSERT INTO activities (subject, starts_at, ends_at, time_zone, created_by)"
            " VALUES (?, ?, ?, 'Europe/Stockholm', ?)",
            (subject, start.isoformat(), (start + dt.timedelta(hours=1)).isoformat(),
             booked_by),
        ).lastrowid
        self.host.execute("INSERT INTO activity_participants (activity_id, user_id)"
                          " VALUES (?, 'anna')", (new_id,))
        self.host.commit()

    @rule(data=st.data(), location=st.sampled_from(["Rum 1", "Hos kund", ""]))
    def host_edits(self, data: st.DataObject, location: str) -> None:
        ids = self._activities()
        if ids:
            self.host.execute("UPDATE activities SET location = ? WHERE id = ?",
                              (location, data.draw(st.sampled_from(ids))))
            self.host.commit()

    @rule(data=st.data())
    def host_deletes(self, data: st.DataObject) -> None:
        ids = self._activities()
        if ids:
            self.host.execute("DELETE FROM activities WHERE id = ?",
                              (data.draw(st.sampled_from(ids)),))
            self.host.commit()

    # -- the user in Outlook ------------------------------------------------------

    @rule(subject=st.sampled_from(SUBJECTS), hour=st.integers(8, 16))
    def user_adds_in_outlook(self, subject: str, hour: int) -> None:
        self.outlook.add(meeting(subject, hour=hour))

    @rule(data=st.data(), body=st.sampled_from(["Agenda", "Ring först", ""]))
    def user_edits_in_outlook(self, data: st.DataObject, body: str) -> None:
        items = self.outlook.items()
        if items:
            item_id = data.draw(st.sampled_from(sorted(items)))
            self.outlook.update(item_id, attrs.evolve(items[item_id], body=body))

    @rule(data=st.data())
    def user_deletes_in_outlook(self, data: st.DataObject) -> None:
        items = self.outlook.items()
        if items:
            self.outlook.delete(data.draw(st.sampled_from(sorted(items))))

    # -- syncs ----------------------------------------------------------------------

    @rule(point=st.sampled_from(["create", "after_create", "update", "after_update",
                                 "after_delete", "list"]), crash=st.booleans())
    def sync_with_trouble(self, point: str, crash: bool) -> None:
        self.outlook.fail_next(point, Crash() if crash else BackendUnavailableError("down"))
        with contextlib.suppress(Crash):
            self.sync.sync(confirm_mass_delete=True)
        self.outlook._faults.clear()

    @rule(full=st.booleans())
    def sync_and_check(self, full: bool) -> None:
        report = self.sync.sync(confirm_mass_delete=True, full=full)
        if not report.ok:
            return
        crm = self.crm.list_all()
        assert not crm.broken
        assert sorted(i.event.content() for i in crm.items) == sorted(
            e.content() for e in self.outlook.items().values()
        ), "both sides hold the same events"
        links = self.state.links("anna")
        assert Counter(link.saljstod_id for link in links) == Counter(
            i.id for i in crm.items), "every activity is linked once"
        assert Counter(link.outlook_id for link in links) == Counter(
            list(self.outlook.items())), "every Outlook item is linked once"
        activities = {item.id: item for item in crm.items}
        for link in links:
            # the link state says what both sides hold now, at their versions
            activity, item = activities[link.saljstod_id], self.outlook.get(link.outlook_id)
            assert isinstance(item, Item)
            assert link.attempt is None, "no update is left recorded as in flight"
            assert link.base.content() == activity.event.content() == item.event.content()
            assert (link.saljstod_version, link.outlook_version) == (
                activity.version, item.version), "the link has the items' versions"
        assert len(self.sync.plan()) == 0, "a second sync plans nothing"
        writes = len(self.outlook.write_log)
        assert self.sync.sync().total_writes == 0
        assert len(self.outlook.write_log) == writes


TestSqlAndOutlook = SqlAndOutlook.TestCase
TestSqlAndOutlook.settings = settings(max_examples=100, stateful_step_count=30, deadline=None,
                                      suppress_health_check=[HealthCheck.too_slow])
