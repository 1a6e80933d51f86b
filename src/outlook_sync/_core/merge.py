"""Conflict policies and the field-level three-way merge.

Theory of operation
-------------------
A pair is *in conflict* when both items differ from the link's base (or, for a pair
never linked before, when the two differ at all: there is no base to say who changed).
:func:`resolve` turns the two versions into one outcome:

- ``SALJSTOD_WINS`` / ``OUTLOOK_WINS``: that side's content goes to both.
- ``NEWEST_WINS``: the content of the item the backend changed later (``Item.changed``)
  goes to both.
  The two times come from two different clocks; that is what the product promises
  ("the newer edit"), and it is only ever used to break a real conflict. Unknown times
  lose to known ones; equal times fall back to a content order, so the outcome never
  depends on which side is which.
- ``MERGE``: field by field against the base. A field only one side changed takes that
  side's value; a field both changed to the same value takes it; a field both changed
  to different values is decided by the fallback policy. ``start``, ``end``,
  ``all_day`` and ``recurrence`` are one unit (*when*): merging a start from one side
  with an end (or a series, which starts where its master starts) from the other could
  make an invalid or unintended event.
- ``KEEP_BOTH``: the newer content goes to both items of the pair, and the older
  content survives as a separate item on both sides (see ``plan.py``).

Pairing two items that were never linked (the first full sync) has no base, so no side
"changed" anything: :func:`adopt` combines them unit by unit. A unit empty on one side
(no location, no notes, no categories, no reminder) takes the other side's value — a
bare copy never blanks what the other item holds; two different non-empty values are
decided by the policy (``MERGE`` by its fallback) and recorded.

Every outcome that overrides a value one side changed is returned with a
:class:`~outlook_sync.records.Conflict` so the conflict log records it; a clean merge
(no field changed on both sides) overrides nothing and records nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from outlook_sync.model import Event, Item, Side
from outlook_sync.records import Conflict, ConflictPolicy

__all__ = ["MERGE_UNITS", "Outcome", "adopt", "newer_side", "resolve"]

#: The units a field-level merge works on, in report order.
MERGE_UNITS: tuple[tuple[str, ...], ...] = (
    ("subject",),
    # A series' recurrence starts where its master starts: the two move together, so a
    # merge can never pair one side's start with the other side's series.
    ("start", "end", "all_day", "recurrence"),
    ("location",),
    ("body",),
    ("categories",),
    ("show_as",),
    ("private",),
    ("reminder_minutes",),
)


@attrs.frozen(kw_only=True)
class Outcome:
    """The content both sides should hold, or a keep-both split.

    Attributes:
        merged: the agreed content (the winner's, for keep-both).
        keep_both_loser: for keep-both, the side whose version survives separately.
        conflict: the record for the conflict log, or ``None`` for a clean merge.
    """

    merged: Event
    keep_both_loser: Side | None
    conflict: Conflict | None


def newer_side(saljstod: Item, outlook: Item) -> Side:
    """The side whose content counts as the newer edit (deterministic, side-neutral):
    the later :attr:`Item.changed`, else the greater content."""
    s_time, o_time = saljstod.changed, outlook.changed
    if s_time is not None and o_time is not None and s_time != o_time:
        return Side.SALJSTOD if s_time > o_time else Side.OUTLOOK
    if s_time is not None and o_time is None:
        return Side.SALJSTOD
    if o_time is not None and s_time is None:
        return Side.OUTLOOK
    # Equal or unknown times: order by content so the answer does not depend on sides.
    return (Side.SALJSTOD if saljstod.event.content() >= outlook.event.content()
            else Side.OUTLOOK)


def _winner(policy: ConflictPolicy, saljstod: Item, outlook: Item) -> Side:
    if policy is ConflictPolicy.SALJSTOD_WINS:
        return Side.SALJSTOD
    if policy is ConflictPolicy.OUTLOOK_WINS:
        return Side.OUTLOOK
    return newer_side(saljstod, outlook)


def _unit(event: Event, unit: tuple[str, ...]) -> tuple[object, ...]:
    return tuple(getattr(event, name) for name in unit)


def resolve(
    saljstod: Item,
    outlook: Item,
    base: Event | None,
    *,
    policy: ConflictPolicy,
    fallback: ConflictPolicy,
) -> Outcome:
    """Decide a pair whose two versions differ and both changed since ``base``.

    Args:
        saljstod, outlook: the two current items.
        base: the content both last agreed on; ``None`` for a pair never linked.
        policy: the conflict policy.
        fallback: for ``MERGE``, the policy for fields changed on both sides.
    """
    s, o = saljstod.event, outlook.event
    ids = {"saljstod_id": saljstod.id, "outlook_id": outlook.id}
    if policy is ConflictPolicy.MERGE:
        return _merge(saljstod, outlook, base, fallback=fallback, ids=ids)
    winner = _winner(policy, saljstod, outlook)
    merged = s if winner is Side.SALJSTOD else o
    changed = tuple(
        name
        for unit in MERGE_UNITS
        if _unit(s, unit) != _unit(o, unit)
        for name in unit
    )
    keep_both = policy is ConflictPolicy.KEEP_BOTH
    conflict = Conflict(
        **ids,
        kind="both_changed",
        resolution=policy.value,
        fields=changed,
        overridden=None if keep_both else winner.other,
        saljstod=s,
        outlook=o,
        base=base,
        result=None if keep_both else merged,
    )
    return Outcome(
        merged=merged, keep_both_loser=winner.other if keep_both else None, conflict=conflict
    )


def adopt(saljstod: Item, outlook: Item, *, policy: ConflictPolicy,
          fallback: ConflictPolicy, copied: bool = False) -> Outcome:
    """Combine two items paired without a base (first full sync, lost link state).

    Never replaces a non-empty unit with an empty one; two different non-empty values
    go to the policy's winner (``MERGE``/``KEEP_BOTH``: the fallback's) and are recorded.

    ``copied``: one item may be a copy of the other that a user edited since: the
    sync's own copy made by a create whose answer was lost, or a pair made again after
    a switched calendar. An empty unit is then a value like any other (the user may
    have emptied it): every differing unit goes to the policy's winner and is
    recorded, so an edit that empties a field is never undone unlogged.
    """
    s, o = saljstod.event, outlook.event
    decider = fallback if policy in (ConflictPolicy.MERGE, ConflictPolicy.KEEP_BOTH) else policy
    winner = _winner(decider, saljstod, outlook)

    def uncontested(sv: tuple[object, ...], ov: tuple[object, ...],
                    _unit_name: tuple[str, ...]) -> tuple[object, ...] | None:
        if sv == ov:
            return sv
        if copied:  # an empty unit may be a user's edit: the policy decides
            return None
        if _empty(ov):  # a bare copy never blanks what the other item holds
            return sv
        return ov if _empty(sv) else None

    merged, contested = _by_units(s, o, winner, uncontested)
    conflict = None
    if contested:
        conflict = Conflict(
            saljstod_id=saljstod.id,
            outlook_id=outlook.id,
            kind="first_pairing",
            resolution=decider.value,
            fields=tuple(contested),
            overridden=winner.other,
            saljstod=s,
            outlook=o,
            base=None,
            detail=("paired as a copy (the sync's own, whose answer was lost, or made "
                    "again after a switched calendar): different values went to the "
                    "policy") if copied else (
                "paired without a common base: empty fields took the other side's "
                "value, different values went to the policy"),
            result=merged,
        )
    return Outcome(merged=merged, keep_both_loser=None, conflict=conflict)


def _by_units(
    s: Event,
    o: Event,
    winner: Side,
    uncontested: Callable[[tuple[object, ...], tuple[object, ...], tuple[str, ...]],
                          tuple[object, ...] | None],
) -> tuple[Event, list[str]]:
    """Combine two versions unit by unit: ``uncontested`` picks a unit's value or says
    ``None`` (contested: the ``winner``'s value, and the unit's fields are reported)."""
    values: dict[str, Any] = {}
    contested: list[str] = []
    for unit in MERGE_UNITS:
        sv, ov = _unit(s, unit), _unit(o, unit)
        chosen = uncontested(sv, ov, unit)
        if chosen is None:
            contested.extend(unit)
            chosen = sv if winner is Side.SALJSTOD else ov
        values.update(zip(unit, chosen, strict=True))
    return attrs.evolve(s, **values), contested


def _empty(values: tuple[object, ...]) -> bool:
    """A unit with nothing in it: an empty text or list, or no value."""
    return all(value is None or value == "" or value == () for value in values)


def _merge(
    saljstod: Item,
    outlook: Item,
    base: Event | None,
    *,
    fallback: ConflictPolicy,
    ids: dict[str, str],
) -> Outcome:
    s, o = saljstod.event, outlook.event
    winner = _winner(fallback, saljstod, outlook)

    def uncontested(sv: tuple[object, ...], ov: tuple[object, ...],
                    unit: tuple[str, ...]) -> tuple[object, ...] | None:
        if sv == ov:
            return sv
        if base is not None and sv == _unit(base, unit):
            return ov
        if base is not None and ov == _unit(base, unit):
            return sv
        return None

    merged, contested = _by_units(s, o, winner, uncontested)
    conflict = None
    if contested:
        conflict = Conflict(
            **ids,
            kind="both_changed",
            resolution=f"merge/{fallback.value}",
            fields=tuple(contested),
            overridden=winner.other,
            saljstod=s,
            outlook=o,
            base=base,
            result=merged,
        )
    return Outcome(merged=merged, keep_both_loser=None, conflict=conflict)
