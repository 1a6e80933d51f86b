"""Full engine syncs: Säljstöd (in memory) <-> GraphCalendar <-> Graph emulator over HTTP.

Every fault the emulator can inject is met in the middle of a sync; afterwards the two
calendars converge with no duplicate and nothing lost, and no one was e-mailed.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator

import attrs
import pytest

from outlook_sync import (
    Event,
    InMemoryCalendar,
    Item,
    MemoryStateStore,
    Side,
    Synchronizer,
    SyncReport,
)
from outlook_sync.adapters.graph import GraphCalendar, GraphClient, StaticToken
from outlook_sync.testing.graph import GraphEmulator, run_emulator

STOCKHOLM = dt.timezone(dt.timedelta(hours=1))
HOUR = dt.timedelta(hours=1)


def meeting(subject: str, hour: int = 9, day: int = 1) -> Event:
    start = dt.datetime(2026, 12, day, hour, tzinfo=STOCKHOLM)
    return Event(subject=subject, start=start, end=start + HOUR)


@attrs.define
class Setup:
    graph: GraphEmulator
    saljstod: InMemoryCalendar
    outlook: GraphCalendar
    state: MemoryStateStore
    sync: Synchronizer

    def outlook_events(self) -> list[Event]:
        return [item.event for item in self.outlook.list_all().items]

    def converged(self) -> bool:
        left = sorted(e.content() for e in self.saljstod.items().values())
        right = sorted(e.content() for e in self.outlook_events())
        return left == right

    def duplicates(self) -> list[str]:
        subjects = Counter(e.subject for e in self.outlook_events())
        subjects += Counter(f"S:{e.subject}" for e in self.saljstod.items().values())
        return [s for s, n in subjects.items() if n > 1]

    def new_sync(self, state: MemoryStateStore | None = None) -> Synchronizer:
        self.state = state or self.state
        self.sync = Synchronizer(
            saljstod=self.saljstod, outlook=self.outlook, state=self.state, user="anna"
        )
        return self.sync


@pytest.fixture
def setup() -> Iterator[Setup]:
    with run_emulator() as graph:
        client = GraphClient(
            graph.base_url,
            StaticToken("t"),
            mailbox=f"sync-{id(graph)}",
            sleep=lambda _s: None,
            random=lambda: 0.5,
            timeout=2.0,
        )
        outlook = GraphCalendar(client)
        saljstod = InMemoryCalendar(name="saljstod", id_prefix="S")
        state = MemoryStateStore()
        sync = Synchronizer(saljstod=saljstod, outlook=outlook, state=state, user="anna")
        yield Setup(graph, saljstod, outlook, state, sync)
        client.close()
        assert graph.sent_mail == [], "the sync must never e-mail anyone"


def version_of(calendar: InMemoryCalendar, item_id: str) -> str:
    item = calendar.get(item_id)
    assert isinstance(item, Item)
    return item.version


def settle(setup: Setup, rounds: int = 3) -> SyncReport:
    """Sync until nothing is left to do (a failed write is retried next time)."""
    report = setup.sync.sync()
    for _ in range(rounds):
        if report.ok and not report.failures and report.total_writes == 0:
            break
        report = setup.sync.sync()
    return report


def test_first_sync_copies_both_ways_then_nothing_costs_one_request(setup: Setup) -> None:
    setup.saljstod.add(meeting("Kundmöte ACME"))
    setup.graph.seed_event(
        "Tandläkare",
        dt.datetime(2026, 12, 2, 14, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 2, 15, tzinfo=dt.UTC),
    )
    first = setup.sync.sync()
    assert first.ok, first.error
    assert first.writes["outlook"]["create"] == 1
    assert first.writes["saljstod"]["create"] == 1
    assert setup.converged()
    setup.graph.reset_counts()
    again = setup.sync.sync()
    assert again.total_writes == 0
    assert setup.graph.request_count() == 2  # the delta round and the filter, nothing else


def test_edits_and_deletions_travel_both_ways(setup: Setup) -> None:
    kept = setup.saljstod.add(meeting("Möte 1"))
    gone = setup.saljstod.add(meeting("Möte 2", hour=11))
    setup.sync.sync()
    by_subject = {i.event.subject: i for i in setup.outlook.list_all().items}
    setup.graph.user_edit(
        by_subject["Möte 1"].id, subject="Möte 1 (flyttat)", location={"displayName": "Rum 4"}
    )
    setup.saljstod.delete(gone)
    report = setup.sync.sync()
    assert report.ok, report.error
    assert setup.saljstod.items()[kept].subject == "Möte 1 (flyttat)"
    assert setup.saljstod.items()[kept].location == "Rum 4"
    assert [e.subject for e in setup.outlook_events()] == ["Möte 1 (flyttat)"]
    outlook_item = setup.outlook.list_all().items[0]
    setup.graph.user_delete(outlook_item.id)
    setup.sync.sync()
    assert setup.saljstod.items() == {}


@pytest.mark.parametrize("status", [429, 503, 504])
def test_throttling_and_unavailability_during_a_full_sync(setup: Setup, status: int) -> None:
    for n in range(25):
        setup.saljstod.add(meeting(f"Möte {n}", hour=8 + n % 10, day=1 + n // 10))
    setup.graph.throttle(times=4, status=status, retry_after=1, method="POST")
    setup.graph.throttle(times=2, status=status, path_contains="delta")
    report = settle(setup)
    assert report.ok, report.error
    assert setup.converged()
    assert setup.duplicates() == []
    assert len(setup.graph.events()) == 25


def test_a_listing_that_keeps_failing_writes_nothing_then_recovers(setup: Setup) -> None:
    setup.saljstod.add(meeting("Kundmöte"))
    setup.sync.sync()
    setup.saljstod.add(meeting("Nytt möte", hour=13))
    setup.graph.unavailable(times=50, status=503, path_contains="delta")
    failed = setup.sync.sync()
    assert failed.error is not None
    assert failed.total_writes == 0
    assert len(setup.graph.events()) == 1
    setup.graph.faults.clear()
    assert settle(setup).ok
    assert setup.converged()


def test_a_malformed_delta_page_deletes_nothing(setup: Setup) -> None:
    setup.saljstod.add(meeting("Kundmöte"))
    setup.sync.sync()
    setup.graph.corrupt(b'{"value": []}', path_contains="delta")  # neither link: truncated
    report = setup.sync.sync()
    assert report.error is not None
    assert len(setup.saljstod.items()) == 1
    assert len(setup.graph.events()) == 1


def test_an_expired_delta_token_falls_back_to_a_full_listing(setup: Setup) -> None:
    setup.saljstod.add(meeting("Möte A"))
    setup.sync.sync()
    item = setup.outlook.list_all().items[0]
    setup.graph.user_edit(item.id, subject="Möte A (ändrat)")
    setup.graph.seed_event(
        "Nytt i Outlook",
        dt.datetime(2026, 12, 3, 8, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 3, 9, tzinfo=dt.UTC),
    )
    setup.saljstod.add(meeting("Nytt i Säljstöd", hour=15))
    setup.graph.expire_delta_tokens()
    report = setup.sync.sync()
    assert report.full["outlook"] is True
    assert setup.converged()
    assert setup.duplicates() == []
    assert sorted(e.subject for e in setup.saljstod.items().values()) == [
        "Möte A (ändrat)",
        "Nytt i Outlook",
        "Nytt i Säljstöd",
    ]


@pytest.mark.parametrize("after", [True, False])
def test_a_dropped_connection_on_create_makes_no_duplicate(setup: Setup, after: bool) -> None:
    for n in range(3):
        setup.saljstod.add(meeting(f"Möte {n}", hour=9 + n))
    setup.graph.drop_connection(times=2, after=after, method="POST")
    report = settle(setup)
    assert report.ok, report.error
    assert setup.converged()
    assert setup.duplicates() == []
    assert len(setup.graph.events()) == 3


def test_a_dropped_connection_on_update_and_delete(setup: Setup) -> None:
    keep = setup.saljstod.add(meeting("Möte"))
    drop = setup.saljstod.add(meeting("Stryks", hour=12))
    setup.sync.sync()
    setup.saljstod.update(
        keep,
        attrs.evolve(setup.saljstod.items()[keep], subject="Ändrat"),
        expected_version=version_of(setup.saljstod, keep),
    )
    setup.saljstod.delete(drop)
    setup.graph.drop_connection(after=True, method="PATCH")
    setup.graph.drop_connection(after=True, method="DELETE")
    settle(setup)
    assert setup.converged()
    assert [e.subject for e in setup.outlook_events()] == ["Ändrat"]


def test_a_user_edit_between_listing_and_write_is_never_overwritten(setup: Setup) -> None:
    sid = setup.saljstod.add(meeting("Kundmöte"))
    setup.sync.sync()
    outlook_id = setup.outlook.list_all().items[0].id
    setup.saljstod.update(
        sid,
        attrs.evolve(setup.saljstod.items()[sid], body="Agenda från CRM"),
        expected_version=version_of(setup.saljstod, sid),
    )
    setup.graph.before_next(
        lambda: setup.graph.user_edit(outlook_id, location={"displayName": "Hos kunden"}),
        method="PATCH",
    )
    first = setup.sync.sync()
    # the 412: nothing was overwritten; the new version was re-read and merged at once
    assert first.concurrent_edits == 1
    assert first.ok
    assert setup.converged()
    final = setup.saljstod.items()[sid]
    assert (final.body, final.location) == ("Agenda från CRM", "Hos kunden")  # both kept


def test_lost_link_state_relinks_without_duplicates(setup: Setup) -> None:
    for n in range(5):
        setup.saljstod.add(meeting(f"Möte {n}", hour=8 + n))
    setup.sync.sync()
    setup.new_sync(MemoryStateStore())
    report = settle(setup)
    assert report.ok, report.error
    assert setup.duplicates() == []
    assert len(setup.graph.events()) == 5


def test_meetings_with_attendees_are_copied_but_never_changed_in_outlook(setup: Setup) -> None:
    attendees = [{"emailAddress": {"address": "team@example.com"}, "type": "required"}]
    team = setup.graph.seed_event(
        "Teammöte",
        dt.datetime(2026, 12, 4, 9, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 4, 10, tzinfo=dt.UTC),
        attendees=attendees,
    )
    first = setup.sync.sync()
    assert first.ok, first.failures  # the partner key is stamped without telling anyone
    [(sid, event)] = setup.saljstod.items().items()
    assert setup.outlook.find_by_partner_key(sid)[0].id == team
    setup.saljstod.update(
        sid,
        attrs.evolve(event, subject="Flyttat i CRM"),
        expected_version=version_of(setup.saljstod, sid),
    )
    report = setup.sync.sync()
    assert any("attendees" in f.error for f in report.failures)
    assert setup.graph.event(team).data["subject"] == "Teammöte"
    # the fixture checks that nothing was e-mailed


def test_full_sync_of_many_events_uses_few_requests(setup: Setup) -> None:
    for n in range(60):
        setup.saljstod.add(meeting(f"Möte {n}", hour=8 + n % 10, day=1 + n // 10))
    setup.sync.sync()
    assert len(setup.graph.events()) == 60
    assert setup.graph.request_count(method="POST") == 3  # $batch of 20: N / 20 requests
    assert setup.graph.request_count(method="PATCH") == 0
    setup.graph.reset_counts()
    assert setup.sync.sync().total_writes == 0
    assert setup.graph.request_count() == 2


def test_a_first_sync_from_outlook_stamps_partner_keys_in_batches(setup: Setup) -> None:
    for n in range(60):
        event = meeting(f"Möte {n}", hour=8 + n % 10, day=1 + n // 10)
        setup.graph.seed_event(event.subject, event.start, event.end)
    report = setup.sync.sync()
    assert report.count("create", Side.SALJSTOD) == 60
    assert report.ok
    # the 60 partner keys travel in $batch requests of 20, not as 60 PATCHes
    assert setup.graph.request_count(method="PATCH") == 0
    assert setup.graph.request_count(method="POST") == 3
    setup.graph.reset_counts()
    assert setup.sync.sync().total_writes == 0


def test_items_reported_by_side(setup: Setup) -> None:
    setup.saljstod.add(meeting("Möte"))
    report = setup.sync.sync()
    assert report.writes[Side.OUTLOOK.value]["create"] == 1
