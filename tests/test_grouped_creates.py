"""Creates in bulk are settled in groups: consecutive runs of creates to one side have
their partner keys stamped and their links committed together, up to ``STAGE_LIMIT``
creates or ``STAGE_SECONDS`` after the first of them (``Applier._settle_creates``).

What the user must be able to count on: a kill while created items wait to be settled
leaves nothing twice on either calendar once the next sync has run, and every activity
ends linked, with its partner key, exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

import pytest

from outlook_sync import Item, StateStore, Synchronizer
from outlook_sync.apply import BULK_RUN
from outlook_sync.apply_state import STAGE_LIMIT, STAGE_SECONDS
from outlook_sync.protocols import StateChange
from tests.test_bulk_safety import BulkCalendar, Kill
from tests.test_bulk_safety import state as state  # the memory and SQLite stores
from tests.world import ManualClock, World, meeting

USER = "anna"
ACTIVITIES = 2 * BULK_RUN + 50  # three create runs


def _world(state: StateStore, activities: int = ACTIVITIES) -> World:
    clock = ManualClock()
    saljstod = BulkCalendar(clock=clock, name="saljstod", id_prefix="S")
    outlook = BulkCalendar(clock=clock, name="outlook", id_prefix="O")
    sync = Synchronizer(saljstod=saljstod, outlook=outlook, state=state, user=USER,
                        clock=clock)
    for number in range(activities):
        saljstod.add(meeting(f"Möte {number}", day=number % 28 + 1, hour=8 + number // 28 % 10,
                             location="Rum 1"))
    return World(saljstod=saljstod, outlook=outlook, state=state, clock=clock, sync=sync)


class _Commits:
    """Counts the state commits that store links."""

    def __init__(self, state: StateStore) -> None:
        self.link_commits: list[int] = []
        commit = state.commit

        def counted(user: str, change: StateChange) -> None:
            commit(user, change)
            if change.put_links:
                self.link_commits.append(len(change.put_links))

        state.commit = counted  # type: ignore[method-assign]


def _settled_exactly_once(world: World, activities: int) -> None:
    outlook = world.outlook.items()
    subjects = sorted(event.subject for event in outlook.values())
    assert subjects == sorted(f"Möte {n}" for n in range(activities))  # none twice
    links = world.state.links(USER)
    assert len(links) == activities
    for link in links:
        # each activity holds its Outlook item's key, and that item holds the activity's
        activity, appointment = world.saljstod.get(link.saljstod_id), world.outlook.get(
            link.outlook_id)
        assert isinstance(activity, Item)
        assert isinstance(appointment, Item)
        assert (activity.partner_key, appointment.partner_key) == (link.outlook_id,
                                                                   link.saljstod_id)
    assert world.converged()


def test_consecutive_create_runs_are_stamped_and_linked_in_one_commit(
    state: StateStore,
) -> None:
    world = _world(state)
    commits = _Commits(state)
    report = world.sync.sync()
    assert report.ok, report
    assert report.writes["outlook"]["create"] == ACTIVITIES
    outlook, saljstod = world.outlook, world.saljstod
    assert isinstance(outlook, BulkCalendar)
    assert isinstance(saljstod, BulkCalendar)
    assert [op for op, _n in outlook.runs] == ["create"] * 3  # 200, 200, 50
    assert saljstod.runs == [("update", ACTIVITIES)]  # one stamp run for all
    assert commits.link_commits == [ACTIVITIES]
    _settled_exactly_once(world, ACTIVITIES)
    assert world.sync.sync().total_writes == 0


def test_creates_wait_for_their_links_at_most_stage_seconds(
    state: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = iter(float(n) * STAGE_SECONDS for n in range(1_000))
    monkeypatch.setattr("outlook_sync.apply.time", SimpleNamespace(monotonic=lambda: next(ticks)))
    world = _world(state)
    commits = _Commits(state)
    assert world.sync.sync().ok
    # every run finds the creates before it a STAGE_SECONDS old: settled run by run
    assert commits.link_commits == [BULK_RUN, BULK_RUN, ACTIVITIES - 2 * BULK_RUN]
    _settled_exactly_once(world, ACTIVITIES)


def test_a_group_is_settled_when_it_reaches_the_stage_limit(state: StateStore) -> None:
    activities = STAGE_LIMIT + BULK_RUN
    world = _world(state, activities)
    commits = _Commits(state)
    assert world.sync.sync().ok
    assert commits.link_commits == [STAGE_LIMIT, BULK_RUN]
    _settled_exactly_once(world, activities)


def _kill_on_run(calendar: BulkCalendar, operation: str, number: int) -> None:
    """Kill the process right after the first write of the ``number``-th (1-based) bulk
    call of ``operation``."""
    seen: list[str] = []

    def on_run(op: str, _ids: Sequence[str]) -> None:
        if op != operation:
            return
        seen.append(op)
        if len(seen) == number:
            calendar.after_write(operation, 0, Kill())

    calendar.on_run = on_run


@pytest.mark.parametrize(
    ("operation", "number", "where"),
    [
        ("create", 2, "outlook"),  # one run created, unsettled; the next run dies
        ("create", 3, "outlook"),  # two runs created and unsettled
        ("update", 1, "saljstod"),  # the group's stamps die after the first
    ],
)
def test_a_kill_before_a_group_is_settled_converges_without_duplicates(
    state: StateStore, operation: str, number: int, where: str
) -> None:
    world = _world(state)
    calendar = world.outlook if where == "outlook" else world.saljstod
    assert isinstance(calendar, BulkCalendar)
    _kill_on_run(calendar, operation, number)
    with pytest.raises(Kill):
        world.sync.sync()
    assert state.link_count(USER) == 0  # nothing of the group was committed
    calendar.on_run = None
    report = world.sync.sync()
    assert report.ok, report
    _settled_exactly_once(world, ACTIVITIES)
    assert world.sync.sync().total_writes == 0
