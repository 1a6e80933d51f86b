"""How ``outlook-sync`` shows things: aligned tables for people, JSON for scripts, progress.

Subjects and times are shown (they are the user's own appointments, on the user's own
terminal); bodies never are.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import unicodedata
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from outlook_sync._core.actions import Create, Delete, LinkPair, SyncPlan, Unlink, Update
from outlook_sync.i18n import (
    ACTIVITY_STATES,
    CONFLICT_KINDS,
    CONFLICT_RESOLUTIONS,
    FIELD_NAMES,
    MERGE_WITH_FALLBACK,
)
from outlook_sync.model import Event, Side
from outlook_sync.progress import ProgressEstimate
from outlook_sync.records import Conflict, DeletedItem, Quarantined
from outlook_sync.report import SyncReport

if TYPE_CHECKING:
    from outlook_sync.cli.itemlog import Written
    from outlook_sync.i18n import Translator

__all__ = [
    "KIND_TEXT",
    "STATE_TEXT",
    "ProgressDisplay",
    "conflict_dict",
    "conflict_values",
    "deleted_dict",
    "display_width",
    "dump_json",
    "field_name_text",
    "local_time",
    "pad",
    "plan_dict",
    "plan_rows",
    "quarantined_dict",
    "resolution_text",
    "summary",
    "table",
    "when",
]

_LABEL = {Side.SALJSTOD: "Säljstöd", Side.OUTLOOK: "Outlook"}

#: An activity's state and a conflict's kind in words (translated where shown).
STATE_TEXT, KIND_TEXT = ACTIVITY_STATES, CONFLICT_KINDS
_SUBJECT_WIDTH = 40


def label(side: Side) -> str:
    """``Säljstöd`` or ``Outlook``."""
    return _LABEL[side]


def field_name_text(name: str, t: Translator) -> str:
    """An event field's name (``"show_as"``) in the user's words (``"show as"``); a name
    without words (a third-party field) as it is."""
    return t(FIELD_NAMES[name]) if name in FIELD_NAMES else name


def resolution_text(resolution: str, t: Translator) -> str:
    """How a conflict was resolved (``"merge/newest_wins"``, ``"edit_wins"``) in the
    user's words; a resolution without words as it is."""
    policy, slash, fallback = resolution.partition("/")
    if policy == "merge" and slash:
        return t(MERGE_WITH_FALLBACK, fallback=resolution_text(fallback, t))
    return t(CONFLICT_RESOLUTIONS[resolution]) if resolution in CONFLICT_RESOLUTIONS else resolution


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
    if display_width(text) <= _SUBJECT_WIDTH:
        return text
    while display_width(text) > _SUBJECT_WIDTH - 1:
        text = text[:-1]
    return text + "…"


def display_width(text: str) -> int:
    """How many terminal columns ``text`` takes: wide (CJK) characters take two,
    combining marks and zero-width characters none."""
    width = 0
    for char in text:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def pad(text: str, width: int) -> str:
    """``text`` padded with spaces to ``width`` terminal columns."""
    return text + " " * max(0, width - display_width(text))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces, with a header line.

    Columns are measured in terminal columns, so CJK subjects keep them aligned.
    """
    widths = [display_width(h) for h in headers]
    for row in rows:
        widths = [max(w, display_width(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(pad(h, w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)


def local_time(value: dt.datetime | str | None) -> str:
    """A date-time for people: local time, to the second (``2026-12-01 09:00:00``)."""
    if value is None or value == "":
        return ""
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:  # pragma: no cover - the engine's times are aware
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


_SHOWN_SUBJECTS = 3


def _listing(t: Translator, written: Sequence[Written]) -> str:
    subjects = [w.subject or w.item_id for w in written]
    shown = ", ".join(subjects[:_SHOWN_SUBJECTS])
    more = len(subjects) - _SHOWN_SUBJECTS
    return shown + (t(" and {count} more", count=more) if more > 0 else "")


def _did(t: Translator, operation: str, count: int, side: str) -> str:
    if operation == "create":
        return t.plural("created {count} in {side}", "created {count} in {side}", count, side=side)
    if operation == "update":
        return t.plural("updated {count} in {side}", "updated {count} in {side}", count, side=side)
    return t.plural("deleted {count} in {side}", "deleted {count} in {side}", count, side=side)


def summary(report: SyncReport, written: Sequence[Written], t: Translator) -> list[str]:
    """What a sync changed, in words a user reads.

    ``Synced anna: paired 5 existing, created 3 in Outlook: Kundmöte, ...``: one line per
    kind of change, the subjects of what was written, then conflicts, quarantined items
    and failures, and when the next sync starts from (local time, to the second).
    """
    lines = [
        t("Synced {user}: ok", user=report.user)
        if report.ok
        else t("Synced {user}: needs attention", user=report.user)
    ]
    if report.error:
        lines.append("  " + t("could not sync: {error}", error=report.error))
    if report.refused:
        lines.append("  " + t("refused: {reason}", reason=report.refused))
    if report.cancelled:
        lines.append("  " + t("cancelled before the end; the rest runs next time"))
    if report.linked:
        lines.append("  " + t.plural(
            "paired {count} existing appointment (already on both sides)",
            "paired {count} existing appointments (already on both sides)",
            report.linked,
        ))
    for operation in ("create", "update", "delete"):
        for side in Side:
            count = report.count(operation, side)  # partner-key stamps are counted apart
            if count <= 0:
                continue
            text = _did(t, operation, count, label(side))
            items = [w for w in written if w.side is side and w.operation == operation]
            lines.append("  " + text + (f": {_listing(t, items)}" if items else ""))
    if report.unlinked:
        lines.append("  " + t("stopped syncing {count} pair(s)", count=report.unlinked))
    if report.ok and not (report.total_writes or report.linked or report.unlinked):
        lines.append("  " + t("nothing to do: the calendars were already in step"))
    for c in report.conflicts:
        fields = ", ".join(field_name_text(name, t) for name in c.fields) or t(
            KIND_TEXT.get(c.kind, c.kind.replace("_", " "))
        )
        lines.append("  " + t(
            "conflict on {fields}: resolved by {resolution} [Säljstöd {saljstod}, "
            "Outlook {outlook}]",
            fields=fields, resolution=resolution_text(c.resolution, t),
            saljstod=c.saljstod_id or "-", outlook=c.outlook_id or "-",
        ))
    for q in report.quarantined:
        lines.append("  " + t("set aside {side} {item}: {reason}", side=label(q.side),
                              item=q.item_id, reason=q.reason))
    if report.concurrent_edits:
        lines.append("  " + t(
            "{count} item(s) changed during the sync: re-read and merged",
            count=report.concurrent_edits,
        ))
    for f in report.failures:
        lines.append("  " + t("failed {operation} {side} {item}: {error}",
                              operation=f.operation, side=label(f.side), item=f.item_id,
                              error=f.error))
    if report.last_sync is not None:
        lines.append("  " + t("last sync: {when}",
                              when=local_time(report.last_sync)))
    return lines


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


def field_text(value: object) -> str:
    """A field's value for people: local times to the minute, lists joined."""
    if value is None or value == "" or value == ():
        return "-"
    if isinstance(value, dt.datetime):
        return value.astimezone(value.tzinfo).strftime("%Y-%m-%d %H:%M %z").rstrip()
    if isinstance(value, tuple | list | frozenset):
        return ", ".join(str(v) for v in value)
    if hasattr(value, "value") and not isinstance(value, str | int | float | dt.date):
        return str(value.value)
    text = " ".join(str(value).split())
    return text if display_width(text) <= _SUBJECT_WIDTH else text[: _SUBJECT_WIDTH - 1] + "…"


def conflict_values(conflict: Conflict) -> list[dict[str, str | None]]:
    """Per contested field: both values and the winner (``"saljstod"``/``"outlook"``,
    ``None`` when both were kept). A body is shown as "(changed)", never its text."""
    rows: list[dict[str, str | None]] = []
    for name in conflict.fields:
        values = {}
        for side, event in (("saljstod", conflict.saljstod), ("outlook", conflict.outlook)):
            raw = getattr(event, name, None) if event is not None else None
            values[side] = raw
        winner: str | None = None
        if conflict.result is not None:
            chosen = getattr(conflict.result, name, None)
            if chosen == values["saljstod"]:
                winner = "saljstod"
            elif chosen == values["outlook"]:
                winner = "outlook"
        if winner is None and conflict.overridden is not None:
            winner = conflict.overridden.other.value
        shown = {
            side: ("(changed)" if name == "body" and raw else field_text(raw))
            for side, raw in values.items()
        }
        rows.append({"field": name, **shown, "winner": winner})
    return rows


def conflict_dict(conflict: Conflict) -> dict[str, Any]:
    """A conflict-log entry as JSON-ready data (no bodies)."""
    shown = conflict.saljstod or conflict.outlook or conflict.base
    return {
        "values": conflict_values(conflict),
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

    def __init__(self, stream: TextIO, *, enabled: bool, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._enabled = enabled
        self._tty = stream.isatty() if tty is None else tty
        self._phase: str | None = None
        self._shown = -1
        self._drawn = False
        self._last = 0.0
        #: the time left, from the rate since the phase began (outlook_sync.progress)
        self._estimate = ProgressEstimate(clock=clock)

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self._enabled:
            return
        self._estimate(phase, done, total)
        name = _PHASES.get(phase, phase)
        if self._tty:
            now = time.monotonic()
            if done not in (0, total) and now - self._last < _REDRAW_SECONDS:
                return  # a terminal redrawn 100 000 times slows the sync down
            self._last = now
            update = self._estimate.update()
            left = f", {update.text.split(', ', 1)[1]}" if update.remaining else ""
            percent = f" ({100 * done // total}%)" if total else ""
            self._stream.write(f"\r{name}: {done}/{total}{percent}{left}".ljust(64))
            self._stream.flush()
            self._drawn = True
            return
        tenth = 10 * done // total if total else 10
        if phase != self._phase:
            self._phase, self._shown = phase, -1
        if tenth > self._shown:
            self._shown = tenth
            update = self._estimate.update()
            left = f", {update.text.split(', ', 1)[1]}" if update.remaining else ""
            self._stream.write(f"{name}: {done}/{total}{left}\n")

    def finish(self) -> None:
        """End the redrawn line, if any."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False
