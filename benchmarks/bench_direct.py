"""Benchmark of direct sync: how fast a change reaches the other side, and idle CPU.

Usage::

    python benchmarks/bench_direct.py                  # both backends, 30 changes each
    python benchmarks/bench_direct.py --json           # one JSON object per backend
    python benchmarks/bench_direct.py --backends memory --changes 100
    python benchmarks/bench_direct.py --graph-poll 0.25 --idle-seconds 5

Backends:

- ``memory``: Säljstöd and Outlook are two :class:`InMemoryCalendar`, which notify
  their subscribers synchronously on every write.
- ``graph``: Säljstöd in memory, Outlook a :class:`GraphCalendar` talking HTTP to the
  Graph emulator on 127.0.0.1. Graph changes are found by delta polling
  (:class:`DeltaPoller`), every ``--graph-poll`` seconds (default 0.25; the adapter's
  default is 30 s: ``GraphCalendar(changes=ChangeFeed(poll_interval=...))`` sets it).
- ``graph-push``: the same, with push: ``ChangeFeed(webhook=Webhook(...))``, a
  :class:`WebhookReceiver` on 127.0.0.1 receiving the emulator's change notifications,
  the subscription kept in the sync's own state store.

How it measures:

- A :class:`Watcher` with the default occasions (200 ms debounce) runs the sync. Ten
  appointments are synced first. Then ``--changes`` edits alternate between the two
  sides (a new subject each time), one at a time.
- Latency is from just before the user's edit to the moment the other side holds the
  new subject: for the in-memory Säljstöd side, the instant its write notifies (a
  listener on the calendar); for the Graph side, the first 2 ms check of the emulator's
  store that shows it. After each change the watcher settles (the echo pass included)
  before the next edit, so changes are measured one by one. With Graph, each edit
  waits a random part of the poll interval first, so edits meet the poller at random
  phases.
- Idle CPU: once settled, the process's CPU time (``resource.getrusage(RUSAGE_SELF)``,
  user + system, every thread: the watcher and, for Graph, the delta poller and the
  emulator serving it) over ``--idle-seconds`` of wall time in which nothing changes.
  ``idle_wakeups`` is how often the watcher thread woke meanwhile.
- Each backend runs in a fresh child process (this script with ``--child``).
- Sanity checks: every change must arrive within 10 s, and afterwards both sides must
  hold the same subjects; a broken watcher fails the run instead of reporting a number.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from outlook_sync import Event, InMemoryCalendar, MemoryStateStore, Side, Synchronizer
from outlook_sync.adapters.graph import GraphCalendar, GraphClient, StaticToken
from outlook_sync.adapters.graph.push import ChangeFeed, Webhook, WebhookReceiver
from outlook_sync.protocols import Calendar
from outlook_sync.testing.graph import GraphEmulator, run_emulator
from outlook_sync.watch import Watcher

ARRIVAL_TIMEOUT = 10.0
SEED = 10


def _event(subject: str, n: int) -> Event:
    start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    start += dt.timedelta(days=1 + n // 8, hours=n % 8)
    return Event(subject=subject, start=start, end=start + dt.timedelta(hours=1))


class Arrivals:
    """Signals when an in-memory calendar's item gets an expected subject."""

    def __init__(self, calendar: InMemoryCalendar) -> None:
        self.calendar = calendar
        self.expect: tuple[str, str] | None = None
        self.arrived_at: float | None = None
        self.event = threading.Event()
        calendar.subscribe(self._changed)

    def arm(self, item_id: str, subject: str) -> None:
        self.arrived_at = None
        self.event.clear()
        self.expect = (item_id, subject)

    def _changed(self, _ids: Sequence[str]) -> None:
        expect = self.expect
        if expect is None or self.event.is_set():
            return
        item_id, subject = expect
        current = self.calendar.items().get(item_id)
        if current is not None and current.subject == subject:
            self.arrived_at = time.perf_counter()
            self.event.set()


@contextmanager
def _outlook(backend: str, poll: float, state: MemoryStateStore) -> Iterator[tuple[Calendar, Any]]:
    if backend == "memory":
        yield InMemoryCalendar(name="outlook", id_prefix="O"), None
        return
    with run_emulator() as graph, WebhookReceiver(state) as receiver:
        client = GraphClient(graph.base_url, StaticToken("bench"), mailbox="bench", timeout=5.0)
        webhook = None
        if backend == "graph-push":
            webhook = Webhook(
                notification_url=receiver.local_url, store=state, user="bench", receiver=receiver
            )
        calendar = GraphCalendar(client, changes=ChangeFeed(poll_interval=poll, webhook=webhook))
        try:
            yield calendar, graph
        finally:
            client.close()


def _graph_subject(graph: GraphEmulator, event_id: str) -> str | None:
    try:
        subject = graph.event(event_id).data.get("subject")
    except KeyError:
        return None
    return subject if isinstance(subject, str) else None


def measure(backend: str, changes: int, idle_seconds: float, poll: float) -> dict[str, Any]:
    saljstod = InMemoryCalendar(name="saljstod", id_prefix="S")
    state = MemoryStateStore()
    with _outlook(backend, poll, state) as (outlook, graph):
        sync = Synchronizer(saljstod=saljstod, outlook=outlook, state=state, user="bench")
        ids = [saljstod.add(_event(f"Möte {n}", n)) for n in range(SEED)]
        s_arrivals = Arrivals(saljstod)
        o_arrivals = Arrivals(outlook) if isinstance(outlook, InMemoryCalendar) else None
        quiet = threading.Event()
        pushed = backend == "graph-push"
        settle_extra = 0.3 if pushed else poll + 0.3 if graph is not None else 0.0
        with Watcher(sync) as watcher:
            if not watcher.wait_idle(60):
                raise SystemExit("the first sync did not finish")
            partner = {link.saljstod_id: link.outlook_id for link in state.links("bench")}
            latencies: list[float] = []
            by_side: dict[Side, list[float]] = {Side.SALJSTOD: [], Side.OUTLOOK: []}
            jitter = random.Random(7)
            for n in range(changes):
                if graph is not None and not pushed:
                    quiet.wait(jitter.uniform(0, poll))  # edits at random poll phases
                s_id = ids[n % SEED]
                o_id = partner[s_id]
                subject = f"Ändrad {n}"
                side = Side.SALJSTOD if n % 2 == 0 else Side.OUTLOOK
                if side is Side.SALJSTOD:
                    if o_arrivals is not None:
                        o_arrivals.arm(o_id, subject)
                    began = time.perf_counter()
                    saljstod.update(s_id, _event(subject, n % SEED))
                    latencies.append(_arrival(o_arrivals, graph, o_id, subject) - began)
                    by_side[side].append(latencies[-1])
                else:
                    s_arrivals.arm(s_id, subject)
                    began = time.perf_counter()
                    if graph is not None:
                        graph.user_edit(o_id, subject=subject)
                    else:
                        assert isinstance(outlook, InMemoryCalendar)
                        outlook.update(o_id, _event(subject, n % SEED))
                    latencies.append(_arrival(s_arrivals, None, s_id, subject) - began)
                    by_side[side].append(latencies[-1])
                if not watcher.wait_idle(60):
                    raise SystemExit("the watcher did not settle")
                if settle_extra:
                    quiet.wait(settle_extra)  # let the delta poller report our own writes
                    watcher.wait_idle(60)
            quiet.wait(1.0)
            watcher.wait_idle(60)
            gc.collect()
            woken = watcher.stats.wakeups
            before = resource.getrusage(resource.RUSAGE_SELF)
            wall = time.perf_counter()
            quiet.wait(idle_seconds)
            wall = time.perf_counter() - wall
            after = resource.getrusage(resource.RUSAGE_SELF)
            idle_wakeups = watcher.stats.wakeups - woken
            stats = watcher.stats
        left = sorted(e.subject for e in saljstod.items().values())
        right = sorted(i.event.subject for i in outlook.list_all().items)
        if left != right:
            raise SystemExit(f"{backend}: the sides differ after the run")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {
        "backend": backend,
        "changes": changes,
        "median_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(p95 * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
        "median_ms_to_outlook": _median_ms(by_side[Side.SALJSTOD]),
        "median_ms_to_saljstod": _median_ms(by_side[Side.OUTLOOK]),
        "debounce_ms": 200,
        "graph_poll_s": poll if backend == "graph" else None,
        "graph_push": backend == "graph-push",
        "idle_seconds": round(wall, 2),
        "idle_cpu_seconds": round(cpu, 4),
        "idle_cpu_percent": round(100 * cpu / wall, 3),
        "idle_wakeups": idle_wakeups,
        "syncs": stats.syncs,
        "echo_passes": stats.echoes,
    }


def _median_ms(values: list[float]) -> float | None:
    return round(statistics.median(values) * 1000, 1) if values else None


def _arrival(
    arrivals: Arrivals | None, graph: GraphEmulator | None, item_id: str, subject: str
) -> float:
    if arrivals is not None:
        if not arrivals.event.wait(ARRIVAL_TIMEOUT) or arrivals.arrived_at is None:
            raise SystemExit(f"the change to {item_id} did not arrive")
        return arrivals.arrived_at
    assert graph is not None
    deadline = time.perf_counter() + ARRIVAL_TIMEOUT
    tick = threading.Event()
    while time.perf_counter() < deadline:
        if _graph_subject(graph, item_id) == subject:
            return time.perf_counter()
        tick.wait(0.002)
    raise SystemExit(f"the change to {item_id} did not arrive in Graph")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="memory,graph,graph-push")
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--graph-poll", type=float, default=0.25)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = measure(args.child, args.changes, args.idle_seconds, args.graph_poll)
        print(json.dumps(result))
        return 0
    for backend in args.backends.split(","):
        out = (
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    backend,
                    "--changes",
                    str(args.changes),
                    "--idle-seconds",
                    str(args.idle_seconds),
                    "--graph-poll",
                    str(args.graph_poll),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        result = json.loads(out)
        if args.json:
            print(json.dumps(result, sort_keys=True))
            continue
        poll = f", delta poll {result['graph_poll_s']} s" if result["graph_poll_s"] else ""
        poll += ", change notifications" if result.get("graph_push") else ""
        print(
            f"{result['backend']:<10}  {result['changes']} changes{poll}: "
            f"median {result['median_ms']} ms, p95 {result['p95_ms']} ms, "
            f"max {result['max_ms']} ms (median to Outlook {result['median_ms_to_outlook']} ms, "
            f"to Säljstöd {result['median_ms_to_saljstod']} ms); "
            f"idle CPU {result['idle_cpu_seconds']} s in "
            f"{result['idle_seconds']} s ({result['idle_cpu_percent']} %), "
            f"{result['idle_wakeups']} watcher wakeups"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
