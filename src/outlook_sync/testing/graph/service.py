"""The emulated Graph endpoints: routing and semantics, independent of HTTP.

Endpoints (``/v1.0`` or ``/beta`` prefix optional; ``{mb}`` is ``me`` or ``users/{id}``):

=====================================================  =====================================
``GET/POST {mb}/events``, ``{mb}/calendar/events``,    list (``$top``, ``$skip``, ``$select``,
``{mb}/calendars/{cal}/events``                        ``$filter`` on extended props, type or
                                                       ``lastModifiedDateTime``, ``$expand``) /
                                                       create — user-post-events,
                                                       calendar-post-events, user-list-events
``GET/PATCH/DELETE …/events/{id}``                     event-get, event-update, event-delete;
                                                       ``If-Match`` → 412
                                                       ``ErrorIrresolvableConflict``
``GET …/events/{id}/instances``                        event-list-instances (occurrences and
                                                       exceptions of a series master in
                                                       ``startDateTime``..``endDateTime``)
``GET/POST {mb}/calendars``                            list / create calendars
``GET {mb}/calendarView/delta``,                       delta rounds with
``{mb}/calendars/{cal}/calendarView/delta``            ``@odata.nextLink`` / ``@odata.deltaLink``
(also the function form ``…/delta()``)                 and ``@removed`` — event-delta,
                                                       delta-query-events
``GET {mb}/calendarView``,                             calendar-list-calendarview (window of
``{mb}/calendars/{cal}/calendarView``                  at most 1 825 days, series expanded)
``GET {mb}``, ``GET …/calendar``                        user-get (``id``), calendar-get
                                                       (``id``, ``canEdit``)
``POST /$batch``                                       json-batching (≤ 20 requests,
                                                       ``dependsOn``, per-item status)
``POST/GET/PATCH/DELETE /subscriptions[/{id}]``        subscription-post-subscriptions,
                                                       change-notifications-delivery-webhooks
=====================================================  =====================================

(All pages under https://learn.microsoft.com/en-us/graph/api/ or /graph/.)

Documented behaviours reproduced here:

- A calendarView delta needs ``startDateTime`` and ``endDateTime`` in its first request;
  they are encoded in the tokens, and ``$select``, ``$filter``, ``$expand``, ``$orderby``
  are not supported on delta (event-delta, "Query parameters"). Events in the window are
  those that *overlap* it.
- Within a round, ``@removed`` (reason ``deleted``) names deleted events *and* events
  outside the window that changed (event-delta beta, "Response"); the same change can
  come back in a later round ("Replays", delta-query-overview).
- Unknown or expired tokens answer 410 Gone with code ``syncStateNotFound``
  (delta-query-overview, "Synchronization reset" and "Token duration").
- ``If-Match`` carrying a stale ``changeKey`` answers 412 with
  ``ErrorIrresolvableConflict`` ("the change key passed in the request does not match the
  current change key for the item").
- Creating an event with attendees sends them a meeting request (user-post-events: the
  server sends invitations when the event is saved); updating an organizer's meeting
  sends a meeting update (event-update, "Notes for updating specific properties");
  deleting it on the organizer's calendar sends a cancellation (event-delete). The
  emulator records these in :attr:`GraphStore.sent_mail` instead of mailing anyone.
- ``transactionId`` is kept; a repeated POST with the same value returns the existing
  event instead of a second one (event resource: "to avoid redundant POST operations in
  case of client retries"). The documentation does not show the exact answer, so the
  adapter does not rely on it.
- Pages: list default 10 items (user-list-events), delta pages default 50 unless
  ``Prefer: odata.maxpagesize`` (the service picks its own size; 50 is the emulator's).
- Recurring series (store module docstring): "the returned events [of a calendar view
  delta] may include single instances or occurrences and exceptions of a recurring
  series" (delta-query-events) — never the series master, which is read by its
  ``seriesMasterId``; a changed series reports its occurrences in the window again, a
  cancelled occurrence comes back as ``@removed``. ``GET …/events/{id}/instances``
  returns "the occurrences and exceptions of the event in the specified time range"
  (event-list-instances); a deleted occurrence is simply not there (v1.0 has no
  ``cancelledOccurrences``). ``/events`` lists single events and series masters, and
  honours ``$filter=type eq 'seriesMaster'``.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from outlook_sync.testing.graph.batching import batch_answer, check_batch
from outlook_sync.testing.graph.faults import SERVICE_KINDS, Faults
from outlook_sync.testing.graph.store import (
    GraphError,
    GraphStore,
    Mailbox,
    PagingState,
    SentMail,
    StoredEvent,
    SyncState,
    Tombstone,
)
from outlook_sync.testing.graph.subscriptions import Subscriptions
from outlook_sync.testing.graph.views import (
    apply_select,
    check_window,
    modified_filter,
    parse_select,
    series_fields,
    split_expand,
)
from outlook_sync.testing.graph.wire import (
    ReadOptions,
    event_json,
    matches_filter,
    parse_expand,
    parse_filter,
    parse_type_filter,
)

__all__ = ["GraphService", "Request", "Response"]

MAX_BATCH = 20
DELTA_PAGE = 50
LIST_PAGE = 10
MAX_PAGE = 1000
_WINDOWS_KEPT = 10_000
_CORE_FIELDS = ("subject", "start", "end", "location", "body", "attendees", "isAllDay")


@dataclass
class Request:
    """One request, from HTTP or from inside a ``$batch``."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    base_url: str
    inner: bool = False

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def error_response(err: GraphError) -> Response:
    return Response(err.status, err.body(), dict(err.headers))


@dataclass
class RequestRecord:
    """What the emulator served: for request counting in tests and benchmarks."""

    method: str
    path: str
    status: int
    inner: bool


class GraphService:
    """Serve requests against a :class:`GraphStore`."""

    def __init__(
        self,
        store: GraphStore,
        faults: Faults,
        subscriptions: Subscriptions,
    ) -> None:
        self.store = store
        self.faults = faults
        self.subscriptions = subscriptions
        self.on_change = subscriptions.changed
        self.revoked_tokens: set[str] = set()
        self.log: list[RequestRecord] = []
        self._token_windows: dict[str, tuple[dt.datetime, dt.datetime]] = {}

    # -- entry point -------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        """Serve one request (faults of the service kinds apply here)."""
        try:
            resp = self._handle(req)
        except GraphError as err:
            resp = error_response(err)
        self.log.append(RequestRecord(req.method, req.path, resp.status, req.inner))
        return resp

    def _handle(self, req: Request) -> Response:
        if not req.inner:
            self._authenticate(req)
        rule = self.faults.take(req.method, req.path, inner=req.inner, kinds=SERVICE_KINDS)
        if rule is not None:
            if rule.kind == "callback" and rule.callback is not None:
                with self.store.lock:
                    rule.callback()
            elif rule.kind == "unauthorized":
                raise GraphError(401, "InvalidAuthenticationToken", "Access token has expired.")
            elif rule.kind == "status":
                headers = {}
                if rule.retry_after is not None:
                    headers["Retry-After"] = _retry_after_text(rule.retry_after)
                code = {429: "TooManyRequests", 503: "ServiceUnavailable"}.get(
                    rule.status, "GatewayTimeout"
                )
                raise GraphError(rule.status, code, "Injected fault.", headers)
        with self.store.lock:
            return self._route(req)

    def _authenticate(self, req: Request) -> None:
        auth = req.header("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip() or token in self.revoked_tokens:
            raise GraphError(
                401, "InvalidAuthenticationToken", "Access token is empty, invalid or expired."
            )

    # -- routing -----------------------------------------------------------------------

    def _route(self, req: Request) -> Response:
        parts = [urllib.parse.unquote(p) for p in req.path.strip("/").split("/") if p]
        if parts and parts[0] in ("v1.0", "beta"):
            parts = parts[1:]
        if parts == ["$batch"] and req.method == "POST":
            return self._batch(req)
        if parts and parts[0] == "subscriptions":
            status, body = self.subscriptions.handle(req.method, parts[1:], req.body)
            return Response(status, body)
        if parts[:1] == ["me"]:
            box, rest = self.store.mailbox("me"), parts[1:]
        elif len(parts) >= 2 and parts[0] == "users":
            box, rest = self.store.mailbox(parts[1]), parts[2:]
        else:
            raise GraphError(400, "BadRequest", f"Unsupported segment: {req.path}")
        # The OData function form the SDKs build: ``…/calendarView/delta()`` is the same
        # function as ``…/calendarView/delta`` (event-delta, "HTTP request").
        rest = ["delta" if p == "delta()" else p for p in rest]
        return self._mailbox_route(req, box, rest)

    def _mailbox_route(self, req: Request, box: Mailbox, rest: list[str]) -> Response:
        calendar_id: str | None = None
        m = req.method
        if not rest and m == "GET":
            return Response(200, apply_select(_user_json(box), parse_select(_q(req, "$select"))))
        if rest[:1] == ["calendar"]:
            rest = rest[1:]
            if rest[:1] == ["events"] and len(rest) >= 2:
                calendar_id = box.default_calendar_id  # …/calendar/events/{id}: its own only
            if not rest and m == "GET":
                return Response(200, self._calendar_json(req, box, box.calendar(None)))
        elif rest[:1] == ["calendars"]:
            if len(rest) == 1:
                return self._calendars(req, box)
            calendar_id = box.calendar(rest[1]).id
            rest = rest[2:]
            if not rest and m == "GET":
                return Response(200, self._calendar_json(req, box, box.calendar(calendar_id)))
        if rest == ["calendarView", "delta"] and m == "GET":
            return self._delta(req, box, calendar_id or box.default_calendar_id)
        if rest == ["calendarView"] and m == "GET":
            return self._view(req, box, calendar_id or box.default_calendar_id)
        if rest == ["events", "delta"]:
            raise GraphError(400, "BadRequest", "Only calendarView delta (v1.0) is emulated.")
        if rest == ["events"]:
            cal = box.calendar(calendar_id)
            if m == "GET":
                return self._list(req, box, cal.id)
            if m == "POST":
                self._check_writable(box, cal.id)
                return self._create(req, box, cal.id)
        if len(rest) == 3 and rest[0] == "events" and rest[2] == "instances" and m == "GET":
            return self._instances(req, box, box.find(rest[1]), calendar_id)
        if len(rest) == 2 and rest[0] == "events":
            event = box.find(rest[1])
            if calendar_id is not None and event.calendar_id != calendar_id:
                raise GraphError(
                    404, "ErrorItemNotFound", "The specified object was not found in the store."
                )
            if m == "GET":
                return Response(200, self._get_json(event, req, box))
            if m == "PATCH":
                self._check_writable(box, event.calendar_id)
                return self._update(req, box, event)
            if m == "DELETE":
                self._check_writable(box, event.calendar_id)
                return self._delete(req, box, event)
        raise GraphError(405, "MethodNotAllowed", f"{m} {req.path} is not emulated.")

    def _opts(self, req: Request) -> ReadOptions:
        return ReadOptions(req.headers, parse_expand(split_expand(_q(req, "$expand"))[1]))

    def _json(self, event: StoredEvent, req: Request, box: Mailbox) -> dict[str, Any]:
        """The event as the request asks for it (``$select`` applied)."""
        data = event_json(event, self._opts(req), user=box.user)
        return apply_select(data, parse_select(_q(req, "$select")))

    def _get_json(self, event: StoredEvent, req: Request, box: Mailbox) -> dict[str, Any]:
        """GET by id: a series master also answers its selected ``cancelledOccurrences``
        and (selected and expanded) ``exceptionOccurrences`` (module views)."""
        data = self._json(event, req, box)
        if event.is_master:
            opts = self._opts(req)
            data.update(
                series_fields(
                    event,
                    event.immutable_id if opts.immutable else event.regular_id,
                    box.series_zone(event),
                    parse_select(_q(req, "$select")),
                    split_expand(_q(req, "$expand"))[0],
                    lambda e: event_json(e, opts, user=box.user),
                )
            )
        return data

    def _check_writable(self, box: Mailbox, calendar_id: str) -> None:
        """A calendar shared read-only refuses writes with 403 ``ErrorAccessDenied``.

        https://learn.microsoft.com/en-us/graph/api/resources/calendar (``canEdit``) and
        https://learn.microsoft.com/en-us/graph/errors (403 "Access is denied to the
        requested resource"); Exchange names the code ``ErrorAccessDenied``
        ("Access is denied. Check credentials and try again.").
        """
        if not box.calendar(calendar_id).can_edit:
            raise GraphError(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )

    def _calendar_json(self, req: Request, box: Mailbox, cal: Any) -> dict[str, Any]:
        data = {
            "id": cal.id,
            "name": cal.name,
            "canEdit": cal.can_edit,
            "isDefaultCalendar": cal.id == box.default_calendar_id,
            "owner": {"name": box.user, "address": box.user},
        }
        return apply_select(data, parse_select(_q(req, "$select")))

    def _calendars(self, req: Request, box: Mailbox) -> Response:
        if req.method == "POST":
            name = (req.body or {}).get("name")
            if not isinstance(name, str) or not name:
                raise GraphError(400, "ErrorInvalidRequest", "name is required.")
            cal = box.add_calendar(name)
            return Response(201, {"id": cal.id, "name": cal.name})
        value = [self._calendar_json(req, box, c) for c in box.calendars.values()]
        return Response(200, {"value": value})

    # -- items -------------------------------------------------------------------------

    def _body(self, req: Request) -> dict[str, Any]:
        if not isinstance(req.body, dict):
            raise GraphError(400, "RequestBodyRead", "A JSON object body is required.")
        return req.body

    def _create(self, req: Request, box: Mailbox, calendar_id: str) -> Response:
        body = self._body(req)
        txn = body.get("transactionId")
        existing = box.by_transaction(txn) if isinstance(txn, str) else None
        if existing is not None:
            return Response(201, self._json(existing, req, box))
        event = box.create(calendar_id, body)
        if event.data.get("attendees") and not body.get("isDraft"):
            self._mail("meetingRequest", event)
        self.on_change(box, event, "created")
        return Response(201, self._json(event, req, box))

    def _check_version(self, req: Request, event: StoredEvent) -> None:
        wanted = req.header("If-Match")
        if wanted is None or wanted.strip() == "*":
            return
        key = wanted.strip().removeprefix("W/").strip('"')
        if key != event.change_key:
            raise GraphError(
                412,
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change key "
                "passed in the request does not match the current change key for the item.",
            )

    def _update(self, req: Request, box: Mailbox, event: StoredEvent) -> Response:
        body = self._body(req)
        self._check_version(req, event)
        if "transactionId" in body:
            raise GraphError(400, "ErrorInvalidProperty", "transactionId cannot be changed.")
        was_meeting = event.is_meeting
        event = box.update(event, body)
        if (was_meeting or event.is_meeting) and any(k in body for k in _CORE_FIELDS):
            self._mail("meetingUpdate", event)
        self.on_change(box, event, "updated")
        return Response(200, self._json(event, req, box))

    def _delete(self, req: Request, box: Mailbox, event: StoredEvent) -> Response:
        self._check_version(req, event)
        if event.is_meeting:
            self._mail("meetingCancellation", event)
        box.delete(event)
        self.on_change(box, box.tombstones[-1], "deleted")
        return Response(204)

    def _mail(self, kind: str, event: StoredEvent) -> None:
        recipients = tuple(
            str((a.get("emailAddress") or {}).get("address", ""))
            for a in event.data.get("attendees") or []
            if isinstance(a, dict)
        )
        self.store.sent_mail.append(
            SentMail(
                kind=kind,
                event_id=event.immutable_id,
                recipients=recipients,
                subject=str(event.data.get("subject", "")),
            )
        )

    def _list(self, req: Request, box: Mailbox, calendar_id: str) -> Response:
        raw = _q(req, "$filter")
        kind = parse_type_filter(raw)
        modified = modified_filter(raw) if kind is None else None
        flt = None if kind is not None or modified is not None else parse_filter(raw)
        events = [
            e
            for e in box.iter_calendar(calendar_id)
            if (flt is None or matches_filter(e, flt))
            and (modified is None or modified(e))
            and (kind is None or str(e.data.get("type")).casefold() == kind.casefold())
        ]
        return self._page(req, box, events)

    def _view(self, req: Request, box: Mailbox, calendar_id: str) -> Response:
        """calendar-list-calendarview: occurrences, exceptions and single instances that
        overlap the window (at most 1 825 days, module views)."""
        window = (_query_time(req.query, "startDateTime"), _query_time(req.query, "endDateTime"))
        check_window(*window)
        found: list[StoredEvent] = []
        for event in box.iter_calendar(calendar_id):
            if event.is_master:
                found += box.instances(event, *window)
            elif event.overlaps(*window):
                found.append(event)
        return self._page(req, box, found)

    def _page(self, req: Request, box: Mailbox, events: list[StoredEvent]) -> Response:
        top = min(_int(req.query.get("$top"), LIST_PAGE), MAX_PAGE)
        skip = _int(req.query.get("$skip"), 0)
        if top <= 0 or skip < 0:
            raise GraphError(400, "BadRequest", "Invalid $top or $skip.")
        events.sort(
            key=lambda e: (
                e.start
                if isinstance(e.start, dt.datetime)
                else dt.datetime.combine(e.start, dt.time(), dt.UTC),
                e.immutable_id,
            )
        )
        page = events[skip : skip + top]
        result: dict[str, Any] = {"value": [self._json(e, req, box) for e in page]}
        if skip + top < len(events):
            query = dict(req.query, **{"$skip": str(skip + top), "$top": str(top)})
            result["@odata.nextLink"] = _url(req.base_url, req.path, query)
        return Response(200, result)

    def _instances(
        self, req: Request, box: Mailbox, event: StoredEvent, calendar_id: str | None
    ) -> Response:
        """event-list-instances: occurrences and exceptions overlapping the window."""
        if calendar_id is not None and event.calendar_id != calendar_id:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        window = (_query_time(req.query, "startDateTime"), _query_time(req.query, "endDateTime"))
        if window[1] <= window[0]:
            raise GraphError(400, "ErrorInvalidParameter", "endDateTime must follow startDateTime.")
        return self._page(req, box, box.instances(event, *window))

    def _view_ids(
        self,
        box: Mailbox,
        event: StoredEvent,
        window: tuple[dt.datetime, dt.datetime],
        memo: dict[str, StoredEvent],
    ) -> list[str]:
        """What a calendar view shows of ``event``: itself, or a master's instances
        (remembered in ``memo``, so paging does not expand the series again)."""
        if event.is_master:
            found = box.instances(event, *window)
            memo.update((i.immutable_id, i) for i in found)
            return [i.immutable_id for i in found]
        return [event.immutable_id] if event.overlaps(*window) else []

    # -- delta -------------------------------------------------------------------------

    def _delta(self, req: Request, box: Mailbox, calendar_id: str) -> Response:
        for name in ("$select", "$filter", "$expand", "$orderby", "$search"):
            if name in req.query:
                raise GraphError(400, "ErrorInvalidUrlQuery", f"{name} is not supported on delta.")
        opts = self._opts(req)
        page_size = min(opts.page_size or DELTA_PAGE, MAX_PAGE)
        if "$skiptoken" in req.query:
            state = self.store.paging.pop(req.query["$skiptoken"], None)
            if state is None:
                raise self._gone(req, req.query["$skiptoken"])
        elif req.query.get("$deltatoken"):  # empty: the initial query (a 410's Location)
            sync = self.store.sync_states.get(req.query["$deltatoken"])
            if sync is None or sync.calendar_id != calendar_id:
                raise self._gone(req, req.query["$deltatoken"])
            entries: list[str | Tombstone] = []
            changed = sorted(
                (e for e in box.iter_calendar(calendar_id) if e.seq > sync.seq),
                key=lambda e: e.seq,
            )
            gone = [t for t in box.tombstones if t.seq > sync.seq and t.calendar_id == calendar_id]
            memo: dict[str, StoredEvent] = {}
            merged: list[tuple[int, str | Tombstone]] = [
                (e.seq, entry)
                for e in changed
                for entry in (
                    self._view_ids(box, e, sync.window, memo)
                    if e.is_master
                    else [e.immutable_id]
                )
            ]
            merged += [(t.seq, t) for t in gone]
            entries = [entry for _, entry in sorted(merged, key=lambda pair: pair[0])]
            state = PagingState(
                entries=entries,
                sync=SyncState(calendar_id, sync.window, box.seq),
                page_size=page_size,
                initial=False,
                path=req.path,
                occurrences=memo,
            )
        else:
            window = (
                _query_time(req.query, "startDateTime"),
                _query_time(req.query, "endDateTime"),
            )
            check_window(*window)
            inside = sorted(box.iter_calendar(calendar_id), key=lambda e: e.seq)
            memo = {}
            state = PagingState(
                entries=[i for e in inside for i in self._view_ids(box, e, window, memo)],
                sync=SyncState(calendar_id, window, box.seq),
                page_size=page_size,
                initial=True,
                path=req.path,
                occurrences=memo,
            )
        page, rest = state.entries[: state.page_size], state.entries[state.page_size :]
        value = [v for v in (self._delta_entry(req, box, state, entry) for entry in page) if v]
        result: dict[str, Any] = {"value": value}
        token = self.store.new_token()
        self._remember_window(token, state.sync.window)
        if rest:
            state.entries = rest
            self.store.paging[token] = state
            result["@odata.nextLink"] = _url(req.base_url, state.path, {"$skiptoken": token})
        else:
            self.store.sync_states[token] = state.sync
            result["@odata.deltaLink"] = _url(req.base_url, state.path, {"$deltatoken": token})
        return Response(200, result)

    def _remember_window(self, token: str, window: tuple[dt.datetime, dt.datetime]) -> None:
        """Keep the window a token was issued for, so its 410 can name the initial query."""
        self._token_windows[token] = window
        while len(self._token_windows) > _WINDOWS_KEPT:
            del self._token_windows[next(iter(self._token_windows))]

    def _gone(self, req: Request, token: str) -> GraphError:
        window = self._token_windows.get(token)
        query = {"$deltatoken": ""}
        if window is not None:
            query = {
                "startDateTime": _iso(window[0]),
                "endDateTime": _iso(window[1]),
                **query,
            }
        return _gone(_url(req.base_url, req.path, query))

    def _delta_entry(
        self, req: Request, box: Mailbox, state: PagingState, entry: str | Tombstone
    ) -> dict[str, Any] | None:
        opts = self._opts(req)
        if isinstance(entry, Tombstone):
            return {"id": entry.ids[0 if opts.immutable else 1], "@removed": {"reason": "deleted"}}
        event = _current(box, state.occurrences[entry]) if entry in state.occurrences else (
            box.lookup(entry)
        )
        if event is None or event.calendar_id != state.sync.calendar_id:
            if state.initial:
                return None
            return {"id": entry, "@removed": {"reason": "deleted"}}
        if not event.overlaps(*state.sync.window):
            if state.initial:
                return None
            event_id = event.immutable_id if opts.immutable else event.regular_id
            return {"id": event_id, "@removed": {"reason": "deleted"}}
        return event_json(event, opts, user=box.user)

    # -- batch -------------------------------------------------------------------------

    def _batch(self, req: Request) -> Response:
        body = self._body(req)
        items = body.get("requests")
        if not isinstance(items, list) or not items:
            raise GraphError(400, "BadRequest", "Invalid batch payload: requests is required.")
        if len(items) > MAX_BATCH:
            raise GraphError(400, "BadRequest", f"Batch request limit of {MAX_BATCH} exceeded.")
        check_batch(items)
        status: dict[str, int] = {}
        responses: list[dict[str, Any]] = []
        for item in items:
            rid = str(item["id"])
            depends = item.get("dependsOn") or []
            if any(status.get(str(d).casefold(), 424) >= 400 for d in depends):
                status[rid.casefold()] = 424
                failed = GraphError(424, "FailedDependency", "A dependency failed.")
                responses.append(batch_answer(rid, 424, failed.body(), {}))
                continue
            url = urllib.parse.urlsplit(str(item.get("url", "")))
            headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
            for key, value in req.headers.items():
                if key.lower() == "prefer" and not any(k.lower() == "prefer" for k in headers):
                    headers[key] = value
            inner = Request(
                method=str(item.get("method", "GET")).upper(),
                path="/" + url.path.lstrip("/"),
                query=dict(urllib.parse.parse_qsl(url.query)),
                headers=headers,
                body=item.get("body"),
                base_url=req.base_url,
                inner=True,
            )
            resp = self.handle(inner)
            status[rid.casefold()] = resp.status
            responses.append(batch_answer(rid, resp.status, resp.body, resp.headers))
        # Responses may come back in any order (json-batching): the emulator reverses them
        # so that clients which rely on order fail in tests.
        responses.reverse()
        return Response(200, {"responses": responses})


def _current(box: Mailbox, occurrence: StoredEvent) -> StoredEvent | None:
    """An occurrence computed earlier in this round, as its series has it now."""
    master, key = occurrence.master, occurrence.original_start
    if master is None or key is None or box.events.get(master.immutable_id) is not master:
        return None
    if key in master.cancelled:
        return None
    return master.exceptions.get(key) or occurrence


def _gone(location: str) -> GraphError:
    """410 ``syncStateNotFound`` with ``Location``: "Delta query can return a response code
    of ``410 (gone)`` and a **Location** header containing a request URL with an empty
    ``$deltaToken`` (same as the initial query)"
    (https://learn.microsoft.com/en-us/graph/delta-query-overview, "Synchronization reset").
    """
    return GraphError(
        410,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired and data must "
        "be synchronized again.",
        {"Location": location},
    )


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _retry_after_text(seconds: float) -> str:
    return str(max(0, round(seconds)))


def _int(value: str | None, default: int) -> int:
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise GraphError(400, "BadRequest", f"Not an integer: {value}") from None


def _query_time(query: Mapping[str, str], name: str) -> dt.datetime:
    raw = query.get(name)
    if raw is None:
        raise GraphError(
            400, "ErrorInvalidParameter", f"This request requires a time window: {name} missing."
        )
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise GraphError(400, "ErrorInvalidParameter", f"Bad {name}: {raw}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # documented: no offset means UTC
    return value.astimezone(dt.UTC)


def _q(req: Request, name: str) -> str | None:
    """A system query option; Graph takes them with or without the ``$`` in v1.0
    (https://learn.microsoft.com/en-us/graph/query-parameters)."""
    value = req.query.get(name)
    return value if value is not None else req.query.get(name.lstrip("$"))


def _user_json(box: Mailbox) -> dict[str, Any]:
    """``GET /me`` (https://learn.microsoft.com/en-us/graph/api/user-get): the user's id."""
    return {"id": box.id, "userPrincipalName": box.user, "mail": box.user}


def _url(base: str, path: str, query: Mapping[str, str]) -> str:
    return f"{base}{path}?{urllib.parse.urlencode(query, safe='$')}"


def dumps(body: Any) -> bytes:
    """Serialise a JSON body."""
    return json.dumps(body, ensure_ascii=False).encode("utf-8")
