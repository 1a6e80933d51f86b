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
