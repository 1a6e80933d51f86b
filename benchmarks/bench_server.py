"""Server mode under load: real PostgreSQL, the Graph emulator, web and worker processes.

Run: ``python benchmarks/bench_server.py [--users 1000] [--events 100] [--workers 1 2 4]``
(``--quick``: 60 users x 10 events, 1 and 2 workers, well under a minute).

For each worker count, on a fresh cluster (:class:`outlook_sync.server.testbed.Testbed`:
a throwaway PostgreSQL, the emulator on loopback with no artificial latency, the web
process and the workers as separate OS processes, all on this machine):

1. **first full sync of all**: seconds from starting the workers until every user's two
   calendars hold the same items, all linked (half the events start in Säljstöd, half in
   Outlook);
2. **notification -> synced latency**: edits in Outlook at ``--rate`` per second spread
   over all mailboxes; seconds from the edit until the new subject is in Säljstöd
   (p50, p95), the path being emulator -> web endpoint -> queue -> worker -> sync;
3. **idle cost**: one sweep round with nothing changed (every user due at once):
   Graph requests per idle sync, worker CPU seconds per idle sync, and what that makes
   per mailbox per hour at ``sync_interval_minutes`` (15);
4. **PostgreSQL per sync**: transactions committed per sync during the idle round
   (``pg_stat_database.xact_commit``: queue, ledger, state store and Säljstöd together).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from pathlib import Path

from outlook_sync.server.testbed import Testbed

HEADER = (f"{'workers':>7} {'users':>6} {'events':>6} {'full sync s':>11} {'users/s':>8} "
          f"{'lat p50':>8} {'lat p95':>8} {'req/idle':>8} {'CPU ms/idle':>11} "
          f"{'xact/sync':>9} {'req/mbx/h':>9}")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of processes (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def xacts(bed: Testbed) -> int:
    with bed.sql() as conn:
        row = conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database"
                           " WHERE datname = current_database()").fetchone()
    return int(row[0]) if row else 0


def run(users: int, events: int, workers: int, concurrency: int, rate: float,
        samples: int, timeout: float) -> dict[str, float]:
    bed = Testbed(users=users, saljstod_events=events // 2, outlook_events=events - events // 2,
                  workers=0, concurrency=concurrency,
                  settings={"sweep_every_seconds": 1, "notification_delay_seconds": 0.5,
                            "polling_interval_seconds": 1},
                  policy={"lock_ttl_minutes": 1})
    bed.start()
    try:
        assert bed.emulator is not None
        assert bed.graph is not None
        started = time.monotonic()
        for _ in range(workers):
            bed.start_worker()
        everyone = range(users)
        bed.wait_until(lambda: len(bed.converged_users(everyone)) == users, timeout,
                       "the first full sync of all")
        full = time.monotonic() - started
        bed.wait_until(lambda: bed.jobs("todo") == 0 and bed.jobs("doing") == 0, 120,
                       "an idle queue")
        time.sleep(2)  # subscriptions after the first syncs

        # 2. notification -> synced latency under a steady stream of edits
        rng = random.Random(7)
        pending: dict[str, float] = {}
        latencies: list[float] = []
        next_edit = time.monotonic()
        sent = 0
        used: set[str] = set()  # one edit per event: a second would hide the first
        deadline = time.monotonic() + timeout
        while (sent < samples or pending) and time.monotonic() < deadline:
            now = time.monotonic()
            if sent < samples and now >= next_edit:
                i = rng.randrange(users)
                box = bed.mailbox(i)
                fresh = [e for e in bed.emulator.events(user=box) if e.immutable_id not in used]
                if not fresh:
                    continue
                event = rng.choice(fresh)
                used.add(event.immutable_id)
                subject = f"bench edit {sent}"
                bed.emulator.user_edit(event.immutable_id, user=box, subject=subject)
                pending[subject] = time.monotonic()
                sent += 1
                next_edit += 1.0 / rate
            with bed.sql() as conn:
                found = conn.execute("SELECT subject FROM activities WHERE subject = ANY(%s)",
                                     (list(pending),)).fetchall()
            seen = time.monotonic()
            for (subject,) in found:
                latencies.append(seen - pending.pop(subject))
            time.sleep(0.02)
        bed.wait_until(lambda: bed.jobs("todo") == 0 and bed.jobs("doing") == 0, 120,
                       "an idle queue")

        # 3./4. one idle round: every user due at once, nothing changed
        pids = [p.pid for p in bed.worker_processes]
        cpu0, x0 = cpu_seconds(pids), xacts(bed)
        hits0 = len(bed.graph.snapshot())
        with bed.sql() as conn:
            syncs0 = int(conn.execute("SELECT SUM(syncs) FROM outlook_sync_server_accounts")
                         .fetchone()[0])
            conn.execute("UPDATE outlook_sync_server_accounts SET next_due = now()")
        bed.wait_until(lambda: _syncs(bed) >= syncs0 + users, timeout, "the idle round")
        bed.wait_until(lambda: bed.jobs("todo") == 0 and bed.jobs("doing") == 0, 120,
                       "an idle queue")
        idle_syncs = _syncs(bed) - syncs0
        requests = len(bed.graph.snapshot()) - hits0
        cpu = cpu_seconds(pids) - cpu0
        transactions = xacts(bed) - x0
        per_sync = requests / idle_syncs
        return {
            "full": full,
            "users_per_s": users / full,
            "p50": statistics.median(latencies) if latencies else float("nan"),
            "p95": (statistics.quantiles(latencies, n=20)[18] if len(latencies) >= 20
                    else max(latencies, default=float("nan"))),
            "req_idle": per_sync,
            "cpu_ms_idle": 1000 * cpu / idle_syncs,
            "xact_sync": transactions / idle_syncs,
            # 4 idle syncs an hour (15 min interval) + subscription renewal (1 per 3 days)
            "req_mbx_h": 4 * per_sync + 1 / 72,
        }
    finally:
        bed.stop()


def _syncs(bed: Testbed) -> int:
    with bed.sql() as conn:
        row = conn.execute("SELECT SUM(syncs) FROM outlook_sync_server_accounts").fetchone()
    return int(row[0] or 0) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100, help="per user, both sides")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--concurrency", type=int, default=4, help="syncs per worker")
    parser.add_argument("--rate", type=float, default=5.0, help="Outlook edits per second")
    parser.add_argument("--samples", type=int, default=100, help="edits timed")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--quick", action="store_true", help="60 users x 10 events, 1-2 workers")
    args = parser.parse_args()
    if args.quick:
        args.users, args.events, args.workers, args.samples = 60, 10, [1, 2], 20
        args.concurrency, args.timeout = 3, 120.0
    print(f"cpus: {os.cpu_count()}, concurrency {args.concurrency} per worker, "
          f"edits at {args.rate:g}/s")
    print(HEADER)
    for workers in args.workers:
        r = run(args.users, args.events, workers, args.concurrency, args.rate, args.samples,
                args.timeout)
        print(f"{workers:>7} {args.users:>6} {args.events:>6} {r['full']:>11.1f} "
              f"{r['users_per_s']:>8.1f} {r['p50']:>8.2f} {r['p95']:>8.2f} "
              f"{r['req_idle']:>8.2f} {r['cpu_ms_idle']:>11.1f} {r['xact_sync']:>9.1f} "
              f"{r['req_mbx_h']:>9.2f}", flush=True)


if __name__ == "__main__":
    main()
