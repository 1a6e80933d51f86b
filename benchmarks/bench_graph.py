"""Request counts and timings of Graph listings and syncs against the local emulator.

Run: ``python benchmarks/bench_graph.py [--events 1000 20000] [--series 50]``

For each size N (fresh emulator, loopback HTTP, no artificial latency), the mailbox holds
N single events spread over six years around today plus ``--series`` weekly series that
never end (each with one changed and one cancelled occurrence):

1. the complete listing (``list_all``): delta round over the rolling window (for its
   token), ``/events`` of all time, masters read by id with their exceptions;
2. an incremental listing with no change;
3. an incremental listing after 1 % of the events were edited in Outlook;
4. an incremental sync through the engine with 1 % edits on each side and 0.2 %
   deletions on each side (Outlook's side of the work: listing + writes), the writes one
   request each as the engine sends them today ("before batching");
5. the same Outlook writes sent with ``update_many`` / ``delete_many`` ($batch, 20 per
   request: "after batching").
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import attrs

from outlook_sync import Event, InMemoryCalendar, Item, MemoryStateStore, Synchronizer
from outlook_sync.adapters.graph import GraphCalendar, GraphClient, StaticToken
from outlook_sync.testing.graph import GraphEmulator, run_emulator

NOW = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
HEADER = f"{'scenario':<58} {'HTTP':>6} {'$batch':>7} {'items':>7} {'seconds':>8}"


def event(n: int, total: int) -> Event:
    # spread over six years: three back, three ahead (beyond the delta window both ways)
    offset = dt.timedelta(hours=(n * 6 * 365 * 24) // max(total, 1)) - dt.timedelta(days=3 * 365)
    start = (NOW + offset).replace(minute=0)
    return Event(
        subject=f"Kundmöte {n}",
        start=start,
        end=start + dt.timedelta(minutes=45),
        location="Kontoret",
        body=f"Agenda {n}",
        categories=("Kund",),
    )


def measure(label: str, graph: GraphEmulator, work: Callable[[], Any]) -> Any:
    graph.reset_counts()
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    total = graph.request_count()
    inner = graph.request_count(inner=True)
    batches = graph.request_count(path_contains="$batch")
    print(f"{label:<58} {total:>6} {batches:>7} {inner:>7} {seconds:>8.2f}", flush=True)
    return result


def calendar(graph: GraphEmulator, tag: str) -> GraphCalendar:
    # The per-mailbox budget (10 000 requests / 10 min, counted per $batch item) would
    # make a 20 000-item first sync wait for minutes; requests are what is measured here.
    client = GraphClient(graph.base_url, StaticToken("bench"), mailbox=tag, budget=10**9)
    return GraphCalendar(client)


def seed_series(graph: GraphEmulator, count: int) -> None:
    for s in range(count):
        first = (NOW - dt.timedelta(days=400 + s)).date()
        start = dt.datetime.combine(first, dt.time(7 + s % 8), dt.UTC)
        day = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")[
            start.weekday()
        ]
        master = graph.seed_event(
            f"Veckomöte {s}",
            start,
            start + dt.timedelta(hours=1),
            recurrence={
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [day]},
                "range": {
                    "type": "noEnd",
                    "startDate": first.isoformat(),
                    "recurrenceTimeZone": "UTC",
                },
            },
        )
        with graph.store.lock:
            box = graph.store.mailbox("me")
            slots = box.instances(
                box.find(master), NOW - dt.timedelta(days=30), NOW + dt.timedelta(days=30)
            )
        graph.user_edit(slots[0].immutable_id, subject=f"Veckomöte {s} (flyttat)")
        graph.user_delete(slots[1].immutable_id)


def listings(n: int, series: int) -> None:
    with run_emulator() as graph:
        for i in range(n):
            e = event(i, n)
            graph.seed_event(e.subject, e.start, e.end)
        seed_series(graph, series)
        with graph.store.lock:  # an established mailbox: nothing changed in the last days
            for stored in graph.store.mailbox("me").events.values():
                stored.modified = NOW - dt.timedelta(days=2)
        outlook = calendar(graph, f"listing-{n}")
        full = measure(f"complete listing ({n} + {series} series)", graph, outlook.list_all)
        quiet = measure("incremental listing, no change", graph, lambda: outlook.list_changes(
            full.cursor
        ))
        ids = [e.immutable_id for e in graph.events() if not e.is_master]
        for item_id in ids[:: 100]:  # 1 %
            graph.user_edit(item_id, subject="edited in Outlook")
        changed = measure(
            "incremental listing, 1 % edited in Outlook",
            graph,
            lambda: outlook.list_changes(quiet.cursor),
        )
        print(f"{'':<58} ({len(changed.items)} items reported)")
        outlook.close()


class Unbatched:
    """The Graph calendar without its bulk methods: the engine writes one item per request
    (how every sync wrote before issue 12, item 4)."""

    def __init__(self, inner: GraphCalendar) -> None:
        self.inner = inner

    def list_all(self) -> Any:
        return self.inner.list_all()

    def list_changes(self, cursor: Any) -> Any:
        return self.inner.list_changes(cursor)

    def get(self, item_id: str) -> Any:
        return self.inner.get(item_id)

    def find_by_partner_key(self, key: str) -> Any:
        return self.inner.find_by_partner_key(key)

    def create(self, event: Event, *, partner_key: str) -> Any:
        return self.inner.create(event, partner_key=partner_key)

    def update(self, item_id: str, event: Event, **kwargs: Any) -> Any:
        return self.inner.update(item_id, event, **kwargs)

    def delete(self, item_id: str, *, expected_version: str) -> None:
        self.inner.delete(item_id, expected_version=expected_version)

    def calendar_identity(self) -> str:
        return self.inner.calendar_identity()


def sync_round(n: int, *, batched: bool) -> None:
    with run_emulator(request_budget=10**9) as graph:
        saljstod = InMemoryCalendar(name="saljstod", id_prefix="S")
        for i in range(n):
            saljstod.add(event(i, n))
        outlook = calendar(graph, f"sync-{n}-{batched}")
        sync = Synchronizer(
            saljstod=saljstod,
            outlook=outlook if batched else Unbatched(outlook),
            state=MemoryStateStore(),
            user="bench",
        )
        how = "engine, $batch runs" if batched else "engine, one request per write"
        measure(f"initial sync of {n}, Säljstöd -> Outlook ({how})", graph, sync.sync)
        measure("next sync (own writes come back)", graph, sync.sync)
        items = list(saljstod.items().items())
        step = 100
        for item_id, ev in items[::step]:
            saljstod.update(item_id, attrs.evolve(ev, subject=ev.subject + " (ändrad)"))
        for item_id, _ev in items[1::500]:
            saljstod.delete(item_id)
        stored = [e.immutable_id for e in graph.events()]
        for item_id in stored[2::step]:
            graph.user_edit(item_id, subject="ändrad i Outlook")
        for item_id in stored[3::500]:
            graph.user_delete(item_id)
        report = measure("sync, 1 % edits + 0.2 % deletions each way", graph, sync.sync)
        print(f"{'':<58} (writes: {report.writes})")
        outlook.close()
    if not batched:
        return

    with run_emulator(request_budget=10**9) as graph:  # the same Outlook writes, batched
        outlook = calendar(graph, f"batch-{n}")
        created = [
            i for i in outlook.create_many([(event(i, n), f"S{i}") for i in range(n)])
            if isinstance(i, Item)
        ]
        full = outlook.list_all()
        updates = [
            (i.id, attrs.evolve(i.event, subject=i.event.subject + " (ändrad)"), i.version, None)
            for i in created[::step]
        ]
        deletes = [(i.id, i.version) for i in created[1::500]]

        def send() -> None:
            outlook.list_changes(full.cursor)
            outlook.update_many(updates)
            outlook.delete_many(deletes)

        measure("the same Outlook writes, 20 per $batch (update/delete_many)", graph, send)
        outlook.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1000, 20000])
    parser.add_argument("--series", type=int, default=50)
    parser.add_argument("--sync-events", type=int, nargs="+", default=[1000])
    args = parser.parse_args()
    print("columns: HTTP requests, of which $batch, batch items, seconds")
    print(HEADER)
    for n in args.events:
        listings(n, args.series)
    for n in args.sync_events:
        sync_round(n, batched=False)
        sync_round(n, batched=True)


if __name__ == "__main__":
    main()
