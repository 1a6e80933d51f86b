"""The maintenance commands: ``conflicts``, ``quarantine``, ``restore``, ``duplicates``,
``db upgrade`` and ``init``."""

from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from outlook_sync.cli.duplicates import find_duplicates, merge_duplicates
from outlook_sync.cli.exit_codes import ExitCode
from outlook_sync.cli.registry import sql_connection
from outlook_sync.cli.render import (
    conflict_dict,
    deleted_dict,
    dump_json,
    label,
    quarantined_dict,
    table,
    when,
)
from outlook_sync.cli.template import DEMO, EXAMPLE
from outlook_sync.config import find_config, parse_config
from outlook_sync.errors import ConfigurationError, ItemNotFoundError
from outlook_sync.model import Side
from outlook_sync.protocols import StateChange

if TYPE_CHECKING:
    from outlook_sync.cli.app import Context

__all__ = ["conflicts", "db_upgrade", "duplicates", "init", "quarantine", "restore"]


def conflicts(ctx: Context) -> ExitCode:
    """``outlook-sync conflicts [--clear]``: the conflict log, resolved by clearing it."""
    with ctx.wired(calendars=False) as wiring:
        user = wiring.config.user
        entries = wiring.state.conflicts(user)
        if ctx.args.clear:
            wiring.state.clear_conflicts(user)
    if ctx.json:
        dump_json(
            {"conflicts": [conflict_dict(c) for c in entries], "cleared": bool(ctx.args.clear)},
            ctx.out,
        )
    elif not entries:
        ctx.say("No conflicts.")
    else:
        rows = [
            [
                c.kind,
                c.resolution,
                ", ".join(c.fields) or "-",
                c.saljstod_id or "-",
                c.outlook_id or "-",
                conflict_dict(c)["subject"] or "",
            ]
            for c in entries
        ]
        ctx.say(table(["KIND", "RESOLVED BY", "FIELDS", "SÄLJSTÖD", "OUTLOOK", "SUBJECT"], rows))
        if ctx.args.clear:
            ctx.say(f"Cleared {len(entries)} conflict(s).")
        else:
            ctx.say(
                "The sync has resolved these by the policy; check the items, then "
                "`outlook-sync conflicts --clear`."
            )
    return ExitCode.CONFLICTS_PENDING if entries and not ctx.args.clear else ExitCode.OK


def quarantine(ctx: Context) -> ExitCode:
    """``outlook-sync quarantine [--clear [ID ...]]``."""
    clear: list[str] | None = ctx.args.clear
    with ctx.wired(calendars=False) as wiring:
        user = wiring.config.user
        entries = wiring.state.quarantine(user)
        chosen = (
            entries
            if clear is not None and not clear
            else [q for q in entries if clear and q.item_id in clear]
        )
        unknown = sorted(set(clear or ()) - {q.item_id for q in entries})
        if unknown:
            raise ItemNotFoundError(f"not in quarantine: {', '.join(unknown)}")
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
    with ctx.wired(calendars=item is not None) as wiring:
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
                f"no deleted item {item} is kept (see `outlook-sync restore` for the list)",
                item_id=item,
            )
        if len(matches) > 1:
            raise ConfigurationError(f"{item} was deleted on both sides; add --side", key="--side")
        entry = matches[0]
        restored = wiring.sync.restore(entry.side, entry.item_id)
    if ctx.json:
        dump_json(
            {"side": entry.side.value, "item_id": entry.item_id, "restored_id": restored.id},
            ctx.out,
        )
    else:
        ctx.say(
            f"Restored {label(entry.side)} item {entry.item_id} "
            f"({entry.event.subject}) as {restored.id}; the next sync brings it to "
            f"{label(entry.side.other)} again."
        )
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
                f"{e.deleted_at:%Y-%m-%d %H:%M}",
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
        connection, dialect = sql_connection(config.saljstod, ctx.environ)
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


# -- init ---------------------------------------------------------------------------------


def init(ctx: Context) -> ExitCode:
    """``outlook-sync init [PATH] [--demo] [--force]``."""
    path = Path(ctx.args.path) if ctx.args.path else find_config(ctx.args.config, ctx.environ)
    if path.exists() and not ctx.args.force:
        ctx.warn(f"outlook-sync: {path} exists; add --force to overwrite it")
        return ExitCode.ERROR
    text = DEMO if ctx.args.demo else EXAMPLE
    import tomllib

    parse_config(tomllib.loads(text), path=path.resolve())  # never write an invalid file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    ctx.say(f"Wrote {path}. Edit it, then try `outlook-sync --config {path} plan`.")
    return ExitCode.OK
