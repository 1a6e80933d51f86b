"""Sync policy: the choices a user or host makes about conflicts, deletions and guards.

Side-specific behaviour is expressed here, as values, never as branches in the
algorithm: the planner treats Säljstöd and Outlook alike and asks the policy.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from typing import Any

import attrs

from outlook_sync.errors import ConfigurationError
from outlook_sync.model import Side
from outlook_sync.records import ConflictPolicy
from outlook_sync.scope import Direction, Horizon, SyncFilter, directions_from

__all__ = ["ConflictPolicy", "DeletePolicy", "Direction", "SyncFilter", "SyncPolicy"]


class DeletePolicy(enum.Enum):
    """What happens on a side when its partner was deleted on the other side."""

    #: Delete the item too (the help page's default: deletions travel both ways).
    DELETE = "delete"
    #: Keep the item and stop syncing it (the link is kept as a tombstone).
    UNLINK = "unlink"


def _enum(kind: type[enum.Enum], value: object) -> Any:
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in kind)
            raise ConfigurationError(
                f"{value!r} is not a {kind.__name__}; use one of {allowed}",
                key=kind.__name__,
            ) from None
    return value


def _conflict_policy(value: ConflictPolicy | str) -> ConflictPolicy:
    converted: ConflictPolicy = _enum(ConflictPolicy, value)
    return converted


def _delete_policy(value: DeletePolicy | str) -> DeletePolicy:
    converted: DeletePolicy = _enum(DeletePolicy, value)
    return converted


def _positive_int(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{attr.name} must be an int >= 0", key=attr.name)


def _share(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigurationError(f"{attr.name} must be a number in 0..1", key=attr.name)


def _duration(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, dt.timedelta) or value < dt.timedelta(0):
        raise ConfigurationError(f"{attr.name} must be a non-negative timedelta", key=attr.name)


def _horizon(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Horizon):
        raise ConfigurationError(f"{attr.name} must be a Horizon", key=attr.name)


def _sides(value: object) -> frozenset[Side]:
    items: Iterable[object] = (value,) if isinstance(value, Side | str) else value  # type: ignore[assignment]
    try:
        return frozenset(Side(side) for side in items)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            "read_only must be a collection of sides ('saljstod', 'outlook')", key="read_only"
        ) from exc


@attrs.frozen(kw_only=True)
class SyncPolicy:
    """How conflicts and deletions are decided, and when the sync refuses to go on.

    Attributes:
        conflict: the policy for a pair changed on both sides. Default: field-level
            merge.
        merge_fallback: for ``MERGE``, who wins a field changed on both sides to
            different values. Default: the newer edit by the backends' last-modified
            times. Must be ``SALJSTOD_WINS``, ``OUTLOOK_WINS`` or ``NEWEST_WINS``.
        saljstod_deletions, outlook_deletions: what happens on that side when the
            partner was deleted on the other side.
        mass_delete_share, mass_delete_min: a plan that would delete more than
            ``mass_delete_share`` of a side's linked items *and* more than
            ``mass_delete_min`` items is refused unless confirmed.
        keep_deleted: how long the content of items the sync deleted is kept for undo.
        lock_ttl: how long a sync lock (a lease) lives after its last renewal. A
            running sync renews it with every commit and every ``lock_ttl / 3`` in the
            background, so a sync may run for hours; a killed holder's lock clears at
            most ``lock_ttl`` after it died (default: 2 minutes).
        read_only: sides the user may only read (a shared calendar with reviewer
            rights, a read-only CRM view): nothing is ever written to them, partner
            keys included; their changes still travel to the other side.
        series_horizon: how far back and ahead a recurring series is expanded into
            single occurrences for a side without series (Säljstöd). Default: one
            month back, one year ahead.

    Raises:
        ConfigurationError: a value is out of range or of the wrong kind.
    """

    conflict: ConflictPolicy = attrs.field(
        default=ConflictPolicy.MERGE, converter=_conflict_policy
    )
    merge_fallback: ConflictPolicy = attrs.field(
        default=ConflictPolicy.NEWEST_WINS, converter=_conflict_policy
    )
    saljstod_deletions: DeletePolicy = attrs.field(
        default=DeletePolicy.DELETE, converter=_delete_policy
    )
    outlook_deletions: DeletePolicy = attrs.field(
        default=DeletePolicy.DELETE, converter=_delete_policy
    )
    mass_delete_share: float = attrs.field(default=0.2, validator=_share)
    mass_delete_min: int = attrs.field(default=10, validator=_positive_int)
    keep_deleted: dt.timedelta = attrs.field(
        default=dt.timedelta(days=30), validator=_duration
    )
    lock_ttl: dt.timedelta = attrs.field(default=dt.timedelta(minutes=2), validator=_duration)
    series_horizon: Horizon = attrs.field(factory=Horizon, validator=_horizon)
    #: which items sync (see :mod:`outlook_sync.scope`).
    filter: SyncFilter = attrs.field(factory=SyncFilter)
    #: per field unit, which way changes travel, e.g. ``{"body": "to_outlook"}``.
    directions: tuple[tuple[str, Direction], ...] = attrs.field(
        default=(), converter=directions_from
    )
    read_only: frozenset[Side] = attrs.field(default=frozenset(), converter=_sides)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.conflict, ConflictPolicy):
            raise ConfigurationError("conflict must be a ConflictPolicy", key="conflict")
        if self.merge_fallback not in (
            ConflictPolicy.SALJSTOD_WINS,
            ConflictPolicy.OUTLOOK_WINS,
            ConflictPolicy.NEWEST_WINS,
        ):
            raise ConfigurationError(
                "merge_fallback must be saljstod_wins, outlook_wins or newest_wins",
                key="merge_fallback",
            )
        for name in ("saljstod_deletions", "outlook_deletions"):
            if not isinstance(getattr(self, name), DeletePolicy):
                raise ConfigurationError(f"{name} must be a DeletePolicy", key=name)

    def direction(self, unit: str) -> Direction:
        """Which way changes of the field unit ``unit`` travel."""
        return dict(self.directions).get(unit, Direction.BOTH)

    def deletions(self, side: Side) -> DeletePolicy:
        """What to do on ``side`` when the partner on the other side was deleted."""
        return self.saljstod_deletions if side is Side.SALJSTOD else self.outlook_deletions

    def mirrored(self) -> SyncPolicy:
        """The same policy with the two sides swapped (used by the symmetry tests)."""
        swap = {
            ConflictPolicy.SALJSTOD_WINS: ConflictPolicy.OUTLOOK_WINS,
            ConflictPolicy.OUTLOOK_WINS: ConflictPolicy.SALJSTOD_WINS,
        }
        return attrs.evolve(
            self,
            conflict=swap.get(self.conflict, self.conflict),
            merge_fallback=swap.get(self.merge_fallback, self.merge_fallback),
            saljstod_deletions=self.outlook_deletions,
            outlook_deletions=self.saljstod_deletions,
            directions=tuple((unit, d.mirrored()) for unit, d in self.directions),
            read_only=frozenset(side.other for side in self.read_only),
        )
