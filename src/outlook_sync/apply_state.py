"""What the apply step counts and how it commits (beside :mod:`outlook_sync.apply`).

:class:`Tally` counts what one sync did. :class:`StagedCommits` groups the state changes
of many completed actions into one commit: a crash before the group is committed loses
only bookkeeping the next sync rebuilds — creates are found again by their intents and
partner keys, pairs whose both sides already hold the new content are re-linked without
a write, and a pair deleted on both sides is forgotten — so grouping keeps "a kill at
any point converges with no duplicate" while a first sync of 20 000 items commits a
hundred times instead of 20 000. What must precede a write (create intents, the
write-ahead conflict and deleted-items records) is never staged: it is committed on
its own, before the write.
"""

from __future__ import annotations

import attrs

from outlook_sync._core.actions import Action, Create, Delete, LinkPair, Update
from outlook_sync.errors import BackendError, ItemRejectedError, VersionConflictError
from outlook_sync.model import Side
from outlook_sync.protocols import StateChange, StateStore
from outlook_sync.records import Conflict, Failure

__all__ = ["STAGE_LIMIT", "StagedCommits", "Tally", "blame", "involved", "refused"]

_S, _O = Side.SALJSTOD, Side.OUTLOOK

#: How many completed actions are committed together at most.
STAGE_LIMIT = 200


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

    def wrote(self, operation: str, side: Side, count: int = 1) -> None:
        self.writes[side.value][operation] += count


class StagedCommits:
    """Completed actions' state changes, committed together.

    A change that touches an item already staged flushes the stage first, so the
    order of changes to one pair is kept (the store applies drops before puts).
    """

    def __init__(self, state: StateStore, user: str, limit: int = STAGE_LIMIT) -> None:
        self._state = state
        self._user = user
        self._limit = limit
        self._changes: list[StateChange] = []
        self._keys: set[tuple[Side, str]] = set()

    def add(self, change: StateChange) -> None:
        keys = _keys(change)
        if keys & self._keys:
            self.flush()
        self._changes.append(change)
        self._keys |= keys
        if len(self._changes) >= self._limit:
            self.flush()

    def flush(self) -> None:
        """Commit what is staged, in one transaction."""
        if not self._changes:
            return
        changes, self._changes, self._keys = self._changes, [], set()
        combined = changes[0] if len(changes) == 1 else StateChange(
            put_links=tuple(link for c in changes for link in c.put_links),
            drop_links=tuple(pair for c in changes for pair in c.drop_links),
            conflicts=tuple(x for c in changes for x in c.conflicts),
            clear_intents=tuple(key for c in changes for key in c.clear_intents),
        )
        self._state.commit(self._user, combined)


def _keys(change: StateChange) -> set[tuple[Side, str]]:
    keys = {(_S, link.saljstod_id) for link in change.put_links}
    keys |= {(_O, link.outlook_id) for link in change.put_links}
    keys |= {(_S, s_id) for s_id, _o in change.drop_links}
    keys |= {(_O, o_id) for _s, o_id in change.drop_links}
    return keys


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
