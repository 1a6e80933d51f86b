"""The maintenance commands: ``conflicts``, ``quarantine``, ``restore``, ``duplicates``,
``db upgrade`` and ``init``."""

from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path
from typing import Any

from outlook_sync.cli.context import Context, UsageError
from outlook_sync.cli.duplicates import find_duplicates, merge_duplicates
from outlook_sync.cli.exit_codes import ExitCode
from outlook_sync.cli.registry import demo_events, known_backends, sql_connection
from outlook_sync.cli.render import (
    KIND_TEXT,
    conflict_dict,
    deleted_dict,
    dump_json,
    field_name_text,
    label,
    local_time,
    quarantined_dict,
    resolution_text,
    table,
    when,
)
from outlook_sync.cli.template import DEMO, DEMO_OUTLOOK, DEMO_SALJSTOD, DEMO_STATE, EXAMPLE
from outlook_sync.config import Config, find_config, parse_config
from outlook_sync.config_schema import json_schema
from outlook_sync.errors import ConfigurationError, ItemNotFoundError
from outlook_sync.i18n import Translator
from outlook_sync.logging_setup import component_logger, fields
from outlook_sync.model import Side
from outlook_sync.protocols import StateChange
from outlook_sync.records import Conflict

#: Who cleared what: lines an auditor can find (``outlook_sync.audit``).
audit_log = component_logger("audit")


__all__ = [
    "conflicts", "db_upgrade", "duplicates", "init", "quarantine", "restore", "schema"
]


def conflicts(ctx: Context) -> ExitCode:
    """``outlook-sync conflicts [--clear]``: the conflict log, per field both values and
    the winner; ``--clear`` resolves it and leaves an audit line in the log."""
    t = ctx.t
    with ctx.wired(calendars=False, writes=bool(ctx.args.clear)) as wiring:
        user = wiring.config.user
        entries = wiring.state.conflicts(user)
        if ctx.args.clear and entries:
            wiring.state.clear_conflicts(user)
            audit_log.warning(
                "conflict log cleared for %s by %s: %d entr%s (%s)",
                user,
                _operator(ctx),
                len(entries),
                "y" if len(entries) == 1 else "ies",
                ", ".join(f"{c.saljstod_id or '-'}/{c.outlook_id or '-'}" for c in entries),
                extra=fields(user=user, operation="clear_conflicts", count=len(entries)),
            )
    if ctx.json:
        dump_json(
            {"conflicts": [conflict_dict(c) for c in entries], "cleared": bool(ctx.args.clear)},
            ctx.out,
        )
    elif not entries:
        ctx.say(t("No conflicts."))
    else:
        for number, entry in enumerate(entries):
            if number:
                ctx.say()
            _say_conflict(ctx, entry)
        ctx.say()
        if ctx.args.clear:
            ctx.say(t.plural("Cleared {count} conflict.", "Cleared {count} conflicts.",
                             len(entries)))
        else:
            ctx.say(
                t(
                    "The sync has resolved these by the policy; check the items, then "
                    "`outlook-sync conflicts --clear`."
                )
            )
    return ExitCode.CONFLICTS_PENDING if entries and not ctx.args.clear else ExitCode.OK


def _operator(ctx: Context) -> str:
    """Who ran the command, for the audit line (the login name; never a secret)."""
    for name in ("USER", "USERNAME", "LOGNAME"):
        if ctx.environ.get(name):
            return ctx.environ[name]
    return "unknown"


def _say_conflict(ctx: Context, entry: Conflict) -> None:
    t = ctx.t
    data = conflict_dict(entry)
    ctx.say(
        t(
            "{kind} (Säljstöd {saljstod}, Outlook {outlook}): {subject} — resolved by "
            "{resolution}",
            kind=t(KIND_TEXT.get(entry.kind, entry.kind.replace("_", " "))),
            saljstod=entry.saljstod_id or "-",
            outlook=entry.outlook_id or "-",
            subject=data["subject"] or "",
            resolution=resolution_text(entry.resolution, t),
        )
    )
    if data["values"]:
        rows = [
            [field_name_text(v["field"], t), v["saljstod"], v["outlook"],
             label_of(v["winner"], t)]
            for v in data["values"]
        ]
        header = [t("FIELD"), t("SÄLJSTÖD"), t("OUTLOOK"), t("WINNER")]
        for line in table(header, rows).splitlines():
            ctx.say("  " + line)
    elif entry.detail:
        ctx.say("  " + entry.detail)


def label_of(side: str | None, t: Translator) -> str:
    """``Säljstöd``, ``Outlook``, or "both kept" for a conflict's winner."""
    if side is None:
        return t("both kept")
    return label(Side(side))


def quarantine(ctx: Context) -> ExitCode:
    """``outlook-sync quarantine [--clear [ID ...]]``."""
    clear: list[str] | None = ctx.args.clear
    with ctx.wired(calendars=False, writes=clear is not None) as wiring:
        user = wiring.config.user
        entries = wiring.state.quarantine(user)
        chosen = (
            entries
            if clear is not None and not clear
            else [q for q in entries if clear and q.item_id in clear]
        )
        unknown = sorted(set(clear or ()) - {q.item_id for q in entries})
        if unknown:
            raise ItemNotFoundError(
                ctx.t("not in quarantine: {ids} (see `outlook-sync quarantine`)",
                      ids=", ".join(unknown)),
                item_id=unknown[0],
            )
        if chosen:
            wiring.state.commit(
                user, StateChange(unquarantine=tuple((q.side, q.item_id) for q in chosen))
            )
    if ctx.json:
        dump_json(
            {
                "quarantined": [quarantined_dict(q) for q in entries],
                "cleared": [quarantined_dict(q) for q in chosen],
            },
            ctx.out,
        )
    elif not entries:
        ctx.say("No quarantined items.")
    else:
        ctx.say(
            table(["ON", "ITEM", "REASON"], [[label(q.side), q.item_id, q.reason] for q in entries])
        )
        if chosen:
            ctx.say(
                f"Cleared {len(chosen)} entr{'y' if len(chosen) == 1 else 'ies'}; an item "
                "that is still unreadable is quarantined again by the next sync."
            )
    return ExitCode.OK


def restore(ctx: Context) -> ExitCode:
    """``outlook-sync restore [ITEM_ID] [--side S]``."""
    item: str | None = ctx.args.item
    with ctx.wired(calendars=item is not None, writes=item is not None) as wiring:
        entries = wiring.state.deleted_items(wiring.config.user)
        if item is None:
            return _list_deleted(ctx, entries)
        matches = [
            e
            for e in entries
            if e.item_id == item and (ctx.args.side is None or e.side.value == ctx.args.side)
        ]
        if not matches:
            raise ItemNotFoundError(
                ctx.t("no deleted item {item} is kept (see `outlook-sync restore` for the list)",
                      item=item),
                item_id=item,
            )
        if len(matches) > 1:
            raise ConfigurationError(f"{item} was deleted on both sides; add --side", key="--side")
        entry = matches[0]
        outcome = wiring.sync.restore(entry.side, entry.item_id)
        restored = outcome.item
    if ctx.json:
        dump_json(
            {
                "side": entry.side.value,
                "item_id": entry.item_id,
                "restored_id": restored.id,
                "same_id": outcome.same_id,
                "not_restored": list(outcome.not_restored),
            },
            ctx.out,
        )
        return ExitCode.OK
    how = (
        "under its old id"
        if outcome.same_id
        else f"as a new item {restored.id} (the old id is gone)"
    )
    ctx.say(
        f"Restored {label(entry.side)} item {entry.item_id} ({entry.event.subject}) {how}; "
        f"the next sync brings it to {label(entry.side.other)} again."
    )
    if outcome.not_restored:
        ctx.say(f"Not restored: {', '.join(outcome.not_restored)}.")
    return ExitCode.OK


def _list_deleted(ctx: Context, entries: list[Any]) -> ExitCode:
    if ctx.json:
        dump_json({"deleted": [deleted_dict(e) for e in entries]}, ctx.out)
    elif not entries:
        ctx.say("No deleted items are kept.")
    else:
        rows = [
            [
                label(e.side),
                e.item_id,
                local_time(e.deleted_at),
                when(e.event),
                e.event.subject,
            ]
            for e in entries
        ]
        ctx.say(table(["ON", "ITEM", "DELETED", "WHEN", "SUBJECT"], rows))
        ctx.say("`outlook-sync restore ITEM_ID` brings one back.")
    return ExitCode.OK


def duplicates(ctx: Context) -> ExitCode:
    """``outlook-sync duplicates [--side S] [--merge --yes]``."""
    if ctx.args.merge and not ctx.args.yes:
        ctx.warn(
            "outlook-sync: --merge deletes items; run without --merge to review the "
            "groups, then add --yes to confirm."
        )
        return ExitCode.USAGE
    sides = list(Side) if ctx.args.side == "both" else [Side(ctx.args.side)]
    with ctx.wired() as wiring:
        user = wiring.config.user
        groups = []
        for side in sides:
            groups += find_duplicates(wiring.calendar(side), side, wiring.state, user)
        merged = None
        if ctx.args.merge and groups:
            with wiring.state.lock(user, ttl=wiring.config.policy.lock_ttl):
                merged = [
                    merge_duplicates(
                        [g for g in groups if g.side is side],
                        wiring.calendar(side),
                        wiring.state,
                        user,
                        now=dt.datetime.now(dt.UTC),
                    )
                    for side in sides
                ]
    deleted = [key for result in merged or () for key in result.deleted]
    failed = [key for result in merged or () for key in result.failed]
    if ctx.json:
        dump_json(
            {
                "groups": [
                    {
                        "side": g.side.value,
                        "keep": g.keep.id,
                        "duplicates": [i.id for i in g.remove],
                        "blocked": g.blocked,
                        "subject": g.keep.event.subject,
                        "start": str(g.keep.event.start),
                    }
                    for g in groups
                ],
                "deleted": [{"side": s.value, "item_id": i} for s, i in deleted],
                "failed": [{"side": s.value, "item_id": i, "error": e} for s, i, e in failed],
            },
            ctx.out,
        )
    elif not groups:
        ctx.say("No duplicates found.")
    else:
        rows = [
            [
                label(g.side),
                g.keep.id,
                ", ".join(i.id for i in g.remove),
                when(g.keep.event),
                g.keep.event.subject + (f"  [left alone: {g.blocked}]" if g.blocked else ""),
            ]
            for g in groups
        ]
        ctx.say(table(["ON", "KEEP", "DUPLICATES", "WHEN", "SUBJECT"], rows))
        if merged is None:
            ctx.say(
                f"{len(groups)} group(s). `outlook-sync duplicates --merge --yes` keeps "
                "the first item of each and deletes the others (restorable)."
            )
        else:
            ctx.say(
                f"Deleted {len(deleted)} duplicate(s); `outlook-sync restore` can bring them back."
            )
            for side, item_id, error in failed:
                ctx.say(f"could not delete {label(side)} {item_id}: {error}")
    return ExitCode.ERROR if failed else ExitCode.OK


# -- db upgrade ---------------------------------------------------------------------------


def _sql_module(section: str) -> Any:
    try:
        return importlib.import_module("outlook_sync.adapters.sql")
    except ImportError as exc:  # pragma: no cover - the sql package ships with the core
        raise ConfigurationError(
            f"the SQL adapter is not available: {exc}", key=f"{section}.backend"
        ) from exc


def _upgrade(ctx: Context) -> list[dict[str, Any]]:
    """Apply the migrations of every SQL database the configuration names."""
    config = ctx.config
    done: list[dict[str, Any]] = []
    if config.state.name in ("sqlite", "postgresql"):
        # The state store applies its migrations when it opens.
        with ctx.wired(calendars=False) as wiring:
            store: Any = wiring.state
            versions = _sql_module("state").upgrade(
                store.connection, dialect=store.dialect, reference_schema=False
            )
        done += [{"database": "state", "component": c, "version": v} for c, v in versions.items()]
    if config.saljstod.name == "sql":
        upgrade = getattr(_sql_module("saljstod"), "upgrade", None)
        if upgrade is None:
            raise ConfigurationError(
                "this version of outlook_sync cannot upgrade the Säljstöd schema",
                key="saljstod.backend",
            )
        connection, dialect = sql_connection(config.saljstod, ctx.environ, create=True)
        try:
            versions = upgrade(connection, dialect=dialect, state=False)
        finally:
            connection.close()
        done += [
            {"database": "saljstod", "component": c, "version": v} for c, v in versions.items()
        ]
    return done


def db_upgrade(ctx: Context) -> ExitCode:
    """``outlook-sync db upgrade``: create or upgrade the state and Säljstöd schemas."""
    done = _upgrade(ctx)
    if ctx.json:
        dump_json({"upgraded": done}, ctx.out)
    elif not done:
        ctx.say("Nothing to upgrade: no SQL database is configured.")
    else:
        for entry in done:
            ctx.say(
                f"{entry['database']}: schema {entry['component']!r} is at version "
                f"{entry['version']}"
            )
    return ExitCode.OK


# -- schema ---------------------------------------------------------------------------------


def schema(ctx: Context) -> ExitCode:
    """``outlook-sync schema``: the JSON Schema of the configuration file, with the
    installed third-party backends."""
    dump_json(json_schema(known_backends()), ctx.out)
    return ExitCode.OK


# -- init ---------------------------------------------------------------------------------


def init(ctx: Context) -> ExitCode:
    """``outlook-sync init [PATH] [--demo] [--force]``.

    ``--demo`` also creates the demo's two SQLite calendars (the Säljstöd one with a few
    sample activities) beside the file; its state is kept on disk too.

    Raises:
        UsageError: the file's folder does not exist (``init`` creates no folders: a
            mistyped path is an error, never a new tree of folders).
    """
    import tomllib

    path = Path(ctx.args.path) if ctx.args.path else find_config(ctx.args.config, ctx.environ)
    if not path.parent.is_dir():
        raise UsageError(
            ctx.t(
                "the folder {folder} does not exist (check the path; `init` creates no "
                "folders)",
                folder=path.parent,
            )
        )
    text = DEMO if ctx.args.demo else EXAMPLE
    extra = [path.parent / name for name in (DEMO_SALJSTOD, DEMO_OUTLOOK, DEMO_STATE)]
    targets = [path, *extra] if ctx.args.demo else [path]
    existing = [p for p in targets if p.exists()]
    if existing and not ctx.args.force:
        ctx.warn(
            "outlook-sync: "
            + ctx.t("{files} exists; add --force to overwrite it",
                    files=", ".join(str(p) for p in existing))
        )
        return ExitCode.ERROR
    config = parse_config(tomllib.loads(text), path=path.resolve())  # never an invalid file
    if ctx.args.demo:
        for old in extra:
            old.unlink(missing_ok=True)
        _create_demo(config, ctx)
    path.write_text(text, encoding="utf-8")
    ctx.say(
        ctx.t("Wrote {path}. Edit it, then try `outlook-sync --config {path} plan`.", path=path)
        if not ctx.args.demo
        else ctx.t(
            "Wrote {path} and the demo calendars beside it. Try `outlook-sync --config "
            "{path} plan`, then `sync` and `status`.",
            path=path,
        )
    )
    return ExitCode.OK


def _create_demo(config: Config, ctx: Context) -> None:
    """Create the demo's two calendars and seed the Säljstöd one."""
    sql = _sql_module("saljstod")
    for backend, seed in ((config.saljstod, True), (config.outlook, False)):
        connection, dialect = sql_connection(backend, ctx.environ, create=True)
        try:
            sql.upgrade(connection, dialect=dialect, state=False)
            if seed:
                calendar = sql.SqlCalendar(connection, user=config.user, dialect=dialect)
                for event in demo_events():
                    calendar.create(event, partner_key="")
        finally:
            connection.close()
