"""What the apply step counts and how it commits (beside :mod:`outlook_sync.apply`).

:class:`Tally` counts what one sync did. :class:`StagedCommits` groups the state changes
of many completed actions into one commit: a crash before the group is committed loses
only bookkeeping the next sync rebuilds — creates are found again by their intents and
partner keys, pairs whose both sides already hold the new content are re-linked without
a write, and a pair deleted on both sides is forgotten — so grouping keeps "a kill at
any point converges with no duplicate" while a first sync of 20 000 items commits a
few dozen times instead of 20 000. What must precede a write (create intents, the
write-ahead conflict and deleted-items records) is never staged: it is committed on
its own, before the write.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

import attrs

from outlook_sync._core.actions import Action, Create, Delete, LinkPair, Update
from outlook_sync.errors import BackendError, ItemRejectedError, VersionConflictError
from outlook_sync.model import Event, Link, Side
from outlook_sync.protocols import StateChange, StateStore
from outlook_sync.records import Conflict, Failure

__all__ = [
    "STAGE_LIMIT",
    "STAGE_SECONDS",
    "StagedCommits",
    "Tally",
    "blame",
    "fewer_collections",
    "involved",
    "refused",
]

_S, _O = Side.SALJSTOD, Side.OUTLOOK

#: How many completed actions are committed together at most.
STAGE_LIMIT = 1000
#: How long completed actions wait for their commit at most, before the next write.
STAGE_SECONDS = 1.0

#: ``listener(side, operation, item_id, event)``: one backend write that succeeded;
#: operation is ``create``, ``update``, ``delete`` or ``stamp`` (only the partner key).
WriteListener = Callable[[Side, str, str, Event | None], None]


@attrs.define
class Tally:
    writes: dict[str, dict[str, int]]
    linked: int = 0
    unlinked: int = 0
    conflicts: list[Conflict] = attrs.Factory(list)
    failures: list[Failure] = attrs.Factory(list)
    failed_keys: list[tuple[Side, str]] = attrs.Factory(list)
    failed_intents: list[tuple[Side, str]] = attrs.Factory(list)
    #: items a write found changed by someone else (version conflict), to re-read.
    concurrent: dict[tuple[Side, str], Failure] = attrs.Factory(dict)
    concurrent_edits: int = 0
    #: sides nothing is written to in this sync (policy, plus refusals met)
    read_only: set[Side] = attrs.Factory(set)
    #: sides that refused a write for lack of permission during this sync
    refused_sides: set[Side] = attrs.Factory(set)
    #: writes left out at run time because their side turned out read-only
    read_only_skips: int = 0
    #: actions carried out and planned, when the sync was cancelled before the end
    stopped_at: tuple[int, int] | None = None
    #: hears of every write that succeeded (hosts' per-item logs)
    listener: WriteListener | None = None

    def refused_by(self, side: Side) -> None:
        """``side`` refused a write for lack of permission: nothing more is written to
        it in this sync, and the report says so once."""
        self.refused_sides.add(side)
        self.read_only.add(side)

    def wrote(self, operation: str, side: Side, item_id: str, event: Event | None) -> None:
        # _S.value is an Enum property (Python code): compare identities instead
        self.writes["saljstod" if side is _S else "outlook"][operation] += 1
        if self.listener is not None:
            self.listener(side, operation, item_id, event)

    def wrote_many(self, operation: str, side: Side, count: int,
                   written: Iterable[tuple[str, Event | None]]) -> None:
        """:meth:`wrote` for ``count`` writes of one kind to one side; ``written``
        yields their ``(item id, event)``, iterated only when a listener hears of them."""
        self.writes["saljstod" if side is _S else "outlook"][operation] += count
        listener = self.listener
        if listener is not None:
            for item_id, event in written:
                listener(side, operation, item_id, event)


class StagedCommits:
    """Completed actions' state changes, committed together.

    A change that touches an item already staged flushes the stage first, so the
    order of changes to one pair is kept (the store applies drops before puts).
    :meth:`put` stages the common case (one link, maybe a replaced pair, an intent and
    a conflict) without building a :class:`StateChange` per action.

    A stage is also held only briefly (:meth:`flush_if_older`, :data:`STAGE_SECONDS`):
    a backend sharing the state store's transaction (``SqlCalendar(commit=False)``)
    keeps its writes, and the database's write lock, open until the stage is committed,
    so the host application must not wait behind a long stage.
    """

    def __init__(self, state: StateStore, user: str, limit: int = STAGE_LIMIT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._state = state
        self._user = user
        self._limit = limit
        self._clock = clock
        self._since = 0.0  # when the first change of the stage was staged
        self._count = 0
        self._puts: list[Link] = []
        self._drops: list[tuple[str, str]] = []
        self._conflicts: list[Conflict] = []
        self._intents: list[tuple[Side, str]] = []
        # the ids staged, per side (plain strings: cheaper to hash than (Side, id))
        self._s_ids: set[str] = set()
        self._o_ids: set[str] = set()
        # the store's generation as of the last commit staged here (None: ask it)
        self._generation: int | None = None

    def next_generation(self) -> int:
        """The generation the stage's commit is expected to get (see
        :meth:`~outlook_sync.protocols.StateStore.generation`): a link built with it
        is the very link the store keeps (a store may keep such a link as it is,
        instead of a copy carrying the generation). Only a hint: the store sets the
        generation of what it stores, whatever a link carries. The store is asked once;
        each commit of the stage's links counts one more."""
        if self._generation is None:
            self._generation = self._state.generation(self._user)
        return self._generation + 1

    def add(self, change: StateChange) -> None:
        """Stage a completed action's change (links, drops, conflicts, intents only)."""
        self._stage(change.put_links, change.drop_links, change.conflicts,
                    change.clear_intents)

    def put(self, link: Link, *, replaces: tuple[str, str] | None = None,
            clear_intent: tuple[Side, str] | None = None,
            conflict: Conflict | None = None) -> None:
        """Stage storing ``link`` (dropping ``replaces``), clearing an intent, logging a
        conflict: what a completed create, update or stamp commits."""
        s_ids, o_ids = self._s_ids, self._o_ids
        s_id, o_id = link.saljstod_id, link.outlook_id
        if (s_id in s_ids or o_id in o_ids
                or (replaces is not None and (replaces[0] in s_ids or replaces[1] in o_ids))):
            self.flush()
        self._puts.append(link)
        s_ids.add(s_id)
        o_ids.add(o_id)
        if replaces is not None:
            self._drops.append(replaces)
            s_ids.add(replaces[0])
            o_ids.add(replaces[1])
        if clear_intent is not None:
            self._intents.append(clear_intent)
        if conflict is not None:
            self._conflicts.append(conflict)
        if not self._count:
            self._since = self._clock()
        self._count += 1
        if self._count >= self._limit:
            self.flush()

    def put_many(self, links: list[Link], clear_intents: list[tuple[Side, str]]) -> None:
        """:meth:`put` for the links of many completed creates, each clearing its
        intent (``clear_intents[i]`` for ``links[i]``), in one step; the stage is
        committed first if any of their items is in it."""
        s_new = {link.saljstod_id for link in links}
        o_new = {link.outlook_id for link in links}
        if len(s_new) < len(links) or len(o_new) < len(links):
            for link, intent in zip(links, clear_intents, strict=True):
                self.put(link, clear_intent=intent)  # an item twice: one at a time
            return
        self._add(links, (), (), clear_intents, s_new, o_new, len(links))

    def _stage(self, puts: tuple[Link, ...], drops: tuple[tuple[str, str], ...],
               conflicts: tuple[Conflict, ...], intents: tuple[tuple[Side, str], ...]) -> None:
        s_new = {link.saljstod_id for link in puts} | {s_id for s_id, _o in drops}
        o_new = {link.outlook_id for link in puts} | {o_id for _s, o_id in drops}
        self._add(puts, drops, conflicts, intents, s_new, o_new, 1)

    def _add(self, puts: Sequence[Link], drops: Sequence[tuple[str, str]],
             conflicts: Sequence[Conflict], intents: Sequence[tuple[Side, str]],
             s_new: set[str], o_new: set[str], count: int) -> None:
        """Stage ``count`` completed actions' changes touching the ids ``s_new`` and
        ``o_new``; the stage is committed first if one of them is in it already."""
        if not (s_new.isdisjoint(self._s_ids) and o_new.isdisjoint(self._o_ids)):
            self.flush()
        self._puts.extend(puts)
        self._drops.extend(drops)
        self._conflicts.extend(conflicts)
        self._intents.extend(intents)
        self._s_ids |= s_new
        self._o_ids |= o_new
        if not self._count:
            self._since = self._clock()
        self._count += count
        if self._count >= self._limit:
            self.flush()

    def flush_if_older(self, seconds: float) -> None:
        """Commit what is staged if the oldest of it was staged ``seconds`` ago or more."""
        if self._count and self._clock() - self._since >= seconds:
            self.flush()

    def flush(self) -> None:
        """Commit what is staged, in one transaction."""
        if not self._count:
            return
        change = StateChange(put_links=tuple(self._puts), drop_links=tuple(self._drops),
                             conflicts=tuple(self._conflicts),
                             clear_intents=tuple(self._intents))
        self._count = 0
        self._puts, self._drops, self._conflicts, self._intents = [], [], [], []
        self._s_ids, self._o_ids = set(), set()
        known, self._generation = self._generation, None
        self._state.commit(self._user, change)
        if known is not None:  # only a commit that puts links moves the generation
            self._generation = known + 1 if change.put_links else known


#: The youngest generation's threshold while a sync runs (CPython's default is 700).
GC_YOUNG_THRESHOLD = 100_000

_collector_lock = threading.Lock()
_collector_users = 0
_collector_saved: tuple[int, int, int] | None = None


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the block with the cyclic garbage collector's youngest threshold raised.

    A first sync allocates a few objects per item that all stay alive (items, links),
    so CPython's collector, started every 700 allocations, walks the growing heap
    again and again: 20-35 % of an in-memory first sync. Reference counting still
    frees everything at once; only the search for reference cycles runs less often
    (every 100 000 allocations). The collector is never disabled, a threshold of 0 (a
    host that disabled it) is left alone, and the previous thresholds come back when
    the last sync of the process ends (syncs in several threads share one setting).
    """
    global _collector_users, _collector_saved
    with _collector_lock:
        if _collector_users == 0:
            current = gc.get_threshold()
            if 0 < current[0] < GC_YOUNG_THRESHOLD:
                _collector_saved = current
                gc.set_threshold(GC_YOUNG_THRESHOLD, *current[1:])
        _collector_users += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector_users -= 1
            if _collector_users == 0 and _collector_saved is not None:
                if gc.get_threshold()[0] == GC_YOUNG_THRESHOLD:  # nobody changed it since
                    gc.set_threshold(*_collector_saved)
                _collector_saved = None


def blame(exc: BackendError, side: Side) -> None:
    """Name the side whose backend raised ``exc`` (adapters may not know it)."""
    if exc.side is None:
        exc.side = side.value


def refused(exc: BackendError) -> bool:
    """The backend answered that it did not perform the write (so nothing changed)."""
    return isinstance(exc, VersionConflictError | ItemRejectedError)


def involved(action: Action) -> list[tuple[Side, str]]:
    """The ``(side, id)`` of the items an action concerns, the main one first."""
    if isinstance(action, Create):
        keys = [(action.side.other, action.source_id)]
        if action.replaces is not None:
            # the pair it replaces: its item on the target side is gone, which the next
            # sync must see again even if the cursor has moved past the deletion
            keys.append((action.side, action.replaces[0 if action.side is _S else 1]))
        return keys
    if isinstance(action, Update):
        return [(_S, action.saljstod_id), (_O, action.outlook_id)]
    if isinstance(action, Delete):
        s_id, o_id = action.link
        return [(_S, s_id), (_O, o_id)]
    if isinstance(action, LinkPair):
        return [(_S, action.link.saljstod_id), (_O, action.link.outlook_id)]
    return [(_S, action.saljstod_id), (_O, action.outlook_id)]
