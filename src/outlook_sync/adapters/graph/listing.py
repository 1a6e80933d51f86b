"""Listings of a Graph calendar that cover all time while no request spans over 1 825 days.

Theory of operation
-------------------
Graph refuses a calendar view longer than 1 825 days (400 ``ErrorInvalidRequest``,
microsoftgraph/microsoft-graph-docs-contrib#6321), and a calendar view — delta included —
expands every series into its occurrences across the window. The product covers the whole
calendar, so no listing here depends on one window:

**Complete listing** (:func:`list_all`): ``GET {calendar}/events`` ("the list contains
single instance meetings and series masters", user-list-events), paged, with ``$select``
of what the model needs and the partner key ``$expand``-ed: every item of all time, no
series expanded. Each series master is then read by id with its ``cancelledOccurrences``
and ``exceptionOccurrences`` (:mod:`.series`; unchanged masters come from the cache).
Before that listing, a fresh calendarView delta round over the rolling window
(:class:`~outlook_sync.adapters.graph.core.DeltaWindow`, at most 1 825 days around now) is
paged through only for its ``deltaLink``; its entries are not kept. Starting the round
first means a deletion made while the listing runs is either missing from the listing or
reported by the next round.

**Incremental listing** (:func:`list_changes`), from the cursor of the previous listing:

1. the stored delta link: ``@removed`` ids (deletions in the window) and the ids changed
   in the window, streamed page by page;
2. ``GET {calendar}/events?$filter=lastModifiedDateTime ge {watermark}``: every item
   changed at or after the watermark *anywhere in time* (the product's inclusive "from and
   including the last sync"), with content and partner key — so changes need no re-read.
   The watermark is the service's own clock (the ``Date`` of the previous round's first
   answer), taken five minutes early: a hint may over-report, never hide.

A removed id that the filter returns is an item that moved, not a deletion: an item that
merely leaves a window is never reported deleted. A removed id the adapter has read in
this process is read again (``$batch``, 20 a request; 404 is the evidence); any other
removed id is reported deleted without a read — the planner ignores deletions of ids it
has no link for, and this keeps a page of 200 000 ``@removed`` ids to one pass over the
page. Occurrences named by the round lead to their master (read by id when the filter did
not return it). No change costs two requests.

**Deletions outside the window.** The delta round sees deletions only inside its window.
Everything else is caught by a complete listing, which also rolls the window: it runs on
the first sync, whenever the delta token expires (410), and on a schedule —
``full_every`` (one day by default) after the last complete listing, by the host's clock.
So a deletion far from today reaches the other side within that period, and only through
a complete listing, which is evidence.

The cursor's token is this module's own (``graph2:`` + JSON: the delta link and when the
last complete listing ran); a token of an older version starts with a complete listing.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import attrs

from outlook_sync.adapters.graph import series
from outlook_sync.adapters.graph.core import SELECT, GraphCore
from outlook_sync.adapters.graph.pages import DeltaExpiredError
from outlook_sync.errors import ListingError
from outlook_sync.model import BrokenItem, Cursor, Item, Listing

__all__ = ["FILTER_MARGIN", "LIST_PAGE", "SyncToken", "list_all", "list_changes"]

#: The ``lastModifiedDateTime`` filter starts this much before the watermark.
FILTER_MARGIN = dt.timedelta(minutes=5)
#: ``$top`` of ``/events`` listings (the largest page Outlook serves).
LIST_PAGE = 1000

_PREFIX = "graph2:"
_INSTANCES = frozenset({"occurrence", "exception"})


@attrs.frozen(kw_only=True)
class SyncToken:
    """What the adapter keeps in ``Cursor.token``."""

    delta: str
    full_at: dt.datetime
    low: dt.datetime
    high: dt.datetime

    def encode(self) -> str:
        return _PREFIX + json.dumps(
            {
                "delta": self.delta,
                "full": self.full_at.isoformat(),
                "window": [self.low.isoformat(), self.high.isoformat()],
            }
        )

    def inside(self, item: Item) -> bool:
        """Whether the item lies well inside the delta window (a day from either edge):
        then the delta round reports every change to it, and the filter's answer is only
        a repeat. At the edges, or outside, the filter's answer counts."""
        start, end = item.event.start, item.event.end
        if not isinstance(start, dt.datetime) or not isinstance(end, dt.datetime):
            start = dt.datetime.combine(start, dt.time(), dt.UTC)
            end = dt.datetime.combine(end, dt.time(), dt.UTC)
        day = dt.timedelta(days=1)
        return start >= self.low + day and end <= self.high - day
    @classmethod
    def decode(cls, text: str | None) -> SyncToken | None:
        """The token, or None for a token of another version (or none)."""
        if not text or not text.startswith(_PREFIX):
            return None
        try:
            raw = json.loads(text[len(_PREFIX) :])
            when = dt.datetime.fromisoformat(raw["full"])
            low, high = (dt.datetime.fromisoformat(v) for v in raw["window"])
            delta = raw["delta"]
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(delta, str) or None in (when.tzinfo, low.tzinfo, high.tzinfo):
            return None
        return cls(delta=delta, full_at=when, low=low, high=high)


def _kind(data: dict[str, Any]) -> str:
    return str(data.get("type") or "singleInstance").casefold()


def _events_query(cal: GraphCore, **extra: str) -> dict[str, str]:
    return {"$select": SELECT, "$expand": cal._expand, "$top": str(LIST_PAGE), **extra}


def _add_masters(
    cal: GraphCore,
    listed: list[dict[str, Any]],
    items: dict[str, Item],
    broken: dict[str, BrokenItem],
    deleted: set[str] | None = None,
) -> None:
    for master_id, mapped in series.read_masters(cal, listed).items():
        if isinstance(mapped, Item):
            items[mapped.id] = mapped
        elif mapped is not None:
            broken[mapped.id] = mapped
        elif deleted is not None:
            deleted.add(master_id)
            cal._forget_series(master_id)


def fresh_round(cal: GraphCore) -> tuple[str, dt.datetime | None, tuple[dt.datetime, dt.datetime]]:
    """Page through a fresh delta round over the window; its link, start time and window.

    Raises:
        ListingError, BackendUnavailableError: the round failed.
    """
    now = cal.clock()
    reader = cal.delta_reader(cal._fresh_delta_url(now))
    try:
        for _ in reader.entries():
            pass  # only the deltaLink matters; the complete listing reads the items
    except DeltaExpiredError as exc:
        raise ListingError("Graph refused a fresh delta round as expired") from exc
    assert reader.delta_link is not None
    return reader.delta_link, reader.server_time, cal.window.around(now)


def list_all(cal: GraphCore) -> Listing:
    """Every item of the calendar, all time, complete (see the module docstring).

    Raises:
        ListingError: a page failed or was malformed; nothing may be concluded.
        BackendUnavailableError: Graph unreachable or throttled past retries.
    """
    link, watermark, (low, high) = fresh_round(cal)
    items: dict[str, Item] = {}
    broken: dict[str, BrokenItem] = {}
    masters: list[dict[str, Any]] = []
    for data in cal._collection(_events_query(cal), "GET events"):
        kind = _kind(data)
        if kind in _INSTANCES:
            continue  # /events lists masters, never their instances
        if kind == "seriesmaster" and cal.supports_series:
            masters.append(data)
        else:
            cal._collect(data, None, items, broken)
    if masters:
        _add_masters(cal, masters, items, broken)
    token = SyncToken(delta=link, full_at=cal.clock(), low=low, high=high)
    return Listing(
        items=tuple(items.values()),
        complete=True,
        broken=tuple(broken.values()),
        cursor=Cursor(watermark=watermark, token=token.encode()),
    )


def list_changes(cal: GraphCore, cursor: Cursor, full_every: dt.timedelta) -> Listing:
    """Items changed since ``cursor`` — or a complete listing when one is due.

    Raises:
        ListingError: a page or a read failed; nothing may be concluded.
        BackendUnavailableError: Graph unreachable or throttled past retries.
    """
    token = SyncToken.decode(cursor.token)
    if token is None or cursor.watermark is None or cal.clock() - token.full_at >= full_every:
        return list_all(cal)
    reader = cal.delta_reader(token.delta)
    removed: set[str] = set()
    changed: set[str] = set()
    occurrence_masters: set[str] = set()
    try:
        for entry in reader.entries():  # streamed: only ids are kept
            item_id = entry["id"]
            if "@removed" in entry:
                removed.add(item_id)
            elif _kind(entry) in _INSTANCES:
                master = entry.get("seriesMasterId")
                if isinstance(master, str) and master:
                    occurrence_masters.add(master)
            else:
                changed.add(item_id)  # own writes too: the engine may not have recorded them
    except DeltaExpiredError:
        return list_all(cal)
    assert reader.delta_link is not None
    since = (cursor.watermark - FILTER_MARGIN).astimezone(dt.UTC)
    query = _events_query(cal, **{"$filter": f"lastModifiedDateTime ge {since:%Y-%m-%dT%H:%M:%SZ}"})
    items: dict[str, Item] = {}
    broken: dict[str, BrokenItem] = {}
    deleted: set[str] = set()
    seen: set[str] = set()
    masters: list[dict[str, Any]] = []
    for data in cal._collection(query, "GET changed events"):
        seen.add(data["id"])
        kind = _kind(data)
        if kind in _INSTANCES:
            continue
        if kind == "seriesmaster" and cal.supports_series:
            masters.append(data)
            continue
        cal._collect(data, None, items, broken)
        mapped = items.get(data["id"])
        if mapped is not None and data["id"] not in changed and token.inside(mapped):
            del items[mapped.id]  # the delta round saw no change to it: a repeat
    if masters:
        _add_masters(cal, masters, items, broken, deleted)
    gone_here = (removed - seen) & cal._deleted_here
    known = {i for i in removed - seen - gone_here if i in cal._meta}
    deleted |= removed - seen - gone_here - known  # unknown ids: no link, no re-read
    deleted |= gone_here
    for item_id, fresh in cal._read_many(sorted((changed - seen) | known)).items():
        if fresh is None:
            deleted.add(item_id)
            cal._forget_series(item_id)
        elif isinstance(fresh, BrokenItem):
            broken[fresh.id] = fresh
        elif _kind(fresh) in _INSTANCES:
            master = fresh.get("seriesMasterId")
            if isinstance(master, str) and master:
                occurrence_masters.add(master)
        else:
            cal._collect(fresh, None, items, broken)
    extra = sorted(m for m in occurrence_masters - seen - set(items) if cal.supports_series)
    for master_id, raw in cal._read_many(extra, lambda i: series.details_path(cal, i)).items():
        found: Item | BrokenItem | None = cal._map(raw, None) if isinstance(raw, dict) else raw
        if found is None:
            deleted.add(master_id)
            cal._forget_series(master_id)
        elif isinstance(found, Item):
            items[found.id] = found
        else:
            broken[found.id] = found
    deleted -= set(items) | set(broken)
    watermark = reader.server_time or cursor.watermark
    new_token = attrs.evolve(token, delta=reader.delta_link)
    return Listing(
        items=tuple(items.values()),
        complete=False,
        deleted=frozenset(deleted),
        broken=tuple(broken.values()),
        cursor=Cursor(watermark=watermark, token=new_token.encode()),
    )
