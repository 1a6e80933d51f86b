"""Link generations through real state stores and the engine (not only the planner).

The engine notes the state store's generation before it lists; a link committed after
that (by another sync, or by this host while the listing ran) carries a higher
generation, and an item's absence from the listing is then no evidence that the item
was deleted: nothing may be deleted for such a link. Each scenario runs on the
in-memory store and on SQLite, and asserts what is on both calendars afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from outlook_sync import (
    InMemoryCalendar,
    Item,
    Link,
    Listing,
    MemoryStateStore,
    Side,
    SqliteStateStore,
    StateChange,
    StateStore,
    Synchronizer,
    SyncReport,
)
from outlook_sync._core.actions import Delete
from outlook_sync.apply_state import StagedCommits
from outlook_sync.model import Cursor, Event
from tests.world import ManualClock, World, meeting

_S, _O = Side.SALJSTOD, Side.OUTLOOK
USER = "anna"
PAIRS = 10  # linked pairs beside the late one: one delete of eleven is no mass delete


class LateCalendar(InMemoryCalendar):
    """An in-memory calendar that answers every listing completely (as a backend whose
    change token expired) and runs ``meanwhile`` once, right after the snapshot of its
    next listing was taken: what happens there is newer than the listing."""

    def __init__(self, *, clock: ManualClock, name: str, id_prefix: str) -> None:
        super().__init__(clock=clock, name=name, id_prefix=id_prefix)
        self.meanwhile: Callable[[], None] | None = None

    def list_all(self) -> Listing:
        listing = super().list_all()
        hook, self.meanwhile = self.meanwhile, None
        if hook is not None:
            hook()
        return listing

    def list_changes(self, cursor: Cursor) -> Listing:
        return self.list_all()


def _store(kind: str, path: Path) -> StateStore:
    """A state store; for SQLite another connection to ``path`` each time (another
    process), for memory the one store of this test."""
    if kind == "sqlite":
        return SqliteStateStore(path)
    return _MEMORY.setdefault(str(path), MemoryStateStore())


_MEMORY: dict[str, MemoryStateStore] = {}


@pytest.fixture(params=["memory", "sqlite"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture(autouse=True)
def _forget_memory_stores() -> Iterator[None]:
    yield
    _MEMORY.clear()


def _world(kind: str, path: Path) -> World:
    clock = ManualClock()
    saljstod = LateCalendar(clock=clock, name="saljstod", id_prefix="S")
    outlook = LateCalendar(clock=clock, name="outlook", id_prefix="O")
    state = _store(kind, path)
    sync = Synchronizer(saljstod=saljstod, outlook=outlook, state=state, user=USER,
                        clock=clock)
    world = World(saljstod=saljstod, outlook=outlook, state=state, clock=clock, sync=sync)
    for day in range(1, PAIRS + 1):
        saljstod.add(meeting(f"Möte {day}", day=day))
    assert sync.sync().ok
    assert state.link_count(USER) == PAIRS
    return world


def _late(world: World) -> LateCalendar:
    calendar = world.saljstod
    assert isinstance(calendar, LateCalendar)
    return calendar


def _other_host_links(world: World, store: StateStore, s_id: str | None,
                      event: Event) -> tuple[str, str]:
    """What another sync does: a partner for the activity ``s_id`` is created in
    Outlook and the link is committed. An activity booked now (``s_id`` None) gets the
    partner key too; an activity listed already keeps its version (the partner key is
    a safety net: a failed stamp or a read-only Säljstöd leaves it out), so no version
    check can stand in for the generation rule. Returns the pair's ids."""
    if s_id is None:
        s_id = world.saljstod.add(event)
        o_id = world.outlook.add(event, partner_key=s_id)
        world.saljstod.update(s_id, event, partner_key=o_id)
    else:
        o_id = world.outlook.add(event, partner_key=s_id)
    s_item, o_item = world.saljstod.get(s_id), world.outlook.get(o_id)
    assert isinstance(s_item, Item)
    assert isinstance(o_item, Item)
    before = store.generation(USER)
    store.commit(USER, StateChange(put_links=(Link(
        saljstod_id=s_id, outlook_id=o_id, base=s_item.event,
        saljstod_version=s_item.version, outlook_version=o_item.version),)))
    assert store.generation(USER) > before
    return s_id, o_id


def _subjects(calendar: InMemoryCalendar) -> list[str]:
    return sorted(event.subject for event in calendar.items().values())


def _expected(extra: str) -> list[str]:
    return sorted([f"Möte {day}" for day in range(1, PAIRS + 1)] + [extra])


@pytest.mark.parametrize("missing", [_S, _O])
def test_a_sync_deletes_nothing_for_a_link_committed_after_its_listing(
    store_kind: str, path: Path, missing: Side
) -> None:
    """A full sync lists both sides; meanwhile a link is committed for a pair whose
    item on ``missing`` is not in that side's (complete) listing. Its absence is no
    deletion: the partner on the other side stays, and the pair stays linked."""
    world = _world(store_kind, path)
    event = meeting("Sent bokat möte", day=20)
    ids: list[tuple[str, str]] = []
    s_id = None if missing is _S else world.saljstod.add(event)  # listed if not missing
    lister = world.saljstod if missing is _S else world.outlook
    assert isinstance(lister, LateCalendar)
    other = _store(store_kind, path)  # another connection: what another process commits
    lister.meanwhile = lambda: ids.append(_other_host_links(world, other, s_id, event))
    report = world.sync.full_sync_now()
    assert ids, "the link was committed while the sync listed"
    (s_new, o_new), = ids
    assert report.count("delete", _S) == 0
    assert report.count("delete", _O) == 0
    assert s_new in world.saljstod.items()
    assert o_new in world.outlook.items()
    assert world.state.deleted_items(USER) == []
    assert {(link.saljstod_id, link.outlook_id) for link in world.state.links(USER)} >= {
        (s_new, o_new)}
    # the next sync sees the pair in both listings: nothing created twice, nothing deleted
    again = world.sync.sync()
    assert again.ok, again
    assert again.count("delete", _S) == again.count("delete", _O) == 0
    assert again.count("create", _S) == again.count("create", _O) == 0
    assert _subjects(world.saljstod) == _subjects(world.outlook) == _expected(
        "Sent bokat möte")
    assert world.state.link_count(USER) == PAIRS + 1
    assert world.sync.sync().total_writes == 0


@pytest.mark.parametrize("missing", [_S, _O])
def test_a_dry_run_shows_no_delete_for_a_pair_another_sync_linked_while_it_listed(
    store_kind: str, path: Path, missing: Side
) -> None:
    """An operator's dry run (``plan``, which takes no lock) lists while the service's
    sync, a second Synchronizer on the same store, links a new pair. The plan shows no
    delete for it, and the real sync afterwards deletes nothing."""
    world = _world(store_kind, path)
    event = meeting("Bokat under torrkörningen", day=21)
    s_id = None if missing is _S else world.saljstod.add(event)
    service = Synchronizer(saljstod=world.saljstod, outlook=world.outlook,
                           state=_store(store_kind, path), user=USER, clock=world.clock)
    reports: list[SyncReport] = []

    def service_syncs() -> None:
        if s_id is None:
            world.saljstod.add(event)  # the user books it after the dry run listed
        reports.append(service.sync())

    lister = world.saljstod if missing is _S else world.outlook
    assert isinstance(lister, LateCalendar)
    lister.meanwhile = service_syncs
    generation = world.state.generation(USER)
    dry = world.sync.plan()
    (service_report,) = reports
    assert service_report.ok, service_report
    assert service_report.count("create", _O) == 1  # the service linked the new pair
    assert world.state.generation(USER) > generation
    assert not dry.refused, dry.refused
    assert [a for a in dry.actions if isinstance(a, Delete)] == []
    report = world.sync.sync()
    assert report.ok, report
    assert report.count("delete", _S) == report.count("delete", _O) == 0
    assert _subjects(world.saljstod) == _subjects(world.outlook) == _expected(
        "Bokat under torrkörningen")
    assert world.state.deleted_items(USER) == []


def test_generations_grow_with_link_commits_in_both_stores(store_kind: str,
                                                           path: Path) -> None:
    """The evidence rule depends on the store: a commit that puts links raises the
    generation and stamps it on the link; other commits leave it alone."""
    store = _store(store_kind, path)
    event = meeting("Kundmöte")
    start = store.generation(USER)
    store.commit(USER, StateChange(add_pending=((_S, "S9"),)))
    assert store.generation(USER) == start
    store.commit(USER, StateChange(put_links=(Link(saljstod_id="S1", outlook_id="O1",
                                                   base=event),)))
    first = store.generation(USER)
    assert first > start
    store.commit(USER, StateChange(put_links=(Link(saljstod_id="S2", outlook_id="O2",
                                                   base=event),)))
    second = store.generation(USER)
    assert second > first
    by_id = {link.saljstod_id: link.generation for link in _store(store_kind, path).links(USER)}
    assert by_id == {"S1": first, "S2": second}


def test_a_link_is_stored_with_its_commits_generation_whatever_it_carries(
        store_kind: str, path: Path) -> None:
    """The engine builds a created pair's link with the generation it expects the
    commit to get (so the in-memory store can keep it as it is); a store sets the real
    one whatever a link carries: a guess too high, too low or right."""
    store = _store(store_kind, path)
    event = meeting("Kundmöte")
    store.commit(USER, StateChange(put_links=(Link(saljstod_id="S0", outlook_id="O0",
                                                   base=event),)))
    expected = store.generation(USER) + 1
    carried = {"S1": expected, "S2": expected + 5, "S3": 0, "S4": expected - 1}
    store.commit(USER, StateChange(put_links=tuple(
        Link(saljstod_id=s_id, outlook_id="O" + s_id[1:], base=event, generation=generation)
        for s_id, generation in carried.items())))
    assert store.generation(USER) == expected
    by_id = {link.saljstod_id: link.generation for link in _store(store_kind, path).links(USER)}
    assert by_id == {"S0": expected - 1, "S1": expected, "S2": expected, "S3": expected,
                     "S4": expected}


def test_staged_links_are_built_with_the_generation_their_commit_gets(
        store_kind: str, path: Path) -> None:
    """``StagedCommits.next_generation`` follows the store over several commits, and a
    commit it did not expect (another writer's) only makes it a wrong guess: the links
    still get their commit's generation."""
    store = _store(store_kind, path)
    event = meeting("Kundmöte")
    staged = StagedCommits(store, USER)
    seen = {}
    for number in range(3):
        guess = staged.next_generation()
        s_id = f"S{number}"
        staged.put(Link(saljstod_id=s_id, outlook_id=f"O{number}", base=event,
                        generation=guess))
        staged.flush()
        seen[s_id] = store.generation(USER)
        assert guess == seen[s_id]
    guess = staged.next_generation()
    store.commit(USER, StateChange(put_links=(Link(saljstod_id="S8", outlook_id="O8",
                                                   base=event),)))  # meanwhile
    staged.put(Link(saljstod_id="S9", outlook_id="O9", base=event, generation=guess))
    staged.flush()
    assert store.generation(USER) == guess + 1
    by_id = {link.saljstod_id: link.generation for link in _store(store_kind, path).links(USER)}
    assert by_id == {**seen, "S8": guess, "S9": guess + 1}
