"""A user moved from desktop Outlook (COM) to Graph loses nothing and duplicates nothing.

Desktop Outlook's adapter keeps the Säljstöd id in a user property (a PS_PUBLIC_STRINGS
named property); the Graph adapter reads it as a fallback partner key, so the first
Graph sync re-links by key even when an activity was edited after the last COM sync and
no longer matches its appointment by time and subject.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest

from outlook_sync import Event, InMemoryCalendar, MemoryStateStore, Side, Synchronizer
from outlook_sync.adapters.graph import GraphCalendar, GraphClient, StaticToken
from outlook_sync.adapters.graph.mapping import COM_PARTNER_PROPERTY
from outlook_sync.testing.graph import GraphEmulator, run_emulator

STOCKHOLM = ZoneInfo("Europe/Stockholm")
START = dt.datetime(2026, 12, 7, 9, 0, tzinfo=STOCKHOLM)


@pytest.fixture
def graph() -> Iterator[GraphEmulator]:
    with run_emulator() as emulator:
        yield emulator


def test_moving_from_com_to_graph_relinks_by_the_com_key_even_after_an_edit(
    graph: GraphEmulator,
) -> None:
    crm = InMemoryCalendar(name="crm", id_prefix="S", identity="sql:crm/anna")
    s_id = crm.add(Event(subject="Kundmöte", start=START, end=START + dt.timedelta(hours=1)),
                   partner_key="com-entry-id-1")
    # the appointment desktop Outlook made, with its user property naming the activity
    graph.seed_event("Kundmöte", START, START + dt.timedelta(hours=1),
                     extended={COM_PARTNER_PROPERTY: s_id})
    state = MemoryStateStore()
    # the user moved the meeting in Säljstöd after the last COM sync
    moved = START + dt.timedelta(hours=2)
    crm.update(s_id, Event(subject="Kundmöte (flyttat)", start=moved,
                           end=moved + dt.timedelta(hours=1)))
    client = GraphClient(graph.base_url, StaticToken("t"), sleep=lambda _s: None,
                         random=lambda: 0.5)
    try:
        outlook = GraphCalendar(client)
        report = Synchronizer(saljstod=crm, outlook=outlook, state=state,
                              user="anna").sync()
        assert report.ok, report
        assert report.linked == 1  # paired by the key, not copied
        assert len(crm.items()) == 1
        (event,) = graph.events()
        assert event.data["subject"] == "Kundmöte (flyttat)"
        assert report.count("create", Side.OUTLOOK) == 0
        assert report.count("create", Side.SALJSTOD) == 0
    finally:
        client.close()


def test_a_user_moved_from_com_to_graph_with_the_same_state_store_loses_nothing(
    graph: GraphEmulator,
) -> None:
    # The whole path: desktop Outlook synced with this state store; the host then gives
    # the user the Graph adapter on the same mailbox. The calendar identity changes, so
    # the links are forgotten and the items re-linked by key: nothing deleted, nothing
    # created twice, and the next sync writes nothing.
    from outlook_sync.adapters.outlook_com import SWEDISH, OutlookComCalendar
    from outlook_sync.testing.outlook_com import FakeOutlook, ManualClock

    crm = InMemoryCalendar(name="crm", id_prefix="S", identity="sql:crm/anna")
    for hour in range(3):
        start = START + dt.timedelta(days=1, hours=hour)
        crm.add(Event(subject=f"Besök {hour}", start=start, end=start + dt.timedelta(hours=1)))
    state = MemoryStateStore()
    fake = FakeOutlook(clock=ManualClock(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)))
    com = OutlookComCalendar(fake.dispatch, locale=SWEDISH, sleep=lambda _s: None)
    assert Synchronizer(saljstod=crm, outlook=com, state=state, user="anna").sync().ok
    # the same mailbox as Graph sees it: each appointment with its COM user property
    for item in com.list_all().items:
        assert item.partner_key is not None
        graph.seed_event(item.event.subject, item.event.start, item.event.end,
                         extended={COM_PARTNER_PROPERTY: item.partner_key})
    client = GraphClient(graph.base_url, StaticToken("t"), sleep=lambda _s: None,
                         random=lambda: 0.5)
    try:
        sync = Synchronizer(saljstod=crm, outlook=GraphCalendar(client), state=state,
                            user="anna")
        report = sync.sync()
        assert report.ok, report
        assert report.switched == ("outlook",)
        assert report.linked == 3
        for side in Side:  # nothing created twice, nothing deleted
            assert report.count("create", side) == 0
            assert report.count("delete", side) == 0
        assert sorted(e.subject for e in crm.items().values()) == [
            "Besök 0", "Besök 1", "Besök 2"]
        assert len(graph.events()) == 3
        assert sync.sync().total_writes == 0
    finally:
        client.close()
