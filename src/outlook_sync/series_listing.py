"""A listing of a calendar with series, turned into one of single items and occurrences.

The read half of :class:`~outlook_sync.series_view.SeriesView`, as functions of values:
the backend's listing, its series masters, the links of its occurrences and ``now`` in;
the listing the engine sees out. The decisions are :mod:`outlook_sync._core.series`'s
(:func:`~outlook_sync._core.series.flatten`, :func:`~outlook_sync._core.series.reconcile`,
:func:`~outlook_sync._core.series.successors`); this module only builds items from them.

Per series, with ``held`` the links of its occurrences (what the sync last agreed on):

================================  ===================  ===============================
occurrence                        complete listing     change listing
================================  ===================  ===============================
in the horizon, as agreed         item                 (absent: unchanged)
in the horizon, new or changed    item                 item
new, same local day as a dropped  item, with the       item, with the dropped one's
one (the series moved in the day)   dropped one's        partner (the planner carries
                                    partner              the link over)
linked, no longer in the series   absent (gone)        in ``deleted``
linked, original start outside    item as agreed       (absent: unchanged)
the horizon (released)              (nothing changes)
linked, series unreadable         broken               broken
================================  ===================  ===============================

A master is never an item here; its id is reported deleted, so a single appointment
that became a series in Outlook is replaced by its occurrences.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping

from outlook_sync._core.series import (
    Horizon,
    Occurrence,
    flatten,
    parse_occurrence_id,
    reconcile,
    successors,
)
from outlook_sync.errors import InvalidEventError
from outlook_sync.model import BrokenItem, Event, Item, Link, Listing

__all__ = ["flat_listing", "occurrence_item", "occurrence_version", "occurrences", "released"]


def occurrence_version(event: Event) -> str:
    """An occurrence's version: a digest of its content.

    An occurrence has no version of its own in Outlook; the master's would change for
    every occurrence at once. A content digest changes exactly when the occurrence does.
    """
    return "occ-" + hashlib.sha256(repr(event.content()).encode("utf-8")).hexdigest()[:20]


def occurrences(master: Item, now: dt.datetime, horizon: Horizon) -> list[Occurrence]:
    """The occurrences of a series master in the horizon at ``now``.

    Raises:
        InvalidEventError: the series cannot be expanded.
    """
    recurrence = master.event.recurrence
    if recurrence is None:
        return []
    return flatten(master.id, master.event, recurrence, now=now, horizon=horizon)


def occurrence_item(occurrence: Occurrence, master: Item, partner_key: str | None) -> Item:
    """The item the engine sees for one occurrence (last modified: the master's)."""
    return Item(
        id=occurrence.id,
        version=occurrence_version(occurrence.event),
        event=occurrence.event,
        partner_key=partner_key,
        changed=master.changed,
    )


def released(link: Link) -> Item:
    """A released occurrence (original start outside the horizon), as last agreed.

    ``link`` names the occurrence in its ``outlook_*`` fields.
    """
    return Item(
        id=link.outlook_id,
        version=link.outlook_version or "released",
        event=link.base,
        partner_key=link.saljstod_id,
    )


def flat_listing(
    listing: Listing,
    *,
    masters: Mapping[str, Item],
    links: Iterable[Link],
    now: dt.datetime,
    horizon: Horizon,
) -> Listing:
    """The engine's listing of a calendar with series.

    Args:
        listing: what the backend listed (masters among the items).
        masters: every series master (for a change listing, the unchanged ones too:
            the rolling horizon reaches new occurrences of unchanged series).
        links: the links of the backend's occurrences, each naming the occurrence in its
            ``outlook_*`` fields: all of them for a complete listing, or when a series
            changed or something was deleted; otherwise at least those of the series'
            occurrences in the horizon.
        now, horizon: where the horizon is.
    """
    complete = listing.complete
    items = [item for item in listing.items if item.event.recurrence is None]
    broken = list(listing.broken)
    unreadable = {bad.id for bad in broken}
    deleted = set(listing.deleted)
    deleted.update(item.id for item in listing.items if item.event.recurrence is not None)
    wanted: dict[str, list[Occurrence]] = {}
    for series_id, master in sorted(masters.items()):
        try:
            wanted[series_id] = occurrences(master, now, horizon)
        except InvalidEventError as exc:
            broken.append(BrokenItem(id=series_id, reason=f"series cannot be expanded: {exc}"))
            unreadable.add(series_id)
    held: dict[str, dict[str, Link]] = {}
    for link in links:
        parsed = parse_occurrence_id(link.outlook_id)
        if parsed is not None and link.gone is None:
            held.setdefault(parsed[0], {})[link.outlook_id] = link
    for series_id in sorted(set(wanted) | set(held) | unreadable):
        series_links = held.get(series_id, {})
        if series_id in unreadable:
            broken.extend(
                BrokenItem(
                    id=occurrence_id,
                    reason="its series is unreadable",
                    partner_key=link.saljstod_id,
                )
                for occurrence_id, link in sorted(series_links.items())
            )
            continue
        shown, gone = _series(
            series_id,
            masters.get(series_id),
            wanted.get(series_id, []),
            series_links,
            now=now,
            horizon=horizon,
            complete=complete,
        )
        items.extend(shown)
        deleted.update(gone)
    return Listing(
        items=items,
        complete=complete,
        deleted=frozenset(deleted),
        broken=broken,
        cursor=listing.cursor,
    )


def _series(
    series_id: str,
    master: Item | None,
    wanted: list[Occurrence],
    links: Mapping[str, Link],
    *,
    now: dt.datetime,
    horizon: Horizon,
    complete: bool,
) -> tuple[list[Item], tuple[str, ...]]:
    """One series' items and deleted occurrence ids."""
    changes = reconcile(
        series_id, {i: link.base for i, link in links.items()}, wanted, now=now, horizon=horizon
    )
    shown: list[Item] = []
    if master is not None and master.event.recurrence is not None:
        partners = {i: link.saljstod_id for i, link in links.items()}
        for gone, successor in successors(changes, master.event.recurrence).items():
            partners[successor] = partners[gone]
        listed = wanted if complete else [*changes.create, *changes.update]
        shown = [occurrence_item(o, master, partners.get(o.id)) for o in listed]
    if complete:
        shown.extend(released(links[i]) for i in changes.release)
    return shown, changes.delete
