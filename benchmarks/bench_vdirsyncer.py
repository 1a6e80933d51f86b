"""outlook_sync against vdirsyncer 0.21, side by side, on the same scenarios (issue 15).

Usage::

    pip install -e .[bench]                       # vdirsyncer, benchmark-only
    python benchmarks/bench_vdirsyncer.py         # N = 100 000, S1-S4, 3 rounds
    python benchmarks/bench_vdirsyncer.py --quick # N = 10 000, 2 rounds (under a minute)
    python benchmarks/bench_vdirsyncer.py --sizes 1000,100000 --scenarios S1 --rounds 5

What is compared: one whole sync of one user's calendar pair, in memory on both sides.

- **outlook_sync**: ``Synchronizer.sync()`` over two in-memory calendars and a
  ``MemoryStateStore``, exactly as ``bench_core.py``'s *sync* stage (its scenarios,
  its checks; this script runs ``bench_core.py --child``), twice: over
  ``InMemoryBulkCalendar`` (writes in bulk, as the SQL adapter and Graph do: the
  figure the ratio is taken from) and over ``InMemoryCalendar`` (one item per call,
  as desktop Outlook), both shown.
- **vdirsyncer**: its own ``vdirsyncer.sync.sync()`` over two of its
  ``MemoryStorage`` with its ``SqliteStatus`` (in memory), the items being the same
  activities (same generator, same seed) written as iCalendar ``VEVENT`` text with a
  ``UID``, Stockholm ``TZID`` times, location, description, categories and a
  ``VALARM`` for the reminder. S1 copies N items into the empty storage; S2 is a
  settled pair with no change; S3 edits 1 % on each side (a's location and body, b's
  subject and times), deletes 0.5 % in b and adds 0.5 % to a; S4 edits 1 % on both
  sides, resolved with ``conflict_resolution="a wins"`` (vdirsyncer has no field-level
  merge: a conflict is one whole item winning). After each sync the script checks that
  both storages hold the expected number of items and that they agree.

How it measures: every measurement runs in a fresh child process, setup (building the
items, the settling syncs, the edits) excluded, a ``gc.collect()`` before the timed
call; the tools alternate (ours, theirs, theirs, ours, ...) in the same run, so
the machine's load hits all alike; the figure per tool is the median over the rounds
and the ratios are vdirsyncer's median over ours.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import bench_core

SCENARIOS = ("S1", "S2", "S3", "S4")
FULL_SIZES = (100_000,)
QUICK_SIZES = (10_000,)
_HERE = Path(__file__).resolve().parent


# -- vdirsyncer's side (in the child) -------------------------------------------------


def _escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\n", "\\n"))


def _when(name: str, value: Any) -> str:
    if hasattr(value, "hour"):
        local = value.astimezone(bench_core.STOCKHOLM)
        return f"{name};TZID=Europe/Stockholm:{local:%Y%m%dT%H%M%S}"
    return f"{name};VALUE=DATE:{value:%Y%m%d}"


def vevent(uid: str, event: Any) -> str:
    """The activity as iCalendar text, as a CalDAV server or a .ics file would hold it."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//outlook_sync benchmarks//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20260302T070000Z",
        _when("DTSTART", event.start),
        _when("DTEND", event.end),
        f"SUMMARY:{_escape(event.subject)}",
    ]
    if event.location:
        lines.append(f"LOCATION:{_escape(event.location)}")
    if event.body:
        lines.append(f"DESCRIPTION:{_escape(event.body)}")
    if event.categories:
        lines.append("CATEGORIES:" + ",".join(_escape(c) for c in event.categories))
    if event.reminder_minutes is not None:
        lines += ["BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:Reminder",
                  f"TRIGGER:-PT{event.reminder_minutes}M", "END:VALARM"]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


class _VdirWorld:
    """Two vdirsyncer MemoryStorages and a SqliteStatus, filled like bench_core's world."""

    def __init__(self, n: int) -> None:
        from vdirsyncer.storage.memory import MemoryStorage
        from vdirsyncer.sync.status import SqliteStatus

        self.a = MemoryStorage(fileext=".ics")
        self.b = MemoryStorage(fileext=".ics")
        self.status = SqliteStatus()  # ":memory:", as a status file would be
        self.rng = random.Random(bench_core.SEED)
        self.events: dict[str, Any] = {}
        for number in range(1, n + 1):
            self.put(self.a, f"activity-{number}", bench_core._event(self.rng, number))

    def put(self, storage: Any, uid: str, event: Any) -> None:
        from vdirsyncer.vobject import Item

        self.events[uid] = event
        storage.items[f"{uid}.ics"] = (f"{self.rng.random():.9f}", Item(vevent(uid, event)))

    def sync(self, **options: Any) -> None:
        from vdirsyncer.sync import sync

        asyncio.run(sync(self.a, self.b, self.status, **options))


def _vdir_setup(scenario: str, n: int) -> tuple[_VdirWorld, int]:
    """The world for ``scenario`` and how many items each storage holds after it."""
    import datetime as dt

    import attrs

    world = _VdirWorld(n)
    if scenario == "S1":
        return world, n
    world.sync()
    world.sync()
    uids = sorted(world.events)
    world.rng.shuffle(uids)
    if scenario == "S2":
        return world, n
    edits, changes = bench_core._share(n, 0.01), bench_core._share(n, 0.005)
    if scenario == "S3":
        for uid in uids[:edits]:
            event = world.events[uid]
            world.put(world.a, uid, attrs.evolve(
                event, location="Kundens kontor, plan 3", body=event.body + "Bekräftat.\n"))
        for uid in uids[edits:2 * edits]:
            event = world.events[uid]
            moved = dt.timedelta(days=1) if event.all_day else dt.timedelta(minutes=30)
            world.put(world.b, uid, attrs.evolve(
                event, subject=event.subject + " (flyttat)", start=event.start + moved,
                end=event.end + moved))
        for uid in uids[2 * edits:2 * edits + changes]:
            del world.b.items[f"{uid}.ics"]
        for number in range(n + 1, n + changes + 1):
            world.put(world.a, f"activity-{number}", bench_core._event(world.rng, number))
        return world, n
    for uid in uids[:edits]:  # S4
        event = world.events[uid]
        world.put(world.a, uid, attrs.evolve(
            event, subject=event.subject + " (Säljstöd)", body="Ny agenda.\n"))
        world.put(world.b, uid, attrs.evolve(
            event, subject=event.subject + " (Outlook)", location="Teams-länk"))
    return world, n


def measure_vdirsyncer(scenario: str, n: int) -> dict[str, Any]:
    world, expected = _vdir_setup(scenario, n)
    options = {"conflict_resolution": "a wins"} if scenario == "S4" else {}
    gc.collect()
    started = time.perf_counter()
    world.sync(**options)
    seconds = time.perf_counter() - started
    a_items, b_items = world.a.items, world.b.items
    assert len(a_items) == len(b_items) == expected, (len(a_items), len(b_items), expected)
    assert all(b_items[href][1].raw == item.raw for href, (_etag, item) in a_items.items())
    return {"tool": "vdirsyncer", "scenario": scenario, "n": n, "seconds": round(seconds, 6)}


# -- driving (in the parent) ----------------------------------------------------------


_TOOLS = ("outlook_sync", "outlook_sync_per_item", "vdirsyncer")


def _child(tool: str, scenario: str, n: int) -> float:
    if tool.startswith("outlook_sync"):
        calendars = "per-item" if tool.endswith("per_item") else "bulk"
        command = [sys.executable, str(_HERE / "bench_core.py"), "--child",
                   f"{scenario}:{n}:sync:{calendars}"]
    else:
        command = [sys.executable, str(Path(__file__).resolve()), "--child",
                   f"{scenario}:{n}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{tool} {scenario} n={n} failed (exit {done.returncode})")
    seconds: float = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
    return seconds


def compare(scenario: str, n: int, rounds: int) -> dict[str, Any]:
    """Interleave the two tools ``rounds`` times; medians and the ratio."""
    times: dict[str, list[float]] = {tool: [] for tool in _TOOLS}
    order = list(_TOOLS)
    for _ in range(rounds):
        for tool in order:
            times[tool].append(_child(tool, scenario, n))
        order.reverse()
    ours = statistics.median(times["outlook_sync"])
    per_item = statistics.median(times["outlook_sync_per_item"])
    theirs = statistics.median(times["vdirsyncer"])
    return {"scenario": scenario, "n": n, "rounds": rounds,
            "outlook_sync_s": round(ours, 4), "per_item_s": round(per_item, 4),
            "vdirsyncer_s": round(theirs, 4),
            "ratio": round(theirs / ours, 1) if ours else None,
            "per_item_ratio": round(theirs / per_item, 1) if per_item else None,
            **{f"{tool}_all": times[tool] for tool in _TOOLS}}


def _csv(kind: Any) -> Any:
    return lambda text: tuple(kind(part) for part in text.split(",") if part)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="N = 10 000, 2 rounds (CI)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--sizes", type=_csv(int), default=None)
    parser.add_argument("--scenarios", type=_csv(str), default=SCENARIOS)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        scenario, n = args.child.split(":")
        print(json.dumps(measure_vdirsyncer(scenario, int(n))))
        return 0
    try:
        import vdirsyncer
    except ImportError:
        raise SystemExit("vdirsyncer is not installed: pip install -e .[bench]") from None
    sizes = args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)
    rounds = args.rounds or (2 if args.quick else 3)
    if not args.json:
        print(f"vdirsyncer {vdirsyncer.__version__}; medians of {rounds} interleaved rounds, "
              "one fresh process per measurement")
        print(f"{'scenario':<9}{'N':>9}{'outlook_sync s':>16}{'vdirsyncer s':>14}{'ratio':>8}"
              f"{'per-item s':>12}{'ratio':>8}")
    for n in sizes:
        for scenario in args.scenarios:
            result = compare(scenario, n, rounds)
            if args.json:
                print(json.dumps(result), flush=True)
            else:
                print(f"{scenario:<9}{n:>9}{result['outlook_sync_s']:>16.4f}"
                      f"{result['vdirsyncer_s']:>14.4f}{result['ratio']:>7}x"
                      f"{result['per_item_s']:>12.4f}{result['per_item_ratio']:>7}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
