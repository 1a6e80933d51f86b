"""What the sync remembers about trouble: conflicts, quarantine, failures, deleted items.

These are frozen values that the planner produces, the engine applies and the state
store keeps, and that the host shows to the user ("pending conflicts", "quarantined
items", "restore an item the sync deleted").
"""

from __future__ import annotations

import datetime as dt
import enum

import attrs

from outlook_sync.model import Event, Item, Side

__all__ = [
    "Conflict",
    "ConflictPolicy",
    "DeletedItem",
    "Failure",
    "Quarantined",
    "Restored",
    "SubscriptionRecord",
]


class ConflictPolicy(enum.Enum):
    """How a pair changed on both sides since the last sync is resolved."""

    #: Säljstöd's version replaces Outlook's.
    SALJSTOD_WINS = "saljstod_wins"
    #: Outlook's version replaces Säljstöd's.
    OUTLOOK_WINS = "outlook_wins"
    #: The version with the later backend last-modified time wins.
    NEWEST_WINS = "newest_wins"
    #: The newer version is synced; the older one survives as a separate item pair.
    KEEP_BOTH = "keep_both"
    #: Field by field: edits to different fields both survive; a field changed on both
    #: sides falls back to the policy's ``merge_fallback``.
    MERGE = "merge"


@attrs.frozen(kw_only=True)
class Conflict:
    """A pair whose two sides disagreed, and how the planner resolved it.

    Attributes:
        saljstod_id, outlook_id: the pair (either may be ``None`` for a pair not yet
            linked, e.g. an ambiguous first-sync match).
        kind: ``"both_changed"``, ``"delete_vs_edit"``, ``"moved_vs_edit"`` (the
            item was reassigned to another user on one side, edited on the other),
            ``"first_pairing"``, ``"ambiguous_match"`` or ``"duplicate_claim"``.
        resolution: the policy or rule that decided, e.g. ``"merge"``, ``"newest_wins"``,
            ``"edit_wins"``, ``"keep_both"``.
        fields: the fields that were changed on both sides to different values.
        overridden: the side whose version (or fields) was overridden, if any.
        saljstod, outlook, base: the versions involved, for the conflict log.
        result: what the sync wrote to both sides, so a display can show per field
            both values and the winner.
    """

    saljstod_id: str | None
    outlook_id: str | None
    kind: str
    resolution: str
    fields: tuple[str, ...] = ()
    overridden: Side | None = None
    saljstod: Event | None = None
    outlook: Event | None = None
    base: Event | None = None
    detail: str = ""
    #: the content written to both sides (the winner, field by field), when known.
    result: Event | None = None


@attrs.frozen(kw_only=True)
class Quarantined:
    """An item set aside: nothing is written for it until it becomes readable."""

    side: Side
    item_id: str
    reason: str


@attrs.frozen(kw_only=True)
class Failure:
    """An operation that failed for one item; it is retried on the next sync."""

    side: Side
    item_id: str | None
    operation: str
    error: str


@attrs.frozen(kw_only=True)
class DeletedItem:
    """An item the sync deleted, kept so that it can be restored (undo).

    Attributes:
        side: where it was deleted.
        item_id: its id there (gone now).
        event: its content at deletion time.
        partner_id: the partner whose deletion caused it.
        deleted_at: when the sync deleted it (the sync host's clock, for expiry only).
    """

    side: Side
    item_id: str
    event: Event
    partner_id: str | None
    deleted_at: dt.datetime


@attrs.frozen(kw_only=True)
class SubscriptionRecord:
    """A push subscription (Graph change notifications) kept in the state store.

    Kept so that a restarted process validates notifications for the subscriptions it
    already has and renews or deletes them instead of leaking them (a mailbox allows
    1 000 subscriptions, all applications together).

    Attributes:
        subscription_id: the service's id of the subscription.
        resource: what it watches, e.g. ``/users/{id}/events``.
        client_state: the secret the service echoes in every notification; never shown.
        expires: when the service ends it unless renewed (timezone-aware).
        notification_url: where the service posts notifications.
    """

    subscription_id: str
    resource: str
    client_state: str = attrs.field(repr=False)
    expires: dt.datetime
    notification_url: str = ""


@attrs.frozen(kw_only=True)
class Restored:
    """What :meth:`Synchronizer.restore` brought back.

    Attributes:
        item: the restored item as it is now.
        same_id: it came back under its old id (the SQL adapter keeps the row).
        not_restored: what could not be brought back, in words, for the report.
    """

    item: Item
    same_id: bool
    not_restored: tuple[str, ...] = ()
