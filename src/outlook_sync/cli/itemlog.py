"""Per-item log lines for ``outlook-sync -v`` (writes) and ``-vv`` (the planner's decisions).

Theory of operation
-------------------
The engine reports counts; an operator with ``-v`` wants one line per item written:
side, operation, id and a shortened subject, as text or as JSON fields. The command line
adds a :class:`JournalObserver` to its synchronizer: the engine's
:class:`~outlook_sync.engine.PlanObserver` hook hands it the plan (``-vv``: one debug
line per planned action, with the reason for an unlink and the fields of a conflict)
and every write as it succeeds, bulk writes included (``stamp`` is a write that only
stores the partner's id on an item).

The records go to the ``outlook_sync.items`` logger (``outlook_sync.plan`` for the
decisions) with the structured fields ``side``, ``operation``, ``item_id`` and
``subject``, so ``[logging] format = "json"`` carries the same facts.
"""

from __future__ import annotations

import logging

import attrs

from outlook_sync._core.actions import Action, Create, Delete, LinkPair, SyncPlan, Unlink, Update
from outlook_sync.logging_setup import component_logger, fields
from outlook_sync.model import Event, Side
from outlook_sync.report import SyncReport

__all__ = [
    "SUBJECT_WIDTH",
    "Journal",
    "JournalObserver",
    "Written",
    "log_plan",
    "logging_items",
    "short_subject",
]

items_log = component_logger("items")
plan_log = component_logger("plan")

#: How much of a subject a log line shows.
SUBJECT_WIDTH = 40



def logging_items() -> bool:
    """Whether per-item lines would be shown (``-v`` or ``[logging] level = "info"``)."""
    return items_log.isEnabledFor(logging.INFO)


def short_subject(event: Event | None) -> str:
    """The subject, cut to :data:`SUBJECT_WIDTH` characters with an ellipsis."""
    if event is None:
        return ""
    text = " ".join(event.subject.split())
    return text if len(text) <= SUBJECT_WIDTH else text[: SUBJECT_WIDTH - 1] + "…"


@attrs.frozen
class Written:
    """One item a sync wrote: for the summary (``created 3 in Outlook: ...``) and ``-v``."""

    side: Side
    operation: str
    item_id: str
    subject: str


@attrs.define
class Journal:
    """What one command's syncs wrote, item by item."""

    written: list[Written] = attrs.Factory(list)


def _wrote(
    journal: Journal, side: Side, operation: str, item_id: str, event: Event | None
) -> None:
    subject = short_subject(event)
    journal.written.append(Written(side, operation, item_id, subject))
    items_log.info(
        "%s %s %s %s",
        side.value,
        operation,
        item_id,
        repr(subject),
        extra=fields(side=side.value, operation=operation, item_id=item_id, subject=subject),
    )


class JournalObserver:
    """Hears one command's syncs (the engine's ``PlanObserver``): logs the planner's
    decisions at debug level and each write at info level, and keeps the writes for
    the summary (``created 3 in Outlook: ...``)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def sync_started(self, user: str) -> None:
        """Nothing to log: the command says it."""

    def sync_progress(self, phase: str, done: int, total: int) -> None:
        """Progress has its own display."""

    def sync_finished(self, report: SyncReport) -> None:
        """The command renders the report."""

    def sync_failed(self, user: str, error: BaseException) -> None:
        """The command reports the error."""

    def sync_planned(self, plan: SyncPlan) -> None:
        log_plan(plan)

    def item_written(self, side: Side, operation: str, item_id: str,
                     event: Event | None) -> None:
        _wrote(self.journal, side, operation, item_id, event)


def _decision(action: Action) -> tuple[str, str, str, str]:
    """``(operation, side, item, what)`` for one planned action."""
    if isinstance(action, Create):
        return (
            "create",
            action.side.value,
            action.source_id,
            f"copy of {action.side.other.value} {action.source_id}: "
            f"{short_subject(action.event)!r}",
        )
    if isinstance(action, Update):
        onto = ", ".join(w.side.value for w in action.writes) or "no content write"
        why = " (new link)" if action.new_link else ""
        if action.conflict is not None:
            conflict = action.conflict
            why += f"; conflict {conflict.kind} on {', '.join(conflict.fields) or 'the item'}"
            why += f" resolved by {conflict.resolution}"
        return (
            "update",
            onto,
            f"{action.saljstod_id}/{action.outlook_id}",
            f"{short_subject(action.base)!r}{why}",
        )
    if isinstance(action, Delete):
        return (
            "delete",
            action.side.value,
            action.item_id,
            f"partner deleted: {short_subject(action.event)!r}",
        )
    if isinstance(action, LinkPair):
        link = action.link
        return (
            "link",
            "both",
            f"{link.saljstod_id}/{link.outlook_id}",
            f"same content on both sides: {short_subject(link.base)!r}",
        )
    assert isinstance(action, Unlink)
    return ("unlink", "both", f"{action.saljstod_id}/{action.outlook_id}", action.reason)


def log_plan(the_plan: SyncPlan) -> None:
    """One debug line per decision of the planner (``-vv``)."""
    if not plan_log.isEnabledFor(logging.DEBUG):
        return
    for action in the_plan.actions:
        operation, side, item_id, what = _decision(action)
        plan_log.debug(
            "plan: %s on %s %s: %s",
            operation,
            side,
            item_id,
            what,
            extra=fields(side=side, operation=operation, item_id=item_id),
        )
    for entry in the_plan.quarantined:
        plan_log.debug(
            "plan: quarantine %s %s: %s",
            entry.side.value,
            entry.item_id,
            entry.reason,
            extra=fields(side=entry.side.value, operation="quarantine", item_id=entry.item_id),
        )
    if the_plan.refused:
        plan_log.debug("plan: refused: %s", the_plan.refused, extra=fields(operation="refuse"))
