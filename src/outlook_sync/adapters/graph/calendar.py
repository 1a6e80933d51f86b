"""``GraphCalendar``: an Exchange Online / Outlook 365 calendar as a :class:`Calendar`.

Theory of operation
-------------------
The adapter is split by responsibility; this module is its public face.

- **Listing** (:mod:`.listing`): the complete listing is ``{calendar}/events`` — every
  single event and series master of all time, no series expanded — and the incremental
  listing a calendarView delta over a rolling window of at most 1 825 days (deletions
  near now) plus ``$filter=lastModifiedDateTime ge {watermark}`` on ``/events`` (changes
  anywhere in time). A complete listing runs on the first sync, after an expired token,
  and every ``full_every`` (a day by default): it is the evidence for deletions outside
  the window. No request spans more than 1 825 days, the limit Graph enforces
  (microsoftgraph/microsoft-graph-docs-contrib#6321).
- **Pages** (:mod:`.pages`): every paged answer is streamed, capped (``max_pages``),
  checked for loops, and links are followed only to the client's own scheme, host and
  port; anything else is a :class:`ListingError` and nothing is deleted.
- **Recurring series** (:mod:`.series`, ``series=True``, the default): a series is one
  item, its master, whose event carries the recurrence with the exceptions and
  cancellations of all time (v1.0 ``exceptionOccurrences`` / ``cancelledOccurrences``).
  Occurrences are not items. Without series support a series is one :class:`BrokenItem`
  (quarantined, nothing written, its partner never deleted).
- **Writing**: creates carry the partner key (a single-value extended property) and a
  ``transactionId``; when a create's answer is lost, the item is looked up by its partner
  key before anything is sent again. Updates and deletes send ``If-Match`` with the
  item's ``changeKey``; 412 is a :class:`VersionConflictError` — unless the item already
  holds exactly what was to be written (a retried PATCH whose first answer was lost).
  Many writes go 20 to a ``$batch`` (:mod:`.bulk`). A calendar the user may only read
  answers 403 ``ErrorAccessDenied``: :class:`~outlook_sync.errors.PermissionDeniedError`.
- **Identity**: :meth:`calendar_identity` is ``graph:<mailbox id>/<calendar id>``.

**Invitations.** ``attendees`` are never written. An *organizer's meeting with
attendees* is not updated or deleted (that would e-mail the attendees an update or a
cancellation): :class:`ItemRejectedError` says so, unless ``allow_meeting_changes``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from outlook_sync.adapters.graph import bulk, listing, series, series_writes
from outlook_sync.adapters.graph.core import DeltaWindow, GraphCore, SeriesWindow
from outlook_sync.adapters.graph.mapping import PARTNER_PROPERTY
from outlook_sync.adapters.graph.pages import DEFAULT_MAX_PAGES
from outlook_sync.adapters.graph.push import ChangeFeed
from outlook_sync.adapters.graph.transport import (
    AnswerLostError,
    GraphClient,
    MalformedResponseError,
    error_for,
)
from outlook_sync.errors import BackendError, ItemRejectedError
from outlook_sync.model import BrokenItem, Cursor, Event, Item, Listing
from outlook_sync.protocols import Subscription

__all__ = ["DeltaWindow", "GraphCalendar", "SeriesWindow"]


class GraphCalendar(GraphCore):
    """One Outlook calendar through Microsoft Graph.

    Args:
        client: the HTTP client (base URL, tokens, retries, pacing).
        user: ``None`` for ``/me`` (delegated), or a user id / UPN (``/users/{user}``).
        calendar_id: ``None`` for the default calendar, or a calendar id.
        partner_property: the extended property id that stores the partner key.
        window: the rolling delta window (at most 1 825 days).
        page_size: ``odata.maxpagesize`` asked of delta rounds.
        allow_meeting_changes: also update/delete organizer meetings with attendees
            (Graph then e-mails them). Off by default.
        series: keep recurring series as series masters (the SeriesSupport capability;
            on by default). ``False`` quarantines each series as one broken item.
        series_window: where the occurrences a series write touches are looked up.
        clock: the host's clock (aware datetimes): places the windows and schedules
            the complete listings.
        full_every: how long an incremental listing may follow the last complete one
            before the next listing is complete again (evidence for deletions outside
            the delta window).
        max_pages: pages one listing may take before it is stopped as a loop.
        changes: how :meth:`subscribe` reports changes: a delta poll every 30 s by
            default; a :class:`~outlook_sync.adapters.graph.push.ChangeFeed` sets the
            poll interval or turns on push (webhooks).
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
        full_every: dt.timedelta = dt.timedelta(days=1),
        max_pages: int = DEFAULT_MAX_PAGES,
        changes: ChangeFeed | None = None,
    ) -> None:
        super().__init__(
            client,
            user=user,
            calendar_id=calendar_id,
            partner_property=partner_property,
            window=window,
            page_size=page_size,
            allow_meeting_changes=allow_meeting_changes,
            clock=clock,
            max_pages=max_pages,
        )
        self.supports_series = series
        self.series_window = series_window or SeriesWindow()
        self.full_every = full_every
        self.changes = changes or ChangeFeed()
        # Every series master, kept up to date by the listings, and the day it was read.
        self._masters: dict[str, Item] | None = None
        self._masters_day: dt.date | None = None

    def __repr__(self) -> str:
        return f"GraphCalendar({self._calendar!r})"

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()

    # -- listing -----------------------------------------------------------------------

    def list_all(self) -> Listing:
        """Every item of the calendar, all time, as a complete listing (:mod:`.listing`).

        Raises:
            ListingError: a page failed or was malformed; nothing may be concluded.
            BackendUnavailableError: Graph unreachable or throttled past retries.
        """
        result = listing.list_all(self)
        if self.supports_series:
            self._masters = {
                i.id: i for i in result.items if i.event.recurrence is not None
            }
            self._masters_day = self.clock().date()
        return result

    def list_changes(self, cursor: Cursor) -> Listing:
        """Items changed since ``cursor``; a complete listing when the token expired, is
        missing or of another version, or ``full_every`` has passed (:mod:`.listing`).

        Raises:
            ListingError: a page or a re-read failed; nothing may be concluded.
            BackendUnavailableError: Graph unreachable or throttled past retries.
        """
        result = listing.list_changes(self, cursor, self.full_every)
        if result.complete:
            if self.supports_series:
                self._masters = {
                    i.id: i for i in result.items if i.event.recurrence is not None
                }
                self._masters_day = self.clock().date()
        elif self._masters is not None:
            for item in result.items:
                if item.event.recurrence is not None:
                    self._masters[item.id] = item
                else:
                    self._masters.pop(item.id, None)
            for item_id in result.deleted:
                self._masters.pop(item_id, None)
        return result

    def _series_item(self, data: Mapping[str, Any], key: str | None) -> Item | BrokenItem | None:
        mapped = series.series_item(self, data, key)
        if mapped is None:
            self._forget_series(str(data["id"]))
        return mapped

    def _forget_series(self, item_id: str) -> None:
        super()._forget_series(item_id)
        if self._masters is not None:
            self._masters.pop(item_id, None)

    def list_series(self) -> Sequence[Item]:
        """Every series master, with its recurrence (the SeriesSupport capability).

        After a complete listing, the listings keep the set of masters up to date, so
        this costs no request; the set is read again once a day, or when no complete
        listing was made in this process. Empty without series support.

        Raises:
            ListingError, BackendUnavailableError: a request failed.
        """
        if not self.supports_series:
            return []
        if self._masters is None or self._masters_day != self.clock().date():
            found = series.masters(self)
            self._masters = {m.id: m for m in found if isinstance(m, Item)}
            self._masters_day = self.clock().date()
        return list(self._masters.values())

    # -- single items ------------------------------------------------------------------

    def find_by_partner_key(self, partner_key: str) -> Sequence[Item]:
        """Items carrying exactly ``partner_key`` in the extended property.

        Graph's ``$filter`` compares the value without regard to case; the answer is
        checked exactly, so ``abc`` never matches ``ABC``.

        Raises:
            ListingError: the query failed.
        """
        found = []
        for data in self._find_raw(partner_key):
            mapped = self._map(data, None)
            if isinstance(mapped, Item):
                found.append(mapped)
        return found

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

    def create(self, event: Event, *, partner_key: str) -> Item:
        """Create the event carrying ``partner_key``; never with attendees.

        Raises:
            ItemRejectedError: Graph refused the item.
            BackendUnavailableError: unreachable (the item was not created, or it is
                found by its partner key on the next sync).
        """
        if event.recurrence is not None:
            self._check_series(None)
            return series_writes.create(self, event, partner_key)
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
        return self._created(resp, partner_key, event)

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
            return series_writes.update(
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

    def _check_series(self, item_id: str | None) -> None:
        if not self.supports_series:
            raise ItemRejectedError(
                "a recurring series: not written (GraphCalendar(series=True) writes them)",
                item_id=item_id,
            )

    # -- change notifications ----------------------------------------------------------

    def subscribe(self, callback: Callable[[Sequence[str]], None]) -> Subscription:
        """Report changed ids to ``callback`` as :attr:`changes` says (push or poll).

        See :class:`~outlook_sync.adapters.graph.push.ChangeFeed`.
        """
        return self.changes.subscribe(self, callback)
