"""Per-item log lines for ``outlook-sync -v`` (writes) and ``-vv`` (the planner's decisions).

Theory of operation
-------------------
The engine reports counts; an operator with ``-v`` wants one line per item written:
side, operation, id and a shortened subject, as text or as JSON fields. Until the
engine reports each write itself, the command line sees them by wrapping each calendar
in a *logged calendar*: a class made for the adapter's own class that passes every
attribute on unchanged (so capability checks such as ``BulkWriter`` or ``ItemOpener``
answer as for the adapter) and logs each create, update and delete that succeeded,
bulk writes included. ``-vv`` adds one debug line per planned action, with the reason
for an unlink and the fields of a conflict (:class:`LoggingSynchronizer`).

The records go to the ``outlook_sync.items`` logger (``outlook_sync.plan`` for the
decisions; a write that only stores the partner's id on an item is ``stamp``) with the
structured fields ``side``, ``operation``, ``item_id`` and
``subject``, so ``[logging] format = "json"`` carries the same facts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from outlook_sync._core.actions import Action, Create, Delete, LinkPair, SyncPlan, Unlink, Update
from outlook_sync.engine import Synchronizer
from outlook_sync.logging_setup import component_logger, fields
from outlook_sync.model import Event, Item, Side
from outlook_sync.protocols import Calendar

__all__ = [
    "SUBJECT_WIDTH",
    "Journal",
    "LoggingSynchronizer",
    "Written",
    "logged_calendar",
    "logging_items",
    "short_subject",
]

items_log = component_logger("items")
plan_log = component_logger("plan")

#: How much of a subject a log line shows.
SUBJECT_WIDTH = 40

_WRITES = ("create", "update", "delete", "create_many", "update_many", "delete_many")
_BULK = ("create_many", "update_many")
_classes: dict[type, type] = {}


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
    """What one command's syncs wrote, and the subjects of items about to be deleted
    (a delete carries only an id; the plan knows the subject)."""

    written: list[Written] = attrs.Factory(list)
    doomed: dict[tuple[Side, str], str] = attrs.Factory(dict)
    #: items the plan only stamps with their partner's id (no content change).
    stamps: set[tuple[Side, str]] = attrs.Factory(set)

    def note(self, the_plan: SyncPlan) -> None:
        """Remember what the plan deletes and which writes only stamp a partner key."""
        for action in the_plan.actions:
            if isinstance(action, Delete):
                self.doomed[(action.side, action.item_id)] = short_subject(action.event)
            elif isinstance(action, Create):
                self.stamps.add((action.side.other, action.source_id))
            elif isinstance(action, LinkPair):
                link = action.link
                self.stamps.update((side, link.id(side)) for side in action.stamp)
            elif isinstance(action, Update):
                ids = {Side.SALJSTOD: action.saljstod_id, Side.OUTLOOK: action.outlook_id}
                written = {w.side for w in action.writes}
                self.stamps.update((s, ids[s]) for s in action.stamp if s not in written)


def _wrote(
    journal: Journal, side: Side, operation: str, item_id: str, event: Event | None
) -> None:
    doomed = journal.doomed.get((side, item_id), "")
    subject = short_subject(event) if event is not None else doomed
    if operation == "update" and (side, item_id) in journal.stamps:
        operation = "stamp"  # the partner key only: not a change the user made
        journal.stamps.discard((side, item_id))
    journal.written.append(Written(side, operation, item_id, subject))
    items_log.info(
        "%s %s %s %s",
        side.value,
        operation,
        item_id,
        repr(subject),
        extra=fields(side=side.value, operation=operation, item_id=item_id, subject=subject),
    )


class _Logged:
    """The base of every logged calendar; the adapter is ``self.wrapped``."""

    wrapped: Any
    side: Side
    journal: Journal

    def __init__(self, wrapped: Calendar, side: Side, journal: Journal) -> None:
        self.wrapped = wrapped
        self.side = side
        self.journal = journal

    def __repr__(self) -> str:
        return f"logged({self.wrapped!r})"

    def create(self, event: Event, *, partner_key: str) -> Item:
        item: Item = self.wrapped.create(event, partner_key=partner_key)
        _wrote(self.journal, self.side, "create", item.id, event)
        return item

    def update(
        self, item_id: str, event: Event, *, expected_version: str, partner_key: str | None = None
    ) -> Item:
        item: Item = self.wrapped.update(
            item_id, event, expected_version=expected_version, partner_key=partner_key
        )
        _wrote(self.journal, self.side, "update", item_id, event)
        return item

    def delete(self, item_id: str, *, expected_version: str) -> None:
        self.wrapped.delete(item_id, expected_version=expected_version)
        _wrote(self.journal, self.side, "delete", item_id, None)

    def __getattr__(self, name: str) -> Any:
        # attributes the adapter sets on itself (its class's are forwarded by name)
        if name.startswith("__") or name in ("wrapped", "side", "journal"):
            raise AttributeError(name)
        return getattr(self.wrapped, name)


class _LoggedBulkDelete(_Logged):
    """A logged calendar of a :class:`~outlook_sync.protocols.BulkDeleter` adapter."""

    def delete_many(self, requests: Sequence[tuple[str, str]]) -> Sequence[Any]:
        results: Sequence[Any] = self.wrapped.delete_many(requests)
        for (item_id, _version), result in zip(requests, results, strict=False):
            if result is None:
                _wrote(self.journal, self.side, "delete", item_id, None)
        return results


class _LoggedBulk(_Logged):
    """A logged calendar of a :class:`~outlook_sync.protocols.BulkWriter` adapter."""

    def create_many(self, requests: Sequence[tuple[Event, str]]) -> Sequence[Any]:
        results: Sequence[Any] = self.wrapped.create_many(requests)
        for (event, _key), result in zip(requests, results, strict=False):
            if isinstance(result, Item):
                _wrote(self.journal, self.side, "create", result.id, event)
        return results

    def update_many(self, requests: Sequence[tuple[str, Event, str, str | None]]) -> Sequence[Any]:
        results: Sequence[Any] = self.wrapped.update_many(requests)
        for (item_id, event, _version, _key), result in zip(requests, results, strict=False):
            if isinstance(result, Item):
                _wrote(self.journal, self.side, "update", item_id, event)
        return results


def _forward_method(name: str) -> Callable[..., Any]:
    def forward(self: _Logged, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.wrapped, name)(*args, **kwargs)

    forward.__name__ = name
    return forward


def _forward_property(name: str) -> property:
    return property(lambda self: getattr(self.wrapped, name))


def _logged_class(kind: type) -> type:
    """A :class:`_Logged` subclass with exactly the public attributes of ``kind``."""
    made = _classes.get(kind)
    if made is not None:
        return made
    namespace: dict[str, Any] = {}
    for name in dir(kind):
        if name.startswith("_") or name in ("wrapped", "side", "journal") or name in _WRITES:
            continue
        attribute = getattr(kind, name)
        namespace[name] = (
            _forward_method(name)
            if callable(attribute) and not isinstance(attribute, type)
            else _forward_property(name)
        )
    bases: list[type] = []
    if all(hasattr(kind, name) for name in _BULK):
        bases.append(_LoggedBulk)
    if hasattr(kind, "delete_many"):
        bases.append(_LoggedBulkDelete)
    made = type(f"Logged{kind.__name__}", tuple(bases) or (_Logged,), namespace)
    _classes[kind] = made
    return made


def logged_calendar(calendar: Calendar, side: Side, journal: Journal) -> Calendar:
    """``calendar`` as seen by the sync: every item it writes is added to ``journal`` and
    logged at info level (``-v``)."""
    logged: Calendar = _logged_class(type(calendar))(calendar, side, journal)
    return logged


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


class LoggingSynchronizer(Synchronizer):
    """A :class:`Synchronizer` that logs the planner's decisions at debug level and
    notes the subjects of the items its plan deletes (for the summary and ``-v``).

    It hooks the engine's planning step, pending a plan hook on
    :class:`~outlook_sync.protocols.SyncObserver`.
    """

    journal: Journal | None = None

    def _plan(self, fetched: Any, confirm: bool) -> SyncPlan:
        the_plan = super()._plan(fetched, confirm)
        log_plan(the_plan)
        if self.journal is not None:
            self.journal.note(the_plan)
        return the_plan
