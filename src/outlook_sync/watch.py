"""Direct sync: a watcher that syncs one user whenever something changes, and on occasions.

While Säljstöd and Outlook are both open, an appointment added, changed or removed on
one side should show on the other at once. :class:`Watcher` runs one user's
:class:`~outlook_sync.engine.Synchronizer` in a background thread and decides when to
sync with a :class:`~outlook_sync.occasions.Schedule`: at start-up, after the settings
are saved, on demand, periodically, and -- direct sync -- on change notifications.

Theory of operation
-------------------
- **Hints, not facts.** Each side that offers
  :class:`~outlook_sync.protocols.ChangeNotifier` is subscribed; its callback only
  records the ids and wakes the thread. A side without push (a SQL database) is polled
  with its own cheap change listing, on an interval that backs off while nothing
  changes. What syncs is always decided by the normal incremental sync from the
  watermark, so a duplicated, spurious or late hint costs a pass, never a wrong write.
- **Debounce.** A burst of notifications (a user dragging an appointment) becomes one
  sync: the pass starts when the side has been quiet for ``debounce`` (default 200 ms),
  or ``max_delay`` after the first one at the latest.
- **Single flight.** One thread runs every pass, so at most one sync per watcher runs;
  a sync elsewhere for the same user (another process) holds the state store's lock and
  this watcher retries shortly. A notification that arrives during a sync stays noted
  and causes exactly one more pass: changes made after the sync's listing are never lost.
- **Echo suppression.** The sync's own writes come back as notifications. Before a pass
  that only notifications caused, the watcher reads the notified items (a handful of
  ``get`` calls) and compares them with the link state: an item whose version is the one
  the sync recorded, or a deleted item no longer linked, is an echo. A pass made only of
  echoes runs no sync. Were it run anyway, it would plan nothing and write nothing (the
  content equals the link's base), so there is no ping-pong either way.
- **Lost notifications.** A subscription that dies (``closed`` or not ``alive``), fails to
  open, or belongs to a calendar the synchronizer no longer uses (the user switched
  calendars) is replaced, and a catch-up pass follows. The periodic sync (default every
  15 minutes) catches up with anything else that was missed.
- **Idle costs nothing.** The thread blocks in ``Event.wait`` with a timeout taken from
  the schedule (the next periodic sync, the next poll, the next subscription check);
  there is no busy loop.

Cancelling is clean: :meth:`Watcher.stop` and :meth:`Watcher.pause` stop a running sync
between two items (the engine then keeps the cursor, so the rest runs next time).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

import attrs

from outlook_sync.errors import BusyError, ConfigurationError, SyncInProgressError
from outlook_sync.model import BrokenItem, Item, Link, Side
from outlook_sync.occasions import Occasion, Schedule, SyncOccasions
from outlook_sync.protocols import ChangeNotifier, Subscription
from outlook_sync.report import SyncReport

if TYPE_CHECKING:
    from outlook_sync.engine import Synchronizer
    from outlook_sync.status import StatusBoard

__all__ = ["Watcher", "WatcherStats"]

log = logging.getLogger("outlook_sync.watch")

_SIDES = (Side.SALJSTOD, Side.OUTLOOK)
#: Forget the poll's memory of already-reported changes beyond this many entries.
_SEEN_LIMIT = 10_000
#: Keep the outcome of this many recent passes for :meth:`Watcher.sync_now`.
_OUTCOMES_KEPT = 16


@attrs.frozen(kw_only=True)
class WatcherStats:
    """What a watcher did since it started (for tests, benchmarks and diagnostics).

    Attributes:
        passes: passes run (syncs, echo checks that ended a pass, busy retries).
        syncs: syncs run (each produced a report or raised).
        echoes: passes that only saw the sync's own writes, and ran no sync.
        busy: passes that found another sync for the user holding the lock.
        polls: polls of sides without notifications.
        notifications: notification callbacks received.
        subscriptions: subscriptions opened (the first ones and replacements).
        wakeups: times the thread woke up (an idle watcher wakes only for its timers).
    """

    passes: int = 0
    syncs: int = 0
    echoes: int = 0
    busy: int = 0
    polls: int = 0
    notifications: int = 0
    subscriptions: int = 0
    wakeups: int = 0


@attrs.define
class _Feed:
    """One side's subscription, or why there is none."""

    calendar: object
    subscription: Subscription | None = None
    retry_at: float = 0.0
    opened_before: bool = False


def _alive(subscription: Subscription) -> bool:
    """Best effort: a subscription that says it is closed or not alive is dead."""
    if getattr(subscription, "closed", False) is True:
        return False
    alive = getattr(subscription, "alive", True)
    if callable(alive):
        alive = alive()
    return alive is not False


class Watcher:
    """Runs one user's syncs in a background thread, on changes and on occasions.

    Start it with ``Watcher(synchronizer, **options).start()`` (or as a context manager).
    Use it as a context manager (``with``/``async with``), or call :meth:`start` and
    :meth:`stop`; ``await watcher.run()`` runs it until stopped or cancelled.

    Args:
        synchronizer: the user's synchronizer; its calendars are looked up on every
            pass, so a switched Outlook calendar is picked up (and re-subscribed).
        occasions: which occasions sync, and the timings; :class:`SyncOccasions`
            defaults (start-up, settings saved, every 15 minutes, on demand, direct sync
            with a 200 ms debounce).
        status: a :class:`~outlook_sync.status.StatusBoard` to record the syncs on.
        on_report: called in the watcher thread with every sync's report.
        check_every: seconds between checks that the subscriptions are alive, and
            between attempts to open one that failed.
        echo_check_limit: notifications naming more ids than this skip the echo check
            and sync at once (reading many items one by one would cost more).
        clock: monotonic seconds; injectable for tests of the schedule.

    Raises:
        ConfigurationError: ``check_every`` is not a positive number, or
            ``echo_check_limit`` not an int.
    """

    def __init__(
        self,
        synchronizer: Synchronizer,
        *,
        occasions: SyncOccasions | None = None,
        status: StatusBoard | None = None,
        on_report: Callable[[SyncReport], None] | None = None,
        check_every: float = 30.0,
        echo_check_limit: int = 50,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if (
            isinstance(check_every, bool)
            or not isinstance(check_every, int | float)
            or not (check_every > 0)
        ):
            raise ConfigurationError(
                "check_every must be a positive number of seconds", key="check_every"
            )
        if isinstance(echo_check_limit, bool) or not isinstance(echo_check_limit, int):
            raise ConfigurationError("echo_check_limit must be an int", key="echo_check_limit")
        self.synchronizer = synchronizer
        self.occasions = occasions or SyncOccasions()
        self.status = status
        self.on_report = on_report
        self.check_every = check_every
        self.echo_check_limit = echo_check_limit
        self._clock = clock or time.monotonic
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._halt = threading.Event()  # cancels a running sync (stop, pause)
        self._thread: threading.Thread | None = None
        self._schedule = Schedule(self.occasions, clock=self._clock)
        self._ids: dict[Side, set[str]] = {side: set() for side in _SIDES}
        self._unknown: set[Side] = set()
        self._feeds: dict[Side, _Feed] = {}
        self._seen: dict[Side, set[tuple[str, str]]] = {side: set() for side in _SIDES}
        self._paused = False
        self._recheck = False
        self._busy = False
        self._pass_no = 0
        self._outcomes: dict[int, SyncReport | None] = {}
        self._stats = WatcherStats()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Watcher(user={self.synchronizer.user!r}, {state})"

    # -- life cycle -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """The background thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Watcher:
        """Start the background thread (idempotent); return the watcher.

        Raises:
            RuntimeError: the watcher was stopped; create a new one.
        """
        with self._lock:
            if self._stopping.is_set():
                raise RuntimeError("a stopped Watcher cannot be restarted; create a new one")
            if self._thread is None:
                self._schedule.start()
                self._thread = threading.Thread(
                    target=self._run,
                    name=f"outlook-sync-watch-{self.synchronizer.user}",
                    daemon=True,
                )
                self._thread.start()
        return self

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop: cancel a running sync between two items, close the subscriptions.

        Waits up to ``timeout`` seconds for the thread (not when called from it).
        Idempotent.
        """
        self._request_stop()
        self._join(timeout)

    def _request_stop(self) -> None:
        self._stopping.set()
        self._halt.set()
        self._wake.set()

    def _join(self, timeout: float | None) -> None:
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Watcher:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._request_stop()
        await asyncio.to_thread(self._join, 30.0)

    async def run(self) -> None:
        """Run until :meth:`stop` is called or the awaiting task is cancelled."""
        self.start()
        try:
            await asyncio.to_thread(self._stopped.wait)
        finally:
            self._request_stop()
            await asyncio.to_thread(self._join, 30.0)

    def pause(self, timeout: float | None = 30.0) -> None:
        """Stop syncing (the connection is disabled) until :meth:`resume`.

        A running sync is cancelled between two items and waited for (up to
        ``timeout``); notifications are ignored meanwhile: the next sync after
        :meth:`resume` catches up from the watermark.
        """
        with self._lock:
            self._paused = True
            self._halt.set()
            self._schedule.clear()
            self._ids = {side: set() for side in _SIDES}
            self._unknown.clear()
            self._wake.set()
            if self._thread is not threading.current_thread():
                self._changed.wait_for(lambda: not self._busy, timeout)

    def resume(self) -> None:
        """Sync again after :meth:`pause` (nothing runs until an occasion comes)."""
        with self._lock:
            self._paused = False
            self._recheck = True  # a calendar may have been switched meanwhile
            if not self._stopping.is_set():
                self._halt.clear()
            self._wake.set()

    @property
    def paused(self) -> bool:
        """Whether the watcher is paused."""
        return self._paused

    # -- requests ---------------------------------------------------------------------

    def request(self, occasion: Occasion = Occasion.DEMAND) -> bool:
        """Ask for a sync now (asynchronously); False if paused or turned off."""
        with self._lock:
            if self._paused or self._stopping.is_set():
                return False
            noted = self._schedule.note(occasion)
            self._wake.set()
            return noted

    def sync_now(
        self, occasion: Occasion = Occasion.DEMAND, *, timeout: float | None = None
    ) -> SyncReport | None:
        """Ask for a sync and wait for it; its report.

        Returns ``None`` when no sync ran: the watcher is paused, stopped or not started,
        the host turned ``occasion`` off, the sync raised (the status board has the
        error), or ``timeout`` passed.
        """
        with self._lock:
            if not self.running or not self.request(occasion):
                return None
            target = self._pass_no + 1

            def outcome() -> bool:
                return (
                    self._stopping.is_set()
                    or self._paused
                    or any(n >= target for n in self._outcomes)
                )

            if not self._changed.wait_for(outcome, timeout):
                return None
            ran = sorted(n for n in self._outcomes if n >= target)
            return self._outcomes[ran[0]] if ran else None

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is running or due (the periodic sync aside); True if so."""
        with self._lock:
            return self._changed.wait_for(self._is_idle, timeout)

    @property
    def stats(self) -> WatcherStats:
        """Counters since start."""
        with self._lock:
            return self._stats

    def _count(self, **increments: int) -> None:
        values = {name: getattr(self._stats, name) + n for name, n in increments.items()}
        self._stats = attrs.evolve(self._stats, **values)

    def _is_idle(self) -> bool:
        if self._thread is None or self._stopped.is_set():
            return True
        if self._busy or self._unknown or any(self._ids.values()):
            return False
        return self._paused or not self._schedule.pending()

    # -- notifications ----------------------------------------------------------------

    def _notified(self, side: Side, ids: Sequence[str]) -> None:
        """A subscription's callback: note and wake; never blocks, never raises."""
        try:
            with self._lock:
                self._count(notifications=1)
                if self._paused or self._stopping.is_set():
                    return
                if not self._schedule.note(Occasion.NOTIFICATION):
                    return
                if ids:
                    self._ids[side].update(str(i) for i in ids)
                else:
                    self._unknown.add(side)
            self._wake.set()
        except Exception:  # a callback must never raise into the backend
            log.exception("the change notification could not be recorded")

    def _maintain_feeds(self) -> None:
        """Open, replace or re-open subscriptions; note a catch-up where one was lost."""
        if not self.occasions.on_notifications:
            return
        now = self._clock()
        polling = False
        for side in _SIDES:
            calendar = self.synchronizer.calendar(side)
            feed = self._feeds.get(side)
            if feed is not None and feed.calendar is not calendar:
                self._close(feed)  # the calendar was switched: subscribe to the new one
                feed = None
            if feed is None:
                feed = self._feeds[side] = _Feed(calendar=calendar)
            if not isinstance(calendar, ChangeNotifier):
                polling = True
                continue
            if feed.subscription is not None and not _alive(feed.subscription):
                log.warning("the %s change subscription died; re-subscribing", side)
                self._close(feed)
                feed.retry_at = now
            if feed.subscription is None and now >= feed.retry_at:
                self._open(side, feed, calendar, now)
            if feed.subscription is None:
                polling = True
        with self._lock:
            self._schedule.poll_sides(polling)

    def _open(self, side: Side, feed: _Feed, calendar: ChangeNotifier, now: float) -> None:
        def callback(ids: Sequence[str]) -> None:
            self._notified(side, ids)

        try:
            feed.subscription = calendar.subscribe(callback)
        except Exception as exc:  # any backend may fail to subscribe; poll meanwhile
            log.warning("could not subscribe to %s changes (polling meanwhile): %s", side, exc)
            feed.retry_at = now + self.check_every
            return
        with self._lock:
            self._count(subscriptions=1)
            if feed.opened_before:
                # Changes may have happened while there was no subscription.
                self._schedule.note(Occasion.NOTIFICATION)
                self._unknown.add(side)
        feed.opened_before = True

    @staticmethod
    def _close(feed: _Feed) -> None:
        subscription, feed.subscription = feed.subscription, None
        if subscription is not None:
            try:
                subscription.close()
            except Exception as exc:  # closing a dead subscription may fail
                log.info("closing a change subscription failed: %s", exc)

    # -- the thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._maintain_feeds()  # subscribe before the start-up sync lists anything
            next_check = self._clock() + self.check_every
            while not self._stopping.is_set():
                self._wake.clear()
                with self._lock:
                    self._count(wakeups=1)
                if self._recheck or self._clock() >= next_check:
                    self._recheck = False
                    self._maintain_feeds()
                    next_check = self._clock() + self.check_every
                work, timeout = self._next_work()
                if work == "poll":
                    self._poll()
                elif work == "sync":
                    self._pass()
                else:
                    until_check = max(0.0, next_check - self._clock())
                    self._wake.wait(until_check if timeout is None else min(timeout, until_check))
        except Exception:
            log.exception(
                "the watcher for %s stopped on an unexpected error", self.synchronizer.user
            )
            raise
        finally:
            for feed in self._feeds.values():
                self._close(feed)
            with self._lock:
                self._stopped.set()
                self._changed.notify_all()

    def _next_work(self) -> tuple[str | None, float | None]:
        with self._lock:
            if self._paused:
                self._changed.notify_all()
                return None, None
            if self._schedule.poll_due():
                return "poll", None
            if self._schedule.due() is not None:
                return "sync", None
            self._changed.notify_all()  # idle waiters may look now
            return None, self._schedule.wait_time()

    def _pass(self) -> None:
        self._maintain_feeds()  # cheap; follows a switched calendar before it syncs
        with self._lock:
            if self.paused:  # paused since _next_work(): pause() waits for no pass
                return
            covered = self._schedule.begin()
            if not covered:
                return
            ids, self._ids = self._ids, {side: set() for side in _SIDES}
            unknown, self._unknown = self._unknown, set()
            self._pass_no += 1
            number = self._pass_no
            self._busy = True
            self._count(passes=1)
        try:
            if covered <= {Occasion.NOTIFICATION} and not unknown and not self._news(ids):
                log.debug(
                    "pass %d for %s: only echoes of our own writes", number, self.synchronizer.user
                )
                with self._lock:
                    self._count(echoes=1)
                return
            report, ok, busy, retry_in = self._sync()
            with self._lock:
                self._schedule.finished(ok=ok, busy=busy, retry_in=retry_in)
                if self._paused:
                    self._schedule.clear()  # paused meanwhile: no retry of a cancelled sync
                if busy:
                    self._count(busy=1)
                else:
                    self._count(syncs=1)
                    self._outcomes[number] = report
                    for old in sorted(self._outcomes)[:-_OUTCOMES_KEPT]:
                        del self._outcomes[old]
        finally:
            with self._lock:
                self._busy = False
                self._changed.notify_all()

    def _sync(self) -> tuple[SyncReport | None, bool, bool, float | None]:
        """Run one sync: ``(report, ok, busy, retry in seconds if suggested)``."""
        runner = self.status.sync if self.status is not None else self.synchronizer.sync
        try:
            report = runner(cancel=self._halt.is_set)
        except SyncInProgressError:
            log.info("a sync for %s is already running; retrying soon", self.synchronizer.user)
            return None, False, True, None
        except BusyError as exc:  # a host transaction held the database: not a failure
            log.info("the database is busy for %s (%s); retrying soon",
                     self.synchronizer.user, exc)
            return None, False, True, exc.retry_after
        except Exception:
            log.exception("the sync for %s failed", self.synchronizer.user)
            return None, False, False, None
        if self.on_report is not None:
            try:
                self.on_report(report)
            except Exception:
                log.exception("the on_report callback failed")
        return report, report.ok, False, None

    # -- is it news? --------------------------------------------------------------------

    def _news(self, ids: dict[Side, set[str]]) -> bool:
        """Whether the notified items hold anything the link state does not explain."""
        total = sum(len(found) for found in ids.values())
        if total > self.echo_check_limit:
            return True
        try:
            return any(self._side_news(side, found) for side, found in ids.items() if found)
        except Exception as exc:  # any doubt means: sync
            log.debug("the echo check could not read an item (%s); syncing", exc)
            return True

    def _links(self, side: Side, ids: Iterable[str]) -> dict[str, Link]:
        sync = self.synchronizer
        wanted = sorted(set(ids))
        if side is Side.SALJSTOD:
            links = sync.state.links(sync.user, saljstod_ids=wanted)
        else:
            links = sync.state.links(sync.user, outlook_ids=wanted)
        return {link.id(side): link for link in links}

    def _side_news(self, side: Side, ids: set[str]) -> bool:
        sync = self.synchronizer
        pending = set(sync.state.pending(sync.user))
        if any((side, item_id) in pending for item_id in ids):
            return True
        quarantined = {(q.side, q.item_id) for q in sync.state.quarantine(sync.user)}
        links = self._links(side, ids)
        calendar = sync.calendar(side)
        for item_id in sorted(ids):
            found = calendar.get(item_id)
            if self._unexplained(side, item_id, found, links.get(item_id), quarantined):
                return True
        return False

    @staticmethod
    def _unexplained(
        side: Side,
        item_id: str,
        found: Item | BrokenItem | None,
        link: Link | None,
        quarantined: set[tuple[Side, str]],
    ) -> bool:
        if found is None:  # gone: news only if it is still linked
            return link is not None and link.gone is None
        if isinstance(found, BrokenItem):
            return (side, item_id) not in quarantined
        return link is None or found.version != link.version(side)

    def _poll(self) -> None:
        changed = False
        for side in _SIDES:
            feed = self._feeds.get(side)
            if feed is None or feed.subscription is not None:
                continue
            try:
                changed = self._poll_side(side) or changed
            except Exception as exc:  # the next sync reports a backend's trouble
                log.info("polling %s failed: %s", side, exc)
        with self._lock:
            self._count(polls=1)
            self._schedule.polled(changed)

    def _poll_side(self, side: Side) -> bool:
        """One cheap change listing of ``side``; True if it shows something new."""
        sync = self.synchronizer
        cursor = sync.state.cursor(sync.user, side)
        if cursor.is_initial:
            return False  # never synced: the start-up (or retry) sync lists everything
        listing = sync.calendar(side).list_changes(cursor)
        named = [item.id for item in listing.items]
        named += [bad.id for bad in listing.broken]
        links = self._links(side, [*named, *listing.deleted])
        quarantined = {(q.side, q.item_id) for q in sync.state.quarantine(sync.user)}
        unexplained: set[tuple[str, str]] = set()
        for item in listing.items:
            if self._unexplained(side, item.id, item, links.get(item.id), quarantined):
                unexplained.add((item.id, item.version))
        for bad in listing.broken:
            if self._unexplained(side, bad.id, bad, links.get(bad.id), quarantined):
                unexplained.add((bad.id, "broken"))
        for item_id in listing.deleted:
            if self._unexplained(side, item_id, None, links.get(item_id), quarantined):
                unexplained.add((item_id, "deleted"))
        seen = self._seen[side]
        if len(seen) > _SEEN_LIMIT:
            seen.clear()
        fresh = unexplained - seen
        seen |= unexplained
        return bool(fresh)
