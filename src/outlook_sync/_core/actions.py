"""The plan: inert values that say what to write where. The engine executes them.

An action is one *step*: the engine performs its backend writes and then commits its
state change atomically, so a crash between two actions leaves a consistent state, and
a crash inside one is recovered by the next sync (see ``engine.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import attrs

from outlook_sync._slots import builder
from outlook_sync.model import Cursor, Event, Link, Side
from outlook_sync.records import Conflict, Quarantined

__all__ = [
    "Action",
    "Create",
    "Delete",
    "LinkPair",
    "SyncPlan",
    "Unlink",
    "Update",
    "Write",
    "build_create",
]


@attrs.frozen(kw_only=True)
class Create:
    """Create on ``side`` a partner for item ``source_id`` of the other side, then link.

    Attributes:
        side: where the new item is created.
        source_id: the item it mirrors, on ``side.other``.
        source_version: that item's version, stored in the new link.
        source_partner_key: the partner key the source carries now. If it names some
            other item (the source is a user's copy of a linked item), the engine
            rewrites it to the new item's id so no two items claim one partner.
        event: the content to create; also the new link's base.
        replaces: a link ``(saljstod_id, outlook_id)`` this pair replaces (re-creation
            after a delete that lost to an edit).
        conflict: the conflict-log entry that explains this action, if any.
    """

    side: Side
    source_id: str
    source_version: str
    source_partner_key: str | None
    event: Event
    replaces: tuple[str, str] | None = None
    conflict: Conflict | None = None


#: ``Create(side=…, source_id=…, …)`` from values taken from a listed (validated) item,
#: positionally in field order: what a first sync's planner builds once per item.
build_create: Callable[[Side, str, str, str | None, Event, tuple[str, str] | None,
                        Conflict | None], Create] = builder(Create)


@attrs.frozen(kw_only=True)
class Write:
    """One content write to an existing item (part of an :class:`Update`)."""

    side: Side
    item_id: str
    event: Event
    expected_version: str


@attrs.frozen(kw_only=True)
class Update:
    """Write new content to one or both items of a pair, then store the new base.

    Also used to adopt a pair that was not linked yet (``new_link``): the first full
    sync links items that already exist on both sides instead of copying them.
    """

    saljstod_id: str
    outlook_id: str
    writes: tuple[Write, ...]
    base: Event
    saljstod_version: str
    outlook_version: str
    new_link: bool = False
    conflict: Conflict | None = None
    #: sides whose item must be stamped with its partner's id (its key is missing or
    #: wrong); done together with the side's write, or as a write of its own.
    stamp: tuple[Side, ...] = ()
    #: a link this pair replaces (its item on one side moved and got a new id).
    replaces: tuple[str, str] | None = None
    #: the base the pair had before (kept when a write to a read-only side is dropped,
    #: so the pair is not taken as agreeing on content one side never received).
    previous_base: Event | None = attrs.field(default=None, eq=False, repr=False)
    #: the pair's versions before, ``(saljstod, outlook)``: what the link records for
    #: the sides in ``unagreed``.
    previous_versions: tuple[str, str] | None = attrs.field(default=None, eq=False,
                                                            repr=False)
    #: sides whose content the other, read-only side never received: the link keeps
    #: their previous version, so the next sync still sees them changed against the
    #: kept base and merges a later change from the read-only side instead of copying
    #: it over them.
    unagreed: tuple[Side, ...] = attrs.field(default=(), eq=False, repr=False)
    #: what each item held when the update was planned, ``(saljstod, outlook)``
    #: (recorded with the first write, ``Link.attempt``).
    previous_contents: tuple[Event, Event] | None = attrs.field(default=None, eq=False,
                                                                repr=False)

    def recorded_versions(self, versions: dict[Side, str],
                          unagreed: tuple[Side, ...] | None = None) -> dict[Side, str]:
        """``versions`` (after the writes) with the previous ones for the ``unagreed``
        sides (this update's own, unless given)."""
        sides = self.unagreed if unagreed is None else unagreed
        if sides and self.previous_versions is not None:
            previous = dict(zip((Side.SALJSTOD, Side.OUTLOOK), self.previous_versions,
                                strict=True))
            for side in sides:
                versions[side] = previous[side]
        return versions


@attrs.frozen(kw_only=True)
class Delete:
    """Delete an item whose partner was deleted, keep its content for undo, unlink."""

    side: Side
    item_id: str
    expected_version: str
    event: Event
    link: tuple[str, str]
    #: a link this pair replaces (its item on one side moved and got a new id).
    replaces: tuple[str, str] | None = None


@attrs.frozen(kw_only=True)
class LinkPair:
    """Store a link without writing to either side (both already hold ``link.base``)."""

    link: Link
    new_link: bool
    #: sides whose item must be stamped with its partner's id (its key is missing or
    #: wrong).
    stamp: tuple[Side, ...] = ()
    #: a link this pair replaces (its item on one side moved and got a new id).
    replaces: tuple[str, str] | None = None


@attrs.frozen(kw_only=True)
class Unlink:
    """Drop a link; neither item is written. ``reason`` says why, for reports."""

    saljstod_id: str
    outlook_id: str
    reason: str


Action = Create | Update | Delete | LinkPair | Unlink


@attrs.frozen(kw_only=True)
class SyncPlan:
    """What one sync would do. ``len(plan)`` is the number of actions.

    Attributes:
        actions: the steps, in a deterministic order.
        refreshed: links whose stored versions are refreshed (bookkeeping only; no
            backend write, not counted as an action).
        quarantined: items set aside, with the reason.
        notices: conflict-log entries not tied to an action (ambiguous matches).
        refused: why the plan must not be applied without confirmation (mass-delete
            guard), or ``None``.
        cursors: per side, the cursor to store once the plan is applied.
        complete: per side, whether the plan saw a complete listing.
        hold_pending: ``(side, id)`` of readable items of held pairs, kept pending.
        read_only_skips: per read-only side, how many writes were left out.
    """

    actions: tuple[Action, ...] = ()
    refreshed: tuple[Link, ...] = ()
    quarantined: tuple[Quarantined, ...] = ()
    notices: tuple[Conflict, ...] = ()
    refused: str | None = None
    cursors: tuple[tuple[Side, Cursor], ...] = ()
    complete: tuple[tuple[Side, bool], ...] = ()
    #: items to re-examine next sync: the readable side of a held pair keeps its
    #: change pending until the hold ends.
    hold_pending: tuple[tuple[Side, str], ...] = ()
    #: writes left out because their side is read-only (policy), per side.
    read_only_skips: tuple[tuple[Side, int], ...] = ()

    def __len__(self) -> int:
        return len(self.actions)

    def __iter__(self) -> Iterator[Action]:
        return iter(self.actions)

    @property
    def conflicts(self) -> tuple[Conflict, ...]:
        """Every conflict-log entry the plan carries (actions' and notices)."""
        found = [a.conflict for a in self.actions if isinstance(a, Create | Update)]
        return tuple(c for c in found if c is not None) + self.notices

    def writes(self, side: Side) -> dict[str, int]:
        """How many creates, updates and deletes the plan makes on ``side``."""
        counts = {"create": 0, "update": 0, "delete": 0}
        for action in self.actions:
            if isinstance(action, Create) and action.side is side:
                counts["create"] += 1
            elif isinstance(action, Update):
                counts["update"] += sum(1 for w in action.writes if w.side is side)
            elif isinstance(action, Delete) and action.side is side:
                counts["delete"] += 1
        return counts
