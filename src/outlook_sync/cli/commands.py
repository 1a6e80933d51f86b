"""The syncing commands: ``sync``, ``plan``, ``status``, ``set-last-sync``, ``watch``, ``open``.

The maintenance commands (conflicts, quarantine, restore, duplicates, db, init) are in
:mod:`outlook_sync.cli.maintenance`; both are wired up by :mod:`outlook_sync.cli.app`.
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from outlook_sync.cli.exit_codes import ExitCode
from outlook_sync.cli.maintenance import (
    conflicts,
    db_upgrade,
    duplicates,
    init,
    quarantine,
    restore,
)
from outlook_sync.cli.render import (
    ProgressDisplay,
    dump_json,
    label,
    plan_dict,
    plan_rows,
    table,
)
from outlook_sync.errors import ConfigurationError, ItemNotFoundError, SyncInProgressError
from outlook_sync.logging_setup import component_logger, fields
from outlook_sync.model import Side
from outlook_sync.protocols import ChangeNotifier, ItemOpener, Subscription
from outlook_sync.report import SyncReport

if TYPE_CHECKING:
    from outlook_sync.cli.app import Context
    from outlook_sync.cli.registry import Wiring

__all__ = [
    "conflicts",
    "db_upgrade",
    "duplicates",
    "init",
    "open_item",
    "plan",
    "quarantine",
    "report_code",
    "restore",
    "run_watch",
    "set_last_sync",
    "status",
    "sync",
    "watch",
]

log = component_logger("cli")


def report_code(report: SyncReport, pending_conflicts: int) -> ExitCode:
    """The exit code a sync report deserves (see :class:`ExitCode` for the order)."""
    if report.error:
        return ExitCode.BACKEND_UNREACHABLE
    if report.refused:
        return ExitCode.MASS_DELETE_REFUSED
    if report.cancelled:
        return ExitCode.INTERRUPTED
    if report.failures:
        return ExitCode.ITEMS_FAILED
    if pending_conflicts:
        return ExitCode.CONFLICTS_PENDING
    return ExitCode.OK


@contextmanager
def stop_on_ctrl_c(ctx: Context) -> Iterator[threading.Event]:
    """An event set by the first Ctrl-C; a second Ctrl-C interrupts at once.

    The sync polls the event between items (``cancel=``), so a first Ctrl-C stops cleanly
    with every finished item recorded. Outside the main thread this is a plain event.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(_signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        newline = "\n" if ctx.err.isatty() else ""  # below a progress line
        ctx.warn(f"{newline}Stopping after the current item (Ctrl-C again to abort)...")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _progress(ctx: Context) -> ProgressDisplay:
    wanted = getattr(ctx.args, "progress", None)
    enabled = ctx.err.isatty() if wanted is None else bool(wanted)
    return ProgressDisplay(ctx.err, enabled=enabled and not ctx.json)


def _show_report(ctx: Context, report: SyncReport, pending: int, code: ExitCode) -> None:
    if ctx.json:
        dump_json(
            {**report.to_dict(), "pending_conflicts": pending, "exit_code": int(code)}, ctx.out
        )
        return
    ctx.say(str(report))
    if report.refused:
        ctx.say(
            "Nothing was written. Check `outlook-sync plan`, then run "
            "`outlook-sync sync --confirm-mass-delete` if the deletions are wanted."
        )
    if report.error:
        ctx.say("Nothing was written; the next sync tries again.")
    if pending:
        ctx.say(f"{pending} conflict(s) pending: see `outlook-sync conflicts`.")


# -- sync / plan ------------------------------------------------------------------------


def sync(ctx: Context) -> ExitCode:
    """``outlook-sync sync [--full]``."""
    with ctx.wired() as wiring, stop_on_ctrl_c(ctx) as stop:
        progress = _progress(ctx)
        run = wiring.sync.full_sync_now if ctx.args.full else wiring.sync.sync
        try:
            report = run(
                confirm_mass_delete=ctx.args.confirm_mass_delete,
                progress=progress,
                cancel=stop.is_set,
            )
        finally:
            progress.finish()
        pending = len(wiring.state.conflicts(wiring.config.user))
    code = report_code(report, pending)
    log.info(
        "sync finished: %s, %d writes",
        code.name.lower(),
        report.total_writes,
        extra=fields(user=report.user, operation="full_sync" if ctx.args.full else "sync"),
    )
    _show_report(ctx, report, pending, code)
    return code


def plan(ctx: Context) -> ExitCode:
    """``outlook-sync plan``: the dry run."""
    with ctx.wired() as wiring:
        the_plan = wiring.sync.plan(confirm_mass_delete=ctx.args.confirm_mass_delete)
    code = ExitCode.MASS_DELETE_REFUSED if the_plan.refused else ExitCode.OK
    if ctx.json:
        dump_json(plan_dict(the_plan), ctx.out)
        return code
    rows = plan_rows(the_plan)
    if rows:
        ctx.say(table(["ACTION", "ON", "ITEM", "WHEN", "SUBJECT"], rows))
        ctx.say()
    else:
        ctx.say("Nothing to do.")
    for side in Side:
        counts = the_plan.writes(side)
        ctx.say(
            f"{label(side)}: create {counts['create']}, update {counts['update']}, "
            f"delete {counts['delete']}"
        )
    for entry in the_plan.quarantined:
        ctx.say(f"quarantined {label(entry.side)} {entry.item_id}: {entry.reason}")
    for conflict in the_plan.conflicts:
        fields_text = f" ({', '.join(conflict.fields)})" if conflict.fields else ""
        ctx.say(f"conflict {conflict.kind}{fields_text}: {conflict.resolution}")
    if the_plan.refused:
        ctx.say(f"REFUSED: {the_plan.refused}")
        ctx.say(
            "A sync would write nothing; `outlook-sync sync --confirm-mass-delete` "
            "applies this plan."
        )
    return code


# -- status / settings -------------------------------------------------------------------


def _activity_status(ctx: Context, wiring: Wiring, activity: str) -> dict[str, Any]:
    user = wiring.config.user
    state = wiring.state
    links = state.links(user, saljstod_ids=[activity], outlook_ids=())
    link = links[0] if links else None
    quarantined = [
        q for q in state.quarantine(user) if q.side is Side.SALJSTOD and q.item_id == activity
    ]
    partner = link.outlook_id if link else None
    in_conflict = [
        c
        for c in state.conflicts(user)
        if c.saljstod_id == activity or (partner and c.outlook_id == partner)
    ]
    pending = (Side.SALJSTOD, activity) in set(state.pending(user))
    if quarantined:
        summary = "quarantined"
    elif in_conflict:
        summary = "in conflict"
    elif pending:
        summary = "pending"
    elif link is not None:
        summary = "linked" if link.gone is None else "unlinked (partner deleted)"
    else:
        summary = "not synced yet"
    return {
        "activity_id": activity,
        "status": summary,
        "outlook_id": partner,
        "quarantine_reason": quarantined[0].reason if quarantined else None,
        "conflicts": len(in_conflict),
        "pending_retry": pending,
    }


def status(ctx: Context) -> ExitCode:
    """``outlook-sync status [ACTIVITY_ID]``."""
    with ctx.wired(calendars=False) as wiring:
        user, state = wiring.config.user, wiring.state
        if ctx.args.activity:
            data = _activity_status(ctx, wiring, ctx.args.activity)
            pending_conflicts = data["conflicts"]
        else:
            last = state.last_sync(user)
            pending_conflicts = len(state.conflicts(user))
            data = {
                "user": user,
                "saljstod": wiring.config.saljstod.name,
                "outlook": wiring.config.outlook.name,
                "last_sync": last.isoformat() if last else None,
                "links": state.link_count(user),
                "conflicts_pending": pending_conflicts,
                "quarantined": len(state.quarantine(user)),
                "pending_retries": len(state.pending(user)),
                "restorable_deleted": len(state.deleted_items(user)),
            }
    if ctx.json:
        dump_json(data, ctx.out)
    elif ctx.args.activity:
        ctx.say(f"Activity {data['activity_id']}: {data['status']}")
        if data["outlook_id"]:
            ctx.say(f"  Outlook item:   {data['outlook_id']}")
        if data["quarantine_reason"]:
            ctx.say(f"  reason:         {data['quarantine_reason']}")
        if data["conflicts"]:
            ctx.say(f"  conflicts:      {data['conflicts']} (see `outlook-sync conflicts`)")
    else:
        ctx.say(
            f"User:               {data['user']}  "
            f"(Säljstöd: {data['saljstod']}, Outlook: {data['outlook']})"
        )
        ctx.say(f"Last sync:          {data['last_sync'] or 'never (the next sync is full)'}")
        ctx.say(f"Linked items:       {data['links']}")
        ctx.say(f"Conflicts pending:  {data['conflicts_pending']}")
        ctx.say(f"Quarantined items:  {data['quarantined']}")
        ctx.say(f"Waiting for retry:  {data['pending_retries']}")
        ctx.say(f"Restorable deleted: {data['restorable_deleted']}")
    return ExitCode.CONFLICTS_PENDING if pending_conflicts else ExitCode.OK


def parse_when(text: str) -> dt.datetime:
    """An ISO date or date-time; without an offset it is local time.

    Raises:
        ConfigurationError: not a date (``key="DATE"``).
    """
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigurationError(
            f"DATE {text!r} is not an ISO date or date-time (e.g. 2026-11-01 or "
            "2026-11-01T08:00+01:00)",
            key="DATE",
        ) from None
    return value if value.tzinfo is not None else value.astimezone()


def set_last_sync(ctx: Context) -> ExitCode:
    """``outlook-sync set-last-sync DATE``."""
    when = parse_when(ctx.args.date)
    with ctx.wired(calendars=False) as wiring:
        wiring.sync.set_last_sync(when)
    if ctx.json:
        dump_json({"last_sync": when.isoformat()}, ctx.out)
    else:
        ctx.say(
            f"Last sync set to {when.isoformat()}: the next sync processes the changes "
            "made from and including then."
        )
    return ExitCode.OK


# -- watch ---------------------------------------------------------------------------


def _subscribe(wiring: Wiring, wake: threading.Event) -> list[Subscription]:
    subscriptions: list[Subscription] = []

    def changed(_ids: Sequence[str]) -> None:
        wake.set()

    for side in Side:
        calendar = wiring.calendar(side)
        if isinstance(calendar, ChangeNotifier):
            subscriptions.append(calendar.subscribe(changed))
    return subscriptions


def run_watch(
    wiring: Wiring,
    *,
    interval: float,
    stop: threading.Event,
    on_report: Callable[[SyncReport], None],
    confirm_mass_delete: bool = False,
    max_syncs: int | None = None,
    debounce: float = 0.3,
) -> int:
    """Sync now, then on every change notification (after ``debounce``), and at least
    every ``interval`` seconds, until ``stop`` is set. Returns the number of syncs.

    Backends that push changes (:class:`ChangeNotifier`) wake the loop; the others are
    caught by the interval. A burst of notifications causes one sync, and a notification
    during a sync one more. This loop is the command line's own; a host uses the
    engine's watcher when it has one.

    Raises:
        StateError: the state store failed (a failing calendar only shows in a report).
    """
    wake = threading.Event()
    subscriptions = _subscribe(wiring, wake)
    syncs = 0
    try:
        while not stop.is_set():
            wake.clear()
            try:
                report = wiring.sync.sync(
                    confirm_mass_delete=confirm_mass_delete, cancel=stop.is_set
                )
            except SyncInProgressError as exc:
                log.info("skipped a sync: %s", exc, extra=fields(user=wiring.config.user))
            else:
                syncs += 1
                on_report(report)
            if max_syncs is not None and syncs >= max_syncs:
                break
            deadline = interval
            while not stop.is_set() and deadline > 0:
                if wake.wait(min(deadline, 0.5)):
                    stop.wait(debounce)  # let a burst of changes settle
                    break
                deadline -= 0.5
    finally:
        for subscription in subscriptions:
            subscription.close()
    return syncs


def watch(ctx: Context) -> ExitCode:
    """``outlook-sync watch``: direct sync until Ctrl-C."""
    interval = ctx.args.interval or ctx.config.watch_interval
    if interval <= 0:
        raise ConfigurationError("--interval must be > 0", key="--interval")
    with ctx.wired() as wiring, stop_on_ctrl_c(ctx) as stop:
        user = wiring.config.user

        def show(report: SyncReport) -> None:
            pending = len(wiring.state.conflicts(user))
            code = report_code(report, pending)
            if ctx.json:
                dump_json(
                    {**report.to_dict(), "pending_conflicts": pending, "exit_code": int(code)},
                    ctx.out,
                )
            else:
                stamp = (report.finished_at or dt.datetime.now(dt.UTC)).astimezone()
                state = "ok" if code is ExitCode.OK else code.name.lower().replace("_", " ")
                ctx.say(
                    f"{stamp:%Y-%m-%d %H:%M:%S} {state}: {report.total_writes} writes, "
                    f"{len(report.conflicts)} conflicts, {len(report.failures)} failures"
                )
            ctx.out.flush()

        if not ctx.json:
            ctx.warn(
                f"Watching {user}'s calendars (a sync at least every {interval:g} s); Ctrl-C stops."
            )
        try:
            run_watch(
                wiring,
                interval=interval,
                stop=stop,
                on_report=show,
                confirm_mass_delete=ctx.args.confirm_mass_delete,
                max_syncs=ctx.args.max_syncs,
            )
        except KeyboardInterrupt:
            ctx.warn("Aborted.")
            return ExitCode.INTERRUPTED
    if stop.is_set() and not ctx.json:
        ctx.warn("Stopped.")
    return ExitCode.OK


# -- open ----------------------------------------------------------------------------


def open_item(ctx: Context) -> ExitCode:
    """``outlook-sync open ACTIVITY_ID``: show the linked Outlook item."""
    activity = ctx.args.activity
    with ctx.wired() as wiring:
        links = wiring.state.links(wiring.config.user, saljstod_ids=[activity], outlook_ids=())
        if not links or links[0].gone is not None:
            raise ItemNotFoundError(
                f"Säljstöd activity {activity} is not linked to an Outlook item (has it been "
                "synced? see `outlook-sync status " + activity + "`)",
                side="saljstod",
                item_id=activity,
            )
        outlook_id = links[0].outlook_id
        opener = wiring.outlook
        if not isinstance(opener, ItemOpener):
            raise ConfigurationError(
                f"the Outlook backend {wiring.config.outlook.name!r} cannot open items",
                key="outlook.backend",
            )
        url = opener.open_item(outlook_id)
    if ctx.json:
        dump_json({"activity_id": activity, "outlook_id": outlook_id, "url": url}, ctx.out)
    elif url:
        ctx.say(url)
    else:
        ctx.say(f"Opened Outlook item {outlook_id} in Outlook.")
    return ExitCode.OK
