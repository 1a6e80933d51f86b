"""Request counts and timings of Graph syncs against the local emulator.

Run: ``python benchmarks/bench_graph.py [--events 1000]``

Scenarios (each on a fresh emulator, loopback HTTP, no artificial latency):

1. initial sync, N events in Säljstöd -> Outlook through the engine (one POST each, as
   the engine creates one item at a time today);
2. the same writes through ``GraphCalendar.create_many`` (``$batch``, 20 per request);
3. initial sync, N events in Outlook -> Säljstöd (delta pages + the partner-key listing);
4. an incremental sync with no change (expected: exactly one delta request).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable

from outlook_sync import Event, InMemoryCalendar, MemoryStateStore, Synchronizer
from outlook_sync.adapters.graph import GraphCalendar, GraphClient, StaticToken
from outlook_sync.testing.graph import GraphEmulator, run_emulator

T0 = dt.datetime(2026, 1, 5, 8, tzinfo=dt.UTC)


def event(n: int) -> Event:
    start = T0 + dt.timedelta(days=n // 8, hours=n % 8)
    return Event(
        subject=f"Kundmöte {n}",
        start=start,
        end=start + dt.timedelta(minutes=45),
        location="Kontoret",
        body=f"Agenda {n}",
        categories=("Kund",),
    )


def measure(label: str, graph: GraphEmulator, work: Callable[[], object]) -> None:
    graph.reset_counts()
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    total = graph.request_count()
    inner = graph.request_count(inner=True)
    batches = graph.request_count(path_contains="$batch")
    print(f"{label:<52} {total:>6} {batches:>7} {inner:>7} {seconds:>8.2f}")


def calendar(graph: GraphEmulator, tag: str) -> GraphCalendar:
    return GraphCalendar(GraphClient(graph.base_url, StaticToken("bench"), mailbox=tag))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    n = parser.parse_args().events
    print(f"{n} events; columns: HTTP requests, of which $batch, batch items, seconds")
    print(f"{'scenario':<52} {'HTTP':>6} {'$batch':>7} {'items':>7} {'seconds':>8}")

    with run_emulator() as graph:
        saljstod = InMemoryCalendar(name="saljstod", id_prefix="S")
        for i in range(n):
            saljstod.add(event(i))
        outlook = calendar(graph, "bench-1")
        sync = Synchronizer(
            saljstod=saljstod, outlook=outlook, state=MemoryStateStore(), user="bench"
        )
        measure("initial sync Säljstöd -> Outlook (engine, $batch)", graph, sync.sync)
        measure("next sync (echo of own writes, no re-reads)", graph, sync.sync)
        measure("incremental sync, no change", graph, sync.sync)
        outlook.close()

    with run_emulator() as graph:
        outlook = calendar(graph, "bench-2")
        requests = [(event(i), f"S{i}") for i in range(n)]
        measure(
            "create_many ($batch, 20 per request)", graph, lambda: outlook.create_many(requests)
        )
        outlook.close()

    with run_emulator() as graph:
        for i in range(n):
            e = event(i)
            graph.seed_event(e.subject, e.start, e.end)
        outlook = calendar(graph, "bench-3")
        sync = Synchronizer(
            saljstod=InMemoryCalendar(name="saljstod", id_prefix="S"),
            outlook=outlook,
            state=MemoryStateStore(),
            user="bench",
        )
        measure("initial sync Outlook -> Säljstöd", graph, sync.sync)
        measure("next sync (partner keys written back: re-read)", graph, sync.sync)
        measure("incremental sync, no change", graph, sync.sync)
        outlook.close()


if __name__ == "__main__":
    main()
