"""The state and the single-item plumbing every part of the Graph adapter shares.

:class:`GraphCore` is the base of :class:`~outlook_sync.adapters.graph.calendar.
GraphCalendar`. The modules that implement parts of the calendar — :mod:`.series`,
:mod:`.bulk`, :mod:`.listing` and :mod:`.notifications` — take a :class:`GraphCore`, so
none of them imports ``calendar.py`` back: the import graph is a line (transport, mapping,
pages < core < series, bulk < listing < calendar), never a circle. The two operations
that live higher up (writing one item, which may be a series; mapping a series master)
are declared here and implemented by :class:`GraphCalendar`.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from outlook_sync.adapters.graph.mapping import (
    COM_PARTNER_PROPERTY,
    ZONE_PROPERTY,
    MappingError,
    event_to_graph,
    item_from_graph,
    parse_instant,
    partner_key_of,
    zone_property,
)
from outlook_sync.adapters.graph.pages import DeltaExpiredError, PageReader
from outlook_sync.adapters.graph.transport import (
    BatchItem,
    GraphClient,
    GraphResponse,
    MalformedResponseError,
    error_for,
)
from outlook_sync.errors import BackendError, ItemRejectedError, ListingError
from outlook_sync.model import BrokenItem, Event, Item

__all__ = ["MAX_WINDOW", "SELECT", "DeltaWindow", "GraphCore", "SeriesWindow"]

#: The 1 825-day limit of a calendar view ("Maximum number of days: 1825",
#: microsoftgraph/microsoft-graph-docs-contrib#6321).
MAX_WINDOW = dt.timedelta(days=1825)

#: What the adapter reads of an event (``$select``): the model's fields and what the
#: adapter needs to decide (type, series, meeting, link, version).
SELECT = (
    "id,changeKey,lastModifiedDateTime,subject,body,start,end,isAllDay,location,"
    "categories,showAs,sensitivity,isReminderOn,reminderMinutesBeforeStart,"
    "originalStartTimeZone,originalEndTimeZone,type,seriesMasterId,originalStart,"
    "recurrence,attendees,isOrganizer,webLink,transactionId"
)

_INSTANCES = frozenset({"occurrence", "exception"})


@attrs.frozen(kw_only=True)
class DeltaWindow:
    """The calendarView window of the delta rounds: ``back`` before to ``ahead`` after
    the moment a complete listing starts it (it rolls with every complete listing).

    Graph refuses a view longer than 1 825 days (400 ``ErrorInvalidRequest``), so
    ``back + ahead`` (or ``end - start`` for a fixed window) may not exceed that.

    Raises:
        ConfigurationError: the window is longer than 1 825 days, or empty.
    """

    back: dt.timedelta = dt.timedelta(days=366)
    ahead: dt.timedelta = dt.timedelta(days=1096)
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def __attrs_post_init__(self) -> None:
        from outlook_sync.errors import ConfigurationError

        if (self.start is None) != (self.end is None):
            raise ConfigurationError("a fixed delta window needs start and end", key="window")
        low, high = self.around(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        if high <= low or high - low > MAX_WINDOW:
            raise ConfigurationError(
                "the delta window must be 1 to 1825 days long (Graph refuses longer views)",
                key="window",
            )

    def around(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """The window for a round started at ``now`` (UTC)."""
        if self.start is not None and self.end is not None:
            return self.start.astimezone(dt.UTC), self.end.astimezone(dt.UTC)
        now = now.astimezone(dt.UTC).replace(microsecond=0)
        return now - self.back, now + self.ahead

    def query(self, now: dt.datetime) -> dict[str, str]:
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        low, high = self.around(now)
        return {"startDateTime": low.strftime(fmt), "endDateTime": high.strftime(fmt)}


@attrs.frozen(kw_only=True)
class SeriesWindow:
    """Where the occurrences a series write touches are looked up, around "now".

    Attributes:
        back: how far before now.
        ahead: how far after now.
        margin: read ``/instances`` this much wider, to find moved exceptions.
    """

    back: dt.timedelta = dt.timedelta(days=366)
    ahead: dt.timedelta = dt.timedelta(days=2 * 366)
    margin: dt.timedelta = dt.timedelta(days=31)

    def around(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """The window at ``now`` (UTC)."""
        now = now.astimezone(dt.UTC)
        return now - self.back, now + self.ahead


@attrs.define
class _Meta:
    meeting: bool
    web_link: str | None
    partner_key: str | None
    event: Event | None = None
    series: bool = False


def quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def odata_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def chunks(seq: Sequence[Any], size: int = 20) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


class GraphCore:
    """State and plumbing shared by the Graph adapter's modules (see the module doc)."""

    def __init__(
        self,
        client: GraphClient,
        *,
        user: str | None,
        calendar_id: str | None,
        partner_property: str,
        window: DeltaWindow | None,
        page_size: int,
        allow_meeting_changes: bool,
        clock: Callable[[], dt.datetime] | None,
        max_pages: int,
    ) -> None:
        self.client = client
        self.partner_property = partner_property
        self.window = window or DeltaWindow()
        self.allow_meeting_changes = allow_meeting_changes
        self.max_pages = max_pages
        self.page_size = page_size
        self._user = user
        self._calendar_id = calendar_id
        self._base = "me" if user is None else f"users/{quote(user)}"
        self._calendar = (
            f"{self._base}/calendar"
            if calendar_id is None
            else f"{self._base}/calendars/{quote(calendar_id)}"
        )
        self._delta_path = (
            f"{self._base}/calendarView/delta"
            if calendar_id is None
            else f"{self._calendar}/calendarView/delta"
        )
        self._resource = (
            f"{self._base}/events" if calendar_id is None else f"{self._calendar}/events"
        )
        prefer = 'IdType="ImmutableId", outlook.timezone="UTC", outlook.body-content-type="text"'
        self._read_headers = {"Prefer": f"{prefer}, odata.maxpagesize={page_size}"}
        self._headers = {"Prefer": prefer}
        self._expand = (
            f"singleValueExtendedProperties($filter=id eq {odata_string(partner_property)}"
            f" or id eq {odata_string(COM_PARTNER_PROPERTY)}"
            f" or id eq {odata_string(ZONE_PROPERTY)})"
        )
        self._meta: dict[str, _Meta] = {}
        # Versions this adapter wrote and ids it deleted: their echo in the next delta
        # round is reported without a re-read.
        self._written: dict[str, str] = {}
        self._deleted_here: set[str] = set()
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        #: Recurring series are kept as series masters (the SeriesSupport capability).
        self.supports_series = True
        self.series_window = SeriesWindow()
        self._identity: str | None = None
        # Series masters read with their exceptions: changeKey -> item (series module).
        self._series_cache: dict[str, tuple[str, Item]] = {}

    def clock(self) -> dt.datetime:
        """The host's current time (aware), from the injected clock."""
        return self._clock()

    # -- to be provided by GraphCalendar -----------------------------------------------

    def create(self, event: Event, *, partner_key: str) -> Item:
        raise NotImplementedError

    def update(
        self,
        item_id: str,
        event: Event,
        *,
        expected_version: str,
        partner_key: str | None = None,
    ) -> Item:
        raise NotImplementedError

    def _series_item(self, data: Mapping[str, Any], key: str | None) -> Item | BrokenItem | None:
        raise NotImplementedError

    # -- paths -------------------------------------------------------------------------

    def _item_path(self, item_id: str, **query: str) -> str:
        # Scoped to the calendar (``…/calendar/events/{id}``, ``…/calendars/{c}/events/{id}``,
        # event-get "HTTP request"): an item of another calendar of the mailbox is not ours.
        path = f"{self._calendar}/events/{quote(item_id)}"
        return f"{path}?{urllib.parse.urlencode(query)}" if query else path

    def _item_read_path(self, item_id: str) -> str:
        return self._item_path(item_id, **{"$expand": self._expand})

    @property
    def subscription_resource(self) -> str:
        """The resource a change subscription names (``me/events`` or a calendar's)."""
        return self._resource

    # -- identity ------------------------------------------------------------------------

    def calendar_identity(self) -> str:
        """``graph:<mailbox id>/<calendar id>``: the calendar this object reads and writes.

        The user's object id (``GET /me`` or ``/users/{id}``, user-get) and the calendar's
        id (``GET …/calendar``, calendar-get) are read once (two GETs) and kept: neither
        changes while the object lives. No secret is part of it.

        Raises:
            BackendUnavailableError: Graph cannot be reached to tell.
        """
        if self._identity is not None:
            return self._identity
        ids = []
        for path, what in ((self._base, "GET user id"), (self._calendar, "GET calendar id")):
            resp = self.client.request("GET", f"{path}?$select=id", headers=self._headers)
            if not resp.ok:
                raise error_for(resp, what=what, listing=True)
            value = self._json(resp, what).get("id")
            if not isinstance(value, str) or not value:
                raise ListingError(f"{what}: an answer without id")
            ids.append(value)
        self._identity = f"graph:{ids[0]}/{ids[1]}"
        return self._identity

    # -- reading -------------------------------------------------------------------------

    def _json(self, resp: GraphResponse, what: str) -> dict[str, Any]:
        try:
            return resp.json_object()
        except MalformedResponseError as exc:
            raise ListingError(f"{what}: malformed answer ({exc})") from None

    def _collection(self, query: Mapping[str, str], what: str) -> Iterator[dict[str, Any]]:
        """Every entry of ``{calendar}/events`` with ``query``, page by page.

        Raises:
            QueryRefusedError: Graph answered 400 (a filter it does not support).
            ListingError, BackendUnavailableError: the listing failed.
        """
        url = f"{self._calendar}/events?{urllib.parse.urlencode(query)}"
        reader = PageReader(
            self.client, url, headers=self._headers, what=what, max_pages=self.max_pages
        )
        yield from reader.entries()

    def delta_reader(self, url: str) -> PageReader:
        """A reader of one delta round starting at ``url`` (a fresh query or a link)."""
        return PageReader(
            self.client,
            url,
            headers=self._read_headers,
            what=f"GET /{self._delta_path}",
            delta=True,
            max_pages=self.max_pages,
        )

    def _fresh_delta_url(self, now: dt.datetime | None = None) -> str:
        query = self.window.query(now or self.clock())
        return f"{self._delta_path}?{urllib.parse.urlencode(query)}"

    def _read_many(
        self, ids: Sequence[str], path: Callable[[str], str] | None = None
    ) -> dict[str, dict[str, Any] | BrokenItem | None]:
        """Current JSON of each id (``None`` when it is gone) via ``$batch`` GETs, 20 a
        request. ``path`` builds each GET (default: the item with its partner key)."""
        build = path or self._item_read_path
        found: dict[str, dict[str, Any] | BrokenItem | None] = {}
        for chunk in chunks(ids):
            if len(chunk) == 1:  # one read is one plain GET, not a $batch of one
                answers = {"0": self.client.request("GET", build(chunk[0]), headers=self._headers)}
            else:
                batch = [
                    BatchItem(id=str(n), method="GET", url="/" + build(item_id))
                    for n, item_id in enumerate(chunk)
                ]
                answers = self.client.batch(batch, headers=self._headers)
            for n, item_id in enumerate(chunk):
                resp = answers[str(n)]
                if resp.status == 404:
                    found[item_id] = None
                elif not resp.ok:
                    raise error_for(
                        resp, what=f"GET {self._base}/events/{{id}}", listing=True, item_id=item_id
                    )
                else:
                    try:
                        data = resp.json_object()
                    except MalformedResponseError as exc:
                        found[item_id] = BrokenItem(id=item_id, reason=f"malformed answer: {exc}")
                        continue
                    if not isinstance(data.get("id"), str):
                        found[item_id] = BrokenItem(id=item_id, reason="an answer without id")
                        continue
                    found[item_id] = data
        return found

    def get(self, item_id: str) -> Item | BrokenItem | None:
        """The item now, a :class:`BrokenItem` if unreadable, ``None`` if gone.

        Raises:
            BackendUnavailableError: Graph unreachable or throttled past retries.
            ListingError: Graph answered with another error.
        """
        resp = self.client.request("GET", self._item_read_path(item_id), headers=self._headers)
        if resp.status == 404:
            self._meta.pop(item_id, None)
            return None
        if not resp.ok:
            raise error_for(resp, what="GET event", item_id=item_id, listing=True)
        try:
            data = resp.json_object()
        except MalformedResponseError as exc:
            return BrokenItem(id=item_id, reason=f"malformed answer: {exc}")
        if not isinstance(data.get("id"), str):
            return BrokenItem(id=item_id, reason="an answer without id")
        return self._map(data, None) or BrokenItem(id=item_id, reason="unreadable occurrence")

    def _map(self, data: Mapping[str, Any], key: str | None) -> Item | BrokenItem | None:
        """Map one event JSON: a single event, or a series master with its instances.

        An occurrence or exception is not an item (its series is): it maps to a
        :class:`BrokenItem` saying so. ``None``: a master that vanished while read.
        """
        kind = str(data.get("type") or "singleInstance").casefold()
        item_id = str(data["id"])
        key = key if key is not None else partner_key_of(data, self.partner_property)
        if not self.supports_series and kind in (*_INSTANCES, "seriesmaster"):
            master = item_id if kind == "seriesmaster" else data.get("seriesMasterId")
            if not isinstance(master, str) or not master:
                return None
            return BrokenItem(
                id=master,
                reason="a recurring series: not synced (GraphCalendar(series=True) syncs them)",
                partner_key=key if master == item_id else None,
            )
        if kind in _INSTANCES:
            return BrokenItem(
                id=item_id,
                reason=f"an occurrence of the series {data.get('seriesMasterId')}; "
                "the series is the item",
            )
        attendees = data.get("attendees")
        meta = _Meta(
            meeting=bool(attendees) and data.get("isOrganizer") is not False,
            web_link=data.get("webLink") if isinstance(data.get("webLink"), str) else None,
            partner_key=key,
            series=kind == "seriesmaster",
        )
        self._meta[item_id] = meta
        if meta.series:
            mapped = self._series_item(data, key)
        else:
            mapped = item_from_graph(data, partner_key=key, prop_id=self.partner_property)
        if isinstance(mapped, Item):
            meta.event = mapped.event
        return mapped

    def _collect(
        self,
        data: Mapping[str, Any],
        key: str | None,
        items: dict[str, Item],
        broken: dict[str, BrokenItem],
    ) -> None:
        mapped = self._map(data, key)
        if isinstance(mapped, Item):
            items[mapped.id] = mapped
            broken.pop(mapped.id, None)
        elif mapped is not None and mapped.id not in items:
            broken[mapped.id] = mapped

    def poll_once(self, token: str | None) -> tuple[list[str], str, bool]:
        """One delta round from ``token`` (a fresh round when ``None`` or expired).

        Returns the ids named (changed or removed), the new delta link, and whether the
        round started afresh (then the ids are unknown: "something may have changed").
        Cheap: one request when nothing changed.

        Raises:
            ListingError, BackendUnavailableError: the round failed.
        """
        if token is not None:
            reader = self.delta_reader(token)
            try:
                ids = list(dict.fromkeys(e["id"] for e in reader.entries()))
            except DeltaExpiredError:
                pass
            else:
                assert reader.delta_link is not None
                return ids, reader.delta_link, False
        reader = self.delta_reader(self._fresh_delta_url())
        try:
            for _ in reader.entries():
                pass
        except DeltaExpiredError as exc:
            raise ListingError("Graph refused a fresh delta round as expired") from exc
        assert reader.delta_link is not None
        return [], reader.delta_link, True

    # -- writing helpers ---------------------------------------------------------------

    def _create_body(self, event: Event, partner_key: str, txn: str) -> dict[str, Any]:
        body = event_to_graph(event)
        zone = zone_property(event)
        body["singleValueExtendedProperties"] = [
            {"id": self.partner_property, "value": partner_key}, *([zone] if zone else [])
        ]
        body["transactionId"] = txn
        return body

    def _created(self, resp: GraphResponse, partner_key: str, event: Event) -> Item:
        """The item a create answer describes.

        For a single event the content is the ``event`` written, stamped with the
        answer's ``lastModifiedDateTime``: the answer's id, ``changeKey`` and ``type``
        are read, not the whole event mapped again (the engine records the event it
        wrote as the link's base either way, and the next listing reads what Graph
        stored). A series master is mapped whole (it carries its occurrences).
        """
        if not resp.ok:
            raise error_for(resp, what=f"POST {self._calendar}/events")
        try:
            data = resp.json_object()
            written = self._written_single(data, partner_key, event)
            if written is not None:
                return written
            mapped = self._map(data, partner_key) if isinstance(data.get("id"), str) else None
        except (MalformedResponseError, MappingError) as exc:
            raise ItemRejectedError(f"POST event: malformed answer ({exc})") from None
        if not isinstance(mapped, Item):
            reason = mapped.reason if mapped is not None else "no id"
            raise ItemRejectedError(f"created, but it cannot be read back: {reason}")
        self._written[mapped.id] = mapped.version
        return mapped

    def _written_single(self, data: Mapping[str, Any], partner_key: str,
                        event: Event) -> Item | None:
        """The created single event from its answer's id, version and change time;
        ``None`` when the answer is not plainly that (then it is mapped whole)."""
        item_id, version = data.get("id"), data.get("changeKey")
        kind = data.get("type", "singleInstance")
        if (event.recurrence is not None or not isinstance(kind, str)
                or kind.casefold() != "singleinstance" or data.get("attendees")
                or not isinstance(item_id, str) or not item_id
                or not isinstance(version, str) or not version):
            return None
        when = parse_instant(data.get("lastModifiedDateTime"))
        item = Item(id=item_id, version=version, event=event, partner_key=partner_key,
                    changed=when)
        link = data.get("webLink")
        self._meta[item_id] = _Meta(meeting=False, partner_key=partner_key, event=item.event,
                                    web_link=link if isinstance(link, str) else None)
        self._written[item_id] = version
        return item

    def _key_filter(self, value: str | None) -> str:
        prop = odata_string(self.partner_property)
        test = "ep/value ne null" if value is None else f"ep/value eq {odata_string(value)}"
        return f"singleValueExtendedProperties/Any(ep: ep/id eq {prop} and {test})"

    def _find_raw(self, partner_key: str) -> list[dict[str, Any]]:
        """Events whose partner key is exactly ``partner_key``.

        Graph compares extended-property *values* without regard to case
        (https://learn.microsoft.com/en-us/graph/api/singlevaluelegacyextendedproperty-get),
        so the ``$filter`` may return ``abc`` for ``ABC``: the answer is checked exactly.
        """
        query = {"$filter": self._key_filter(partner_key), "$expand": self._expand, "$top": "50"}
        return [
            data
            for data in self._collection(query, "GET by partner key")
            if partner_key_of(data, self.partner_property) == partner_key
        ]

    def _recover_create(self, partner_key: str, txn: str) -> Item | None:
        for data in self._find_raw(partner_key):
            if data.get("transactionId") == txn:
                mapped = self._map(data, partner_key)
                if isinstance(mapped, Item):
                    return mapped
        return None

    def _recreate(self, event: Event, partner_key: str, txn: str) -> Item:
        return self._recover_create(partner_key, txn) or self.create(event, partner_key=partner_key)

    def _meeting(self, item_id: str) -> _Meta | None:
        """The item's metadata if it is an organizer's meeting with attendees, else None.

        Unknown items are read first: changing a meeting would e-mail its attendees.
        """
        if self.allow_meeting_changes:
            return None
        meta = self._meta.get(item_id)
        if meta is None:
            self.get(item_id)
            meta = self._meta.get(item_id)
        return meta if meta is not None and meta.meeting else None

    @staticmethod
    def _meeting_refusal(item_id: str, what: str) -> ItemRejectedError:
        return ItemRejectedError(
            f"{what} skipped: the item is a meeting with attendees, and Outlook would "
            "e-mail them (change it in Outlook, or set allow_meeting_changes)",
            item_id=item_id,
        )

    def _guard_meeting(self, item_id: str, what: str) -> None:
        if self._meeting(item_id) is not None:
            raise self._meeting_refusal(item_id, what)

    def _patch_body(self, event: Event, partner_key: str | None) -> dict[str, Any]:
        body = event_to_graph(event)
        zone = zone_property(event)
        props = [
            *([{"id": self.partner_property, "value": partner_key}]
              if partner_key is not None else []),
            *([zone] if zone else []),
        ]
        if props:
            body["singleValueExtendedProperties"] = props
        return body

    def _updated(
        self, resp: GraphResponse, item_id: str, event: Event, partner_key: str | None
    ) -> Item:
        if resp.status == 412:
            current = self.get(item_id)
            if (
                isinstance(current, Item)
                and current.event == event
                and (partner_key is None or current.partner_key == partner_key)
            ):
                return current  # our own earlier attempt landed; its answer was lost
        if not resp.ok:
            raise error_for(resp, what="PATCH event", item_id=item_id)
        known = self._meta.get(item_id)
        key = partner_key if partner_key is not None else (known.partner_key if known else None)
        try:
            data = resp.json_object()
        except MalformedResponseError as exc:
            raise ItemRejectedError(
                f"PATCH event: malformed answer ({exc})", item_id=item_id
            ) from None
        mapped = self._map(data, key) if isinstance(data.get("id"), str) else None
        if not isinstance(mapped, Item):
            raise ItemRejectedError("updated, but it cannot be read back", item_id=item_id)
        self._written[mapped.id] = mapped.version
        return mapped

    def _is_series(self, item_id: str) -> bool:
        meta = self._meta.get(item_id)
        return meta is not None and meta.series

    def _forget_series(self, item_id: str) -> None:
        self._meta.pop(item_id, None)
        self._series_cache.pop(item_id, None)

    def _forget(self, item_id: str) -> None:
        self._forget_series(item_id)
        self._written.pop(item_id, None)
        self._deleted_here.add(item_id)

    @staticmethod
    def _settle(work: Callable[[], Item]) -> Item | BackendError:
        try:
            return work()
        except BackendError as exc:
            return exc
