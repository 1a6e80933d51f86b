"""Benchmark of the core: the pure planner and an in-memory end-to-end sync.

Usage::

    python benchmarks/bench_core.py            # N = 1 000, 10 000, 100 000
    python benchmarks/bench_core.py --quick    # N = 1 000, 10 000 (CI, < 60 s)
    python benchmarks/bench_core.py --json     # one JSON line per measurement
    python benchmarks/bench_core.py --sizes 500,5000 --scenarios S3,S4 --stages plan
    python benchmarks/bench_core.py --sizes 100000 --scenarios S1 --stages floor,sync

Scenarios (issue 2, "Benchmark"), for one user with N events:

- **S1** initial sync: N events on Säljstöd, Outlook empty, never synced (complete
  listings on both sides).
- **S2** resync with no change: after an initial sync and one settling sync (which sees
  the sync's own writes come back once), nothing changed.
- **S3** incremental: 1 % of the pairs edited on each side (different pairs), 0.5 %
  deleted in Outlook, 0.5 % new events added in Säljstöd.
- **S4** conflicts: 1 % of the pairs edited on both sides (the subject on both, so the
  field-level merge has a contested field, plus a different field on each side).

Stages: ``plan`` times :func:`outlook_sync._core.plan.plan` alone, on the listings and
links the engine would hand it (real in-memory listings: complete for S1, incremental
with ``complete=False`` for S2-S4; the links the state store returns for the listed
ids). ``sync`` times :meth:`Synchronizer.sync` end to end against two in-memory
calendars and a :class:`MemoryStateStore`.

Calendars (``--calendars``): ``bulk`` (the default) is :class:`InMemoryBulkCalendar`,
which writes many items per call as the production backends do (the SQL adapter,
Graph's ``$batch``); ``per-item`` is :class:`InMemoryCalendar`, one item per call, as
desktop Outlook and most custom backends.

How it measures:

- Every measurement runs in a fresh child process (this script, re-run with
  ``--child``), so one measurement's memory never shows in the next.
- Only the measured stage is timed (``time.perf_counter``). Building the calendars,
  the settling syncs, the user's edits and gathering the planner's inputs are setup
  and are excluded; a full ``gc.collect()`` runs before the stage starts.
- ``peak_rss_mb`` is the child's peak resident set size (``getrusage(RUSAGE_SELF)
  .ru_maxrss``) *while the stage ran*: the peak is reset just before the stage through
  ``/proc/self/clear_refs`` (Linux), so transient setup memory is not charged to the
  stage, while everything the process holds (both calendars, the state, the inputs)
  is. Where the reset is impossible the figure is the whole child's peak, setup
  included (``"rss_scope": "process"``). ``setup_peak_rss_mb`` is the child's peak
  before the stage.
- The two calendars have a fake clock that advances one second per reading, so
  watermarks, last-modified times and "newest wins" behave as with a real backend.
- Sanity checks: after each stage the script asserts the plan / the report has exactly
  the expected writes and conflicts and no failure, and after each sync that both
  calendars hold the same (expected) number of items. A broken sync cannot report a
  fast number.

The settled world that S2-S4 start from is built by a real initial sync whose link
commits are batched (:class:`_BulkLoadStore`): the resulting state is the same as
with one commit per action, but the setup does not pay the initial sync's full cost
six times. The measured stages always use the unmodified :class:`MemoryStateStore`
commit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
from rss import maxrss_mb, reset_peak_rss

from outlook_sync import (
    Event,
    InMemoryBulkCalendar,
    InMemoryCalendar,
    Item,
    Link,
    Listing,
    MemoryStateStore,
    Side,
    StateChange,
    Synchronizer,
)
from outlook_sync._core.plan import plan
from outlook_sync.apply_state import fewer_collections
from outlook_sync.model import trusted_item, trusted_link

SCENARIOS = ("S1", "S2", "S3", "S4")
STAGES = ("plan", "sync")
#: also measurable: ``floor`` (S1 only, see _time_floor); not in the default run
ALL_STAGES = (*STAGES, "floor")
FULL_SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (1_000, 10_000)
USER = "anna"
SEED = 20_260_301
STOCKHOLM = ZoneInfo("Europe/Stockholm")
EPOCH = dt.datetime(2026, 3, 2, 7, 0, tzinfo=dt.UTC)

_S, _O = Side.SALJSTOD, Side.OUTLOOK

#: ``--calendars``: the in-memory calendar class of each kind
CALENDARS: dict[str, type[InMemoryCalendar]] = {"bulk": InMemoryBulkCalendar,
                                                 "per-item": InMemoryCalendar}
#: the kind this process measures (set from ``--calendars`` / the child's argument)
CALENDAR: type[InMemoryCalendar] = InMemoryBulkCalendar
_SECOND = dt.timedelta(seconds=1)
_EMPTY_CHANGE = StateChange()


class SteppingClock:
    """A backend clock that moves one second forward on every reading."""

    def __init__(self, start: dt.datetime = EPOCH) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        self.now += _SECOND
        return self.now


class _BulkLoadStore(MemoryStateStore):
    """A :class:`MemoryStateStore` that can batch the link commits of a setup sync.

    Inside :meth:`bulk_load`, commits that only put links and clear intents (what an
    initial sync's creates commit) are collected and applied as one commit before any
    other commit or read of links and intents. Outside it, it *is* a MemoryStateStore.
    """

    def __init__(self) -> None:
        super().__init__()
        self._batching = False
        self._links: list[Link] = []
        self._cleared: list[tuple[Side, str]] = []

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        self._batching = True
        try:
            yield
        finally:
            self._flush()
            self._batching = False

    def _flush(self) -> None:
        if self._links or self._cleared:
            change = StateChange(put_links=tuple(self._links), clear_intents=tuple(self._cleared))
            self._links, self._cleared = [], []
            super().commit(USER, change)

    def commit(self, user: str, change: StateChange) -> None:
        # outside bulk_load (every measured stage) this is MemoryStateStore.commit as is
        if (self._batching and user == USER
                and attrs.evolve(change, put_links=(), clear_intents=()) == _EMPTY_CHANGE):
            self._links.extend(change.put_links)
            self._cleared.extend(change.clear_intents)
            return
        self._flush()
        super().commit(user, change)

    def links(
        self,
        user: str,
        *,
        saljstod_ids: Iterable[str] | None = None,
        outlook_ids: Iterable[str] | None = None,
    ) -> list[Link]:
        self._flush()
        return super().links(user, saljstod_ids=saljstod_ids, outlook_ids=outlook_ids)

    def link_count(self, user: str) -> int:
        self._flush()
        return super().link_count(user)

    def intents(self, user: str) -> list[tuple[Side, str]]:
        self._flush()
        return super().intents(user)


@attrs.define
class World:
    """Two in-memory calendars, their state store and the synchronizer."""

    saljstod: InMemoryCalendar
    outlook: InMemoryCalendar
    state: _BulkLoadStore
    sync: Synchronizer
    rng: random.Random

    @classmethod
    def empty(cls) -> World:
        saljstod = CALENDAR(clock=SteppingClock(), name="saljstod", id_prefix="S")
        outlook = CALENDAR(clock=SteppingClock(), name="outlook", id_prefix="O")
        state = _BulkLoadStore()
        sync = Synchronizer(
            saljstod=saljstod, outlook=outlook, state=state, user=USER, clock=SteppingClock()
        )
        return cls(
            saljstod=saljstod, outlook=outlook, state=state, sync=sync, rng=random.Random(SEED)
        )


@attrs.frozen(kw_only=True)
class Expected:
    """What a correct plan / sync of a scenario does; checked after every stage."""

    writes: dict[str, dict[str, int]]
    actions: int
    #: partner keys stamped on Säljstöd sources of creates: the report counts them as
    #: writes, the plan does not (they are part of a Create action)
    stamps: int
    conflicts: int
    items: int


def _writes(saljstod: dict[str, int], outlook: dict[str, int]) -> dict[str, dict[str, int]]:
    zero = {"create": 0, "update": 0, "delete": 0}
    return {"saljstod": {**zero, **saljstod}, "outlook": {**zero, **outlook}}


_KINDS = ("Kundmöte", "Uppföljning", "Demo", "Offertgenomgång", "Telefonmöte", "Lunch")
_CUSTOMERS = (
    "Åkerlund AB",
    "Nordlys Consulting",
    "Bergström & Söner",
    "Ljungby Plåt",
    "Café Östra",
    "Malmö Logistik",
    "Skåne Energi",
    "Tå Design",
)
_PLACES = ("Stockholm", "Göteborg", "Malmö", "Teams", "Kundens kontor", "")


def _event(rng: random.Random, number: int) -> Event:
    """A realistic activity: business hours in Stockholm time over two years, a few
    all-day events, some with notes, categories and reminders. Subjects carry the
    activity number, so two activities rarely share start, end and subject."""
    subject = f"{rng.choice(_KINDS)} {rng.choice(_CUSTOMERS)} #{number}"
    day = dt.date(2026, 1, 5) + dt.timedelta(days=rng.randrange(730))
    body = "" if rng.random() < 0.5 else "Agenda:\n- status\n- nästa steg\n" * rng.randint(1, 4)
    common: dict[str, Any] = {
        "subject": subject,
        "location": rng.choice(_PLACES),
        "body": body,
        "categories": ("Kund",) if rng.random() < 0.3 else (),
        "reminder_minutes": rng.choice((None, 15, 30)),
    }
    if rng.random() < 0.05:
        return Event(start=day, end=day + dt.timedelta(days=1), all_day=True, **common)
    start = dt.datetime.combine(
        day, dt.time(rng.randint(7, 17), rng.choice((0, 15, 30, 45))), tzinfo=STOCKHOLM
    )
    end = start + dt.timedelta(minutes=rng.choice((15, 30, 45, 60, 90, 120)))
    return Event(start=start, end=end, **common)


def _fill_saljstod(world: World, n: int) -> None:
    for number in range(1, n + 1):
        world.saljstod.add(_event(world.rng, number))


def _settled(n: int) -> World:
    """N events on Säljstöd, synced to Outlook, and synced once more (setup of S2-S4)."""
    world = World.empty()
    _fill_saljstod(world, n)
    with world.state.bulk_load():
        first = world.sync.sync()
    settle = world.sync.sync()
    assert first.ok, str(first)
    assert first.count("create", _O) == n, str(first)
    assert settle.ok, str(settle)
    assert settle.total_writes == 0, str(settle)
    assert world.state.link_count(USER) == n
    assert not world.state.intents(USER)
    assert not world.state.pending(USER)
    _check_counts(world, n)
    return world


def _pairs(world: World) -> list[Link]:
    links = sorted(world.state.links(USER), key=lambda link: link.saljstod_id)
    world.rng.shuffle(links)
    return links


def _current(calendar: InMemoryCalendar, item_id: str) -> Event:
    item = calendar.get(item_id)
    assert isinstance(item, Item), item
    return item.event


def _share(n: int, share: float) -> int:
    return max(1, round(n * share))


def setup_s1(n: int) -> tuple[World, Expected]:
    world = World.empty()
    _fill_saljstod(world, n)
    return world, Expected(writes=_writes({}, {"create": n}), actions=n, stamps=n, conflicts=0,
                           items=n)


def setup_s2(n: int) -> tuple[World, Expected]:
    return _settled(n), Expected(writes=_writes({}, {}), actions=0, stamps=0, conflicts=0,
                                 items=n)


def setup_s3(n: int) -> tuple[World, Expected]:
    world = _settled(n)
    edits, changes = _share(n, 0.01), _share(n, 0.005)
    pairs = _pairs(world)
    s_edited = pairs[:edits]
    o_edited = pairs[edits : 2 * edits]
    o_deleted = pairs[2 * edits : 2 * edits + changes]
    for link in s_edited:
        event = _current(world.saljstod, link.saljstod_id)
        world.saljstod.update(
            link.saljstod_id,
            attrs.evolve(
                event, location="Kundens kontor, plan 3", body=event.body + "Bekräftat.\n"
            ),
        )
    for link in o_edited:
        event = _current(world.outlook, link.outlook_id)
        moved = dt.timedelta(days=1) if event.all_day else dt.timedelta(minutes=30)
        world.outlook.update(
            link.outlook_id,
            attrs.evolve(
                event,
                subject=event.subject + " (flyttat)",
                start=event.start + moved,
                end=event.end + moved,
            ),
        )
    for link in o_deleted:
        world.outlook.delete(link.outlook_id)
    for number in range(n + 1, n + changes + 1):
        world.saljstod.add(_event(world.rng, number))
    expected = Expected(
        writes=_writes({"update": edits, "delete": changes}, {"update": edits, "create": changes}),
        actions=2 * edits + 2 * changes,  # one Update per edited pair
        stamps=changes,
        conflicts=0,
        items=n,
    )
    return world, expected


def setup_s4(n: int) -> tuple[World, Expected]:
    world = _settled(n)
    edits = _share(n, 0.01)
    for link in _pairs(world)[:edits]:
        s_event = _current(world.saljstod, link.saljstod_id)
        world.saljstod.update(
            link.saljstod_id,
            attrs.evolve(s_event, subject=s_event.subject + " (Säljstöd)", body="Ny agenda.\n"),
        )
        o_event = _current(world.outlook, link.outlook_id)
        world.outlook.update(
            link.outlook_id,
            attrs.evolve(o_event, subject=o_event.subject + " (Outlook)", location="Teams-länk"),
        )
    # One Update per pair, writing the merged content to both sides.
    expected = Expected(
        writes=_writes({"update": edits}, {"update": edits}),
        actions=edits,
        stamps=0,
        conflicts=edits,
        items=n,
    )
    return world, expected


SETUPS: dict[str, Callable[[int], tuple[World, Expected]]] = {
    "S1": setup_s1,
    "S2": setup_s2,
    "S3": setup_s3,
    "S4": setup_s4,
}


def planner_inputs(world: World) -> dict[str, Any]:
    """The listings and links the engine would pass to the planner for this world.

    Mirrors ``Synchronizer`` fetching: a complete listing for a side never synced, else
    its changes since the stored cursor; every link when a listing is complete, else
    the links touching a listed, deleted or partner-key id. The setup leaves no pending
    items and no create intents, so nothing else would be fetched.
    """
    assert not world.state.pending(USER)
    assert not world.state.intents(USER)
    listings: dict[Side, Listing] = {}
    for side, calendar in ((_S, world.saljstod), (_O, world.outlook)):
        cursor = world.state.cursor(USER, side)
        listings[side] = calendar.list_all() if cursor.is_initial else calendar.list_changes(cursor)
    if any(listing.complete for listing in listings.values()):
        links = world.state.links(USER)
    else:
        ids: dict[Side, set[str]] = {_S: set(), _O: set()}
        for side, listing in listings.items():
            ids[side].update(item.id for item in listing.items)
            ids[side].update(bad.id for bad in listing.broken)
            ids[side].update(listing.deleted)
            ids[side.other].update(
                item.partner_key for item in listing.items if item.partner_key is not None
            )
        links = world.state.links(USER, saljstod_ids=sorted(ids[_S]), outlook_ids=sorted(ids[_O]))
    return {
        "saljstod": listings[_S],
        "outlook": listings[_O],
        "links": links,
        "link_count": world.state.link_count(USER),
    }


def _check_counts(world: World, expected: int) -> None:
    s_count, o_count = len(world.saljstod.items()), len(world.outlook.items())
    assert s_count == o_count == expected, (
        f"after the sync Säljstöd holds {s_count} items and Outlook {o_count}; "
        f"expected {expected} on both"
    )


# -- measuring (in the child process) ------------------------------------------------




def _time_plan(world: World, expected: Expected) -> tuple[float, dict[str, Any]]:
    """Time the planner alone on the engine's inputs; check the plan it made."""
    inputs = planner_inputs(world)
    setup = _before_stage()
    started = time.perf_counter()
    the_plan = plan(**inputs)
    seconds = time.perf_counter() - started
    assert the_plan.refused is None, the_plan.refused
    for side in (_S, _O):
        assert the_plan.writes(side) == expected.writes[side.value], (
            side, the_plan.writes(side), expected)
    assert len(the_plan) == expected.actions, (len(the_plan), expected)
    assert len(the_plan.conflicts) == expected.conflicts, the_plan.conflicts
    listed = len(inputs["saljstod"].items) + len(inputs["outlook"].items)
    return seconds, {**setup, "ops": len(the_plan), "listed": listed}


def _time_sync(world: World, expected: Expected) -> tuple[float, dict[str, Any]]:
    """Time one whole sync; check its report and that both calendars agree after it."""
    logged = len(world.saljstod.write_log) + len(world.outlook.write_log)
    setup = _before_stage()
    started = time.perf_counter()
    report = world.sync.sync()
    seconds = time.perf_counter() - started
    backend_writes = len(world.saljstod.write_log) + len(world.outlook.write_log) - logged
    assert report.ok, str(report)
    writes = {side: dict(counts) for side, counts in expected.writes.items()}
    if "stamp" in report.writes["saljstod"]:  # stamps reported as writes of their own
        writes["saljstod"]["stamp"] = expected.stamps
        writes["outlook"]["stamp"] = 0
    else:
        writes["saljstod"]["update"] += expected.stamps
    assert report.writes == writes, (report.writes, expected)
    assert len(report.conflicts) == expected.conflicts, len(report.conflicts)
    _check_counts(world, expected.items)
    return seconds, {**setup, "ops": report.total_writes, "backend_writes": backend_writes}


def _time_floor(world: World, expected: Expected) -> tuple[float, dict[str, Any]]:
    """The floor of a first sync in this design: a plain loop doing only what every item
    must cost (S1 only). Per item: the new Outlook item and the stamped Säljstöd item
    (each an :class:`Item` sharing the listed event, with its own change time), the
    link as committed (with its generation), each built as the engine builds them from
    values already checked (``trusted_item``, ``trusted_link``), and the dict inserts of
    the two calendars and the link table. No planning, no versions, no write log, no
    intents, no second index."""
    assert world.state.link_count(USER) == 0, "the floor is measured on S1"
    items = list(world.saljstod.list_all().items)
    setup = _before_stage()
    with fewer_collections():  # as a sync runs
        seconds = _floor_loop(items)
    assert seconds > 0
    return seconds, {**setup, "ops": len(items)}


def _floor_loop(items: list[Item]) -> float:
    started = time.perf_counter()
    outlook: dict[str, Item] = {}
    saljstod: dict[str, Item] = {}
    links: dict[str, Link] = {}
    when = EPOCH
    for number, item in enumerate(items):
        new_id = f"O{number}"
        outlook[new_id] = trusted_item(new_id, "1", item.event, item.id, when)
        saljstod[item.id] = trusted_item(item.id, "2", item.event, new_id, when)
        links[item.id] = trusted_link(item.id, new_id, item.event, "2", "1", None, 1)
    seconds = time.perf_counter() - started
    assert len(outlook) == len(saljstod) == len(links) == len(items)
    return seconds


def _before_stage() -> dict[str, Any]:
    """Collect setup garbage, note the setup's peak RSS and reset the peak."""
    gc.collect()
    setup_peak = maxrss_mb()
    scope = "stage" if reset_peak_rss() else "process"
    return {"setup_peak_rss_mb": round(setup_peak, 1), "rss_scope": scope}


def measure(scenario: str, n: int, stage: str) -> dict[str, Any]:
    """Set up ``scenario`` with ``n`` events, run and time ``stage`` once, check it."""
    world, expected = SETUPS[scenario](n)
    timer = {"plan": _time_plan, "sync": _time_sync, "floor": _time_floor}[stage]
    seconds, counts = timer(world, expected)
    peak = maxrss_mb()
    return {
        "scenario": scenario,
        "n": n,
        "stage": stage,
        "seconds": round(seconds, 6),
        "peak_rss_mb": round(peak, 1),
        **counts,
    }


# -- driving (in the parent process) -------------------------------------------------


def run_child(scenario: str, n: int, stage: str, calendars: str = "bulk") -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return its result."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child",
               f"{scenario}:{n}:{stage}:{calendars}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"measurement {scenario} n={n} {stage} failed (exit {done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _csv(kind: Callable[[str], Any], allowed: tuple[Any, ...] | None = None) -> Any:
    def parse(text: str) -> tuple[Any, ...]:
        values = tuple(kind(part.strip()) for part in text.split(",") if part.strip())
        if not values or (allowed is not None and not set(values) <= set(allowed)):
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {allowed}")
        return values

    return parse


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help="N in {1000, 10000} only (for CI; under a minute)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object per measurement, one per line"
    )
    parser.add_argument(
        "--sizes", type=_csv(int), default=None, help="comma-separated N values (overrides --quick)"
    )
    parser.add_argument(
        "--scenarios",
        type=_csv(str, SCENARIOS),
        default=SCENARIOS,
        help="comma-separated subset of S1,S2,S3,S4",
    )
    parser.add_argument(
        "--stages",
        type=_csv(str, ALL_STAGES),
        default=STAGES,
        help="comma-separated subset of plan,sync",
    )
    parser.add_argument(
        "--calendars", choices=sorted(CALENDARS), default="bulk",
        help="in-memory calendars writing in bulk (default) or one item per call",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    global CALENDAR
    args = _arguments(argv)
    if args.child:
        scenario, n, stage, calendars = args.child.split(":")
        CALENDAR = CALENDARS[calendars]
        print(json.dumps({**measure(scenario, int(n), stage), "calendars": calendars}))
        return 0
    sizes = args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)
    if not args.json:
        print("Times cover only the measured stage (setup excluded); one fresh process per")
        print("measurement; peak RSS is the process's peak while the stage ran.")
        print(f"{'scenario':<9}{'N':>9} {'stage':<6}{'seconds':>11}{'peak RSS MB':>13}{'ops':>8}")
    for n in sizes:
        for scenario in args.scenarios:
            for stage in args.stages:
                result = run_child(scenario, n, stage, args.calendars)
                if args.json:
                    print(json.dumps(result), flush=True)
                else:
                    print(
                        f"{scenario:<9}{n:>9} {stage:<6}{result['seconds']:>11.4f}"
                        f"{result['peak_rss_mb']:>13.1f}{result['ops']:>8}",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
