"""Direct sync with progress reporting: a first full sync, then changes shown at once.

What a host application does while Säljstöd and Outlook are both open:

1. the first (full) sync of a few hundred items, with a progress callback
   (``phase done/total``) as a progress bar would use it;
2. direct sync with ``Watcher(sync).start()``: a change made on each side while the
   watcher runs, and how long it took to show on the other side;
3. a clean stop, and the status the host would show (``StatusBoard``).

Both calendars are in memory (``InMemoryCalendar``, the reference backend; it notifies
the watcher of every change, as Outlook's events or Graph's delta poller do). Run it:
``python examples/direct_sync_progress.py``. It exits with 1 if the sync did not do
what it prints. docs/examples.md and docs/direct-sync.md explain it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

import attrs

from outlook_sync import Event, InMemoryCalendar, MemoryStateStore, Synchronizer, Watcher
from outlook_sync.occasions import SyncOccasions
from outlook_sync.status import StatusBoard

STOCKHOLM = ZoneInfo("Europe/Stockholm")
USER = "anna"
ACTIVITIES = 300  # in Säljstöd before the first sync
APPOINTMENTS = 100  # in Outlook before the first sync
WAIT = 5.0  # seconds to wait for a change to show before calling it a failure


def slot(number: int) -> tuple[dt.datetime, dt.datetime]:
    """Working hours from 2 March 2026 on: eight one-hour slots a day."""
    day, hour = divmod(number, 8)
    start = dt.datetime(2026, 3, 2, 8 + hour, tzinfo=STOCKHOLM) + dt.timedelta(days=day)
    return start, start + dt.timedelta(hours=1)


def seed(saljstod: InMemoryCalendar, outlook: InMemoryCalendar) -> None:
    """Activities in Säljstöd and private appointments in Outlook, none synced yet."""
    for number in range(ACTIVITIES):
        start, end = slot(number)
        saljstod.add(Event(subject=f"Kundbesök {number + 1}", start=start, end=end))
    for number in range(APPOINTMENTS):
        start, end = slot(ACTIVITIES + number)
        outlook.add(Event(subject=f"Tandläkare {number + 1}", start=start, end=end))


def print_progress(phase: str, done: int, total: int) -> None:
    """The progress callback: one line per phase step, every 100 items while applying."""
    if phase != "apply" or done % 100 == 0 or done == total:
        print(f"  progress: {phase:<5} {done:>3}/{total}")


def shows_within(seconds: float, condition: Callable[[], bool]) -> float | None:
    """Seconds until ``condition()`` holds (checked every 5 ms), or None after ``seconds``."""
    began, pause = time.perf_counter(), threading.Event()
    while time.perf_counter() - began < seconds:
        if condition():
            return time.perf_counter() - began
        pause.wait(0.005)
    return None


def main() -> int:
    saljstod = InMemoryCalendar(name="saljstod", id_prefix="S")
    outlook = InMemoryCalendar(name="outlook", id_prefix="O")
    state = MemoryStateStore()
    sync = Synchronizer(saljstod=saljstod, outlook=outlook, state=state, user=USER)
    board = StatusBoard(sync)  # hears of every sync of this synchronizer
    seed(saljstod, outlook)
    failures: list[str] = []

    print(f"First sync: {ACTIVITIES} activities in Säljstöd, {APPOINTMENTS} in Outlook")
    began = time.perf_counter()
    first = sync.sync(progress=print_progress)
    print(f"  {first.total_writes} writes in {time.perf_counter() - began:.2f} s")
    both = ACTIVITIES + APPOINTMENTS
    if not first.ok or len(saljstod.items()) != both or len(outlook.items()) != both:
        failures.append(f"first sync: expected {both} items on each side\n{first}")

    # Direct sync. A 100 ms debounce (the default is 200 ms) turns a burst of changes,
    # a user dragging an appointment, into one sync.
    occasions = SyncOccasions(debounce=dt.timedelta(milliseconds=100))
    print("\nDirect sync: the watcher runs")
    with Watcher(sync, occasions=occasions, status=board).start() as watcher:
        watcher.wait_idle(timeout=WAIT)  # the start-up sync (a host would not wait)

        # A salesperson moves a customer visit to another address in Säljstöd.
        s_id = next(i for i, e in saljstod.items().items() if e.subject == "Kundbesök 1")
        [link] = state.links(USER, saljstod_ids=[s_id])
        visit = saljstod.items()[s_id]
        saljstod.update(s_id, attrs.evolve(visit, location="ACME, Kungsgatan 12"))
        took = shows_within(
            WAIT, lambda: outlook.items()[link.outlook_id].location == "ACME, Kungsgatan 12"
        )
        report_latency("Säljstöd → Outlook", "moved 'Kundbesök 1' to ACME", took, failures)

        # The same user books lunch with a customer in Outlook.
        start, end = slot(ACTIVITIES + APPOINTMENTS)
        outlook.add(Event(subject="Lunch med Nordvik", start=start, end=end))
        took = shows_within(
            WAIT, lambda: any(e.subject == "Lunch med Nordvik" for e in saljstod.items().values())
        )
        report_latency("Outlook → Säljstöd", "booked 'Lunch med Nordvik'", took, failures)

        watcher.wait_idle(timeout=WAIT)
        stats = watcher.stats
    print(f"Watcher stopped: running={watcher.running}, {stats.syncs} syncs, "
          f"{stats.echoes} echo passes skipped, {stats.notifications} notifications")  # fmt: skip
    if watcher.running:
        failures.append("the watcher did not stop")

    status = board.status()
    print("\nStatus")
    print(f"  running:      {status.running}")
    print(f"  last sync:    {status.last_sync:%Y-%m-%d %H:%M:%S %Z}" if status.last_sync
          else "  last sync:    never")  # fmt: skip
    print(f"  healthy:      {status.healthy} (last error: {status.last_error or 'none'})")
    print(f"  conflicts:    {len(status.conflicts)}, quarantined: {len(status.quarantined)}, "
          f"pending: {len(status.pending)}")  # fmt: skip
    print(f"  activity {s_id}: {board.activity(s_id).state.name}")
    if status.running or not status.healthy or status.quarantined or status.pending:
        failures.append(f"the status is not clean: {status}")
    if len(saljstod.items()) != len(outlook.items()):
        failures.append("the two calendars differ in size after direct sync")

    for failure in failures:
        print(f"FAILED: {failure}")
    print("OK" if not failures else f"{len(failures)} problem(s)")
    return 0 if not failures else 1


def report_latency(direction: str, what: str, took: float | None, failures: list[str]) -> None:
    """Print how long a change took to show on the other side; note it if it never did."""
    if took is None:
        failures.append(f"{direction}: {what} did not show within {WAIT:.0f} s")
        print(f"  {direction}: {what} ... not shown after {WAIT:.0f} s")
    else:
        print(f"  {direction}: {what} ... shown after {took * 1000:.0f} ms")


if __name__ == "__main__":
    raise SystemExit(main())
