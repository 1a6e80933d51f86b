"""Step 3 of a sync: apply a plan's actions.

The engine (:mod:`outlook_sync.engine`) fetches and plans; an :class:`Applier` carries
out one plan against the two calendars and the state store, counting what it did in a
:class:`~outlook_sync.apply_state.Tally`. Creates are announced as intents first, so a
crash between "created in Outlook" and "link saved" is recovered by finding the new item
by its partner key; what a write destroys is committed ahead of it (write-ahead); a
failing action is recorded and retried next sync while the others go on. Runs of
creates, updates, partner-key stamps and deletes go to backends that write in bulk
(:class:`~outlook_sync.protocols.BulkWriter`, :class:`~outlook_sync.protocols.BulkDeleter`:
Graph ``$batch``), and the state changes of completed actions are committed in groups
(:class:`~outlook_sync.apply_state.StagedCommits`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import cast

import attrs

from outlook_sync._core.actions import Action, Create, Delete, LinkPair, SyncPlan, Update
from outlook_sync._core.readonly import restrict
from outlook_sync.apply_state import (
    STAGE_LIMIT,
    STAGE_SECONDS,
    StagedCommits,
    Tally,
    blame,
    involved,
    refused,
)
from outlook_sync.errors import (
    BackendError,
    InvalidEventError,
    ItemNotFoundError,
    OutlookSyncError,
    PermissionDeniedError,
    VersionConflictError,
)
from outlook_sync.model import Event, Item, Link, Side, check_aware, trusted_link
from outlook_sync.protocols import BulkDeleter, BulkWriter, Calendar, StateChange, StateStore
from outlook_sync.records import DeletedItem, Failure

__all__ = ["BULK_RUN", "STAGE_LIMIT", "Applier", "Progress", "Tally"]

log = logging.getLogger("outlook_sync.engine")

_S, _O = Side.SALJSTOD, Side.OUTLOOK

#: How many consecutive creates on one side go to a BulkWriter at once.
BULK_RUN = 200

#: ``progress(phase, done, total)``: phase is ``"list"``, ``"plan"`` or ``"apply"``.
Progress = Callable[[str, int, int], None]


class Applier:
    """Carries out one plan for one user.

    Args:
        calendar: the calendar the engine works with on a side.
        state: the state store.
        user: whose calendars these are.
        clock: the sync host's clock (for the deleted-items log).
    """

    def __init__(
        self,
        calendar: Callable[[Side], Calendar],
        state: StateStore,
        user: str,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._calendar_of = calendar
        self._calendars: dict[Side, Calendar] = {}
        self.state = state
        self.user = user
        self._clock = clock
        self._bulk_writers: dict[Side, bool] = {}
        self._staged = StagedCommits(state, user)
        # creates done in bulk whose partner-key stamps and links wait to be settled
        # together (:meth:`_settle_creates`), and when the first of them was done
        self._unsettled: list[tuple[Create, Item]] = []  # (the create, its item)
        self._unsettled_since = 0.0
        self._monotonic = time.monotonic

    def calendar(self, side: Side) -> Calendar:
        """The calendar the engine works with on ``side`` (looked up once per apply)."""
        found = self._calendars.get(side)
        if found is None:
            found = self._calendars[side] = self._calendar_of(side)
        return found

    def apply(
        self,
        the_plan: SyncPlan,
        tally: Tally,
        progress: Progress | None,
        cancel: Callable[[], bool] | None,
    ) -> bool:
        self._calendars = {}
        intents = tuple([(action.side, action.source_id) for action in the_plan.actions
                         if type(action) is Create])
        attempts = tuple([link for action in the_plan.actions if type(action) is Update
                          and (link := _attempt(action)) is not None])
        if intents or attempts:
            # ahead of the writes: what each create and each update is about to write
            self.state.commit(self.user, StateChange(add_intents=intents, put_links=attempts))
        actions = _grouped(the_plan.actions)
        total, done = len(actions), 0
        self._bulk_writers = {}
        # runtime Protocol checks cost microseconds: with no bulk backend, no run forms
        any_bulk = any(isinstance(self.calendar(side), BulkWriter | BulkDeleter)
                       for side in (_S, _O))
        known_read_only = set(tally.read_only)
        while done < total:
            if progress:
                progress("apply", done, total)
            if cancel is not None and cancel():
                log.info("sync for %s cancelled after %d of %d actions", self.user, done, total)
                unstarted = tuple(
                    (later.side, later.source_id)
                    for later in actions[done:]
                    if isinstance(later, Create)
                )
                self._settle_creates(tally)
                self._staged.flush()
                self.state.commit(self.user, StateChange(clear_intents=unstarted))
                tally.stopped_at = (done, total)
                return True
            action = actions[done]
            if tally.refused_sides and not tally.refused_sides <= known_read_only:
                # a side refused a write for lack of permission: write nothing more
                # to it in this sync (the same rule as a read-only policy)
                known_read_only = set(tally.read_only)
                rest, skips = restrict(actions[done:], frozenset(known_read_only))
                tally.read_only_skips += sum(skips.values())
                self._drop_intents(actions[done:], rest)
                actions = actions[:done] + rest
                total = len(actions)
                continue
            kind = self._run_kind(action) if any_bulk else None
            if self._unsettled and not (
                kind == "create" and isinstance(action, Create)
                and action.side is self._unsettled[0][0].side
                and self._monotonic() - self._unsettled_since < STAGE_SECONDS
            ):
                self._settle_creates(tally)
            if kind is not None:
                # a run may wait long (a Graph mailbox's budget window): commit first, so
                # no shared database transaction stays open across it (creates waiting
                # to be settled have written nothing but the created items)
                self._staged.flush()
                run = self._run(actions, done, kind)
                if kind == "create":
                    self._create_run(cast("list[Create]", run), tally)  # _run: all creates
                elif kind == "update":
                    self._update_run([a for a in run if isinstance(a, Update)], tally)
                else:
                    self._delete_run([a for a in run if isinstance(a, Delete)], tally)
                done += len(run)
                continue
            self._staged.flush_if_older(STAGE_SECONDS)
            done += 1
            try:
                change = self._perform(action, tally)
            except (BackendError, InvalidEventError) as exc:
                self._failed(action, exc, tally)
                continue
            if change is not None:
                self._staged.add(change)
        self._settle_creates(tally)
        self._staged.flush()
        if progress:
            progress("apply", total, total)
        return False

    def _run(self, actions: tuple[Action, ...], start: int, kind: str) -> list[Action]:
        """The bulk run of ``kind`` starting at ``actions[start]``: the actions that
        follow it with the same kind and side, up to :data:`BULK_RUN`."""
        first = actions[start]
        side = _run_side(first)
        end, limit = start + 1, min(len(actions), start + BULK_RUN)
        if type(first) is Create:
            # whether a create goes in bulk depends only on its side (_bulk)
            while end < limit:
                following = actions[end]
                if type(following) is not Create or following.side is not side:
                    break
                end += 1
            return list(actions[start:end])
        while end < limit:
            following = actions[end]
            if self._run_kind(following) != kind or _run_side(following) is not side:
                break
            end += 1
        return list(actions[start:end])

    def _run_kind(self, action: Action) -> str | None:
        """``"create"``, ``"update"`` or ``"delete"`` if ``action`` can go in a bulk run."""
        if isinstance(action, Create):
            return "create" if self._bulk(action) else None
        if isinstance(action, Update):
            if len(action.writes) != 1:
                return None
            side = action.writes[0].side
            if not set(action.stamp) <= {side}:
                return None
            return "update" if isinstance(self.calendar(side), BulkWriter) else None
        if isinstance(action, Delete):
            return "delete" if isinstance(self.calendar(action.side), BulkDeleter) else None
        return None

    def _drop_intents(self, before: tuple[Action, ...], after: tuple[Action, ...]) -> None:
        """Withdraw the create intents of creates left out (nothing was created)."""
        kept = {(a.side, a.source_id) for a in after if isinstance(a, Create)}
        dropped = tuple((a.side, a.source_id) for a in before
                        if isinstance(a, Create) and (a.side, a.source_id) not in kept)
        if dropped:
            self.state.commit(self.user, StateChange(clear_intents=dropped))

    def _writes_in_bulk(self, side: Side) -> bool:
        """Whether ``side``'s calendar is a BulkWriter (asked once per apply: a runtime
        Protocol check costs tens of microseconds)."""
        known = self._bulk_writers.get(side)
        if known is None:
            known = self._bulk_writers[side] = isinstance(self.calendar(side), BulkWriter)
        return known

    def _bulk(self, action: Create) -> bool:
        """A create goes in a bulk run when its side or its source's side (the stamp)
        writes in bulk."""
        return self._writes_in_bulk(action.side) or self._writes_in_bulk(action.side.other)

    def _create_run(self, run: list[Create], tally: Tally) -> None:
        """Creates on one side, many per round trip where a backend can; their
        partner-key stamps and links wait to be settled with the next runs'
        (:meth:`_settle_creates`)."""
        target = self.calendar(run[0].side)
        results: list[Item | BackendError | InvalidEventError]
        if self._writes_in_bulk(run[0].side):
            results = list(cast(BulkWriter, target).create_many(
                [(a.event, a.source_id) for a in run]))
        else:
            results = []
            for action in run:
                try:
                    results.append(target.create(action.event, partner_key=action.source_id))
                except (BackendError, InvalidEventError) as exc:
                    if isinstance(exc, BackendError):
                        blame(exc, action.side)
                    results.append(exc)
        if len(results) != len(run):
            error = BackendError(f"create_many answered {len(results)} of {len(run)} items")
            results = [error] * len(run)
        if not self._unsettled:
            self._unsettled_since = self._monotonic()
        unsettled = self._unsettled
        before = len(unsettled)
        if all(type(result) is Item for result in results):  # every item created
            unsettled.extend(zip(run, cast("list[Item]", results), strict=True))
        else:
            for action, result in zip(run, results, strict=True):
                if isinstance(result, Item):
                    unsettled.append((action, result))
                else:
                    self._failed(action, result, tally)
        tally.wrote_many("create", run[0].side, len(unsettled) - before,
                         ((item.id, action.event) for action, item in unsettled[before:]))
        if len(self._unsettled) >= STAGE_LIMIT:
            self._settle_creates(tally)

    def _settle_creates(self, tally: Tally) -> None:
        """Stamp the partner keys of the creates done in bulk since the last settling,
        many per round trip, and stage their links.

        Consecutive create runs to one side are settled together, up to
        :data:`STAGE_LIMIT` creates or :data:`STAGE_SECONDS` after the first, so that
        their stamps and links go in one transaction. Until then only the created items
        exist, carrying their partner keys, with the create intents committed before
        them: a crash meanwhile is recovered as for any create whose link was not saved
        (the next sync finds each item by its intent and partner key, no duplicate).
        """
        created, self._unsettled = self._unsettled, []
        if not created:
            return
        source_side = created[0][0].side.other
        requests = [(a.source_id, a.event, a.source_version, item.id) for a, item in created
                    if a.source_partner_key != item.id]
        stamped = self._stamp_many(source_side, requests, tally)
        if len(requests) == len(created):  # every source stamped (a first sync's case)
            versions = stamped
        else:
            after = dict(zip([request[0] for request in requests], stamped, strict=True))
            versions = [after.get(a.source_id, a.source_version) for a, _item in created]
        generation = self._staged.next_generation()
        if all(a.replaces is None and a.conflict is None for a, _item in created):
            # the common case, a first sync's: nothing to record but each link
            links = [_new_link(a, item, version, generation)
                     for (a, item), version in zip(created, versions, strict=True)]
            self._staged.put_many(links, [(a.side, a.source_id) for a, _item in created])
            return
        plain: list[Create] = []  # a run with nothing to record but the link
        links = []
        for (action, item), version in zip(created, versions, strict=True):
            if action.replaces is None and action.conflict is None:
                plain.append(action)
                links.append(_new_link(action, item, version, generation))
                continue
            if plain:
                self._staged.put_many(links, [(a.side, a.source_id) for a in plain])
                plain, links = [], []
            self._created(action, item, version, tally)
        if plain:
            self._staged.put_many(links, [(a.side, a.source_id) for a in plain])

    def _update_run(self, run: list[Update], tally: Tally) -> None:
        """Updates of one side, many per round trip; conflicts written ahead."""
        side = run[0].writes[0].side
        calendar = self.calendar(side)
        assert isinstance(calendar, BulkWriter)
        ahead = tuple(action.conflict for action in run if action.conflict is not None)
        if ahead:
            self.state.commit(self.user, StateChange(conflicts=ahead))
        requests = []
        for action in run:
            write = action.writes[0]
            other = action.outlook_id if side is _S else action.saljstod_id
            requests.append((write.item_id, write.event, write.expected_version,
                             other if side in action.stamp else None))
        results: list[Item | BackendError] = list(calendar.update_many(requests))
        if len(results) != len(run):
            results = [BackendError(f"update_many answered {len(results)} of {len(run)}")
                       ] * len(run)
        withdrawn = []
        for action, result in zip(run, results, strict=True):
            if not isinstance(result, Item):
                blame(result, side)
                if action.conflict is not None and refused(result):
                    withdrawn.append(action.conflict)
                self._failed(action, result, tally)
                continue
            tally.wrote("update", side, result.id, action.writes[0].event)
            versions = {_S: action.saljstod_version, _O: action.outlook_version}
            versions[side] = result.version
            versions = action.recorded_versions(versions)
            if action.new_link:
                tally.linked += 1
            if action.conflict is not None:
                tally.conflicts.append(action.conflict)
            self._staged.put(Link(saljstod_id=action.saljstod_id, outlook_id=action.outlook_id,
                                  base=action.base, saljstod_version=versions[_S],
                                  outlook_version=versions[_O]), replaces=action.replaces)
        if withdrawn:
            self.state.commit(self.user, StateChange(withdraw_conflicts=tuple(withdrawn)))

    def _delete_run(self, run: list[Delete], tally: Tally) -> None:
        """Deletes on one side, many per round trip; their content written ahead."""
        side = run[0].side
        calendar = self.calendar(side)
        assert isinstance(calendar, BulkDeleter)
        when = check_aware("clock()", self._clock())
        self.state.commit(self.user, StateChange(deleted=tuple(
            DeletedItem(side=side, item_id=a.item_id, event=a.event,
                        partner_id=a.link[1] if side is _S else a.link[0], deleted_at=when)
            for a in run)))
        results: list[BackendError | None] = list(
            calendar.delete_many([(a.item_id, a.expected_version) for a in run]))
        if len(results) != len(run):
            results = [BackendError(f"delete_many answered {len(results)} of {len(run)}")
                       ] * len(run)
        withdrawn = []
        for action, result in zip(run, results, strict=True):
            if result is not None and not isinstance(result, ItemNotFoundError):
                blame(result, side)
                if refused(result):
                    withdrawn.append((side, action.item_id))
                self._failed(action, result, tally)
                continue
            if result is None:
                tally.wrote("delete", side, action.item_id, action.event)
            drops = (action.link,) if action.replaces is None else (action.link,
                                                                      action.replaces)
            self._staged.add(StateChange(drop_links=drops))
        if withdrawn:
            self.state.commit(self.user, StateChange(withdraw_deleted=tuple(withdrawn)))

    def _stamp_many(
        self, side: Side, requests: list[tuple[str, Event, str, str]], tally: Tally
    ) -> list[str]:
        """Stamp partner keys on ``(item_id, event, version, key)`` items; return each
        item's version after it (the one it had where the stamp was not written)."""
        calendar = self.calendar(side)
        if side in tally.read_only:
            return [version for _id, _event, version, _key in requests]
        if not isinstance(calendar, BulkWriter):
            return [self._stamp(side, item_id, event, version, partner=key, tally=tally)
                    for item_id, event, version, key in requests]
        results: list[Item | BackendError] = (list(calendar.update_many(requests))
                                               if requests else [])
        if len(results) != len(requests):
            results = [BackendError(f"update_many answered {len(results)} of {len(requests)}")
                       ] * len(requests)
        if all(type(r) is Item for r in results):
            # every stamp written (a first sync's common case)
            tally.wrote_many("stamp", side, len(results),
                             ((item_id, event) for item_id, event, _v, _k in requests))
            return [result.version for result in cast("list[Item]", results)]
        versions: list[str] = []
        stamped: list[tuple[str, Event]] = []
        for (item_id, event, version, _key), result in zip(requests, results, strict=True):
            if isinstance(result, Item):
                versions.append(result.version)
                stamped.append((item_id, event))
                continue
            versions.append(version)
            if isinstance(result, PermissionDeniedError):
                tally.refused_by(side)
                continue
            log.warning("could not store the partner key on %s item %s: %s", side, item_id,
                        result)
            tally.failures.append(Failure(side=side, item_id=item_id, operation="stamp",
                                          error=str(result)))
            tally.failed_keys.append((side, item_id))
            self.state.commit(self.user, StateChange(add_pending=((side, item_id),)))
        tally.wrote_many("stamp", side, len(stamped), stamped)
        return versions

    def _perform(self, action: Action, tally: Tally) -> StateChange | None:
        """Carry out one action; its state change, or ``None`` when already staged."""
        if isinstance(action, Create):
            self._create(action, tally)
            return None
        if isinstance(action, Update):
            return self._update(action, tally)
        if isinstance(action, Delete):
            return self._delete(action, tally)
        if isinstance(action, LinkPair):
            link = action.link
            versions = {_S: link.saljstod_version, _O: link.outlook_version}
            for side in action.stamp:
                versions[side] = self._stamp(side, link.id(side), link.base, versions[side],
                                             partner=link.id(side.other), tally=tally)
            if action.new_link:
                tally.linked += 1
            if link.gone is not None:  # a deletion policy kept the survivor, unlinked
                tally.unlinked += 1
            return StateChange(put_links=(attrs.evolve(link, saljstod_version=versions[_S],
                                                       outlook_version=versions[_O]),),
                               drop_links=(action.replaces,) if action.replaces else ())
        tally.unlinked += 1
        return StateChange(drop_links=((action.saljstod_id, action.outlook_id),))

    def _create(self, action: Create, tally: Tally) -> None:
        target, source_side = action.side, action.side.other
        try:
            created = self.calendar(target).create(action.event, partner_key=action.source_id)
        except BackendError as exc:
            blame(exc, target)
            raise
        tally.wrote("create", target, created.id, action.event)
        source_version = action.source_version
        if action.source_partner_key != created.id:
            # Stamp the source with its new partner's id. This also rewrites the stale
            # key of a user's copy, so that no two items claim one partner.
            source_version = self._stamp(source_side, action.source_id, action.event,
                                         source_version, partner=created.id, tally=tally)
        self._created(action, created, source_version, tally)

    def _created(self, action: Create, created: Item, source_version: str,
                 tally: Tally) -> None:
        """Stage the state change that records a completed create."""
        link = _new_link(action, created, source_version, self._staged.next_generation())
        if action.conflict is not None:
            tally.conflicts.append(action.conflict)
        self._staged.put(link, replaces=action.replaces,
                         clear_intent=(action.side, action.source_id),
                         conflict=action.conflict)

    def _stamp(self, side: Side, item_id: str, event: Event, version: str, *,
               partner: str, tally: Tally) -> str:
        """Write ``partner`` as the item's partner key; return the item's new version.

        The link state is what counts, the key is a safety net: a failure does not undo
        the action. It is reported, and the item is fetched again next time, when the
        planner sees the wrong key and plans the stamp again.
        """
        if side in tally.read_only:
            return version  # nothing is written to a read-only side, stamps included
        try:
            written = self.calendar(side).update(
                item_id, event, expected_version=version, partner_key=partner
            ).version
            tally.wrote("stamp", side, item_id, event)
            return written
        except BackendError as exc:
            blame(exc, side)
            if isinstance(exc, PermissionDeniedError):
                tally.refused_by(side)
                log.warning("the %s calendar refused a write (read-only?): %s", side, exc)
                return version
            log.warning("could not store the partner key on %s item %s: %s", side, item_id,
                        exc)
            tally.failures.append(Failure(side=side, item_id=item_id, operation="stamp",
                                          error=str(exc)))
            tally.failed_keys.append((side, item_id))
            self.state.commit(self.user, StateChange(add_pending=((side, item_id),)))
            return version

    def _update(self, action: Update, tally: Tally) -> StateChange:
        versions = {_S: action.saljstod_version, _O: action.outlook_version}
        ids = {_S: action.saljstod_id, _O: action.outlook_id}
        if action.conflict is not None:
            # write-ahead: the version this update overwrites is in the conflict log
            # before the write, so a lost reply or a kill cannot lose it
            self.state.commit(self.user, StateChange(conflicts=(action.conflict,)))
        for index, write in enumerate(action.writes):
            try:
                written = self.calendar(write.side).update(
                    write.item_id, write.event, expected_version=write.expected_version,
                    partner_key=ids[write.side.other] if write.side in action.stamp else None,
                )
            except BackendError as exc:
                blame(exc, write.side)
                if index == 0 and action.conflict is not None and refused(exc):
                    # nothing was overwritten: the record written ahead goes again
                    self.state.commit(self.user, StateChange(
                        withdraw_conflicts=(action.conflict,)))
                raise
            tally.wrote("update", write.side, write.item_id, write.event)
            versions[write.side] = written.version
        for side in action.stamp:
            if not any(write.side is side for write in action.writes):
                versions[side] = self._stamp(side, ids[side], action.base, versions[side],
                                             partner=ids[side.other], tally=tally)
        if action.new_link:
            tally.linked += 1
        if action.conflict is not None:
            tally.conflicts.append(action.conflict)
        versions = action.recorded_versions(versions)
        link = Link(
            saljstod_id=action.saljstod_id,
            outlook_id=action.outlook_id,
            base=action.base,
            saljstod_version=versions[_S],
            outlook_version=versions[_O],
        )
        return StateChange(
            put_links=(link,),
            drop_links=(action.replaces,) if action.replaces else (),
        )

    def _delete(self, action: Delete, tally: Tally) -> StateChange:
        s_id, o_id = action.link
        partner = o_id if action.side is _S else s_id
        entry = DeletedItem(
            side=action.side,
            item_id=action.item_id,
            event=action.event,
            partner_id=partner,
            deleted_at=check_aware("clock()", self._clock()),
        )
        # write-ahead: the content is in the deleted-items log before the delete, so
        # a lost reply or a kill right after it still leaves something to restore
        self.state.commit(self.user, StateChange(deleted=(entry,)))
        try:
            self.calendar(action.side).delete(
                action.item_id, expected_version=action.expected_version
            )
            tally.wrote("delete", action.side, action.item_id, action.event)
        except ItemNotFoundError:
            log.info("%s item %s was already gone", action.side, action.item_id)
        except BackendError as exc:
            blame(exc, action.side)
            if refused(exc):
                self.state.commit(self.user, StateChange(
                    withdraw_deleted=((action.side, action.item_id),)))
            raise
        drops = (action.link,) if action.replaces is None else (action.link, action.replaces)
        return StateChange(drop_links=drops)

    def _failed(self, action: Action, exc: OutlookSyncError, tally: Tally) -> None:
        keys = involved(action)
        side, item_id = keys[0]
        if isinstance(action, Create | Delete) and isinstance(exc, BackendError):
            blame(exc, action.side)
        if isinstance(exc, BackendError) and exc.side in ("saljstod", "outlook"):
            side = Side(exc.side)
            item_id = next((key_id for key_side, key_id in keys if key_side is side), item_id)
        if isinstance(exc, BackendError | InvalidEventError) and exc.item_id:
            item_id = exc.item_id
        if isinstance(action, Create):
            tally.failed_intents.append((action.side, action.source_id))
        if isinstance(exc, PermissionDeniedError):
            # reported once, as a read-only side, not as one failure per item; the
            # items stay pending so nothing is lost once the side is writable again
            tally.refused_by(side)
            tally.failed_keys.extend(keys)
            log.warning("the %s calendar refused a write (read-only?): %s", side, exc)
            self.state.commit(self.user, StateChange(add_pending=tuple(keys)))
            return
        failure = Failure(side=side, item_id=item_id, operation=type(action).__name__.lower(),
                          error=str(exc))
        tally.failures.append(failure)
        tally.failed_keys.extend(keys)
        if isinstance(exc, VersionConflictError):
            for key in keys:
                tally.concurrent[key] = failure
        log.warning("%s failed for %s: %s", type(action).__name__, keys, exc)
        self.state.commit(self.user, StateChange(add_pending=tuple(keys)))


def _attempt(action: Update) -> Link | None:
    """The pair's link as it is, with the update about to be written recorded on it
    (``Link.attempt``: the first side written, its content, what the other side held),
    for an update of an existing pair; else ``None``. A lost answer then leaves the next
    sync able to tell the sync's own write from a user's edit."""
    if (action.new_link or action.replaces is not None or action.previous_base is None
            or action.previous_versions is None or action.previous_contents is None
            or action.unagreed or not action.writes):
        return None
    write = action.writes[0]
    s_version, o_version = action.previous_versions
    other = action.previous_contents[1 if write.side is _S else 0]
    return Link(saljstod_id=action.saljstod_id, outlook_id=action.outlook_id,
                base=action.previous_base, saljstod_version=s_version,
                outlook_version=o_version, attempt=(write.side, write.event, other))


def _new_link(action: Create, created: Item, source_version: str, generation: int) -> Link:
    """The link a completed create stores: its source, validated when it was listed,
    and the created item, validated when the backend answered; built with the
    generation its commit is expected to get (:meth:`StagedCommits.next_generation`)."""
    if action.side is _O:
        return trusted_link(action.source_id, created.id, action.event, source_version,
                            created.version, None, generation)
    return trusted_link(created.id, action.source_id, action.event, created.version,
                        source_version, None, generation)


def _run_side(action: Action) -> Side | None:
    """The side a bulk run writes to (runs never mix sides)."""
    if isinstance(action, Create | Delete):
        return action.side
    if isinstance(action, Update) and action.writes:
        return action.writes[0].side
    return None


_KIND_ORDER = {Delete: 0, Update: 1, Create: 2}


def _grouped(actions: tuple[Action, ...]) -> tuple[Action, ...]:
    """The plan's actions with the independent ones grouped by kind and side, so that
    bulk backends get long runs (one ``$batch`` of 20 instead of one request each).

    An action that shares an item with another action (a keep-both split, a moved
    item) keeps its place relative to the others: those go first, in plan order. The
    rest touch one pair each, and their order does not matter. Two passes, no sort: a
    first sync plans one action per item.
    """
    if all(type(action) is Create and action.replaces is None for action in actions):
        # a first sync's plan: each create concerns its source alone, so they are
        # independent when no source is planned twice
        creates = cast("tuple[Create, ...]", actions)
        to_outlook = [a for a in creates if a.side is _O]
        to_saljstod = [a for a in creates if a.side is _S]
        if all(len({a.source_id for a in run}) == len(run)
               for run in (to_outlook, to_saljstod)):
            return (*to_outlook, *to_saljstod)
    seen: set[tuple[Side, str]] = set()
    shared: set[tuple[Side, str]] = set()
    for action in actions:
        for key in _keys_of(action):
            if key in seen:
                shared.add(key)
            else:
                seen.add(key)
    ordered: list[Action] = []
    buckets: dict[tuple[int, int], list[Action]] = {}
    for action in actions:
        kind = _KIND_ORDER.get(type(action))
        if kind is None or (shared and not shared.isdisjoint(_keys_of(action))):
            ordered.append(action)
            continue
        side = action.side if type(action) is Create else _run_side(action)
        bucket = (kind, 0 if side is None else 1 if side is _O else 2)  # "", outlook, saljstod
        found = buckets.get(bucket)
        if found is None:
            buckets[bucket] = [action]
        else:
            found.append(action)
    for bucket in sorted(buckets):
        ordered.extend(buckets[bucket])
    return tuple(ordered)


def _keys_of(action: Action) -> tuple[tuple[Side, str], ...]:
    """The distinct items an action concerns (:func:`involved`, cheaper for a create)."""
    if type(action) is Create and action.replaces is None:
        return ((action.side.other, action.source_id),)
    return tuple(dict.fromkeys(involved(action)))
