"""How ``outlook-sync`` shows things: aligned tables for people, JSON for scripts, progress.

Subjects and times are shown (they are the user's own appointments, on the user's own
terminal); bodies never are.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from typing import Any, TextIO

from outlook_sync._core.actions import Create, Delete, LinkPair, SyncPlan, Unlink, Update
from outlook_sync.model import Event, Side
from outlook_sync.records import Conflict, DeletedItem, Quarantined

__all__ = [
    "ProgressDisplay",
    "conflict_dict",
    "deleted_dict",
    "dump_json",
    "plan_dict",
    "plan_rows",
    "quarantined_dict",
    "table",
    "when",
]

_LABEL = {Side.SALJSTOD: "Säljstöd", Side.OUTLOOK: "Outlook"}
_SUBJECT_WIDTH = 40


def label(side: Side) -> str:
    """``Säljstöd`` or ``Outlook``."""
    return _LABEL[side]


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def when(event: Event | None) -> str:
    """A short, readable time span: ``2026-12-01 09:00–10:00 +01:00`` or all-day dates."""
    if event is None:
        return ""
    if event.all_day or not isinstance(event.start, dt.datetime):
        last = event.end - dt.timedelta(days=1)
        return f"{event.start}" if last == event.start else f"{event.start}–{last}"
    assert isinstance(event.end, dt.datetime)
    end = event.end.astimezone(event.start.tzinfo)
    end_text = (
        end.strftime("%H:%M")
        if end.date() == event.start.date()
        else (end.strftime("%Y-%m-%d %H:%M"))
    )
    return f"{event.start:%Y-%m-%d %H:%M}–{end_text} {event.start:%z}".rstrip()


def _subject(event: Event | None) -> str:
    if event is None:
        return ""
    text = event.subject
    return text if len(text) <= _SUBJECT_WIDTH else text[: _SUBJECT_WIDTH - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces, with a header line."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)


def dump_json(data: Any, stream: TextIO) -> None:
    """One JSON document on ``stream`` (UTF-8 text kept readable)."""
    stream.write(json.dumps(data, ensure_ascii=False, sort_keys=True, default=str) + "\n")


# -- plans -------------------------------------------------------------------------------


def plan_rows(the_plan: SyncPlan) -> list[list[str]]:
    """One row per action: ACTION, ON, ITEM, WHEN, SUBJECT."""
    rows: list[list[str]] = []
    for action in the_plan.actions:
        if isinstance(action, Create):
            note = f"copy of {label(action.side.other)} {action.source_id}"
            rows.append(
                ["create", label(action.side), note, when(action.event), _subject(action.event)]
            )
        elif isinstance(action, Update):
            sides = " + ".join(label(w.side) for w in action.writes) or "(link only)"
            verb = "link+update" if action.new_link else "update"
            rows.append(
                [
                    verb,
                    sides,
                    f"{action.saljstod_id} ↔ {action.outlook_id}",
                    when(action.base),
                    _subject(action.base),
                ]
            )
        elif isinstance(action, Delete):
            rows.append(
                [
                    "delete",
                    label(action.side),
                    action.item_id,
                    when(action.event),
                    _subject(action.event),
                ]
            )
        elif isinstance(action, LinkPair):
            link = action.link
            rows.append(
                [
                    "link",
                    "-",
                    f"{link.saljstod_id} ↔ {link.outlook_id}",
                    when(link.base),
                    _subject(link.base),
                ]
            )
        elif isinstance(action, Unlink):
            rows.append(
                ["unlink", "-", f"{action.saljstod_id} ↔ {action.outlook_id}", "", action.reason]
            )
    return rows


def _action_dict(action: Create | Update | Delete | LinkPair | Unlink) -> dict[str, Any]:
    if isinstance(action, Create):
        return {
            "action": "create",
            "side": action.side.value,
            "source_id": action.source_id,
            **_event_dict(action.event),
        }
    if isinstance(action, Update):
        return {
            "action": "update",
            "saljstod_id": action.saljstod_id,
            "outlook_id": action.outlook_id,
            "new_link": action.new_link,
            "sides": [w.side.value for w in action.writes],
            **_event_dict(action.base),
        }
    if isinstance(action, Delete):
        return {
            "action": "delete",
            "side": action.side.value,
            "item_id": action.item_id,
            **_event_dict(action.event),
        }
    if isinstance(action, LinkPair):
        return {
            "action": "link",
            "saljstod_id": action.link.saljstod_id,
            "outlook_id": action.link.outlook_id,
            **_event_dict(action.link.base),
        }
    return {
        "action": "unlink",
        "saljstod_id": action.saljstod_id,
        "outlook_id": action.outlook_id,
        "reason": action.reason,
    }


def _event_dict(event: Event | None) -> dict[str, Any]:
    if event is None:
        return {}
    return {
        "subject": event.subject,
        "start": _iso(event.start),
        "end": _iso(event.end),
        "all_day": event.all_day,
    }


def plan_dict(the_plan: SyncPlan) -> dict[str, Any]:
    """The plan as JSON-ready data."""
    return {
        "actions": [_action_dict(a) for a in the_plan.actions],
        "writes": {side.value: the_plan.writes(side) for side in Side},
        "complete": {side.value: complete for side, complete in the_plan.complete},
        "quarantined": [quarantined_dict(q) for q in the_plan.quarantined],
        "conflicts": [conflict_dict(c) for c in the_plan.conflicts],
        "refused": the_plan.refused,
    }


# -- logs --------------------------------------------------------------------------------


def conflict_dict(conflict: Conflict) -> dict[str, Any]:
    """A conflict-log entry as JSON-ready data (no bodies)."""
    shown = conflict.saljstod or conflict.outlook or conflict.base
    return {
        "saljstod_id": conflict.saljstod_id,
        "outlook_id": conflict.outlook_id,
        "kind": conflict.kind,
        "resolution": conflict.resolution,
        "fields": list(conflict.fields),
        "overridden": conflict.overridden.value if conflict.overridden else None,
        "subject": shown.subject if shown else None,
        "detail": conflict.detail,
    }


def quarantined_dict(entry: Quarantined) -> dict[str, Any]:
    """A quarantine entry as JSON-ready data."""
    return {"side": entry.side.value, "item_id": entry.item_id, "reason": entry.reason}


def deleted_dict(entry: DeletedItem) -> dict[str, Any]:
    """A deleted-items entry as JSON-ready data (no body)."""
    return {
        "side": entry.side.value,
        "item_id": entry.item_id,
        "partner_id": entry.partner_id,
        "deleted_at": entry.deleted_at.isoformat(),
        **_event_dict(entry.event),
    }


# -- progress ----------------------------------------------------------------------------

_REDRAW_SECONDS = 0.1
_PHASES = {"list": "Reading calendars", "plan": "Planning", "apply": "Writing changes"}


class ProgressDisplay:
    """The ``progress(phase, done, total)`` callback that shows long work on a terminal.

    On a terminal it redraws one line; otherwise (``force`` on a pipe or file) it prints
    a line when a phase starts and at every tenth of it, so logs stay short.

    Args:
        stream: where to draw (standard error).
        enabled: draw at all.
        tty: redraw in place; defaults to ``stream.isatty()``.
    """

    def __init__(self, stream: TextIO, *, enabled: bool, tty: bool | None = None) -> None:
        self._stream = stream
        self._enabled = enabled
        self._tty = stream.isatty() if tty is None else tty
        self._phase: str | None = None
        self._shown = -1
        self._drawn = False
        self._last = 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self._enabled:
            return
        name = _PHASES.get(phase, phase)
        if self._tty:
            now = time.monotonic()
            if done not in (0, total) and now - self._last < _REDRAW_SECONDS:
                return  # a terminal redrawn 100 000 times slows the sync down
            self._last = now
            percent = f" ({100 * done // total}%)" if total else ""
            self._stream.write(f"\r{name}: {done}/{total}{percent}".ljust(48))
            self._stream.flush()
            self._drawn = True
            return
        tenth = 10 * done // total if total else 10
        if phase != self._phase:
            self._phase, self._shown = phase, -1
        if tenth > self._shown:
            self._shown = tenth
            self._stream.write(f"{name}: {done}/{total}\n")

    def finish(self) -> None:
        """End the redrawn line, if any."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False
