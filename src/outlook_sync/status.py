"""What the host shows about the sync: running or idle, results, and each activity's state.

:class:`StatusBoard` answers two questions for one user:

- :meth:`StatusBoard.status` -- the sync as a whole (:class:`SyncStatus`): running or
  idle (with the progress of a running sync), the last success, the last error, the
  conflict log and the quarantined items;
- :meth:`StatusBoard.activity` -- one Säljstöd activity (:class:`ActivityStatus`):
  synced (and as of when), waiting for a retry, in the conflict log, quarantined with
  the reason, or not synced.

What is persistent (conflicts, quarantine, pending retries, the last sync date/time,
links) is read from the state store on each call, so the answers hold across restarts
and for syncs run by other processes. What only a running process can know (running,
progress, the last report and error) is recorded by the board for the syncs it sees:
those run through :meth:`StatusBoard.sync` (the :class:`~outlook_sync.watch.Watcher`
and :class:`~outlook_sync.settings.OutlookConnection` do when given the board), or --
when the synchronizer offers ``add_observer`` -- every sync of that synchronizer.
"""

from __future__ import annotations

import datetime as dt
import enum
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import attrs

from outlook_sync.errors import SyncInProgressError
from outlook_sync.model import Side
from outlook_sync.records import Conflict, Quarantined
from outlook_sync.report import SyncReport

if TYPE_CHECKING:
    from outlook_sync.engine import Synchronizer

#: Fixed reasons (``ActivityStatus.reason``), listed in ``i18n.STATUS_REASONS`` so that
#: a display can translate them.
RETRIED = "a write failed; it is retried on the next sync"
KEPT_UNLINKED_OUTLOOK = ("its partner was deleted in Outlook; the deletion policy kept it "
                         "here, unlinked")
KEPT_UNLINKED_SALJSTOD = ("its partner was deleted in Säljstöd; the deletion policy kept it "
                          "here, unlinked")


__all__ = ["ActivityState", "ActivityStatus", "StatusBoard", "SyncStatus"]

_S, _O = Side.SALJSTOD, Side.OUTLOOK

Progress = Callable[[str, int, int], None]
Cancel = Callable[[], bool]
#: ``operation(progress, cancel) -> report``: a sync to run under the board's eye.
Operation = Callable[[Progress, Cancel], SyncReport]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen(kw_only=True)
class SyncStatus:
    """The sync for one user, as the host shows it.

    Attributes:
        user: whose sync.
        running: a sync is running in this process now.
        phase, done, total: the running sync's progress (``"list"``, ``"plan"``,
            ``"apply"``; ``done`` of ``total``), or ``None``/0/0 when idle.
        last_sync: the date and time of the last sync (the state store's; what the
            settings dialog shows, and where the next sync starts from).
        last_success: when the last sync without any problem finished (seen by this
            board), else ``last_sync``.
        last_error: what went wrong in the last sync that had a problem, or ``None``.
        last_error_at: when that was.
        healthy: the last sync this board saw had no problem (True before any).
        last_report: the last sync's report seen by this board.
        conflicts: the conflict log (resolved by policy, kept for the user to review).
        quarantined: items set aside until readable, with the reason.
        pending: items waiting for a retry after a failed write, and the readable
            side of held pairs (quarantined on the other side; see ``quarantined``).
        lock_holder: who holds the user's sync lock (host and process) and until when
            the lease lasts, or ``None``; a running sync renews it.
    """

    user: str
    running: bool
    phase: str | None = None
    done: int = 0
    total: int = 0
    last_sync: dt.datetime | None = None
    last_success: dt.datetime | None = None
    last_error: str | None = None
    last_error_at: dt.datetime | None = None
    healthy: bool = True
    last_report: SyncReport | None = None
    conflicts: tuple[Conflict, ...] = ()
    quarantined: tuple[Quarantined, ...] = ()
    pending: tuple[tuple[Side, str], ...] = ()
    lock_holder: tuple[str, dt.datetime] | None = None

    @property
    def idle(self) -> bool:
        """No sync is running in this process."""
        return not self.running


class ActivityState(enum.Enum):
    """One Säljstöd activity's sync state, the most pressing first."""

    #: Set aside: unreadable or invalid on one side; ``reason`` says why.
    QUARANTINED = "quarantined"
    #: A write for it failed; it is retried on the next sync.
    PENDING = "pending"
    #: Its pair is in the conflict log (resolved by policy; the user may review it).
    CONFLICT = "conflict"
    #: Linked to an Outlook item, in step as of the last sync.
    SYNCED = "synced"
    #: Not linked: new since the last sync, left out, or its partner was deleted and the
    #: deletion policy kept it.
    NOT_SYNCED = "not_synced"


@attrs.frozen(kw_only=True)
class ActivityStatus:
    """One activity's sync status, to show on the activity itself.

    Attributes:
        saljstod_id: the activity.
        state: see :class:`ActivityState`.
        outlook_id: the linked Outlook item, if any.
        synced_as_of: for a linked activity, the last sync (its start) at which the
            pair was in step; ``None`` if not linked.
        reason: why it is quarantined, pending, in conflict or not synced.
        conflicts: its entries in the conflict log.
    """

    saljstod_id: str
    state: ActivityState
    outlook_id: str | None = None
    synced_as_of: dt.datetime | None = None
    reason: str | None = None
    conflicts: tuple[Conflict, ...] = ()


def describe_problem(report: SyncReport) -> str | None:
    """The one-line problem of a report, or ``None`` if it had none."""
    if report.error:
        return report.error
    if report.refused:
        return f"refused: {report.refused}"
    if report.failures:
        first = report.failures[0]
        more = f" (and {len(report.failures) - 1} more)" if len(report.failures) > 1 else ""
        what = f"{first.operation} failed for {first.side} item {first.item_id}"
        return f"{what}: {first.error}{more}"
    if report.cancelled:
        return "cancelled before the end; the rest runs next time"
    return None


class StatusBoard:
    """Sync status for one user's :class:`~outlook_sync.engine.Synchronizer`.

    Thread-safe: a UI thread may read while a watcher thread syncs.

    Args:
        synchronizer: the user's synchronizer.
        clock: the host's clock for ``last_error_at`` (aware UTC by default).
    """

    def __init__(
        self, synchronizer: Synchronizer, *, clock: Callable[[], dt.datetime] | None = None
    ) -> None:
        self.synchronizer = synchronizer
        self._clock = clock or _utc_now
        self._lock = threading.Lock()
        self._running = 0
        self._progress: tuple[str | None, int, int] = (None, 0, 0)
        self._last_report: SyncReport | None = None
        self._last_success: dt.datetime | None = None
        self._last_error: tuple[str, dt.datetime] | None = None
        self._healthy = True
        self._cancel = threading.Event()
        # With the engine's observer hook every sync of the synchronizer reports here,
        # and sync() must not report twice.
        add_observer = getattr(synchronizer, "add_observer", None)
        self._hooked = callable(add_observer)
        if callable(add_observer):
            add_observer(self)

    def __repr__(self) -> str:
        return f"StatusBoard(user={self.synchronizer.user!r}, running={self._running > 0})"

    # -- running syncs ----------------------------------------------------------------

    def sync(
        self,
        *,
        confirm_mass_delete: bool = False,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> SyncReport:
        """Run :meth:`Synchronizer.sync` and record it; see :meth:`run`.

        Raises:
            SyncInProgressError: another sync for this user is running.
            StateError: the state store failed (recorded as the last error).
        """
        return self.run(
            lambda p, c: self.synchronizer.sync(
                confirm_mass_delete=confirm_mass_delete, progress=p, cancel=c
            ),
            progress=progress,
            cancel=cancel,
        )

    def full_sync_now(
        self,
        *,
        confirm_mass_delete: bool = False,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> SyncReport:
        """Run :meth:`Synchronizer.full_sync_now` and record it; see :meth:`run`."""
        return self.run(
            lambda p, c: self.synchronizer.full_sync_now(
                confirm_mass_delete=confirm_mass_delete, progress=p, cancel=c
            ),
            progress=progress,
            cancel=cancel,
        )

    def run(
        self,
        operation: Operation,
        *,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> SyncReport:
        """Run ``operation(progress, cancel)``, recording running, progress and outcome.

        The ``progress`` given here also receives every progress call; ``cancel`` and
        :meth:`cancel` both stop the sync between two items.

        Raises:
            SyncInProgressError: another sync for this user is running (not recorded:
                the other sync's outcome is what counts).
            Exception: whatever ``operation`` raises, recorded as the last error.
        """
        self._cancel.clear()

        def on_progress(phase: str, done: int, total: int) -> None:
            if not self._hooked:
                self.sync_progress(phase, done, total)
            if progress is not None:
                progress(phase, done, total)

        def should_cancel() -> bool:
            return self._cancel.is_set() or (cancel is not None and cancel())

        if self._hooked:
            return operation(on_progress, should_cancel)
        self.sync_started(self.synchronizer.user)
        try:
            report = operation(on_progress, should_cancel)
        except SyncInProgressError:
            with self._lock:
                self._running -= 1
                if not self._running:
                    self._progress = (None, 0, 0)
            raise
        except Exception as exc:
            self.sync_failed(self.synchronizer.user, exc)
            raise
        self.sync_finished(report)
        return report

    def cancel(self) -> None:
        """Ask the sync running through this board to stop between two items."""
        self._cancel.set()

    # -- the observer side (called by run(), or by the engine's hook) ----------------

    def sync_started(self, user: str) -> None:
        """A sync for ``user`` holds the lock and starts."""
        with self._lock:
            self._running += 1
            self._progress = ("list", 0, 0)

    def sync_progress(self, phase: str, done: int, total: int) -> None:
        """The running sync's progress."""
        with self._lock:
            self._progress = (phase, done, total)

    def sync_finished(self, report: SyncReport) -> None:
        """A sync ended with ``report`` (which may describe a problem)."""
        problem = describe_problem(report)
        at = report.finished_at or self._clock()
        with self._lock:
            self._running = max(0, self._running - 1)
            if not self._running:
                self._progress = (None, 0, 0)
            self._last_report = report
            self._healthy = problem is None
            if problem is None:
                self._last_success = at
            else:
                self._last_error = (problem, at)

    def sync_failed(self, user: str, error: BaseException) -> None:
        """A sync ended with an exception (the state store failed, a bug)."""
        with self._lock:
            self._running = max(0, self._running - 1)
            if not self._running:
                self._progress = (None, 0, 0)
            self._healthy = False
            self._last_error = (f"{type(error).__name__}: {error}", self._clock())

    # -- reading ----------------------------------------------------------------------

    def status(self) -> SyncStatus:
        """The sync as a whole, now.

        Raises:
            StateError: the state store could not be read.
        """
        sync = self.synchronizer
        state, user = sync.state, sync.user
        last_sync = state.last_sync(user)
        conflicts = tuple(state.conflicts(user))
        quarantined = tuple(state.quarantine(user))
        pending = tuple(state.pending(user))
        holder = state.lock_holder(user)
        with self._lock:
            phase, done, total = self._progress
            error, error_at = self._last_error or (None, None)
            return SyncStatus(
                user=user,
                running=self._running > 0,
                phase=phase,
                done=done,
                total=total,
                last_sync=last_sync,
                last_success=self._last_success or last_sync,
                last_error=error,
                last_error_at=error_at,
                healthy=self._healthy,
                last_report=self._last_report,
                conflicts=conflicts,
                quarantined=quarantined,
                pending=pending,
                lock_holder=holder,
            )

    def activity(self, saljstod_id: str) -> ActivityStatus:
        """One Säljstöd activity's sync status.

        Raises:
            StateError: the state store could not be read.
        """
        return self.activities([saljstod_id])[saljstod_id]

    def activities(self, saljstod_ids: Iterable[str]) -> dict[str, ActivityStatus]:
        """Several activities' sync status at once (one read of each log).

        Raises:
            StateError: the state store could not be read.
        """
        ids = list(dict.fromkeys(saljstod_ids))
        sync = self.synchronizer
        state, user = sync.state, sync.user
        links = {link.saljstod_id: link for link in state.links(user, saljstod_ids=ids)}
        quarantine = {(q.side, q.item_id): q for q in state.quarantine(user)}
        pending = set(state.pending(user))
        conflicts = state.conflicts(user)
        last_sync = state.last_sync(user)
        with self._lock:
            failures = self._last_report.failures if self._last_report else ()
        result: dict[str, ActivityStatus] = {}
        for s_id in ids:
            link = links.get(s_id)
            o_id = link.outlook_id if link is not None else None
            keys = [(_S, s_id)] + ([(_O, o_id)] if o_id is not None else [])
            mine = tuple(
                c
                for c in conflicts
                if c.saljstod_id == s_id or (o_id is not None and c.outlook_id == o_id)
            )
            held = next((quarantine[k] for k in keys if k in quarantine), None)
            status = ActivityStatus(
                saljstod_id=s_id, state=ActivityState.SYNCED, outlook_id=o_id, conflicts=mine
            )
            if held is not None:
                status = attrs.evolve(
                    status, state=ActivityState.QUARANTINED, reason=f"{held.side}: {held.reason}"
                )
            elif any(k in pending for k in keys):
                failure = next((f for f in failures if (f.side, f.item_id) in keys), None)
                reason = (
                    f"{failure.operation} failed: {failure.error}"
                    if failure
                    else RETRIED
                )
                status = attrs.evolve(status, state=ActivityState.PENDING, reason=reason)
            elif mine:
                status = attrs.evolve(
                    status, state=ActivityState.CONFLICT, reason=mine[-1].detail or mine[-1].kind
                )
            elif link is None:
                status = attrs.evolve(
                    status,
                    state=ActivityState.NOT_SYNCED,
                    reason="not linked to an Outlook item (yet)",
                )
            elif link.gone is not None:
                status = attrs.evolve(
                    status,
                    state=ActivityState.NOT_SYNCED,
                    reason=(KEPT_UNLINKED_OUTLOOK if link.gone is Side.OUTLOOK
                            else KEPT_UNLINKED_SALJSTOD),
                )
            in_step = (ActivityState.SYNCED, ActivityState.CONFLICT)
            if link is not None and link.gone is None and status.state in in_step:
                status = attrs.evolve(status, synced_as_of=last_sync)
            result[s_id] = status
        return result
