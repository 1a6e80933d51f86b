"""Full engine syncs: Säljstöd (in memory, or SQLite) <-> OutlookComCalendar <-> fake Outlook.

Each scenario is something a Säljstöd user with desktop Outlook does or suffers; afterwards
both calendars hold the same appointments, nothing is duplicated, and no attendee received
anything (every test checks ``outlook.sent`` on the way out).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from outlook_sync import Event, InMemoryCalendar, MemoryStateStore, Synchronizer
from outlook_sync.adapters.outlook_com import SWEDISH, OutlookComCalendar, mapping
from outlook_sync.model import Item
from outlook_sync.protocols import Calendar
from outlook_sync.report import SyncReport
from outlook_sync.testing.outlook_com import FakeOutlook, Fault, ManualClock, with_events

STOCKHOLM = ZoneInfo("Europe/Stockholm")
UTC = dt.UTC
HOUR = dt.timedelta(hours=1)


def meeting(subject: str, *, day: int = 3, hour: int = 9, **fields: Any) -> Event:
    start = dt.datetime(2026, 3, day, hour, tzinfo=STOCKHOLM)
    return Event(subject=subject, start=start, end=start + HOUR, **fields)


@attrs.define
class Setup:
    fake: FakeOutlook
    clock: ManualClock
    saljstod: Calendar
    outlook: OutlookComCalendar
    state: MemoryStateStore
    sync: Synchronizer

    def outlook_items(self) -> list[Item]:
        return list(self.outlook.list_all().items)

    def saljstod_items(self) -> list[Item]:
        return list(self.saljstod.list_all().items)

    def converged(self) -> bool:
        left = sorted(item.event.content() for item in self.saljstod_items())
        right = sorted(item.event.content() for item in self.outlook_items())
        return left == right

    def duplicates(self) -> list[object]:
        keys: Counter[object] = Counter()
        for side, items in (("S", self.saljstod_items()), ("O", self.outlook_items())):
            keys.update((side, item.event.match_key) for item in items)
        return [key for key, count in keys.items() if count > 1]

    def run(self) -> SyncReport:
        self.clock.advance(minutes=7)
        report = self.sync.sync()
        self.clock.advance(minutes=7)
        return report

    def add_in_outlook(self, subject: str, *, day: int = 3, hour: int = 9, **fields: Any) -> str:
        start = dt.datetime(2026, 3, day, hour, tzinfo=STOCKHOLM)
        return self.fake.add_appointment(subject, start, start + HOUR, **fields)


def make_setup(saljstod: Calendar | None = None) -> Setup:
    clock = ManualClock(dt.datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    fake = FakeOutlook(clock=clock)
    outlook = OutlookComCalendar(
        fake.dispatch, locale=SWEDISH, clock=clock, sleep=lambda _s: None, with_events=with_events
    )
    saljstod = saljstod or InMemoryCalendar(clock=clock, name="saljstod", id_prefix="S")
    state = MemoryStateStore()
    sync = Synchronizer(saljstod=saljstod, outlook=outlook, state=state, user="anna", clock=clock)
    return Setup(fake=fake, clock=clock, saljstod=saljstod, outlook=outlook, state=state, sync=sync)


@pytest.fixture
def setup() -> Iterator[Setup]:
    made = make_setup()
    yield made
    assert made.fake.sent == [], "a meeting request or update was sent"


def memory(setup: Setup) -> InMemoryCalendar:
    assert isinstance(setup.saljstod, InMemoryCalendar)
    return setup.saljstod


def test_first_sync_links_what_exists_on_both_sides_and_copies_the_rest(setup: Setup) -> None:
    memory(setup).add(meeting("Kundmöte ACME"))
    memory(setup).add(meeting("Lunch", hour=12))
    setup.add_in_outlook("kundmöte  acme")  # the same appointment, typed differently
    setup.add_in_outlook("Tandläkare", day=4)
    report = setup.run()
    assert report.error is None
    assert report.writes["outlook"]["create"] == 1
    assert report.writes["saljstod"]["create"] == 1
    assert setup.converged()
    assert setup.duplicates() == []
    assert len(setup.outlook_items()) == 3
    assert all(item.partner_key for item in setup.outlook_items())
    again = setup.run()
    assert again.total_writes == 0
    assert len(setup.sync.plan()) == 0


def test_edits_in_the_same_minute_as_the_last_sync_are_not_lost(setup: Setup) -> None:
    sid = memory(setup).add(meeting("Demo"))
    setup.run()
    (item,) = setup.outlook_items()
    # The clock stands still: the sync and both edits share one time stamp.
    setup.sync.sync()
    setup.fake.edit(item.id, Location="Hos kunden")
    memory(setup).update(sid, meeting("Demo", body="Ta med offert"))
    setup.sync.sync()
    (after,) = setup.outlook_items()
    assert after.event.location == "Hos kunden"
    assert after.event.body == "Ta med offert"
    assert setup.converged()


def test_deletions_travel_both_ways(setup: Setup) -> None:
    keep = memory(setup).add(meeting("Behåll"))
    gone_here = memory(setup).add(meeting("Tas bort i Säljstöd", day=4))
    setup.add_in_outlook("Tas bort i Outlook", day=5)
    setup.run()
    outlook_ids = {item.event.subject: item.id for item in setup.outlook_items()}
    memory(setup).delete(gone_here)
    setup.fake.delete(outlook_ids["Tas bort i Outlook"])
    report = setup.run()
    assert report.writes["outlook"]["delete"] == 1
    assert report.writes["saljstod"]["delete"] == 1
    assert [item.event.subject for item in setup.outlook_items()] == ["Behåll"]
    assert list(memory(setup).items()) == [keep]
    trash = setup.fake.stores[0].deleted_items.records.values()
    assert sorted(r.fields["Subject"] for r in trash) == [
        "Tas bort i Outlook",
        "Tas bort i Säljstöd",
    ]


def test_a_mass_deletion_in_outlook_is_seen_without_any_event(setup: Setup) -> None:
    for day in range(1, 21):
        memory(setup).add(meeting(f"Möte {day}", day=day))
    setup.run()
    setup.fake.bulk_delete([item.id for item in setup.outlook_items()])
    report = setup.run()
    assert report.refused  # 20 of 20: the guard asks the user first
    assert len(memory(setup).items()) == 20


def test_an_item_moved_away_and_back_is_neither_lost_nor_duplicated(setup: Setup) -> None:
    memory(setup).add(meeting("Flyttas"))
    setup.run()
    (item,) = setup.outlook_items()
    team = setup.fake.add_calendar("Team")
    back = setup.fake.move(setup.fake.move(item.id, team), setup.fake.folder())
    setup.run()
    assert setup.duplicates() == []
    assert setup.converged()
    assert [i.id for i in setup.outlook_items()] == [back]
    assert setup.run().total_writes == 0


def test_an_item_whose_entry_id_changed_is_relinked_keeping_the_activity(setup: Setup) -> None:
    sid = memory(setup).add(meeting("Flyttas"))
    setup.run()
    (item,) = setup.outlook_items()
    team = setup.fake.add_calendar("Team")
    setup.fake.move(setup.fake.move(item.id, team), setup.fake.folder())
    report = setup.run()
    assert list(memory(setup).items()) == [sid]
    assert report.writes["saljstod"]["delete"] == 0


def test_an_edit_in_saljstod_while_the_outlook_item_moved_makes_no_duplicate(
    setup: Setup,
) -> None:
    setup.add_in_outlook("Möte 1", day=1)
    setup.run()
    (sid,) = memory(setup).items()
    memory(setup).update(sid, meeting("Möte 1", day=1, location="Rum 4"))
    (item,) = setup.outlook_items()
    team = setup.fake.add_calendar("Team")
    setup.fake.move(setup.fake.move(item.id, team), setup.fake.folder())
    setup.run()
    assert setup.duplicates() == []


def test_an_accepted_meeting_stays_one_activity(setup: Setup) -> None:
    entry_id = setup.add_in_outlook("Styrelsemöte", MeetingStatus=3, Organizer="vd@example.com")
    setup.fake.record(entry_id).recipients.append("anna@example.com")
    setup.run()
    setup.fake.accept_meeting(entry_id)
    setup.run()
    assert setup.duplicates() == []
    assert setup.converged()
    assert len(memory(setup).items()) == 1


def test_a_users_copy_becomes_a_new_activity(setup: Setup) -> None:
    sid = memory(setup).add(meeting("Original"))
    setup.run()
    (item,) = setup.outlook_items()
    copy = setup.fake.copy(item.id)
    setup.fake.edit(
        copy,
        Start=dt.datetime(2026, 3, 10, 9, tzinfo=STOCKHOLM),
        End=dt.datetime(2026, 3, 10, 10, tzinfo=STOCKHOLM),
    )
    setup.run()
    assert len(memory(setup).items()) == 2
    assert memory(setup).items()[sid].start == meeting("Original").start
    assert setup.converged()


def test_a_change_that_reaches_cached_outlook_late_still_syncs(setup: Setup) -> None:
    sid = memory(setup).add(meeting("Original"))
    setup.run()
    (item,) = setup.outlook_items()
    setup.clock.advance(hours=2)
    setup.fake.edit_on_server(
        item.id,
        modified_at=setup.clock() - dt.timedelta(hours=1, minutes=50),
        Subject="Ändrad på mobilen",
    )
    setup.run()
    assert memory(setup).items()[sid].subject == "Ändrad på mobilen"


def test_unreadable_items_and_series_are_quarantined_and_their_partners_kept(
    setup: Setup,
) -> None:
    memory(setup).add(meeting("Trasig"))
    memory(setup).add(meeting("Veckomöte", day=4))
    setup.run()
    by_subject = {item.event.subject: item.id for item in setup.outlook_items()}
    setup.fake.make_unreadable(by_subject["Trasig"], "Body")
    # a series one of whose occurrences ends before it starts cannot be represented
    setup.fake.make_recurring(by_subject["Veckomöte"])
    second = dt.datetime(2026, 3, 11, 9, tzinfo=STOCKHOLM)
    setup.fake.change_occurrence(by_subject["Veckomöte"], second, End=second - HOUR)
    report = setup.run()
    assert {q.item_id for q in report.quarantined} == set(by_subject.values())
    assert report.total_writes == 0
    assert len(memory(setup).items()) == 2
    setup.fake.make_readable(by_subject["Trasig"])
    setup.run()
    assert len(memory(setup).items()) == 2


def test_a_busy_outlook_only_slows_the_sync_down(setup: Setup) -> None:
    for hour in (9, 11, 13):
        memory(setup).add(meeting(f"Möte {hour}", hour=hour))
    setup.fake.fail_next(Fault.CALL_REJECTED, times=5)
    report = setup.run()
    assert report.failures == ()
    assert setup.converged()


@pytest.mark.parametrize("calls_before_closing", [3, 25, 60, 110])
def test_outlook_closing_mid_sync_leaves_a_state_the_next_sync_repairs(
    setup: Setup, calls_before_closing: int
) -> None:
    for hour in (8, 10, 12, 14):
        memory(setup).add(meeting(f"Möte {hour}", hour=hour))
    setup.add_in_outlook("Från Outlook", day=6)
    setup.fake.quit_after(calls_before_closing)
    setup.run()
    setup.fake.start()
    for _ in range(3):
        setup.run()
    assert setup.converged()
    assert setup.duplicates() == []
    assert len(memory(setup).items()) == 5
    assert setup.run().total_writes == 0


def test_a_network_outage_aborts_the_listing_and_deletes_nothing(setup: Setup) -> None:
    memory(setup).add(meeting("Viktigt"))
    setup.run()
    setup.fake.fail_next(Fault.NETWORK, member="Table.GetNextRow")
    report = setup.run()
    assert report.error is not None
    assert report.total_writes == 0
    assert len(memory(setup).items()) == 1


# -- SQLite Säljstöd <-> fake Outlook -------------------------------------------------------


def test_sqlite_saljstod_and_desktop_outlook_stay_in_step(tmp_path: Path) -> None:
    from outlook_sync.adapters.sql import SqlCalendar, upgrade

    connection = sqlite3.connect(tmp_path / "saljstod.db")
    upgrade(connection)
    saljstod = SqlCalendar(connection, user="anna", lookback=dt.timedelta(0))
    existing = saljstod.create(meeting("Kundmöte ACME"), partner_key="placeholder")
    connection.execute("UPDATE activity_participants SET outlook_id = NULL")
    connection.commit()
    setup = make_setup(saljstod)
    setup.add_in_outlook("Kundmöte ACME")
    setup.add_in_outlook("Tandläkare", day=4)
    report = setup.run()
    assert report.error is None
    assert setup.converged()
    assert setup.duplicates() == []
    item = saljstod.get(existing.id)
    assert isinstance(item, Item)
    saljstod.update(
        existing.id, meeting("Kundmöte ACME", location="Storgatan 1"), expected_version=item.version
    )
    dentist = next(i for i in setup.outlook_items() if i.event.subject == "Tandläkare")
    setup.fake.delete(dentist.id)
    setup.run()
    assert [i.event.location for i in setup.outlook_items()] == ["Storgatan 1"]
    assert [i.event.subject for i in saljstod.list_all().items] == ["Kundmöte ACME"]
    assert setup.run().total_writes == 0
    assert setup.fake.sent == []


# -- the stateful invariants with the fake as the Outlook side --------------------------------


class OutlookComSyncMachine(RuleBasedStateMachine):
    """Random users on both sides, Outlook faults, and syncs.

    Invariants, in plain words: after a quiet sync both calendars hold the same
    appointments; no side ever holds two items for one appointment key that one side made
    once; nothing is ever sent to attendees; a second quiet sync writes nothing.
    """

    def __init__(self) -> None:
        super().__init__()
        self.setup = make_setup()
        self.counter = 0

    def _subject(self) -> str:
        self.counter += 1
        return f"Möte {self.counter}"

    @rule(day=st.integers(1, 5))
    def add_in_saljstod(self, day: int) -> None:
        memory(self.setup).add(meeting(self._subject(), day=day))

    @rule(day=st.integers(1, 5))
    def add_in_outlook(self, day: int) -> None:
        self.setup.add_in_outlook(self._subject(), day=day)

    @precondition(lambda self: bool(memory(self.setup).items()))
    @rule(data=st.data())
    def edit_in_saljstod(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from(sorted(memory(self.setup).items())))
        event = memory(self.setup).items()[sid]
        memory(self.setup).update(sid, attrs.evolve(event, location=self._subject()))

    @rule(data=st.data(), action=st.sampled_from(["edit", "delete", "copy", "move"]))
    def act_in_outlook(self, data: st.DataObject, action: str) -> None:
        ids = sorted(self.setup.fake.folder().records)
        if not ids:
            return
        entry_id = data.draw(st.sampled_from(ids))
        fake = self.setup.fake
        if action == "move":
            # away to another calendar and back: a new EntryID, the same appointment
            away = fake.add_calendar(f"Tillfällig {len(ids)}")
            fake.move(fake.move(entry_id, away), fake.folder())
        elif action == "edit":
            fake.edit(entry_id, Location=self._subject())
        elif action == "delete":
            fake.delete(entry_id)
        else:
            copy = fake.copy(entry_id)
            fake.edit(copy, Subject=self._subject())

    @precondition(lambda self: bool(memory(self.setup).items()))
    @rule(data=st.data())
    def delete_in_saljstod(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from(sorted(memory(self.setup).items())))
        memory(self.setup).delete(sid)

    @rule(
        fault=st.sampled_from([Fault.CALL_REJECTED, Fault.NETWORK, None]), calls=st.integers(0, 40)
    )
    def sync_with_trouble(self, fault: Fault | None, calls: int) -> None:
        if fault is Fault.NETWORK:
            self.setup.fake.fail_next(fault, times=1)
        elif fault is Fault.CALL_REJECTED:
            self.setup.fake.fail_next(fault, times=3)
        else:
            self.setup.fake.quit_after(calls)
        self.setup.run()
        self.setup.fake.start()
        self.setup.fake.quit_after(None)

    @rule()
    def quiet_syncs(self) -> None:
        self._settle()

    def teardown(self) -> None:
        self._settle()

    def _settle(self) -> None:
        self.setup.fake.quit_after(None)
        self.setup.fake.start()
        for _ in range(3):
            report = self.setup.sync.sync(confirm_mass_delete=True)
            self.setup.clock.advance(minutes=7)
        assert report.error is None
        assert self.setup.converged()
        assert self.setup.duplicates() == []
        assert self.setup.sync.sync(confirm_mass_delete=True).total_writes == 0

    @invariant()
    def nothing_was_sent(self) -> None:
        assert self.setup.fake.sent == []


OutlookComSyncMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=14,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_stateful_sync_with_the_fake_outlook = OutlookComSyncMachine.TestCase


def test_the_partner_key_field_name_is_stable() -> None:
    # Stored on users' appointments: renaming it would orphan every existing link.
    assert mapping.PARTNER_FIELD == "SaljstodId"
    assert mapping.PARTNER_GLOBAL_ID_FIELD == "SaljstodGlobalAppointmentId"
