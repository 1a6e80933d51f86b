"""The shell around the pure planner: fetch -> plan -> apply -> record.

Theory of operation
-------------------
``Synchronizer.sync()`` holds the user's lock and then:

0. **Identify.** Each side's calendar identity (``IdentifiedCalendar``) is compared
   with the one the links were made with. A changed identity is a *switched
   calendar* (another folder, mailbox, profile or backend): the links are forgotten
   and both sides listed completely, so the sync re-links by partner key and by
   match and deletes nothing (RELIABILITY.md, invariant 8).
1. **Fetch.** Each side lists either everything (no cursor yet: the first sync, or
   after *Full sync now*) or its changes from and including the cursor's watermark.
   Items left over from an earlier run are fetched too: *pending* items (a write for
   them failed) by id, and *intents* (a create that may have happened just before a
   crash) by partner key. A listing that fails aborts the sync before anything is
   written: a failed listing never deletes anything.
2. **Plan.** Only the links the listings touch are loaded (all of them when a listing
   is complete), and the pure planner decides.
3. **Apply.** The mass-delete guard may refuse the plan. Otherwise each action runs
   on its own: its backend writes, then one atomic state commit. Creates are announced
   as intents first, so that a crash between "created in Outlook" and "link saved" is
   recovered by finding the new item by its partner key, not by creating it again.
   What a write destroys (the losing version of a conflict, the content of an item
   about to be deleted) is committed *before* the write (write-ahead) and withdrawn
   only when the backend refused the write. A failing action is recorded and retried
   next time; the others go on.
4. **Record.** The new cursors are stored last, so a crash anywhere before re-lists
   the same changes next time; re-seen items plan nothing.

This module and :mod:`outlook_sync.apply` (step 3) are the only ones that call adapters
and the state store.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

import attrs

from outlook_sync._core.actions import (
    SyncPlan,
)
from outlook_sync._core.plan import plan as make_plan
from outlook_sync.apply import Applier, Progress, Tally
from outlook_sync.apply_state import WriteListener, blame, fewer_collections
from outlook_sync.errors import (
    BackendError,
    InvalidEventError,
    ItemNotFoundError,
    ListingError,
)
from outlook_sync.model import (
    BrokenItem,
    Cursor,
    Event,
    Item,
    Link,
    Listing,
    Side,
    check_aware,
)
from outlook_sync.policy import SyncPolicy
from outlook_sync.protocols import (
    Calendar,
    IdentifiedCalendar,
    ItemRestorer,
    StateChange,
    StateStore,
    SyncObserver,
)
from outlook_sync.records import Restored
from outlook_sync.report import SyncReport
from outlook_sync.series_view import wrap_for_series

__all__ = ["PlanObserver", "Progress", "Synchronizer"]

log = logging.getLogger("outlook_sync.engine")

_S, _O = Side.SALJSTOD, Side.OUTLOOK



def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.define
class _Fetched:
    listings: dict[Side, Listing]
    links: list[Link]
    link_count: int
    pending: list[tuple[Side, str]]
    intents: list[tuple[Side, str]]
    generation: int | None = None


class Synchronizer:
    """Keeps one user's Säljstöd calendar and Outlook calendar in sync.

    Args:
        saljstod: the Säljstöd side's calendar adapter.
        outlook: the Outlook side's calendar adapter.
        state: where links, cursors and logs are kept between runs.
        user: whose calendars these are (the state store's key).
        policy: conflict and deletion policy; :class:`SyncPolicy` defaults.
        clock: the sync host's clock (for ``last_sync`` and undo expiry only; cursors
            come from each backend's own clock).
    """

    def __init__(
        self,
        *,
        saljstod: Calendar,
        outlook: Calendar,
        state: StateStore,
        user: str,
        policy: SyncPolicy | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if not isinstance(user, str) or not user:
            raise InvalidEventError("user must be a non-empty str", field="user")
        self.saljstod = saljstod
        self.outlook = outlook
        self.state = state
        self.user = user
        self.policy = policy or SyncPolicy()
        self._clock = clock or _utc_now
        self._observers: list[SyncObserver] = []
        self._views: tuple[object, tuple[Calendar, Calendar]] | None = None
        #: how far the last sync's apply step got when it was cancelled
        self._stopped_at: tuple[int, int] | None = None

    def __repr__(self) -> str:
        return f"Synchronizer(user={self.user!r}, saljstod={self.saljstod!r}, " \
               f"outlook={self.outlook!r})"

    def calendar(self, side: Side) -> Calendar:
        """The calendar the engine works with on ``side``.

        That is the adapter itself, except when Outlook keeps recurring series and
        Säljstöd cannot: then Outlook is seen through a
        :class:`~outlook_sync.series_view.SeriesView` of single occurrences within the
        policy's rolling horizon. Assigning ``saljstod``, ``outlook`` or ``policy`` is
        picked up at the next call.
        """
        key = (id(self.saljstod), id(self.outlook), id(self.state), self.policy.series_horizon)
        if self._views is None or self._views[0] != key:
            views = wrap_for_series(self.saljstod, self.outlook, self.policy, self._clock,
                                    state=self.state, user=self.user)
            self._views = (key, views)
        saljstod, outlook = self._views[1]
        return saljstod if side is _S else outlook

    # -- settings -----------------------------------------------------------------

    @property
    def last_sync(self) -> dt.datetime | None:
        """The date and time of the last successful sync, or ``None`` before the first."""
        return self.state.last_sync(self.user)

    def set_last_sync(self, when: dt.datetime) -> None:
        """Make the next sync process every item changed from and including ``when``.

        Raises:
            InvalidEventError: ``when`` is not a timezone-aware datetime, or it lies in
                the future (every edit made before it would be skipped).
        """
        when = self.check_last_sync(when)
        # under the lock: a running sync's final step would overwrite the new date
        with self.state.lock(self.user, ttl=self.policy.lock_ttl):
            self.state.commit(self.user, StateChange.restart_from(when))

    def check_last_sync(self, when: object, *, field: str = "when") -> dt.datetime:
        """``when`` if it can be the last sync date: aware, and not in the future.

        Raises:
            InvalidEventError: naive, not a datetime, or later than now (a sync from
                a future date would skip every change made until then).
        """
        when = check_aware(field, when)
        now = check_aware("clock()", self._clock())
        if when > now:
            raise InvalidEventError(
                f"the last sync date {when.isoformat(timespec='minutes')} is in the future; "
                "a sync from it would skip every change made until then", field=field)
        return when

    def full_sync_now(
        self, *, confirm_mass_delete: bool = False, progress: Progress | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> SyncReport:
        """Clear the last sync date/time and sync everything (links are kept).

        Raises:
            SyncInProgressError: another sync for this user is running.
        """
        return self.sync(confirm_mass_delete=confirm_mass_delete, progress=progress,
                         cancel=cancel, full=True)

    # -- planning -----------------------------------------------------------------

    def plan(self, *, confirm_mass_delete: bool = False) -> SyncPlan:
        """A dry run: what the next sync would do. Nothing is written.

        Raises:
            ListingError, BackendError: a side could not be listed.
        """
        # as sync() would: a switched calendar is planned afresh (complete listings, no
        # links), though nothing is recorded here
        current = self._identities()
        fresh = any(identity is not None and self.state.identity(self.user, side)
                    not in (None, identity) for side, identity in current.items())
        fetched = self._fetch(None, fresh=fresh)
        the_plan = self._plan(fetched, confirm_mass_delete, relinking=fresh)
        self._planned(the_plan)
        return the_plan

    def _planned(self, the_plan: SyncPlan) -> None:
        for observer in self._observers:
            if isinstance(observer, PlanObserver):
                observer.sync_planned(the_plan)

    def _plan(self, fetched: _Fetched, confirm: bool, *, relinking: bool = False) -> SyncPlan:
        return make_plan(
            saljstod=fetched.listings[_S],
            outlook=fetched.listings[_O],
            links=fetched.links,
            link_count=fetched.link_count,
            policy=self.policy,
            confirm_mass_delete=confirm,
            listed_generation=fetched.generation,
            intents=fetched.intents,
            relinking=relinking,
        )

    # -- 0. identify ----------------------------------------------------------------

    def _identities(self) -> dict[Side, str | None]:
        """Each side's calendar identity now (``None`` for a backend that has none).

        Raises:
            BackendError: a backend could not tell which calendar it is.
        """
        found: dict[Side, str | None] = {}
        for side, adapter in ((_S, self.saljstod), (_O, self.outlook)):
            identity = None
            if isinstance(adapter, IdentifiedCalendar):
                try:
                    identity = adapter.calendar_identity()
                except BackendError as exc:
                    blame(exc, side)
                    raise
            found[side] = identity
        return found

    def _switched(self, current: dict[Side, str | None]) -> tuple[str, ...]:
        """Record the identities; on a switched calendar forget the links (and their
        cursors) so this sync re-links and deletes nothing. Returns what switched."""
        switched: list[str] = []
        record: list[tuple[Side, str]] = []
        for side, identity in current.items():
            if identity is None:
                continue
            stored = self.state.identity(self.user, side)
            if stored == identity:
                continue
            record.append((side, identity))
            if stored is not None:
                switched.append(side.value)
        if not record:
            return ()
        if switched:
            log.warning("the %s calendar of %s changed; its links are forgotten and the "
                        "sync re-links by key and match, deleting nothing",
                        " and ".join(switched), self.user)
            self.state.commit(self.user, StateChange(
                identities=tuple(record), drop_all_links=True,
                cursors=((_S, Cursor()), (_O, Cursor()))))
        else:
            self.state.commit(self.user, StateChange(identities=tuple(record)))
        return tuple(switched)

    # -- syncing ------------------------------------------------------------------

    def sync(
        self,
        *,
        confirm_mass_delete: bool = False,
        progress: Progress | None = None,
        cancel: Callable[[], bool] | None = None,
        full: bool = False,
    ) -> SyncReport:
        """Run one sync. The first one (or one after *Full sync now*) is a full sync.

        Failures of single items do not raise: they are in the report and retried next
        time. A listing that fails ends the sync with nothing written (``report.error``).
        Observers added with :meth:`add_observer` hear of the start, the progress and
        the end.

        Args:
            confirm_mass_delete: the user confirmed a plan the mass-delete guard refuses.
            progress: ``progress(phase, done, total)`` for a host UI; wrap it in an
                :class:`outlook_sync.progress.ProgressEstimate` for the time left
                ("12 000 of 20 000, about 8 minutes left").
            cancel: polled between items; ``True`` stops the sync cleanly.
            full: clear the last sync date/time first (*Full sync now*).

        Raises:
            SyncInProgressError: another sync for this user is running.
            StateError: the state store failed.
        """
        with self.state.lock(self.user, ttl=self.policy.lock_ttl), fewer_collections():
            observers = tuple(self._observers)
            for observer in observers:
                observer.sync_started(self.user)
            if observers:
                progress = _fan_out(observers, progress)
            try:
                if full:
                    self.state.commit(self.user, StateChange.restart_from(None))
                report = self._sync_locked(confirm_mass_delete, progress, cancel)
                self._remember_outcome(report)
            except BaseException as exc:
                for observer in observers:
                    observer.sync_failed(self.user, exc)
                raise
        for observer in observers:
            observer.sync_finished(report)
        return report

    @property
    def last_error(self) -> tuple[dt.datetime, str] | None:
        """When and why the last sync needed attention (``None`` after a clean one)."""
        return self.state.last_error(self.user)

    def _remember_outcome(self, report: SyncReport) -> None:
        if report.ok:
            if self.state.last_error(self.user) is not None:
                self.state.commit(self.user, StateChange(clear_last_error=True))
            return
        if report.error:
            what = f"the sync could not run: {report.error}"
        elif report.refused:
            what = f"refused: {report.refused}"
        elif report.failures:
            first = report.failures[0]
            what = (f"{len(report.failures)} item(s) failed and are retried next time; "
                    f"first: {first.operation} {first.side} {first.item_id}: {first.error}")
        elif self._stopped_at is not None:
            done, total = self._stopped_at
            what = (f"cancelled after {done} of {total} changes; the rest runs next time "
                    "(what was written is kept, nothing is written twice)")
        else:
            what = "cancelled before the end; the rest runs next time"
        when = report.finished_at or check_aware("clock()", self._clock())
        self.state.commit(self.user, StateChange(last_error=(when, what)))

    def _write_listener(self) -> WriteListener | None:
        hearing = [o for o in self._observers if isinstance(o, PlanObserver)]
        if not hearing:
            return None

        def listener(side: Side, operation: str, item_id: str, event: Event | None) -> None:
            for observer in hearing:
                observer.item_written(side, operation, item_id, event)

        return listener

    def add_observer(self, observer: SyncObserver) -> None:
        """Tell ``observer`` about every sync of this synchronizer (a status board)."""
        self._observers.append(observer)

    def _sync_locked(
        self,
        confirm_mass_delete: bool,
        progress: Progress | None,
        cancel: Callable[[], bool] | None,
    ) -> SyncReport:
        started = check_aware("clock()", self._clock())
        self._stopped_at = None
        try:
            switched = self._switched(self._identities())
            fetched = self._fetch(progress)
        except (BackendError, InvalidEventError) as exc:
            log.warning("sync for %s aborted: %s", self.user, exc)
            return SyncReport(user=self.user, error=str(exc), started_at=started,
                              last_sync=self.last_sync,
                              finished_at=check_aware("clock()", self._clock()))
        if progress:
            progress("plan", 0, 1)
        the_plan = self._plan(fetched, confirm_mass_delete, relinking=bool(switched))
        self._planned(the_plan)
        if progress:
            progress("plan", 1, 1)
        full = {side.value: complete for side, complete in the_plan.complete}
        if the_plan.refused:
            log.warning("sync for %s refused: %s", self.user, the_plan.refused)
            return SyncReport(user=self.user, full=full, refused=the_plan.refused,
                              quarantined=the_plan.quarantined, started_at=started,
                              last_sync=self.last_sync,
                              finished_at=check_aware("clock()", self._clock()))
        tally = Tally(writes=SyncReport(user=self.user).writes,
                      read_only=set(self.policy.read_only), listener=self._write_listener())
        cancelled = self._applier().apply(the_plan, tally, progress, cancel)
        if tally.concurrent and not cancelled:
            cancelled = self._reread(tally, confirm_mass_delete, progress, cancel)
        self._stopped_at = tally.stopped_at
        self._record(the_plan, fetched, tally, started, cancelled)
        finished = check_aware("clock()", self._clock())
        self.state.expire_deleted(self.user, finished - self.policy.keep_deleted)
        report = SyncReport(
            user=self.user,
            full=full,
            writes=tally.writes,
            linked=tally.linked,
            unlinked=tally.unlinked,
            conflicts=tuple(tally.conflicts),
            quarantined=the_plan.quarantined,
            failures=tuple(tally.failures),
            concurrent_edits=tally.concurrent_edits,
            cancelled=cancelled,
            switched=switched,
            read_only=tuple(sorted(side.value for side in tally.refused_sides)),
            read_only_skips=sum(n for _side, n in the_plan.read_only_skips)
            + tally.read_only_skips,
            last_sync=self.last_sync,
            started_at=started,
            finished_at=finished,
        )
        log.info(
            "sync for %s done: %d writes, %d conflicts, %d quarantined, %d failures",
            self.user, report.total_writes, len(report.conflicts), len(report.quarantined),
            len(report.failures),
        )
        return report

    # -- 1. fetch -----------------------------------------------------------------

    def _fetch(self, progress: Progress | None, *, fresh: bool = False) -> _Fetched:
        """Both sides' listings and the links they touch. ``fresh``: as after a switched
        calendar, complete listings and no links (a dry run's view; nothing recorded)."""
        # Links committed after this point are newer than the listings: no evidence.
        generation = self.state.generation(self.user)
        listings: dict[Side, Listing] = {}
        for done, side in enumerate((_S, _O)):
            if progress:
                progress("list", done, 2)
            cursor = self.state.cursor(self.user, side)
            calendar = self.calendar(side)
            listing = (calendar.list_all() if fresh or cursor.is_initial
                       else calendar.list_changes(cursor))
            if not isinstance(listing, Listing):
                raise ListingError(f"{side} adapter returned {type(listing).__name__}",
                                   side=side.value)
            listings[side] = listing
        if progress:
            progress("list", 2, 2)
        if fresh:
            return _Fetched(listings=listings, links=[], link_count=0, pending=[],
                            intents=[], generation=generation)

        pending = self.state.pending(self.user)
        extra: dict[Side, list[tuple[str, Item | BrokenItem | None]]] = {_S: [], _O: []}
        for side, item_id in pending:
            extra[side].append((item_id, self.calendar(side).get(item_id)))
        intents = self.state.intents(self.user)
        for side, source_id in intents:
            for item in self.calendar(side).find_by_partner_key(source_id):
                extra[side].append((item.id, item))
            extra[side.other].append((source_id, self.calendar(side.other).get(source_id)))
        for side in (_S, _O):
            listings[side] = _with_extra(listings[side], extra[side])

        links = self._links_for(listings)
        for side, found in self._hydrate(listings, links).items():
            listings[side] = _with_extra(listings[side], found)
        return _Fetched(
            listings=listings,
            links=links,
            link_count=self.state.link_count(self.user),
            pending=pending,
            intents=intents,
            generation=generation,
        )

    def _links_for(self, listings: dict[Side, Listing]) -> list[Link]:
        if any(listing.complete for listing in listings.values()):
            return self.state.links(self.user)
        ids: dict[Side, set[str]] = {_S: set(), _O: set()}
        for side, listing in listings.items():
            ids[side].update(item.id for item in listing.items)
            ids[side].update(bad.id for bad in listing.broken)
            ids[side].update(listing.deleted)
            ids[side.other].update(
                item.partner_key for item in listing.items if item.partner_key is not None
            )
        return self.state.links(self.user, saljstod_ids=sorted(ids[_S]),
                                outlook_ids=sorted(ids[_O]))

    def _hydrate(
        self, listings: dict[Side, Listing], links: list[Link]
    ) -> dict[Side, list[tuple[str, Item | BrokenItem | None]]]:
        """Fetch the partners that unlinked items name but no listing shows."""
        linked = {_S: {link.saljstod_id for link in links},
                  _O: {link.outlook_id for link in links}}
        found: dict[Side, list[tuple[str, Item | BrokenItem | None]]] = {_S: [], _O: []}
        for side, listing in listings.items():
            other = listings[side.other]
            if other.complete:
                continue
            known = {item.id for item in other.items} | {b.id for b in other.broken}
            known |= other.deleted
            for item in listing.items:
                key = item.partner_key
                if (key is None or item.id in linked[side] or key in known
                        or key in linked[side.other]):
                    continue
                known.add(key)
                found[side.other].append((key, self.calendar(side.other).get(key)))
        return found

    # -- 3. apply (outlook_sync.apply) -------------------------------------------

    def _applier(self) -> Applier:
        return Applier(self.calendar, self.state, self.user, self._clock)

    def _reread(
        self,
        tally: Tally,
        confirm: bool,
        progress: Progress | None,
        cancel: Callable[[], bool] | None,
    ) -> bool:
        """Re-read the items someone changed while we wrote, and plan them once more.

        The write was refused (its expected version was stale), so nothing was
        overwritten; now the new version is merged per policy in this same sync. A
        second conflict on the same item waits for the next sync.
        """
        keys = list(tally.concurrent)
        failures = {id(failure) for failure in tally.concurrent.values()}
        tally.concurrent_edits += len(failures)
        tally.concurrent.clear()
        extra: dict[Side, list[tuple[str, Item | BrokenItem | None]]] = {_S: [], _O: []}
        try:
            for side, item_id in keys:
                extra[side].append((item_id, self.calendar(side).get(item_id)))
        except BackendError as exc:
            log.warning("could not re-read items changed during the sync: %s", exc)
            return False
        listings = {side: _with_extra(Listing(items=(), complete=False), extra[side])
                    for side in (_S, _O)}
        retry = make_plan(
            saljstod=listings[_S], outlook=listings[_O], links=self._links_for(listings),
            link_count=self.state.link_count(self.user), policy=self.policy,
            confirm_mass_delete=confirm, listed_generation=self.state.generation(self.user),
        )
        if retry.refused:
            return False
        log.info("re-planning %d items changed by someone else during the sync", len(keys))
        tally.failures = [f for f in tally.failures if id(f) not in failures]
        again = set(keys)
        tally.failed_keys = [k for k in tally.failed_keys if k not in again]
        failed_before = len(tally.failed_keys)
        cancelled = self._applier().apply(retry, tally, progress, cancel)
        failed_again = set(tally.failed_keys[failed_before:])
        self.state.commit(self.user, StateChange(
            clear_pending=tuple(k for k in keys if k not in failed_again)))
        tally.concurrent.clear()  # a second conflict waits for the next sync
        return cancelled

    # -- 4. record ----------------------------------------------------------------

    def _record(
        self,
        the_plan: SyncPlan,
        fetched: _Fetched,
        tally: Tally,
        started: dt.datetime,
        cancelled: bool,
    ) -> None:
        failed = set(tally.failed_keys)
        failed_intents = set(tally.failed_intents)
        quarantined = {(q.side, q.item_id) for q in self.state.quarantine(self.user)}
        seen: set[tuple[Side, str]] = set()
        if quarantined:  # what was seen again leaves the quarantine (usually nothing)
            seen = {
                (side, item.id) for side, listing in fetched.listings.items()
                for item in listing.items
            } | {(side, i) for side, listing in fetched.listings.items()
                 for i in listing.deleted}
        change = StateChange(
            put_links=the_plan.refreshed,
            conflicts=the_plan.notices,
            clear_pending=tuple(key for key in fetched.pending if key not in failed),
            add_pending=the_plan.hold_pending,
            clear_intents=tuple(key for key in fetched.intents if key not in failed_intents),
            quarantine=the_plan.quarantined,
            unquarantine=tuple(sorted(quarantined & seen, key=lambda k: (k[0].value, k[1]))),
        )
        if not cancelled:
            change = attrs.evolve(change, cursors=the_plan.cursors, last_sync=started)
        self.state.commit(self.user, change)

    # -- undo -----------------------------------------------------------------------

    def restore(self, side: Side, item_id: str) -> Restored:
        """Bring back an item the sync deleted; the next sync re-creates its partner.

        A backend that can (:class:`~outlook_sync.protocols.ItemRestorer`: the SQL
        adapter) brings back the same item, under its old id and with the host's own
        columns; others create it anew from the kept content. The result says which,
        and what could not be restored.

        Raises:
            ItemNotFoundError: the sync did not delete such an item (or it expired).
            BackendError: the backend refused or failed the restore.
        """
        for entry in self.state.deleted_items(self.user):
            if entry.side is side and entry.item_id == item_id:
                current = self.calendar(side).get(item_id)
                if isinstance(current, Item):
                    # the delete never happened (its reply was lost before it was sent,
                    # or the backend refused it): the item is there, nothing is created
                    self._restored(side, item_id)
                    return Restored(item=current, same_id=True, not_restored=())
                adapter = self.saljstod if side is _S else self.outlook
                partner_key = entry.partner_id or item_id
                restored: Item | None = None
                lost: tuple[str, ...] = ()
                if isinstance(adapter, ItemRestorer):
                    try:
                        restored, lost = adapter.restore(item_id, entry.event,
                                                         partner_key=partner_key)
                    except ItemNotFoundError:
                        restored = None
                if restored is None:
                    restored = self.calendar(side).create(entry.event, partner_key=partner_key)
                    lost = ("the item's id (it was created anew)",
                            "anything the backend keeps beyond the synced fields")
                self._restored(side, item_id)
                return Restored(item=restored, same_id=restored.id == item_id,
                                not_restored=lost)
        raise ItemNotFoundError(f"no deleted {side} item {item_id} is kept",
                                side=side.value, item_id=item_id)

    def _restored(self, side: Side, item_id: str) -> None:
        """Forget the deleted-item record, and any link the item still has: a delete that
        was interrupted (a lost reply, a kill) left its link, whose partner is gone, and
        the next sync would delete the restored item again. Unlinked, the item gets its
        partner re-created instead."""
        ids = {"saljstod_ids" if side is _S else "outlook_ids": [item_id]}
        stale = tuple((link.saljstod_id, link.outlook_id)
                      for link in self.state.links(self.user, **ids))
        if stale:
            self.state.commit(self.user, StateChange(drop_links=stale))
        self.state.forget_deleted(self.user, side, item_id)


@runtime_checkable
class PlanObserver(Protocol):
    """Optional for a :class:`~outlook_sync.protocols.SyncObserver`: hears the plan and
    every backend write as it succeeds (per-item logs, ``outlook-sync -v``).

    ``sync_planned`` gets the plan before anything is written (also a refused one);
    ``item_written`` gets each successful write: ``operation`` is ``create``,
    ``update``, ``delete`` or ``stamp`` (only the partner key was written), ``event``
    the content written (for a delete, the content the item had).
    """

    def sync_planned(self, plan: SyncPlan) -> None: ...

    def item_written(self, side: Side, operation: str, item_id: str,
                     event: Event | None) -> None: ...


def _fan_out(observers: tuple[SyncObserver, ...], progress: Progress | None) -> Progress:
    def report(phase: str, done: int, total: int) -> None:
        for observer in observers:
            observer.sync_progress(phase, done, total)
        if progress is not None:
            progress(phase, done, total)

    return report


def _with_extra(listing: Listing, extra: Iterable[tuple[str, Item | BrokenItem | None]]) -> Listing:
    extra = list(extra)
    if not extra:
        return listing  # the common case: indexing a first sync's listing costs ~0.1 s
    items = {item.id: item for item in listing.items}
    broken = {bad.id: bad for bad in listing.broken}
    deleted = set(listing.deleted)
    changed = False
    for item_id, found in extra:
        if item_id in items or item_id in broken:
            continue
        changed = True
        if isinstance(found, Item):
            items[found.id] = found
            deleted.discard(found.id)
        elif isinstance(found, BrokenItem):
            broken[found.id] = found
        else:
            deleted.add(item_id)
    if not changed:
        return listing
    return attrs.evolve(listing, items=tuple(items.values()), broken=tuple(broken.values()),
                        deleted=frozenset(deleted))
