"""The syncing commands: ``sync``, ``plan``, ``status``, ``set-last-sync``, ``watch``, ``open``.

The maintenance commands (conflicts, quarantine, restore, duplicates, db, init) are in
:mod:`outlook_sync.cli.maintenance`; both are wired up by :mod:`outlook_sync.cli.app`.
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from outlook_sync.cli.context import Context, UsageError
from outlook_sync.cli.exit_codes import ExitCode
from outlook_sync.cli.itemlog import Written
from outlook_sync.cli.maintenance import (
    conflicts,
    db_upgrade,
    duplicates,
    init,
    quarantine,
    restore,
    schema,
)
from outlook_sync.cli.render import (
    STATE_TEXT,
    ProgressDisplay,
    display_width,
    dump_json,
    label,
    local_time,
    pad,
    plan_dict,
    plan_rows,
    summary,
    table,
)
from outlook_sync.errors import ConfigurationError, ItemNotFoundError
from outlook_sync.i18n import CONFLICT_KINDS
from outlook_sync.logging_setup import component_logger, fields
from outlook_sync.model import Side
from outlook_sync.occasions import SyncOccasions
from outlook_sync.protocols import ItemOpener
from outlook_sync.report import SyncReport
from outlook_sync.status import StatusBoard
from outlook_sync.watch import Watcher

if TYPE_CHECKING:
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
    "schema",
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


def _show_report(
    ctx: Context, report: SyncReport, pending: int, code: ExitCode, written: Sequence[Written]
) -> None:
    if ctx.json:
        dump_json(
            {**report.to_dict(), "pending_conflicts": pending, "exit_code": int(code)}, ctx.out
        )
        return
    t = ctx.t
    for line in summary(report, written, t):
        ctx.say(line)
    if report.refused:
        ctx.say(
            t(
                "Nothing was written. Check `outlook-sync plan`, then run "
                "`outlook-sync sync --confirm-mass-delete` if the deletions are wanted."
            )
        )
    if report.error:
        ctx.say(t("Nothing was written; the next sync tries again."))
    if pending:
        ctx.say(t.plural(
            "{count} conflict pending: see `outlook-sync conflicts`.",
            "{count} conflicts pending: see `outlook-sync conflicts`.",
            pending,
        ))


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
    _show_report(ctx, report, pending, code, wiring.written)
    return code


def plan(ctx: Context) -> ExitCode:
    """``outlook-sync plan``: the dry run."""
    with ctx.wired(writes=False) as wiring:
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


def _activity_status(wiring: Wiring, activity: str) -> dict[str, Any]:
    """One activity's status, as the host shows it (:meth:`StatusBoard.activity`)."""
    found = StatusBoard(wiring.sync).activity(activity)
    return {
        "activity_id": found.saljstod_id,
        "state": found.state.value,
        "outlook_id": found.outlook_id,
        "synced_as_of": (
            found.synced_as_of.isoformat(timespec="seconds") if found.synced_as_of else None
        ),
        "reason": found.reason,
        "conflicts": len(found.conflicts),
    }


def _state_file(config: Any) -> dict[str, Any] | None:
    """The SQLite state file status reads, and whether it exists yet (a mistyped path
    shows here, instead of a plain "never synced")."""
    if config.state.name != "sqlite":
        return None
    path = Path(config.state.require("path")).resolve()
    return {"path": str(path), "exists": path.exists()}


def _last_error(trouble: tuple[dt.datetime, str] | None) -> dict[str, str] | None:
    if trouble is None:
        return None
    return {"at": trouble[0].isoformat(timespec="seconds"), "message": trouble[1]}


def status(ctx: Context) -> ExitCode:
    """``outlook-sync status [ACTIVITY_ID]``."""
    with ctx.wired(calendars=False, writes=False) as wiring:
        user, state = wiring.config.user, wiring.state
        if ctx.args.activity:
            data = _activity_status(wiring, ctx.args.activity)
            pending_conflicts = data["conflicts"]
        else:
            last = state.last_sync(user)
            pending_conflicts = len(state.conflicts(user))
            data = {
                "user": user,
                "saljstod": wiring.config.saljstod.name,
                "outlook": wiring.config.outlook.name,
                "last_sync": last.isoformat(timespec="seconds") if last else None,
                "state_database": _state_file(wiring.config),
                "links": state.link_count(user),
                "conflicts_pending": pending_conflicts,
                "quarantined": len(state.quarantine(user)),
                "pending_retries": len(state.pending(user)),
                "restorable_deleted": len(state.deleted_items(user)),
                "last_error": _last_error(state.last_error(user)),
                "held": [{"side": q.side.value, "item_id": q.item_id, "reason": q.reason}
                         for q in state.quarantine(user)],
                "lock_holder": _lock_holder(state.lock_holder(user)),
            }
    if ctx.json:
        dump_json(data, ctx.out)
    elif ctx.args.activity:
        _say_activity(ctx, data)
    else:
        _say_status(ctx, data)
    return ExitCode.CONFLICTS_PENDING if pending_conflicts else ExitCode.OK


def _lock_holder(holder: tuple[str, dt.datetime] | None) -> str | None:
    if holder is None:
        return None
    who, until = holder
    return f"{who} (lease until {until.astimezone().isoformat(timespec='seconds')})"


def _say_activity(ctx: Context, data: dict[str, Any]) -> None:
    t = ctx.t
    state = t(STATE_TEXT.get(data["state"], data["state"]))
    ctx.say(t("Activity {id}: {state}", id=data["activity_id"], state=state))
    rows = [
        (t("Outlook item"), data["outlook_id"]),
        (t("synced as of"), local_time(data["synced_as_of"])),
        # a conflict without detail gives its kind id: said in words, like the rest
        (t("reason"), t(CONFLICT_KINDS.get(data["reason"], data["reason"]))
         if data["reason"] else None),
    ]
    if data["conflicts"]:
        rows.append((t("conflicts"), t("{count} (see `outlook-sync conflicts`)",
                                       count=data["conflicts"])))
    width = max(display_width(title) for title, _ in rows) + 2
    for title, value in rows:
        if value:
            ctx.say("  " + pad(title + ":", width) + " " + str(value))


def _say_status(ctx: Context, data: dict[str, Any]) -> None:
    t = ctx.t
    trouble = data["last_error"]
    rows = [
        (t("User"), t("{user}  (Säljstöd: {saljstod}, Outlook: {outlook})", **data)),
        (t("Last sync"), local_time(data["last_sync"]) or t("never (the next sync is full)")),
        (t("Linked items"), data["links"]),
        (t("Conflicts pending"), data["conflicts_pending"]),
        (t("Quarantined items"), data["quarantined"]),
        (t("Waiting for retry"), data["pending_retries"]),
        (t("Restorable deleted"), data["restorable_deleted"]),
        (
            t("Last error"),
            f"{trouble['message']} ({local_time(trouble['at'])})" if trouble else t("none"),
        ),
    ]
    if data["lock_holder"]:
        rows.append((t("Sync running"), data["lock_holder"]))
    database = data.get("state_database")
    if database is not None:
        rows.append((t("State database"), database["path"] if database["exists"] else t(
            "{path} (not created yet: the first sync creates it)", path=database["path"])))
    width = max(display_width(title) for title, _ in rows) + 2
    for title, value in rows:
        ctx.say(pad(title + ":", width) + str(value))
    for held in data["held"]:  # the side in words, as every other command names it
        ctx.say("  " + t("held {side} {item_id}: {reason}",
                         **{**held, "side": label(Side(held["side"]))}))


def parse_when(text: str) -> dt.datetime:
    """An ISO date or date-time; without an offset it is local time.

    A date alone is local midnight.

    Raises:
        UsageError: not a date.
    """
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"DATE {text!r} is not an ISO date or date-time (e.g. 2026-11-01 or "
            "2026-11-01T08:00+01:00)"
        ) from None
    return value if value.tzinfo is not None else value.astimezone()


def set_last_sync(ctx: Context) -> ExitCode:
    """``outlook-sync set-last-sync DATE``."""
    when = parse_when(ctx.args.date)
    if when > dt.datetime.now(dt.UTC):
        raise UsageError(
            ctx.t(
                "DATE {date} is in the future: a sync from then would skip every change "
                "made until then; give a date in the past (or run `outlook-sync sync "
                "--full`)",
                date=local_time(when),
            )
        )
    with ctx.wired(calendars=False) as wiring:
        wiring.sync.set_last_sync(when)
    if ctx.json:
        dump_json({"last_sync": when.isoformat()}, ctx.out)
    else:
        ctx.say(
            ctx.t(
                "Last sync set to {when}: the next sync processes the changes made from "
                "and including then.",
                when=local_time(when),
            )
        )
    return ExitCode.OK


# -- watch ---------------------------------------------------------------------------


def watch(ctx: Context) -> ExitCode:
    """``outlook-sync watch``: direct sync until Ctrl-C.

    The engine's :class:`~outlook_sync.watch.Watcher` does the work in a background
    thread: a sync at start, after each burst of change notifications (sides without
    notifications are polled), and at least every ``interval`` seconds. This thread
    waits for Ctrl-C (or ``--max-syncs``) and then stops it between two items.
    """
    interval = ctx.args.interval or ctx.config.watch_interval
    if interval <= 0:
        raise ConfigurationError("--interval must be > 0", key="--interval")
    max_syncs: int | None = ctx.args.max_syncs
    with ctx.wired() as wiring, stop_on_ctrl_c(ctx) as stop:
        user = wiring.config.user
        syncs = 0
        last = ExitCode.OK

        def show(report: SyncReport) -> None:  # called in the watcher's thread
            nonlocal syncs, last
            pending = len(wiring.state.conflicts(user))
            code = last = report_code(report, pending)
            if ctx.json:
                record = {**report.to_dict(), "pending_conflicts": pending, "exit_code": int(code)}
                dump_json(record, ctx.out)
            else:
                stamp = local_time(report.finished_at or dt.datetime.now(dt.UTC))
                state = "ok" if code is ExitCode.OK else code.name.lower().replace("_", " ")
                ctx.say(
                    f"{stamp} {ctx.t(state)}: {report.total_writes} writes, "
                    f"{len(report.conflicts)} conflicts, {len(report.failures)} failures"
                )
            ctx.out.flush()
            syncs += 1
            if max_syncs is not None and syncs >= max_syncs:
                stop.set()

        if not ctx.json:
            ctx.warn(
                f"Watching {user}'s calendars (a sync at least every {interval:g} s); Ctrl-C stops."
            )
        occasions = SyncOccasions(interval=dt.timedelta(seconds=interval))
        watcher = Watcher(wiring.sync, occasions=occasions, on_report=show).start()
        try:
            while not stop.wait(0.25):
                if not watcher.running:  # the thread ended on an unexpected error
                    ctx.warn("outlook-sync: the watcher stopped unexpectedly (see the log)")
                    return ExitCode.ERROR
        except KeyboardInterrupt:
            watcher.stop(timeout=5)
            ctx.warn("Aborted.")
            return ExitCode.INTERRUPTED
        watcher.stop()
    if not ctx.json:
        ctx.warn("Stopped.")
    # with --max-syncs (a script's bounded run) the last sync's code, as `sync` gives it
    return last if max_syncs is not None else ExitCode.OK


# -- open ----------------------------------------------------------------------------


def open_item(ctx: Context) -> ExitCode:
    """``outlook-sync open ACTIVITY_ID``: show the linked Outlook item."""
    activity = ctx.args.activity
    with ctx.wired() as wiring:
        links = wiring.state.links(wiring.config.user, saljstod_ids=[activity], outlook_ids=())
        if not links or links[0].gone is not None:
            raise ItemNotFoundError(
                ctx.t(
                    "Säljstöd activity {activity} is not linked to an Outlook item (has it "
                    "been synced? see `outlook-sync status {activity}`)",
                    activity=activity,
                ),
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
