"""A small world for scenario tests: two in-memory calendars, a clock, a synchronizer."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import attrs

from outlook_sync import (
    Event,
    InMemoryCalendar,
    MemoryStateStore,
    StateStore,
    Synchronizer,
    SyncPolicy,
)

STOCKHOLM = ZoneInfo("Europe/Stockholm")
UTC = dt.UTC


class ManualClock:
    """A clock that moves one second per reading, or as far as a test says."""

    def __init__(self, start: dt.datetime | None = None, step: dt.timedelta | None = None):
        self.now = start or dt.datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
        self.step = dt.timedelta(seconds=1) if step is None else step

    def __call__(self) -> dt.datetime:
        self.now += self.step
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


def meeting(subject: str = "Kundmöte", *, day: int = 1, hour: int = 9, minutes: int = 60,
            **fields: object) -> Event:
    """A timed meeting in December 2026, Stockholm time."""
    start = dt.datetime(2026, 12, day, hour, tzinfo=STOCKHOLM)
    return Event(subject=subject, start=start, end=start + dt.timedelta(minutes=minutes),
                 **fields)  # type: ignore[arg-type]


@attrs.define
class World:
    saljstod: InMemoryCalendar
    outlook: InMemoryCalendar
    state: StateStore
    clock: ManualClock
    sync: Synchronizer

    def converged(self) -> bool:
        """Both calendars hold the same events (as multisets of content)."""
        return sorted(e.content() for e in self.saljstod.items().values()) == sorted(
            e.content() for e in self.outlook.items().values()
        )


def make_world(policy: SyncPolicy | None = None, state: StateStore | None = None,
               user: str = "anna",
               kind: type[InMemoryCalendar] = InMemoryCalendar) -> World:
    """Two empty calendars of ``kind`` (``InMemoryBulkCalendar``: both write in bulk, as
    the SQL adapter and Graph do), the state store and the synchronizer."""
    clock = ManualClock()
    saljstod = kind(clock=clock, name="saljstod", id_prefix="S")
    outlook = kind(clock=clock, name="outlook", id_prefix="O")
    state = state if state is not None else MemoryStateStore()
    sync = Synchronizer(saljstod=saljstod, outlook=outlook, state=state, user=user,
                        policy=policy, clock=clock)
    return World(saljstod=saljstod, outlook=outlook, state=state, clock=clock, sync=sync)
