"""The pure planner: two listings + link state + policy -> :class:`SyncPlan`.

Theory of operation
-------------------
1. Each side's listing becomes a *view*: items by id, quarantined ids (unreadable
   items, and ids a backend listed twice), explicit deletions, and whether the listing
   is complete (absence = deletion).
2. Every linked pair is classified and looked up in the decision table
   (``decide.py``); the table's decision becomes zero or more actions.
3. Unlinked items are paired before anything is created, so the first full sync never
   duplicates what exists on both sides:

   a. by *partner key*: an item that carries the id of an unlinked item on the other
      side (written by an earlier sync that crashed before saving the link, or left
      by lost link state) is linked to it. An item whose partner key names an item
      that is already linked to someone else is a user's copy: it is a new item.
   b. by *match key* (start, end, normalised subject): items equal by that key are
      linked; when a key is shared by several items on a side, exact content matches
      go first and the rest pair in id order. Ambiguity is reported.
   c. what is left is created on the other side.
4. Guards: the plan is *refused* (it is still returned, so a dry run shows it) when
   it would delete, on one side, every linked item or all but a tenth of them (at
   least 2 deletions: from 2 links up), whether the other side's listing was complete
   or incremental; when it deletes more than the policy's share of a side (and more
   than its minimum); and when it deletes while a side with links reports a
   completely empty calendar.
5. Evidence: absence from a complete listing is a deletion only for links older than
   the listing (``listed_generation``): a link committed after the listing began is
   no evidence. A pair held because one side is unreadable keeps the readable side's
   listed item pending (``hold_pending``) until the hold ends.
6. Read-only sides (``policy.read_only``): their writes are left out
   (:mod:`outlook_sync._core.readonly`).

The planner reads no clock, does no I/O and orders everything deterministically.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable

import attrs

from outlook_sync._core.actions import (
    Action,
    Create,
    Delete,
    LinkPair,
    SyncPlan,
    Unlink,
    Update,
    Write,
    build_create,
)
from outlook_sync._core.decide import Decision, State, decide
from outlook_sync._core.matching import pair_by_match_key, pair_by_partner_key
from outlook_sync._core.merge import adopt, resolve
from outlook_sync._core.readonly import restrict
from outlook_sync.errors import InvalidEventError
from outlook_sync.model import Event, Item, Link, Listing, Side
from outlook_sync.policy import DeletePolicy, SyncPolicy
from outlook_sync.records import Conflict, Quarantined
from outlook_sync.scope import FIELD_UNITS

__all__ = ["plan"]

_S, _O = Side.SALJSTOD, Side.OUTLOOK


def _held(item: Item | None, link: Link) -> Event:
    """What an item of ``link`` holds: its content, or the base when it is not listed."""
    return item.event if item is not None else link.base


def _by_id(item: Item) -> str:
    return item.id


class _View:
    """One side's listing, indexed."""

    def __init__(self, side: Side, listing: Listing) -> None:
        self.side = side
        self.complete = listing.complete
        self.items: dict[str, Item] = {item.id: item for item in listing.items}
        self.broken: dict[str, str] = {}
        repeated: set[str] = set()
        if len(self.items) < len(listing.items):  # an id listed twice: find which
            seen: set[str] = set()
            for item in listing.items:
                if item.id in seen:
                    repeated.add(item.id)
                seen.add(item.id)
        for bad in listing.broken:
            self.items.pop(bad.id, None)
            self.broken.setdefault(bad.id, bad.reason)
        for item_id in repeated:
            self.items.pop(item_id, None)
            self.broken[item_id] = "the backend listed this id more than once"
        # Presence beats a deletion report: a listed item exists.
        self.deleted = listing.deleted - self.items.keys() - self.broken.keys()
        # left this calendar but exists elsewhere (reassigned): never re-created here
        self.moved = listing.moved & self.deleted
        self.empty = self.complete and not self.items and not self.broken

    def state(self, item_id: str, base: Event, *, fresh: bool = False) -> tuple[State, Item | None]:
        """Classify an item against its link's base; ``fresh``: the link is newer than
        the listing, so the item's absence proves nothing."""
        if item_id in self.broken:
            return State.BROKEN, None
        item = self.items.get(item_id)
        if item is not None:
            return (State.SAME if item.event == base else State.CHANGED), item
        if item_id in self.deleted or (self.complete and not fresh):
            return State.GONE, None
        return State.SAME, None


def plan(
    *,
    saljstod: Listing,
    outlook: Listing,
    links: Iterable[Link],
    link_count: int | None = None,
    policy: SyncPolicy | None = None,
    confirm_mass_delete: bool = False,
    listed_generation: int | None = None,
    intents: Iterable[tuple[Side, str]] = (),
    relinking: bool = False,
) -> SyncPlan:
    """Compute what one sync must do.

    Args:
        saljstod, outlook: what each side reported.
        links: the link state; at least every link that touches a listed, deleted or
            partner-key id (every link when a listing is complete).
        link_count: how many links the user has in all (for the mass-delete guard);
            defaults to the number of ``links`` given.
        policy: conflict and deletion policy; the default :class:`SyncPolicy`.
        confirm_mass_delete: the user confirmed a plan the guard would refuse.
        listed_generation: the state store's generation when the listings began; a
            link with a higher generation was committed after them, so its items'
            absence is no evidence of a deletion. ``None``: every link is older.
        intents: the create intents an earlier sync left, ``(target side, source
            id)``. An unlinked item on the target side that carries the source id as
            its partner key is that create's result (its answer was lost): it is
            paired with its source as the sync's own copy (see ``merge.adopt``).
        relinking: the links were just forgotten (a switched calendar): a pair made
            again now may be two versions of one item, in which an empty field can be
            a user's edit, so it is paired as a copy too (every differing field to the
            policy, logged), never filled in silently.

    Returns:
        The plan; nothing has been written anywhere.
    """
    policy = policy or SyncPolicy()
    views = {_S: _View(_S, saljstod), _O: _View(_O, outlook)}
    ordered = sorted(links, key=lambda link: (link.saljstod_id, link.outlook_id))
    planner = _Planner(views, ordered, policy, listed_generation, frozenset(intents),
                       relinking)
    for link in ordered:
        planner.guarded(link, functools.partial(planner.pair, link))
    planner.unlinked()
    actions, skips = restrict(planner.actions, policy.read_only)

    quarantined = tuple(
        Quarantined(side=side, item_id=item_id, reason=reason)
        for side in (_S, _O)
        for item_id, reason in sorted(views[side].broken.items())
    ) + tuple(planner.held)
    result = SyncPlan(
        actions=actions,
        refreshed=tuple(planner.refreshed),
        quarantined=quarantined,
        notices=tuple(planner.notices),
        cursors=((_S, saljstod.cursor), (_O, outlook.cursor)),
        complete=((_S, saljstod.complete), (_O, outlook.complete)),
        hold_pending=tuple(sorted(planner.hold_pending, key=lambda k: (k[0].value, k[1]))),
        read_only_skips=tuple(sorted(skips.items(), key=lambda kv: kv[0].value)),
    )
    if not confirm_mass_delete:
        total = len(ordered) if link_count is None else link_count
        # tombstones (the partner is gone, the survivor kept by policy) are no live pair
        live = max(total - planner.tombstones, 0)
        refused = _guard(result, views, live, policy, planner.gone)
        if refused:
            result = attrs.evolve(result, refused=refused)
    return result


def _guard(result: SyncPlan, views: dict[Side, _View], total: int, policy: SyncPolicy,
           gone: Counter[Side]) -> str:
    """Why the plan must wait for confirmation ("" if it need not).

    ``total`` is the user's live links; ``gone`` counts, per side, the linked items
    that side reports gone (deleted or absent), whatever is planned for their partners:
    deleted, re-created because they were edited, or unlinked by policy. An emptied
    side is recognised by what it reports, not only by what would be deleted.
    """
    reasons = []
    # one pass over the actions (a first sync plans one per item)
    planned = Counter([a.side for a in result.actions if type(a) is Delete])
    for side in (_S, _O):
        deletes = planned[side]
        if not deletes:
            continue
        other = views[side.other]
        reported = max(gone[side.other], deletes)
        remaining = total - reported
        if other.empty and total > 0:
            reasons.append(
                f"the {side.other} calendar is empty but {total} items are linked; "
                f"deleting {deletes} {side} items needs confirmation "
                "(was the calendar switched or emptied?)"
            )
        elif reported >= 2 and remaining <= total // 10:
            left = "every one" if remaining <= 0 else f"all but {remaining}"
            reasons.append(
                f"the {side.other} calendar reports {left} of the {total} linked items "
                f"gone; deleting {deletes} {side} items needs confirmation "
                "(was the calendar switched or emptied?)"
            )
        elif deletes > policy.mass_delete_min and deletes > policy.mass_delete_share * total:
            reasons.append(
                f"the plan deletes {deletes} of {total} linked {side} items, more than "
                f"{policy.mass_delete_share:.0%} and more than {policy.mass_delete_min}; "
                "it needs confirmation"
            )
    return "; ".join(reasons)


class _Planner:
    def __init__(self, views: dict[Side, _View], links: list[Link], policy: SyncPolicy,
                 listed_generation: int | None = None,
                 intents: frozenset[tuple[Side, str]] = frozenset(),
                 relinking: bool = False):
        self.views = views
        self.intents = intents
        self.relinking = relinking
        self.policy = policy
        self.listed_generation = listed_generation
        self.hold_pending: set[tuple[Side, str]] = set()
        self.actions: list[Action] = []
        self.refreshed: list[Link] = []
        self.notices: list[Conflict] = []
        self.linked: dict[Side, set[str]] = {
            _S: {link.saljstod_id for link in links},
            _O: {link.outlook_id for link in links},
        }
        # Unlinked items by the partner key they carry: an item that moved (a new
        # EntryID after a move or an accepted meeting) still names its partner.
        self.claims: dict[Side, dict[str, list[Item]]] = {_S: {}, _O: {}}
        for side in (_S, _O):
            linked = self.linked[side]
            keyed = [item for item_id, item in views[side].items.items()
                     if item.partner_key is not None and item_id not in linked]
            for item in sorted(keyed, key=_by_id):
                assert item.partner_key is not None
                self.claims[side].setdefault(item.partner_key, []).append(item)
        self.moved: dict[Side, set[str]] = {_S: set(), _O: set()}
        self.held: list[Quarantined] = []
        # for the mass-delete guard: linked items each side reports gone, and the
        # tombstone links seen (no live pair)
        self.gone: Counter[Side] = Counter()
        self.tombstones = 0
        self.filter = policy.filter
        self.everything = policy.filter.accepts_everything
        # Per side, the fields whose changes do not travel from that side (directions).
        self.blocked: dict[Side, tuple[str, ...]] = {
            side: tuple(
                name
                for unit, direction in policy.directions
                if not direction.flows_from(side)
                for name in FIELD_UNITS[unit]
            )
            for side in (_S, _O)
        }

    def guarded(self, link: Link, work: Callable[[], None]) -> None:
        """Plan one pair; if its versions cannot be combined into a valid event, hold
        the pair (quarantine) instead of failing the whole plan."""
        mark, refreshed = len(self.actions), len(self.refreshed)
        try:
            work()
        except InvalidEventError as exc:
            del self.actions[mark:]
            del self.refreshed[refreshed:]
            self._keep_pending(link)
            self.held.append(Quarantined(
                side=_S, item_id=link.saljstod_id,
                reason=f"cannot combine with Outlook item {link.outlook_id}: {exc}"))

    def _keep_pending(self, link: Link) -> None:
        """A held pair: keep its listed items pending, and the ones reported gone, so
        their changes and deletions sync once the hold ends (the cursor moves on
        meanwhile; a pending id that is gone by then reads as deleted)."""
        for side in (_S, _O):
            view, item_id = self.views[side], link.id(side)
            if (item_id in view.items or item_id in view.deleted
                    or (view.complete and item_id not in view.broken)):
                self.hold_pending.add((side, item_id))

    def _state(self, side: Side, item_id: str, base: Event,
               link: Link | None = None) -> tuple[State, Item | None]:
        """Classify the item; with one-way fields, only what travels from it counts."""
        fresh = (link is not None and self.listed_generation is not None
                 and link.generation > self.listed_generation)
        state, item = self.views[side].state(item_id, base, fresh=fresh)
        blocked = self.blocked[side]
        if item is None or not blocked:
            return state, item
        effective = attrs.evolve(item.event, **{name: getattr(base, name) for name in blocked})
        item = attrs.evolve(item, event=effective)
        return (State.SAME if effective == base else State.CHANGED), item

    def _in_scope(self, side: Side, item: Item) -> bool:
        """Unlinked items the filter rejects, and partners of such items, do not sync."""
        if self.everything:
            return True
        if not self.filter.accepts(item.event):
            return False
        partner = self.views[side.other].items.get(item.partner_key or "")
        return (partner is None or partner.id in self.linked[side.other]
                or self.filter.accepts(partner.event))

    # -- linked pairs -------------------------------------------------------------

    def pair(self, link: Link) -> None:
        stored = link
        link = self._settled_attempt(link)
        s_state, s_item = self._state(_S, link.saljstod_id, link.base, link)
        o_state, o_item = self._state(_O, link.outlook_id, link.base, link)
        items = {_S: s_item, _O: o_item}
        if link.gone is not None:
            # A tombstone: the partner is gone and the survivor is kept by policy.
            self.tombstones += 1
            kept = link.gone.other
            if (s_state if kept is _S else o_state) is State.GONE:
                self.actions.append(
                    Unlink(saljstod_id=link.saljstod_id, outlook_id=link.outlook_id,
                           reason="the kept item is gone too")
                )
            return
        if not self.everything:
            listed = (self.views[_S].items.get(link.saljstod_id),
                      self.views[_O].items.get(link.outlook_id))
            if any(item is not None and not self.filter.accepts(item.event)
                   for item in listed):
                self.actions.append(
                    Unlink(saljstod_id=link.saljstod_id, outlook_id=link.outlook_id,
                           reason="left the sync filter; kept on both sides")
                )
                return
        for gone_side, state, other in ((_S, s_state, o_state), (_O, o_state, s_state)):
            # Only a survivor can be claimed: with both items gone, a claimant is a copy.
            if (state is State.GONE and other is not State.GONE
                    and (mover := self._mover(gone_side, link)) is not None):
                self._pair_moved(link, gone_side, mover)
                return
        # an attempt settled or set aside changes the stored link even with nothing to
        # write: it is then refreshed (see _refresh)
        self._decide(link, s_state, o_state, items, changed=link is not stored)

    def _settled_attempt(self, link: Link) -> Link:
        """``link``, or, when the update recorded on it ahead of its write
        (``Link.attempt``) is what that side's item holds now, the link decided against
        what the other side held when the update was planned: the write's answer was
        lost and the content is the sync's own, so the other side still gets what it
        was to get, and its user's edits since still count. Else the write did not
        happen, or a user changed the item since: the link as stored (the pair is
        decided against its base)."""
        if link.attempt is None:
            return link
        side, content, other = link.attempt
        item = self.views[side].items.get(link.id(side))
        if item is None or item.event != content:
            return attrs.evolve(link, attempt=None)
        if side is _S:
            return attrs.evolve(link, base=other, attempt=None, saljstod_version=item.version)
        return attrs.evolve(link, base=other, attempt=None, outlook_version=item.version)

    def _mover(self, side: Side, link: Link) -> Item | None:
        """An unlinked item on ``side`` that names the pair's other item as its partner."""
        for item in self.claims[side].get(link.id(side.other), ()):
            if item.id not in self.moved[side]:
                self.moved[side].add(item.id)
                return item
        return None

    def _pair_moved(self, link: Link, side: Side, mover: Item) -> None:
        """The item on ``side`` got a new id: carry the link over, then decide as usual."""
        old = (link.saljstod_id, link.outlook_id)
        if side is _S:
            moved = attrs.evolve(link, saljstod_id=mover.id, saljstod_version=mover.version)
        else:
            moved = attrs.evolve(link, outlook_id=mover.id, outlook_version=mover.version)
        s_state, s_item = self._state(_S, moved.saljstod_id, moved.base, link)
        o_state, o_item = self._state(_O, moved.outlook_id, moved.base, link)
        items = {_S: s_item, _O: o_item}
        mark, refreshed = len(self.actions), len(self.refreshed)
        self._decide(moved, s_state, o_state, items)
        del self.refreshed[refreshed:]
        added = self.actions[mark:]
        del self.actions[mark:]
        if not added:
            added = [LinkPair(link=attrs.evolve(moved, saljstod_version=self._version(
                moved, items, _S), outlook_version=self._version(moved, items, _O)),
                new_link=False, stamp=_wrong_keys(moved, items))]
        # The unlisted survivor's partner key still names the old id: stamp it too.
        survivor = side.other if items[side.other] is None else None
        for action in added:
            if isinstance(action, Unlink):
                action = attrs.evolve(action, saljstod_id=old[0], outlook_id=old[1])
            elif isinstance(action, Update | LinkPair):
                stamp = tuple(s for s in (_S, _O) if s in action.stamp or s is survivor)
                action = attrs.evolve(action, replaces=old, stamp=stamp)
            else:
                action = attrs.evolve(action, replaces=old)
            self.actions.append(action)

    def _decide(
        self, link: Link, s_state: State, o_state: State, items: dict[Side, Item | None],
        *, changed: bool = False,
    ) -> None:
        s_item, o_item = items[_S], items[_O]
        decision, side = decide(s_state, o_state)
        if decision is Decision.NOTHING:
            self._refresh(link, items, changed=changed)
        elif decision is Decision.PROPAGATE:
            assert side is not None
            source = items[side]
            assert source is not None
            self._update(link, items, merged=source.event, conflict=None)
        elif decision is Decision.RESOLVE:
            self._resolve(link, items)
        elif decision is Decision.DELETE:
            assert side is not None
            self.gone[side.other] += 1
            self._delete(link, side, items[side])
        elif (decision is Decision.RECREATE and side is not None
              and link.id(side) in self.views[side].moved):
            # Edited here, but its partner was reassigned to another user, not deleted:
            # re-creating it would duplicate that activity. Keep the edit, unlinked.
            self.gone[side] += 1
            survivor = items[side.other]
            assert survivor is not None
            self.actions.append(Unlink(saljstod_id=link.saljstod_id, outlook_id=link.outlook_id,
                                       reason=f"moved away in {side}, edited in {side.other}: "
                                       "kept, no longer synced"))
            self.notices.append(Conflict(
                saljstod_id=link.saljstod_id, outlook_id=link.outlook_id,
                kind="moved_vs_edit", resolution="kept_unlinked", overridden=None,
                saljstod=s_item.event if s_item else None,
                outlook=o_item.event if o_item else None, base=link.base,
                detail=f"moved to another calendar in {side} (reassigned), edited in "
                f"{side.other}: the edited item is kept there and no longer synced; the "
                "moved item is not re-created"))
        elif decision is Decision.RECREATE:
            assert side is not None
            self.gone[side] += 1
            survivor = items[side.other]
            assert survivor is not None
            self.actions.append(
                Create(
                    side=side,
                    source_id=survivor.id,
                    source_version=survivor.version,
                    source_partner_key=survivor.partner_key,
                    event=survivor.event,
                    replaces=(link.saljstod_id, link.outlook_id),
                    conflict=Conflict(
                        saljstod_id=link.saljstod_id,
                        outlook_id=link.outlook_id,
                        kind="delete_vs_edit",
                        resolution="edit_wins",
                        overridden=side,
                        saljstod=s_item.event if s_item else None,
                        outlook=o_item.event if o_item else None,
                        base=link.base,
                        detail=f"deleted in {side}, edited in {side.other}: re-created",
                    ),
                )
            )
        elif decision is Decision.FORGET:
            self.gone.update((_S, _O))
            self.actions.append(
                Unlink(saljstod_id=link.saljstod_id, outlook_id=link.outlook_id,
                       reason="deleted on both sides")
            )
        elif decision is Decision.HOLD:
            # The broken item is reported through the quarantine; the readable one's
            # change waits, pending, for the hold to end.
            self._keep_pending(link)

    def _version(self, link: Link, items: dict[Side, Item | None], side: Side) -> str:
        item = items[side]
        return item.version if item is not None else link.version(side)

    def _refresh(self, link: Link, items: dict[Side, Item | None], *,
                 changed: bool = False) -> None:
        """Record ``link`` again when the items' versions moved on, or when it
        ``changed`` from the stored one (an update recorded on it was found written, or
        set aside): the state then says what both sides hold now."""
        s_version = self._version(link, items, _S)
        o_version = self._version(link, items, _O)
        stamp = _wrong_keys(link, items)
        if stamp:
            # A linked item that lost or never got its partner key (a failed stamp, a
            # user's edit of the hidden field): write it again, content unchanged.
            self.actions.append(
                LinkPair(
                    link=attrs.evolve(link, saljstod_version=s_version,
                                      outlook_version=o_version),
                    new_link=False,
                    stamp=stamp,
                )
            )
            return
        if changed or (s_version, o_version) != (link.saljstod_version, link.outlook_version):
            self.refreshed.append(
                attrs.evolve(link, saljstod_version=s_version, outlook_version=o_version)
            )

    def _update(
        self,
        link: Link,
        items: dict[Side, Item | None],
        *,
        merged: Event,
        conflict: Conflict | None,
        new_link: bool = False,
    ) -> None:
        stamp = _wrong_keys(link, items)
        writes = []
        for side in (_S, _O):
            item = items[side]
            current = item.event if item is not None else link.base
            if current != merged:
                writes.append(
                    Write(
                        side=side,
                        item_id=link.id(side),
                        event=merged,
                        expected_version=self._version(link, items, side),
                    )
                )
        if not writes:
            self.actions.append(
                LinkPair(
                    link=attrs.evolve(
                        link,
                        base=merged,
                        saljstod_version=self._version(link, items, _S),
                        outlook_version=self._version(link, items, _O),
                    ),
                    new_link=new_link,
                    stamp=stamp,
                )
            )
            return
        self.actions.append(
            Update(
                saljstod_id=link.saljstod_id,
                outlook_id=link.outlook_id,
                writes=tuple(writes),
                base=merged,
                saljstod_version=self._version(link, items, _S),
                outlook_version=self._version(link, items, _O),
                new_link=new_link,
                conflict=conflict,
                stamp=stamp,
                previous_base=link.base,
                previous_versions=(link.saljstod_version, link.outlook_version),
                previous_contents=(_held(items[_S], link), _held(items[_O], link)),
            )
        )

    def _resolve(
        self, link: Link, items: dict[Side, Item | None], *, new_link: bool = False,
        copied: bool = False,
    ) -> None:
        s_item, o_item = items[_S], items[_O]
        assert s_item is not None
        assert o_item is not None
        if s_item.event == o_item.event:
            self._update(link, items, merged=s_item.event, conflict=None, new_link=new_link)
            return
        if new_link:
            # Adopting two items never linked: there is no base and no edit to keep,
            # and a bare copy never blanks what the other item holds.
            outcome = adopt(s_item, o_item, policy=self.policy.conflict,
                            fallback=self.policy.merge_fallback, copied=copied)
        else:
            outcome = resolve(s_item, o_item, link.base, policy=self.policy.conflict,
                              fallback=self.policy.merge_fallback)
        loser = outcome.keep_both_loser
        if loser is None:
            self._update(
                link, items, merged=outcome.merged, conflict=outcome.conflict, new_link=new_link
            )
            return
        # Keep both: the pair splits; each version gets its own partner.
        winner_item, loser_item = items[loser.other], items[loser]
        assert winner_item is not None
        assert loser_item is not None
        self.actions.append(
            Unlink(saljstod_id=link.saljstod_id, outlook_id=link.outlook_id,
                   reason="keep_both: the pair is split in two")
        )
        self.actions.append(self._create_for(winner_item, loser, conflict=outcome.conflict))
        self.actions.append(self._create_for(loser_item, loser.other))

    def _delete(self, link: Link, side: Side, item: Item | None) -> None:
        if self.policy.deletions(side) is DeletePolicy.UNLINK:
            self.actions.append(LinkPair(link=attrs.evolve(link, gone=side.other),
                                         new_link=False))
            return
        self.actions.append(
            Delete(
                side=side,
                item_id=link.id(side),
                expected_version=item.version if item is not None else link.version(side),
                event=item.event if item is not None else link.base,
                link=(link.saljstod_id, link.outlook_id),
            )
        )

    @staticmethod
    def _create_for(source: Item, side: Side, conflict: Conflict | None = None) -> Create:
        return build_create(side, source.id, source.version, source.partner_key,
                            source.event, None, conflict)

    # -- unlinked items -----------------------------------------------------------

    def unlinked(self) -> None:
        free = {side: self._free(side) for side in (_S, _O)}
        pairs = pair_by_partner_key(free, self.linked, self.notices)
        if free[_S] and free[_O]:  # matching needs unlinked items on both sides
            pairs += pair_by_match_key(free, self.notices)
        for s_item, o_item in pairs:
            link = Link(
                saljstod_id=s_item.id,
                outlook_id=o_item.id,
                base=s_item.event,
                saljstod_version=s_item.version,
                outlook_version=o_item.version,
            )
            self.guarded(link, functools.partial(
                self._resolve, link, {_S: s_item, _O: o_item}, new_link=True,
                copied=self._copied(s_item, o_item)))
        for side in (_S, _O):
            other = side.other  # one create per free item: _create_for, inlined
            self.actions.extend([
                build_create(other, item.id, item.version, item.partner_key, item.event,
                             None, None)
                for item in free[side].values()])

    def _free(self, side: Side) -> dict[str, Item]:
        """The side's listed items in no link, in id order (the plan's order)."""
        items, linked, moved = self.views[side].items, self.linked[side], self.moved[side]
        free = {item_id: items[item_id] for item_id in sorted(items)
                if item_id not in linked and item_id not in moved}
        if self.everything:
            return free
        return {item_id: item for item_id, item in free.items() if self._in_scope(side, item)}

    def _copied(self, s_item: Item, o_item: Item) -> bool:
        """One item is the result of a create this sync's state still has an intent
        for: the sync's own copy of the other (whose answer was lost); or the pair is
        made again after a switched calendar (``relinking``)."""
        return self.relinking or (bool(self.intents) and (
            (s_item.partner_key == o_item.id and (_S, o_item.id) in self.intents)
            or (o_item.partner_key == s_item.id and (_O, s_item.id) in self.intents)))


def _wrong_keys(link: Link, items: dict[Side, Item | None]) -> tuple[Side, ...]:
    """The sides whose listed item does not carry its partner's id as partner key.

    Each linked item should carry it, so that lost link state can be rebuilt, a copy
    is told from its original, and an adapter can tell "unlinked" by "no key".
    """
    return tuple(
        side for side in (_S, _O)
        if (item := items[side]) is not None and item.partner_key != link.id(side.other)
    )
