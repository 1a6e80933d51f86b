"""``GraphCalendar``: an Exchange Online / Outlook 365 calendar as a :class:`Calendar`.

Theory of operation
-------------------
**Listing.** Graph v1.0 tracks changes to events only through a *calendarView delta*
(https://learn.microsoft.com/en-us/graph/delta-query-events): a window fixed by
``startDateTime``/``endDateTime`` in the first request and encoded in the tokens. The
product covers the whole calendar, so the default window is the whole range of dates the
model accepts (1900-01-01 to 3000-01-01 UTC, :class:`DeltaWindow`): no valid item is ever
outside it, so no item "leaves the window". A narrower window is a configuration choice
(and then an item moved outside it is reported as ``@removed`` by Graph; this adapter
re-reads every ``@removed`` id before calling it deleted, so such an item is never taken
for a deletion).

- :meth:`list_all` runs a fresh delta round (every event in the window, and the
  ``@odata.deltaLink`` that becomes ``Cursor.token``) plus one listing of the ids that
  carry a partner key (delta cannot ``$expand`` extended properties). Complete.
- :meth:`list_changes` follows the stored delta link. Every id it names — changed or
  ``@removed`` — is re-read with ``$batch`` GETs (20 per request): a 404 is the evidence
  of a deletion, anything else is the item as it is now. Replays and duplicates collapse.
  No change costs exactly one request. An expired or unknown token (410 Gone /
  ``syncStateNotFound``) falls back to :meth:`list_all` (``complete=True``).
- Recurring series, with ``series=True`` (the :class:`~outlook_sync.series_view.
  SeriesSupport` capability, :mod:`outlook_sync.adapters.graph.series`). Without it, a
  series is one :class:`BrokenItem` (its master id): quarantined, nothing written, its
  partner never deleted. With it, the delta round shows their occurrences
  and exceptions, never the master ("the returned events may include single instances
  or occurrences and exceptions of a recurring series", delta-query-events). They are
  not items: each series is one item, its master (read by ``seriesMasterId``, or listed
  with ``$filter=type eq 'seriesMaster'``), whose event carries the recurrence with its
  exceptions and cancellations read from ``/instances``. :meth:`list_all` lists every
  master; :meth:`list_changes` re-reads the masters whose occurrences the round names,
  and keeps the set of masters :meth:`list_series` answers from (refreshed daily).
- A malformed page, or an entry without an id, fails the listing (:class:`ListingError`);
  an entry that has an id but cannot be mapped is a :class:`BrokenItem`.

**Writing.** Creates carry the partner key (a single-value extended property) and a
``transactionId``; when a create's answer is lost, the item is looked up by its partner
key before anything is sent again. Updates and deletes send ``If-Match`` with the item's
``changeKey``; 412 is a :class:`VersionConflictError` — unless the item already holds
exactly what was to be written (a retried PATCH whose first answer was lost).

**Invitations.** ``attendees`` are never written. An *organizer's meeting with
attendees* is not updated or deleted (that would e-mail the attendees an update or a
cancellation): :class:`ItemRejectedError` says so, unless ``allow_meeting_changes``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from outlook_sync.adapters.graph import bulk, series
from outlook_sync.adapters.graph.mapping import (
    PARTNER_PROPERTY,
    MappingError,
    event_to_graph,
    item_from_graph,
    partner_key_of,
)
from outlook_sync.adapters.graph.series import SeriesWindow
from outlook_sync.adapters.graph.transport import (
    AnswerLostError,
    BatchItem,
    GraphClient,
    GraphResponse,
    MalformedResponseError,
    error_for,
)
from outlook_sync.errors import (
    BackendError,
    ItemRejectedError,
    ListingError,
)
from outlook_sync.model import BrokenItem, Cursor, Event, Item, Listing
from outlook_sync.protocols import Subscription

__all__ = ["DeltaWindow", "GraphCalendar", "SeriesWindow"]

_INSTANCES = frozenset({"occurrence", "exception"})
_EXPIRED_CODES = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid"})


@attrs.frozen(kw_only=True)
class DeltaWindow:
    """The calendarView window of the delta rounds (see the module docstring)."""

    start: dt.datetime = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
    end: dt.datetime = dt.datetime(3000, 1, 1, tzinfo=dt.UTC)

    def query(self) -> dict[str, str]:
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        return {
            "startDateTime": self.start.astimezone(dt.UTC).strftime(fmt),
            "endDateTime": self.end.astimezone(dt.UTC).strftime(fmt),
        }


class _TokenExpiredError(Exception):
    pass


class _QueryRefusedError(ListingError):
    """Graph answered 400 to a query (a filter this service does not support)."""


@attrs.define
class _Meta:
    meeting: bool
    web_link: str | None
    partner_key: str | None
    event: Event | None = None
    series: bool = False


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _odata_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _chunks(seq: Sequence[Any], size: int = 20) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


class GraphCalendar:
    """One Outlook calendar through Microsoft Graph.

    Args:
        client: the HTTP client (base URL, tokens, retries, pacing).
        user: ``None`` for ``/me`` (delegated), or a user id / UPN (``/users/{user}``).
        calendar_id: ``None`` for the default calendar, or a calendar id.
        partner_property: the extended property id that stores the partner key.
        window: the delta window (whole calendar by default).
        page_size: ``odata.maxpagesize`` asked of delta rounds.
        allow_meeting_changes: also update/delete organizer meetings with attendees
            (Graph then e-mails them). Off by default.
        series: keep recurring series as series masters (the SeriesSupport capability;
            on by default). ``False`` quarantines each series as one broken item.
        series_window: where series exceptions and cancellations are read (see
            :mod:`outlook_sync.adapters.graph.series`).
        clock: the host's clock (aware datetimes), which places ``series_window``.
    """

    def __init__(
        self,
        client: GraphClient,
        *,
        user: str | None = None,
        calendar_id: str | None = None,
        partner_property: str = PARTNER_PROPERTY,
        window: DeltaWindow | None = None,
        page_size: int = 200,
        allow_meeting_changes: bool = False,
        series: bool = True,
        series_window: SeriesWindow | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.client = client
        self.partner_property = partner_property
        self.window = window or DeltaWindow()
        self.allow_meeting_changes = allow_meeting_changes
        self._base = "me" if user is None else f"users/{_quote(user)}"
        self._calendar = (
            f"{self._base}/calendar"
            if calendar_id is None
            else f"{self._base}/calendars/{_quote(calendar_id)}"
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
            f"singleValueExtendedProperties($filter=id eq {_odata_string(partner_property)})"
        )
        self._meta: dict[str, _Meta] = {}
        # Versions this adapter wrote and ids it deleted: their echo in the next delta
        # round is reported without a re-read (the sync after a full one stays cheap).
        self._written: dict[str, str] = {}
        self._deleted_here: set[str] = set()
        #: Recurring series are kept as series masters (the SeriesSupport capability).
        self.supports_series = series
        self.series_window = series_window or SeriesWindow()
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        # Series masters read with their instances: (changeKey, day read, item).
        self._series_cache: dict[str, tuple[str, dt.date, Item]] = {}
        # Occurrence and exception ids seen in delta rounds -> their master.
        self._occurrence_master: dict[str, str] = {}
        # Every series master, kept up to date by the delta rounds, and the day it was read.
        self._masters: dict[str, Item] | None = None
        self._masters_day: dt.date | None = None

    def __repr__(self) -> str:
        return f"GraphCalendar({self._calendar!r})"

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()

    def clock(self) -> dt.datetime:
        """The host's current time (aware), from the injected clock."""
        return self._clock()

    # -- paths -------------------------------------------------------------------------

    def _item_path(self, item_id: str, **query: str) -> str:
        path = f"{self._base}/events/{_quote(item_id)}"
        return f"{path}?{urllib.parse.urlencode(query)}" if query else path

    @property
    def subscription_resource(self) -> str:
        """The resource a change subscription names (``me/events`` or a calendar's)."""
        return self._resource

    # -- listing -----------------------------------------------------------------------

    def list_all(self) -> Listing:
        """Every item of the calendar (a fresh delta round), complete.

        Raises:
            ListingError: a page failed or was malformed; nothing may be concluded.
            BackendUnavailableError: Graph unreachable or throttled past retries.
        """
        first = f"{self._delta_path}?{urllib.parse.urlencode(self.window.query())}"
        try:
            entries, delta_link, watermark = self._delta_round(first)
        except _TokenExpiredError as exc:  # a fresh round has no token to expire
            raise ListingError("Graph refused a fresh delta round as expired") from exc
        keys = self._keyed_ids([e["id"] for e in entries if "@removed" not in e])
        items: dict[str, Item] = {}
        broken: dict[str, BrokenItem] = {}
        for entry in entries:
            if "@removed" in entry or self._occurrence(entry):
                continue
            self._collect(entry, keys.get(entry["id"]), items, broken)
        if self.supports_series:
            for master in self._all_masters():
                if isinstance(master, Item):
                    items[master.id] = master
                else:
                    broken[master.id] = master
        return Listing(
            items=tuple(items.values()),
            complete=True,
            broken=tuple(broken.values()),
            cursor=Cursor(watermark=watermark, token=delta_link),
        )

    def list_changes(self, cursor: Cursor) -> Listing:
        """Items changed since ``cursor`` (its delta link); complete if the link expired.

        Raises:
            ListingError: a page or a re-read failed; nothing may be concluded.
            BackendUnavailableError: Graph unreachable or throttled past retries.
        """
        if cursor.token is None:
            return self.list_all()
        try:
            entries, delta_link, watermark = self._delta_round(cursor.token)
        except _TokenExpiredError:
            return self.list_all()
        latest = {entry["id"]: entry for entry in entries}
        items: dict[str, Item] = {}
        broken: dict[str, BrokenItem] = {}
        deleted: set[str] = set()
        touched = []
        masters: set[str] = set()
        for item_id, entry in latest.items():
            if "@removed" not in entry and self._occurrence(entry):
                masters.add(self._occurrence_master[item_id])  # its series changed
            elif "@removed" in entry and item_id in self._occurrence_master:
                masters.add(self._occurrence_master[item_id])  # a cancelled occurrence
            elif "@removed" in entry and item_id in self._deleted_here:
                deleted.add(item_id)  # our own delete coming back: known, no re-read
            elif entry.get("changeKey") is not None and (
                entry.get("changeKey") == self._written.get(item_id)
            ):
                # Exactly the version this adapter wrote: the delta entry is complete
                # and the partner key is known, so report it without a re-read (never
                # skip it: the engine may not have recorded that write).
                meta = self._meta.get(item_id)
                self._collect(entry, meta.partner_key if meta else None, items, broken)
            else:
                touched.append(item_id)
        for item_id, data in self._read_many(touched).items():
            if data is None:
                deleted.add(item_id)
                self._meta.pop(item_id, None)
            elif isinstance(data, BrokenItem):
                broken[data.id] = data
            elif self._occurrence(data):
                masters.add(self._occurrence_master[item_id])
            else:
                self._collect(data, None, items, broken)
        for master_id, data in self._read_many(sorted(masters - set(items))).items():
            if isinstance(data, BrokenItem):
                broken[data.id] = data
                continue
            mapped = self._map(data, None) if data is not None else None
            if mapped is None:
                deleted.add(master_id)
                self._forget_series(master_id)
            elif isinstance(mapped, Item):
                items[mapped.id] = mapped
            else:
                broken[mapped.id] = mapped
        return Listing(
            items=tuple(items.values()),
            complete=False,
            deleted=frozenset(deleted),
            broken=tuple(broken.values()),
            cursor=Cursor(watermark=watermark, token=delta_link),
        )

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
        elif mapped is not None and mapped.id not in items:
            broken[mapped.id] = mapped

    def _occurrence(self, data: Mapping[str, Any]) -> bool:
        """Whether ``data`` is an occurrence or exception of a series (remembered).

        Always False without series support (occurrences then map to their quarantined
        series, see :meth:`_map`).
        """
        kind = str(data.get("type") or "").casefold()
        master = data.get("seriesMasterId")
        if not self.supports_series or kind not in _INSTANCES:
            return False
        if not isinstance(master, str) or not master:
            return False
        self._occurrence_master[str(data["id"])] = master
        return True

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
            mapped = series.series_item(self, data, key)
            if mapped is None:
                self._forget_series(item_id)
            elif self._masters is not None and isinstance(mapped, Item):
                self._masters[item_id] = mapped
            elif self._masters is not None:
                self._masters.pop(item_id, None)
        else:
            mapped = item_from_graph(data, partner_key=key, prop_id=self.partner_property)
        if isinstance(mapped, Item):
            meta.event = mapped.event
        return mapped

    def _forget_series(self, item_id: str) -> None:
        self._meta.pop(item_id, None)
        self._series_cache.pop(item_id, None)
        if self._masters is not None:
            self._masters.pop(item_id, None)

    def _all_masters(self) -> list[Item | BrokenItem]:
        """Every series master, read now (masters unchanged since read are not re-read)."""
        found = series.masters(self)
        self._masters = {m.id: m for m in found if isinstance(m, Item)}
        self._masters_day = self.clock().date()
        return found

    def list_series(self) -> Sequence[Item]:
        """Every series master, with its recurrence (the SeriesSupport capability).

        After a complete listing, the delta rounds of :meth:`list_changes` keep the set
        of masters up to date (every change to a series shows in the round as its
        occurrences), so this costs no request; the set is read again once a day, or
        when no complete listing was made in this process. Empty without series support.

        Raises:
            ListingError, BackendUnavailableError: a request failed.
        """
        if not self.supports_series:
            return []
        if self._masters is None or self._masters_day != self.clock().date():
            self._all_masters()
        assert self._masters is not None
        return list(self._masters.values())

    def _json(self, resp: GraphResponse, what: str) -> dict[str, Any]:
        try:
            return resp.json_object()
        except MalformedResponseError as exc:
            raise ListingError(f"{what}: malformed answer ({exc})") from None

    def _delta_round(self, url: str) -> tuple[list[dict[str, Any]], str, dt.datetime | None]:
        """Follow ``@odata.nextLink`` pages to the ``@odata.deltaLink``."""
        entries: list[dict[str, Any]] = []
        watermark: dt.datetime | None = None
        while True:
            resp = self.client.request("GET", url, headers=self._read_headers)
            what = self.client.describe("GET", self.client.url(url))
            if resp.status == 410 or self._error_code(resp) in _EXPIRED_CODES:
                raise _TokenExpiredError
            if not resp.ok:
                raise error_for(resp, what=what, listing=True)
            if watermark is None:
                watermark = self._server_date(resp)
            page = self._json(resp, what)
            value = page.get("value")
            if not isinstance(value, list):
                raise ListingError(f"{what}: a delta page without a value list")
            for entry in value:
                if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                    raise ListingError(f"{what}: a delta entry without an id")
                entries.append(entry)
            next_link, delta_link = page.get("@odata.nextLink"), page.get("@odata.deltaLink")
            if isinstance(next_link, str):
                url = next_link
            elif isinstance(delta_link, str):
                return entries, delta_link, watermark
            else:
                raise ListingError(f"{what}: a delta page with neither nextLink nor deltaLink")

    @staticmethod
    def _error_code(resp: GraphResponse) -> str:
        if resp.ok:
            return ""
        try:
            err = resp.json_object().get("error")
        except MalformedResponseError:
            return ""
        return str(err.get("code", "")).casefold() if isinstance(err, dict) else ""

    @staticmethod
    def _server_date(resp: GraphResponse) -> dt.datetime | None:
        raw = resp.headers.get("date")
        if not raw:
            return None
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        return when if when.tzinfo is not None else None

    def _collection(self, query: dict[str, str], what: str) -> Iterator[dict[str, Any]]:
        url = f"{self._calendar}/events?{urllib.parse.urlencode(query)}"
        while True:
            resp = self.client.request("GET", url, headers=self._headers)
            if resp.status == 400:
                raise _QueryRefusedError(str(error_for(resp, what=what, listing=True)))
            if not resp.ok:
                raise error_for(resp, what=what, listing=True)
            page = self._json(resp, what)
            value = page.get("value")
            if not isinstance(value, list):
                raise ListingError(f"{what}: a page without a value list")
            for entry in value:
                if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                    raise ListingError(f"{what}: an entry without an id")
                yield entry
            next_link = page.get("@odata.nextLink")
            if not isinstance(next_link, str):
                return
            url = next_link

    def _key_filter(self, value: str | None) -> str:
        prop = _odata_string(self.partner_property)
        test = "ep/value ne null" if value is None else f"ep/value eq {_odata_string(value)}"
        return f"singleValueExtendedProperties/Any(ep: ep/id eq {prop} and {test})"

    def _keyed_ids(self, ids: Sequence[str]) -> dict[str, str]:
        """Ids of the calendar's items that carry a partner key, with the key.

        One filtered listing (``ep/value ne null``); should a service refuse that filter
        (400), the keys are read item by item with ``$batch`` GETs instead.
        """
        query = {
            "$filter": self._key_filter(None),
            "$select": "id",
            "$expand": self._expand,
            "$top": "1000",
        }
        keys: dict[str, str] = {}
        try:
            found = list(self._collection(query, "GET partner keys"))
        except _QueryRefusedError:
            found = [data for data in self._read_many(ids).values() if isinstance(data, dict)]
        for entry in found:
            key = partner_key_of(entry, self.partner_property)
            if key is not None:
                keys[entry["id"]] = key
        return keys

    def _read_many(self, ids: Sequence[str]) -> dict[str, dict[str, Any] | BrokenItem | None]:
        """Current JSON of each id (``None`` when it is gone) via ``$batch`` GETs."""
        found: dict[str, dict[str, Any] | BrokenItem | None] = {}
        for chunk in _chunks(ids):
            batch = [
                BatchItem(
                    id=str(n),
                    method="GET",
                    url="/" + self._item_path(item_id, **{"$expand": self._expand}),
                )
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

    # -- single items ------------------------------------------------------------------

    def get(self, item_id: str) -> Item | BrokenItem | None:
        """The item now, a :class:`BrokenItem` if unreadable, ``None`` if gone.

        Raises:
            BackendUnavailableError: Graph unreachable or throttled past retries.
            ListingError: Graph answered with another error.
        """
        resp = self.client.request(
            "GET", self._item_path(item_id, **{"$expand": self._expand}), headers=self._headers
        )
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

    def find_by_partner_key(self, partner_key: str) -> Sequence[Item]:
        """Items carrying ``partner_key`` in the extended property (``$filter``).

        Raises:
            ListingError: the query failed.
        """
        found = []
        for data in self._find_raw(partner_key):
            mapped = self._map(data, None)
            if isinstance(mapped, Item):
                found.append(mapped)
        return found

    def _find_raw(self, partner_key: str) -> list[dict[str, Any]]:
        query = {"$filter": self._key_filter(partner_key), "$expand": self._expand, "$top": "50"}
        return list(self._collection(query, "GET by partner key"))

    def open_item(self, item_id: str) -> str | None:
        """The item's ``webLink`` (opens it in Outlook on the web).

        Raises:
            ItemNotFoundError: the item is gone.
        """
        meta = self._meta.get(item_id)
        if meta is not None and meta.web_link:
            return meta.web_link
        resp = self.client.request(
            "GET", self._item_path(item_id, **{"$select": "webLink"}), headers=self._headers
        )
        if not resp.ok:
            raise error_for(resp, what="GET webLink", item_id=item_id)
        try:
            link = resp.json_object().get("webLink")
        except MalformedResponseError as exc:
            raise ItemRejectedError(f"GET webLink: {exc}", item_id=item_id) from None
        return link if isinstance(link, str) else None

    # -- writes ------------------------------------------------------------------------

    def _create_body(self, event: Event, partner_key: str, txn: str) -> dict[str, Any]:
        body = event_to_graph(event)
        body["singleValueExtendedProperties"] = [
            {"id": self.partner_property, "value": partner_key}
        ]
        body["transactionId"] = txn
        return body

    def _created(self, resp: GraphResponse, partner_key: str) -> Item:
        if not resp.ok:
            raise error_for(resp, what=f"POST {self._calendar}/events")
        try:
            data = resp.json_object()
            mapped = self._map(data, partner_key) if isinstance(data.get("id"), str) else None
        except (MalformedResponseError, MappingError) as exc:
            raise ItemRejectedError(f"POST event: malformed answer ({exc})") from None
        if not isinstance(mapped, Item):
            reason = mapped.reason if mapped is not None else "no id"
            raise ItemRejectedError(f"created, but it cannot be read back: {reason}")
        self._written[mapped.id] = mapped.version
        return mapped

    def _recover_create(self, partner_key: str, txn: str) -> Item | None:
        for data in self._find_raw(partner_key):
            if data.get("transactionId") == txn:
                mapped = self._map(data, partner_key)
                if isinstance(mapped, Item):
                    return mapped
        return None

    def create(self, event: Event, *, partner_key: str) -> Item:
        """Create the event carrying ``partner_key``; never with attendees.

        Raises:
            ItemRejectedError: Graph refused the item.
            BackendUnavailableError: unreachable (the item was not created, or it is
                found by its partner key on the next sync).
        """
        if event.recurrence is not None:
            self._check_series(None)
            return series.create(self, event, partner_key)
        txn = str(uuid.uuid4())
        body = self._create_body(event, partner_key, txn)
        path = f"{self._calendar}/events"
        try:
            resp = self.client.request(
                "POST", path, body=body, headers=self._headers, safe_to_retry=False
            )
        except AnswerLostError:
            found = self._recover_create(partner_key, txn)
            if found is not None:
                return found
            resp = self.client.request(
                "POST", path, body=body, headers=self._headers, safe_to_retry=False
            )
        return self._created(resp, partner_key)

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
        if partner_key is not None:
            body["singleValueExtendedProperties"] = [
                {"id": self.partner_property, "value": partner_key}
            ]
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

    def update(
        self,
        item_id: str,
        event: Event,
        *,
        expected_version: str,
        partner_key: str | None = None,
    ) -> Item:
        """Replace the content if the item is still at ``expected_version`` (If-Match).

        Raises:
            VersionConflictError: the item changed meanwhile (412).
            ItemNotFoundError: the item is gone.
            ItemRejectedError: Graph refused the content, or the item is a meeting.
        """
        body = self._patch_body(event, partner_key)
        meta = self._meeting(item_id)
        if meta is not None and meta.event == event:
            # Only the partner key changes: a meeting may carry it (no attendee is told).
            if partner_key is None:
                return Item(
                    id=item_id, version=expected_version, event=event, partner_key=meta.partner_key
                )
            body = {"singleValueExtendedProperties": body["singleValueExtendedProperties"]}
        elif meta is not None:
            raise self._meeting_refusal(item_id, "update")
        if event.recurrence is not None or self._is_series(item_id):
            self._check_series(item_id)
            return series.update(
                self, item_id, event, expected_version=expected_version, partner_key=partner_key
            )
        resp = self.client.request(
            "PATCH",
            self._item_path(item_id),
            body=body,
            headers={**self._headers, "If-Match": f'W/"{expected_version}"'},
        )
        return self._updated(resp, item_id, event, partner_key)

    def delete(self, item_id: str, *, expected_version: str) -> None:
        """Delete the item if it is still at ``expected_version``.

        Raises:
            VersionConflictError: the item changed meanwhile.
            ItemNotFoundError: the item is already gone.
            ItemRejectedError: the item is a meeting (deleting would cancel it).
        """
        self._guard_meeting(item_id, "delete")
        resp = self.client.request(
            "DELETE",
            self._item_path(item_id),
            headers={**self._headers, "If-Match": f'W/"{expected_version}"'},
        )
        if not resp.ok:
            raise error_for(resp, what="DELETE event", item_id=item_id)
        self._forget(item_id)

    # -- bulk writes ($batch) ----------------------------------------------------------

    def create_many(self, requests: Sequence[tuple[Event, str]]) -> list[Item | BackendError]:
        """Create many events (``(event, partner_key)`` pairs), 20 per ``$batch`` request.

        Returns one result per request, in order: the new :class:`Item`, or the error
        for that item alone (partial failures do not affect the others).
        """
        return bulk.create_many(self, requests)

    def update_many(
        self, requests: Sequence[tuple[str, Event, str, str | None]]
    ) -> list[Item | BackendError]:
        """Update many items, 20 per ``$batch``.

        Each request is ``(item_id, event, expected_version, partner_key)``; a ``None``
        partner key leaves the stored one as it is.
        """
        return bulk.update_many(self, requests)

    def delete_many(self, requests: Sequence[tuple[str, str]]) -> list[BackendError | None]:
        """Delete many items (``(item_id, expected_version)``), 20 per ``$batch``."""
        return bulk.delete_many(self, requests)

    def _recreate(self, event: Event, partner_key: str, txn: str) -> Item:
        return self._recover_create(partner_key, txn) or self.create(event, partner_key=partner_key)

    def _check_series(self, item_id: str | None) -> None:
        if not self.supports_series:
            raise ItemRejectedError(
                "a recurring series: not written (GraphCalendar(series=True) writes them)",
                item_id=item_id,
            )

    def _is_series(self, item_id: str) -> bool:
        meta = self._meta.get(item_id)
        return meta is not None and meta.series

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

    # -- change notifications ----------------------------------------------------------

    def subscribe(self, callback: Callable[[Sequence[str]], None]) -> Subscription:
        """Poll the delta link on a short interval and report the ids that changed.

        The default for desktop hosts (no public HTTPS endpoint). See
        :class:`~outlook_sync.adapters.graph.notifications.DeltaPoller`.
        """
        from outlook_sync.adapters.graph.notifications import DeltaPoller

        return DeltaPoller(self, callback).start()

    def poll_once(self, token: str | None) -> tuple[list[str], str, bool]:
        """One delta round from ``token`` (a fresh round when ``None`` or expired).

        Returns the ids named (changed or removed), the new delta link, and whether the
        round started afresh (then the ids are unknown: "something may have changed").
        Cheap: one request when nothing changed.

        Raises:
            ListingError, BackendUnavailableError: the round failed.
        """
        if token is not None:
            try:
                entries, link, _ = self._delta_round(token)
                return list(dict.fromkeys(e["id"] for e in entries)), link, False
            except _TokenExpiredError:
                pass
        first = f"{self._delta_path}?{urllib.parse.urlencode(self.window.query())}"
        _, link, _ = self._delta_round(first)
        return [], link, True
