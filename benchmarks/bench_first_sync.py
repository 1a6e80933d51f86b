"""The first full sync at the floor (issue 15): SQL Säljstöd <-> the Graph emulator.

Usage::

    python benchmarks/bench_first_sync.py                  # 20 000 activities, SQLite + PostgreSQL
    python benchmarks/bench_first_sync.py --quick          # 2 000 activities (CI, < 1 min)
    python benchmarks/bench_first_sync.py --dialects sqlite --events 20000 --json
    python benchmarks/bench_first_sync.py --floor          # also the HTTP floor
    python benchmarks/bench_first_sync.py --rounds 5       # median of 5, with the spread

One user, N activities in the Säljstöd database (reference schema, seeded as
``bench_sql.py`` does), an empty Outlook calendar behind the Graph emulator, never
synced. One whole ``Synchronizer.sync()`` as ``docs/sql.md`` recommends: ``SqlCalendar
(commit=False)`` and ``SqlStateStore`` on one connection, ``GraphCalendar`` over
loopback HTTP (creates go 20 to a ``$batch``).

Figures (per dialect):

- ``cpu_s``: the sync process's CPU time for the sync (``time.process_time``). The
  emulator runs in a process of its own, so its CPU is not in it; SQLite runs inside
  the sync process, so its CPU is; a PostgreSQL server's is not.
- ``state_s``: wall time spent inside the state store's methods during the sync
  (commits, reads of links, cursors, intents; the lease renewals ride in the commits).
- ``one_tx_s``: writing the same links into a fresh state store in one transaction (one
  ``commit`` with every link): the floor ``state_s`` is compared with (``state_ratio``).
- ``requests``: HTTP requests the emulator answered (``$batch`` counted once).

The client's request budget is lifted (``budget=10**9``) and so is the emulator's: a real
mailbox allows 10 000 requests per 10 minutes, counted per ``$batch`` item, so 20 000
creates need two windows; the wait between them is time, not CPU, and the resumable
first sync (tests/test_progress.py) covers it.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bench_sql

from outlook_sync import Synchronizer
from outlook_sync.adapters.graph import GraphCalendar, GraphClient, StaticToken
from outlook_sync.adapters.sql import SqlCalendar
from outlook_sync.adapters.sql.dialect import dialect_for
from outlook_sync.protocols import StateChange
from outlook_sync.state.sql import SqlStateStore

USER = bench_sql.USER
DIALECTS = ("sqlite", "postgresql")
_EMULATOR = (
    "import sys\n"
    "from outlook_sync.testing.graph import GraphEmulator\n"
    "emulator = GraphEmulator(port=0, request_budget=10**9, max_concurrent=64)\n"
    "print(emulator.base_url, flush=True)\n"
    "emulator.serve_forever()\n"
)
#: the state store's methods the engine calls during a sync
_STATE_METHODS = ("commit", "links", "link_count", "cursor", "pending", "intents",
                  "generation", "identity", "quarantine", "last_sync", "last_error",
                  "expire_deleted", "deleted_items")


@contextmanager
def emulator() -> Iterator[str]:
    """The Graph emulator in a process of its own; yields its base URL."""
    process = subprocess.Popen([sys.executable, "-c", _EMULATOR], stdout=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def _timed_state(state: SqlStateStore) -> list[float]:
    """Time every state-store call the engine makes; returns the running total."""
    total = [0.0]
    for name in _STATE_METHODS:
        method = getattr(state, name)

        def timed(*args: Any, _method: Callable[..., Any] = method, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return _method(*args, **kwargs)
            finally:
                total[0] += time.perf_counter() - started

        setattr(state, name, functools.wraps(method)(timed))
    return total


def measure(dialect_name: str, n: int) -> dict[str, Any]:
    dialect = dialect_for(None, dialect_name)
    with bench_sql.database(dialect_name) as (raw, host), emulator() as base_url:
        bench_sql.seed(host, dialect, n)
        if dialect.name == "sqlite":
            host.commit()
        client = GraphClient(base_url, StaticToken("bench"), mailbox=f"first-{n}",
                             budget=10**9, timeout=60.0)
        outlook = GraphCalendar(client)
        state = SqlStateStore(raw, dialect=dialect)
        saljstod = SqlCalendar(raw, user=USER, dialect=dialect, commit=False)
        sync = Synchronizer(saljstod=saljstod, outlook=outlook, state=state, user=USER)
        state_seconds = _timed_state(state)
        gc.collect()
        cpu = time.process_time()
        started = time.perf_counter()
        report = sync.sync()
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu
        assert report.ok, str(report)
        assert report.writes["outlook"]["create"] == n, report.writes
        links = SqlStateStore.links(state, USER)
        assert len(links) == n, len(links)
        requests = client.requests_sent
        client.close()
    with bench_sql.database(dialect_name) as (fresh, _host):
        floor = SqlStateStore(fresh, dialect=dialect)
        started = time.perf_counter()
        floor.commit(USER, StateChange(put_links=tuple(links)))
        one_tx = time.perf_counter() - started
    return {
        "bench": "first_sync",
        "dialect": dialect_name,
        "n": n,
        "seconds": round(seconds, 3),
        "cpu_s": round(cpu_seconds, 3),
        "state_s": round(state_seconds[0], 3),
        "one_tx_s": round(one_tx, 3),
        "state_ratio": round(state_seconds[0] / one_tx, 2) if one_tx else None,
        "requests": requests,
    }


def measure_floor(n: int) -> dict[str, Any]:
    """The HTTP floor: the creates' requests alone, in a plain loop (no engine, no state,
    no Säljstöd reads or stamps). The same N events (read from the seeded database
    before the clock starts) become Graph bodies (``event_to_graph`` with the partner
    key and a ``transactionId``), 20 to a ``$batch`` posted on one keep-alive connection
    with the client's own sender and JSON (``adapters/graph/sender.py``); each answer is
    decoded. What every create costs the sync process whatever the
    engine does: building the body, JSON both ways, one HTTP exchange per 20."""
    import uuid

    from outlook_sync.adapters.graph.mapping import PARTNER_PROPERTY, event_to_graph
    from outlook_sync.adapters.graph.sender import DirectSender, dumps, loads

    dialect = dialect_for(None, "sqlite")
    with bench_sql.database("sqlite") as (raw, host), emulator() as base_url:
        bench_sql.seed(host, dialect, n)
        host.commit()
        items = list(SqlCalendar(raw, user=USER, dialect=dialect).list_all().items)
        http = DirectSender(60.0)
        headers = {"Authorization": "Bearer bench", "Content-Type": "application/json"}
        url = f"{base_url}/$batch"
        path = "/users/floor/calendar/events"
        gc.collect()
        cpu = time.process_time()
        started = time.perf_counter()
        for first in range(0, len(items), 20):
            requests = []
            for number, item in enumerate(items[first:first + 20]):
                body = event_to_graph(item.event)
                body["singleValueExtendedProperties"] = [
                    {"id": PARTNER_PROPERTY, "value": item.id}]
                body["transactionId"] = str(uuid.uuid4())
                requests.append({"id": str(number), "method": "POST", "url": path,
                                 "headers": {"Content-Type": "application/json"},
                                 "body": body})
            status, _headers, content = http.send("POST", url, headers,
                                                  dumps({"requests": requests}))
            assert status == 200, status
            statuses = {r["status"] for r in loads(content)["responses"]}
            assert statuses <= {201}, statuses
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu
        http.close()
    return {"bench": "first_sync_floor", "n": n, "seconds": round(seconds, 3),
            "cpu_s": round(cpu_seconds, 3)}


def run_child(dialect: str, n: int) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", f"{dialect}:{n}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"first sync {dialect} n={n} failed (exit {done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def calibration() -> float:
    """CPU seconds of a fixed pure-Python loop: how fast the machine runs right now (a
    shared VM's neighbours can slow it by half; compare the figures with it)."""
    started = time.process_time()
    total = 0
    for number in range(5_000_000):
        total += number
    assert total
    return time.process_time() - started


def rounds_of(dialect: str, n: int, rounds: int) -> dict[str, Any]:
    """The median run (by CPU) of ``rounds``, with the CPU spread and the calibration."""
    results = []
    for _ in range(rounds):
        calib = calibration()
        results.append({**run_child(dialect, n), "calibration_s": round(calib, 3)})
    results.sort(key=lambda r: float(r["cpu_s"]))
    median = dict(results[len(results) // 2])
    if rounds > 1:
        median["rounds"] = rounds
        median["cpu_s_all"] = [r["cpu_s"] for r in results]
    return median


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="2 000 activities (CI)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--dialects", default=",".join(DIALECTS))
    parser.add_argument("--floor", action="store_true",
                        help="also measure the HTTP floor (the creates' requests alone)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="runs per database; the median is shown, with every CPU figure")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        dialect, n = args.child.split(":")
        result = measure_floor(int(n)) if dialect == "floor" else measure(dialect, int(n))
        print(json.dumps(result))
        return 0
    n = args.events or (2_000 if args.quick else 20_000)
    if not args.json:
        print(f"{'database':<11}{'N':>8}{'wall s':>9}{'cpu s':>8}{'state s':>9}"
              f"{'1-tx s':>8}{'ratio':>7}{'requests':>10}{'calib s':>9}")
    for dialect in [d for d in args.dialects.split(",") if d]:
        if dialect == "postgresql":
            with bench_sql.postgres_available() as missing:
                if missing:
                    print(json.dumps({"skipped": dialect, "why": missing}) if args.json
                          else f"{dialect:<11} skipped: {missing}")
                    continue
                result = rounds_of(dialect, n, args.rounds)
        else:
            result = rounds_of(dialect, n, args.rounds)
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            print(f"{dialect:<11}{n:>8}{result['seconds']:>9.2f}{result['cpu_s']:>8.2f}"
                  f"{result['state_s']:>9.3f}{result['one_tx_s']:>8.3f}"
                  f"{result['state_ratio']:>6}x{result['requests']:>10}"
                  f"{result['calibration_s']:>9.2f}"
                  + (f"  cpu of {args.rounds} runs: {result['cpu_s_all']}"
                     if args.rounds > 1 else ""), flush=True)
    if args.floor:
        result = run_child("floor", n)
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            print(f"{'HTTP floor':<11}{n:>8}{result['seconds']:>9.2f}{result['cpu_s']:>8.2f}"
                  "  (the creates' $batch requests alone, in a plain loop)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
