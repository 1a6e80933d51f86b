"""Updates and deletes go to Graph 20 to a ``$batch``, like creates: an incremental sync
with many edits costs a handful of requests, and one refused item fails alone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import attrs
import pytest

from outlook_sync import (
    Event,
    InMemoryCalendar,
    Item,
    MemoryStateStore,
    Synchronizer,
    SyncPolicy,
    VersionConflictError,
)
from outlook_sync.adapters.graph import GraphCalendar, GraphClient, StaticToken
from outlook_sync.protocols import BulkDeleter, BulkWriter
from outlook_sync.series_view import wrap_for_series
from outlook_sync.testing.graph import GraphEmulator, run_emulator

T0 = dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def graph() -> Iterator[GraphEmulator]:
    with run_emulator() as emulator:
        yield emulator


@pytest.fixture
def cal(graph: GraphEmulator) -> Iterator[GraphCalendar]:
    client = GraphClient(
        graph.base_url, StaticToken("t"), mailbox=f"bulk-{id(graph)}", sleep=lambda _s: None
    )
    calendar = GraphCalendar(client)
    yield calendar
    calendar.close()


def _created(cal: GraphCalendar, count: int) -> list[Item]:
    requests = [
        (Event(subject=f"Möte {n}", start=T0 + n * HOUR, end=T0 + (n + 1) * HOUR), f"s-{n}")
        for n in range(count)
    ]
    items = cal.create_many(requests)
    assert all(isinstance(i, Item) for i in items)
    return [i for i in items if isinstance(i, Item)]


def test_the_adapter_is_a_bulk_writer_and_a_bulk_deleter(cal: GraphCalendar) -> None:
    assert isinstance(cal, BulkWriter)
    assert isinstance(cal, BulkDeleter)


def test_45_updates_and_5_deletes_cost_four_requests(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    items = _created(cal, 50)
    graph.reset_counts()
    updates = [
        (i.id, attrs.evolve(i.event, subject=i.event.subject + " (flyttat)"), i.version, None)
        for i in items[:45]
    ]
    updated = cal.update_many(updates)
    deleted = cal.delete_many([(i.id, i.version) for i in items[45:]])
    assert graph.request_count() == 4  # 20 + 20 + 5 updates, 5 deletes: one $batch each
    assert graph.request_count(method="PATCH") == 0
    assert graph.request_count(method="DELETE") == 0
    assert all(isinstance(u, Item) and u.event.subject.endswith("(flyttat)") for u in updated)
    assert all(isinstance(u, Item) and u.partner_key == f"s-{n}" for n, u in enumerate(updated))
    assert deleted == [None] * 5
    assert len(graph.events()) == 45


def test_a_stale_version_fails_only_its_own_update_and_delete(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    first, second, third, fourth = _created(cal, 4)
    graph.user_edit(first.id, subject="changed in Outlook")
    graph.user_edit(third.id, subject="changed in Outlook")
    results = cal.update_many(
        [(i.id, attrs.evolve(i.event, subject="ours"), i.version, None) for i in (first, second)]
    )
    assert isinstance(results[0], VersionConflictError)
    assert isinstance(results[1], Item)
    assert results[1].event.subject == "ours"
    gone = cal.delete_many([(third.id, third.version), (fourth.id, fourth.version)])
    assert isinstance(gone[0], VersionConflictError)
    assert gone[1] is None
    assert {e.data["subject"] for e in graph.events()} == {"changed in Outlook", "ours"}


def test_a_sync_deletes_in_outlook_in_batches_behind_the_series_view(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    # Säljstöd has no series, so the engine sees Graph through SeriesView: deletions of
    # single items must still reach Graph 20 to a $batch, and a series keeps its own path.
    saljstod = InMemoryCalendar(name="saljstod", id_prefix="S")
    for n in range(120):
        start = T0 + n * HOUR
        saljstod.add(Event(subject=f"Besök {n}", start=start, end=start + HOUR))
    sync = Synchronizer(saljstod=saljstod, outlook=cal, state=MemoryStateStore(), user="anna")
    assert sync.sync().ok
    assert sync.sync().ok
    assert isinstance(wrap_for_series(saljstod, cal, SyncPolicy(), cal.clock,
                                      state=MemoryStateStore(), user="anna")[1], BulkDeleter)
    for item_id in list(saljstod.items())[:22]:  # under the mass-delete guard's 20 %
        saljstod.delete(item_id)
    graph.reset_counts()
    report = sync.sync()
    assert report.ok, str(report)
    assert report.writes["outlook"]["delete"] == 22
    assert graph.request_count(method="DELETE") == 0  # none on its own
    assert graph.request_count(path_contains="$batch") == 2  # 20 + 2
    assert sorted(e.data["subject"] for e in graph.events()) == sorted(
        f"Besök {n}" for n in range(22, 120))


def test_a_fresh_adapter_reads_the_items_it_must_check_for_meetings_in_batches(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    # A new process (a CLI run, a server job) knows none of the items: before changing
    # or deleting one it must learn whether it is a meeting (that would e-mail the
    # attendees). It reads them 20 to a $batch, not one GET each.
    items = _created(cal, 45)
    fresh = GraphCalendar(GraphClient(graph.base_url, StaticToken("t"),
                                      mailbox=f"bulk-{id(graph)}", sleep=lambda _s: None))
    graph.reset_counts()
    updates = [(i.id, attrs.evolve(i.event, subject="Flyttat"), i.version, None)
               for i in items[:40]]
    assert all(isinstance(r, Item) for r in fresh.update_many(updates))
    assert fresh.delete_many([(i.id, i.version) for i in items[40:]]) == [None] * 5
    assert graph.request_count(method="GET") == 0  # no item read on its own
    assert graph.request_count(path_contains="$batch") == 2 + 2 + 1 + 1  # reads, writes
    fresh.close()
