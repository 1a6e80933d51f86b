"""An incremental sync with series on one side costs what changed (issue 12, point 4).

Säljstöd holds single activities, Outlook a weekly series (shown to the engine as its
occurrences) and single appointments. A deletion or a changed series in an incremental
listing used to make the series view read *every* link of the user (28 -> 491 ms from
1 000 to 20 000 links on SQLite, on every direct-sync pass). Now it reads the links of
the horizon's occurrences and, by series id, those of the items the listing names.

What the user sees must not change: a deleted appointment's activity goes, a deleted
series' activities go, the others stay. Run over the in-memory store, SQLite and a real
PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from outlook_sync import Event, InMemoryCalendar, MemoryStateStore, Synchronizer, SyncPolicy
from outlook_sync.model import Link, Side
from outlook_sync.protocols import OccurrenceLinks, StateChange, StateStore
from outlook_sync.recurrence import Recurrence
from outlook_sync.scope import Horizon
from outlook_sync.state.sql import SqlStateStore
from tests.conftest import open_database
from tests.world import ManualClock

STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")
NOW = dt.datetime(2026, 3, 10, 8, tzinfo=dt.UTC)
USER = "anna"
SINGLES = 40


def _at(day: dt.date, hour: int = 9) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), STOCKHOLM)


def _series(subject: str, first: dt.date) -> Event:
    start = _at(first)
    return Event(subject=subject, start=start, end=start + dt.timedelta(hours=1),
                 recurrence=Recurrence(rule="FREQ=WEEKLY", start=start,
                                       time_zone="Europe/Stockholm"))


class CountingStore:
    """Forwards to a state store and counts reads of every link of the user."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.full_reads = 0

    def links(self, user: str, **ids: Any) -> Any:
        if all(value is None for value in ids.values()):
            self.full_reads += 1
        return self._inner.links(user, **ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql",
                                                           marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "memory":
        yield MemoryStateStore()
        return
    with open_database(request.param, request, tmp_path) as database:
        yield SqlStateStore(database.connect())


class World:
    def __init__(self, state: StateStore) -> None:
        self.clock = ManualClock(start=NOW, step=dt.timedelta(seconds=1))
        self.saljstod = InMemoryCalendar(clock=self.clock, name="saljstod", id_prefix="S")
        self.outlook = InMemoryCalendar(clock=self.clock, name="outlook", id_prefix="O",
                                        supports_series=True)
        self.state = CountingStore(state)
        self.series = self.other = ""  # the two series' ids, once added
        horizon = Horizon(back=dt.timedelta(0), ahead=dt.timedelta(days=28))
        self.sync = Synchronizer(saljstod=self.saljstod, outlook=self.outlook,
                                 state=self.state,
                                 user=USER, policy=SyncPolicy(series_horizon=horizon))

    def synced(self) -> None:
        report = self.sync.sync()
        assert report.ok, str(report)

    def subjects(self) -> list[str]:
        return sorted(event.subject for event in self.saljstod.items().values())


@pytest.fixture
def world(store: StateStore) -> World:
    world = World(store)
    day = NOW.date()
    for n in range(SINGLES):
        start = _at(day + dt.timedelta(days=n % 20 + 1), 8 + n % 8)
        world.outlook.add(Event(subject=f"Besök {n:02}", start=start,
                                end=start + dt.timedelta(minutes=45)))
    world.series = world.outlook.add(_series("Säljmöte", dt.date(2026, 1, 5)))
    world.other = world.outlook.add(_series("Planering", dt.date(2026, 1, 7)))
    world.synced()  # the first sync reads every link: it lists everything
    world.synced()  # and the echo of its own writes
    assert len(world.subjects()) == SINGLES + 8  # 4 Mondays and 4 Wednesdays in 28 days
    world.state.full_reads = 0
    return world


def test_the_built_in_stores_find_occurrence_links_by_series(store: StateStore) -> None:
    assert isinstance(store, OccurrenceLinks)


def test_a_deleted_appointment_is_synced_without_reading_every_link(world: World) -> None:
    gone = next(item_id for item_id, event in world.outlook.items().items()
                if event.subject == "Besök 07")
    world.outlook.delete(gone)
    world.synced()
    assert "Besök 07" not in world.subjects()
    assert len(world.subjects()) == SINGLES - 1 + 8
    assert world.state.full_reads == 0


def test_a_deleted_series_takes_its_occurrences_and_nothing_else(world: World) -> None:
    world.outlook.delete(world.series)
    world.synced()
    subjects = world.subjects()
    assert "Säljmöte" not in subjects
    assert subjects.count("Planering") == 4
    assert len(subjects) == SINGLES + 4
    assert world.state.full_reads == 0


def test_a_changed_series_updates_its_occurrences_without_reading_every_link(
    world: World,
) -> None:
    master = world.outlook.items()[world.series]
    world.outlook.update(world.series,
                         Event(subject="Säljmöte (nytt rum)", start=master.start,
                               end=master.end, recurrence=master.recurrence))
    world.synced()
    subjects = world.subjects()
    assert subjects.count("Säljmöte (nytt rum)") == 4
    assert "Säljmöte" not in subjects
    assert world.state.full_reads == 0


def test_a_series_turned_into_one_appointment_releases_its_other_occurrences(
    world: World,
) -> None:
    master = world.outlook.items()[world.series]
    world.outlook.update(world.series,
                         Event(subject="Säljmöte", start=master.start, end=master.end))
    world.synced()
    # the four Mondays in the horizon were occurrences; none of them is an item now
    assert world.subjects().count("Säljmöte") <= 1
    assert world.subjects().count("Planering") == 4
    assert world.state.full_reads == 0


def test_occurrence_links_match_the_series_exactly(store: StateStore) -> None:
    assert isinstance(store, OccurrenceLinks)
    base = Event(subject="Möte", start=_at(NOW.date()), end=_at(NOW.date(), 10))
    ids = ["O1::20260316T080000Z", "O1::20260323T080000Z", "O10::20260316T080000Z", "O1",
           "O1:x", "o1::20260316T080000Z", "O1;::20260316T080000Z", "Ö1::20260316T080000Z"]
    links = tuple(Link(saljstod_id=f"S{n}", outlook_id=outlook_id, base=base)
                  for n, outlook_id in enumerate(ids))
    store.commit(USER, StateChange(put_links=links))
    found = store.occurrence_links(USER, Side.OUTLOOK, ["O1"])
    assert sorted(link.outlook_id for link in found) == ids[:2]
    assert [link.outlook_id for link in store.occurrence_links(USER, Side.OUTLOOK, ["Ö1"])] \
        == ["Ö1::20260316T080000Z"]
    assert store.occurrence_links(USER, Side.OUTLOOK, []) == []
    assert store.occurrence_links(USER, Side.SALJSTOD, ["O1"]) == []  # by the side's ids
    assert store.occurrence_links("someone else", Side.OUTLOOK, ["O1"]) == []
