"""What an incremental sync with series on one side costs when it sees a deletion.

Usage::

    python benchmarks/bench_series_view.py                 # 1 000 and 20 000 links
    python benchmarks/bench_series_view.py --sizes 1000    # (CI)
    python benchmarks/bench_series_view.py --json

Säljstöd holds single activities, Outlook N single appointments and 10 weekly series
(shown to the engine as occurrences in a four-week horizon), linked in a SQLite state
store on disk. One appointment is deleted in Outlook and one incremental sync runs.
Two ways of finding the series' linked occurrences, side by side in the same process
and on the same data (each measured 5 times, the median printed):

- ``by series``: the store's ``occurrence_links`` (``OccurrenceLinks``), one indexed
  query for the series the listing names;
- ``every link``: the same store hiding that method, so the view reads every link of the
  user, as it did before issue 12's fix.

Each run restores the deleted appointment and syncs it back before the next, so every
measurement starts from the same linked state.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import statistics
import sys
import tempfile
import time
import zoneinfo
from pathlib import Path
from typing import Any

from outlook_sync import Event, InMemoryCalendar, Synchronizer, SyncPolicy
from outlook_sync.recurrence import Recurrence
from outlook_sync.scope import Horizon
from outlook_sync.state.sql import SqlStateStore

STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")
USER = "anna"
ROUNDS = 5


class EveryLink:
    """The store without ``occurrence_links``: the view falls back to every link."""

    def __init__(self, inner: SqlStateStore) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "occurrence_links":
            raise AttributeError(name)
        return getattr(self._inner, name)


def _world(n: int, folder: Path) -> tuple[InMemoryCalendar, InMemoryCalendar, SqlStateStore]:
    saljstod = InMemoryCalendar(name="saljstod", id_prefix="S")
    outlook = InMemoryCalendar(name="outlook", id_prefix="O", supports_series=True)
    today = dt.datetime.now(STOCKHOLM).replace(hour=9, minute=0, second=0, microsecond=0)
    for k in range(n):
        start = today + dt.timedelta(days=k % 700 - 350, hours=k % 8)
        outlook.add(Event(subject=f"Besök {k}", start=start, end=start + dt.timedelta(hours=1)))
    for k in range(10):
        start = today - dt.timedelta(weeks=10, days=k)
        outlook.add(Event(subject=f"Serie {k}", start=start, end=start + dt.timedelta(hours=1),
                          recurrence=Recurrence(rule="FREQ=WEEKLY", start=start,
                                                time_zone="Europe/Stockholm")))
    state = SqlStateStore(sqlite3.connect(folder / "state.db"))
    return saljstod, outlook, state


def measure(n: int) -> dict[str, Any]:
    policy = SyncPolicy(series_horizon=Horizon(back=dt.timedelta(0),
                                               ahead=dt.timedelta(days=28)))
    with tempfile.TemporaryDirectory() as folder:
        saljstod, outlook, state = _world(n, Path(folder))
        stores: dict[str, Any] = {"by series": state, "every link": EveryLink(state)}
        syncs = {name: Synchronizer(saljstod=saljstod, outlook=outlook, state=store,
                                    user=USER, policy=policy)
                 for name, store in stores.items()}
        first = syncs["by series"]
        assert first.sync().ok
        assert first.sync().ok  # the echo of its own writes
        links = state.link_count(USER)
        times: dict[str, list[float]] = {name: [] for name in syncs}
        for _ in range(ROUNDS):
            for name, sync in syncs.items():  # interleaved
                victim = next(iter(outlook.items()))
                event = outlook.items()[victim]
                outlook.delete(victim)
                started = time.perf_counter()
                report = sync.sync()
                times[name].append(time.perf_counter() - started)
                assert report.ok, str(report)
                assert report.writes["saljstod"]["delete"] == 1, report.writes
                outlook.add(event)  # back, and synced back, for the next round
                assert sync.sync().ok
                assert sync.sync().ok
    return {"bench": "series_view_deletion", "links": links,
            **{name: round(statistics.median(values), 4) for name, values in times.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,20000")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not args.json:
        print(f"{'links':>8}{'by series s':>14}{'every link s':>14}{'ratio':>8}")
    for n in (int(size) for size in args.sizes.split(",")):
        result = measure(n)
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            ratio = result["every link"] / result["by series"]
            print(f"{result['links']:>8}{result['by series']:>14.4f}"
                  f"{result['every link']:>14.4f}{ratio:>7.1f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
