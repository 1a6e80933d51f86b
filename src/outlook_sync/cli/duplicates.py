"""Find, and on request merge, duplicate appointments within one calendar.

Earlier sync tools and manual copying leave the same appointment twice in one calendar.
Two items are *duplicates* when they have the same start, the same end and the same
subject after normalisation (case and white space): :attr:`Event.match_key`, the key the
first full sync uses to pair items across calendars.

Merging keeps one item of each group and deletes the others, conservatively:

- the item that is linked to the other calendar is kept (a link means the sync relies
  on it); if two or more items of a group are linked, each has its own partner on the
  other side, so deleting one here would delete its partner at the next sync: such a
  group is left alone and reported (merge the partners in the other calendar first);
- otherwise an item carrying a partner key is preferred, then the one with the most
  content (body, location, categories), then the smallest id, so the choice is stable;
- deletions carry the version read, so an item edited meanwhile is not deleted;
- every deleted item is kept in the deleted-items log (``outlook-sync restore``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence

import attrs

from outlook_sync.errors import BackendError
from outlook_sync.model import Item, Side
from outlook_sync.protocols import Calendar, StateChange, StateStore
from outlook_sync.records import DeletedItem

__all__ = ["DuplicateGroup", "MergeResult", "find_duplicates", "merge_duplicates"]


@attrs.frozen(kw_only=True)
class DuplicateGroup:
    """Items of one calendar that are the same appointment.

    Attributes:
        side: the calendar.
        keep: the item merging keeps.
        remove: the items merging deletes (empty when the group is ``blocked``).
        blocked: why merging leaves this group alone, or ``None``.
    """

    side: Side
    keep: Item
    remove: tuple[Item, ...]
    blocked: str | None = None

    @property
    def items(self) -> tuple[Item, ...]:
        """Every item of the group, the kept one first."""
        return (self.keep, *self.remove)


@attrs.frozen(kw_only=True)
class MergeResult:
    """What merging did: items deleted, and failures (left in place)."""

    deleted: tuple[tuple[Side, str], ...] = ()
    failed: tuple[tuple[Side, str, str], ...] = ()


def _richness(item: Item) -> int:
    event = item.event
    return len(event.body) + len(event.location) + len(event.categories)


def find_duplicates(
    calendar: Calendar, side: Side, state: StateStore, user: str
) -> list[DuplicateGroup]:
    """The duplicate groups of ``calendar`` (a complete listing), in a stable order.

    Raises:
        ListingError, BackendError: the calendar could not be listed.
    """
    listing = calendar.list_all()
    groups: dict[tuple[object, ...], list[Item]] = defaultdict(list)
    for item in listing.items:
        groups[item.event.match_key].append(item)
    candidates = [items for items in groups.values() if len(items) > 1]
    if not candidates:
        return []
    ids = [item.id for items in candidates for item in items]
    links = (
        state.links(user, saljstod_ids=ids, outlook_ids=())
        if side is Side.SALJSTOD
        else state.links(user, saljstod_ids=(), outlook_ids=ids)
    )
    linked = {link.id(side) for link in links}
    found: list[DuplicateGroup] = []
    for items in candidates:
        ranked = sorted(
            items,
            key=lambda i: (i.id not in linked, i.partner_key is None, -_richness(i), i.id),
        )
        keep, rest = ranked[0], tuple(ranked[1:])
        linked_count = sum(1 for i in items if i.id in linked)
        if linked_count > 1:
            found.append(
                DuplicateGroup(
                    side=side,
                    keep=keep,
                    remove=rest,
                    blocked=f"{linked_count} of these are linked to different "
                    f"{side.other.value} items; merge those first",
                )
            )
        else:
            found.append(DuplicateGroup(side=side, keep=keep, remove=rest))
    found.sort(key=lambda g: (str(g.keep.event.match_key[0]), g.keep.id))
    return found


def merge_duplicates(
    groups: Sequence[DuplicateGroup],
    calendar: Calendar,
    state: StateStore,
    user: str,
    *,
    now: dt.datetime,
) -> MergeResult:
    """Delete the ``remove`` items of the groups that are not blocked.

    Each deletion is recorded in the deleted-items log at once (restorable). A failing
    deletion (the item changed or is gone) is reported and the others go on.

    Raises:
        StateError: the deleted-items log could not be written.
    """
    deleted: list[tuple[Side, str]] = []
    failed: list[tuple[Side, str, str]] = []
    for group in groups:
        if group.blocked:
            continue
        for item in group.remove:
            try:
                calendar.delete(item.id, expected_version=item.version)
            except BackendError as exc:
                failed.append((group.side, item.id, str(exc)))
                continue
            entry = DeletedItem(
                side=group.side,
                item_id=item.id,
                event=item.event,
                partner_id=item.partner_key,
                deleted_at=now,
            )
            state.commit(user, StateChange(deleted=(entry,)))
            deleted.append((group.side, item.id))
    return MergeResult(deleted=tuple(deleted), failed=tuple(failed))
