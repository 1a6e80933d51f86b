"""Change-notification subscriptions (webhooks) of the emulator.

Follows the documentation, each point with its page:

- ``POST /subscriptions`` validates the notification URL first: the service POSTs to
  ``{notificationUrl}?validationToken={token}`` and expects, within 10 seconds, ``200 OK``
  with the token as ``text/plain`` body; otherwise the subscription is refused (400). A
  ``lifecycleNotificationUrl`` is validated the same way
  (https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions,
  https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks,
  "notificationUrl validation").
- ``expirationDateTime`` must be in the future and at most 10 080 minutes (under 7 days)
  away for Outlook events — the "Subscription lifetime" table of
  https://learn.microsoft.com/en-us/graph/api/resources/subscription (older copies of the
  page said 4 230 minutes; the current one says 10 080 for basic notifications on
  message, event and contact). ``PATCH /subscriptions/{id}`` renews it.
- At most 1 000 active subscriptions per mailbox, all applications together
  (https://learn.microsoft.com/en-us/graph/change-notifications-overview, "Outlook
  resources" limits). The page names no status for the 1 001st; the emulator answers
  403 ``ExtensionError``.
- Notifications are POSTed as ``{"value": [{subscriptionId, clientState, changeType,
  resource, resourceData: {id, @odata.type, @odata.id, @odata.etag}, …}]}``, "using an
  HTTP client with a 3-second timeout"; a receiver that answers later than that, or not
  with 2xx, has failed the delivery (change-notifications-delivery-webhooks, "Processing
  the change notification" and "Throttling"). The service retries for hours; the emulator
  counts the failure (:attr:`Subscriptions.failed`, :attr:`Subscriptions.slow`) and does
  not retry.
- The same change may be notified more than once ("duplicate notifications");
  :attr:`Subscriptions.copies` sends every change notification that many times.
- Lifecycle notifications go to ``lifecycleNotificationUrl`` as ``{"value":
  [{subscriptionId, subscriptionExpirationDateTime, tenantId, clientState,
  lifecycleEvent}]}`` with ``lifecycleEvent`` one of ``reauthorizationRequired``,
  ``subscriptionRemoved`` and ``missed``; ``POST /subscriptions/{id}/reauthorize``
  answers 204 (https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events,
  https://learn.microsoft.com/en-us/graph/api/subscription-reauthorize). The test levers
  are :meth:`Subscriptions.lifecycle` (via ``GraphEmulator.remove_subscription`` and
  friends).

Differences, for safety in tests: the service requires an HTTPS URL; the emulator accepts
only ``http``/``https`` URLs on the loopback interface (127.0.0.1, ::1, localhost) and
never contacts any other host. The in-process front (:mod:`.mock`) hands every POST to a
function instead of the network.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from outlook_sync.testing.graph.store import GraphError, GraphStore, Mailbox, StoredEvent, Tombstone

__all__ = ["MAX_MINUTES", "MAX_PER_MAILBOX", "Poster", "Subscriptions", "post_over_http"]

#: Longest lifetime of an Outlook event subscription (subscription resource page).
MAX_MINUTES = 10_080
#: Active subscriptions per mailbox, all applications together.
MAX_PER_MAILBOX = 1_000
#: Notifications are published with this timeout (seconds); a later answer has failed.
DELIVERY_TIMEOUT = 3.0
#: Answers slower than this (seconds) count as slow (change-notifications-delivery-webhooks).
SLOW_AFTER = 2.9
#: Validation requests must be answered within this many seconds.
VALIDATION_TIMEOUT = 10.0
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_TENANT = "00000000-0000-0000-0000-000000000000"
LIFECYCLE_EVENTS = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})

#: ``(url, body, content type, timeout) -> (status, answer body)``; raises ``OSError`` when
#: nothing answered in time.
Poster = Callable[[str, bytes, str, float], tuple[int, bytes]]


def post_over_http(url: str, body: bytes, content_type: str, timeout: float) -> tuple[int, bytes]:
    """POST to a loopback URL with the standard library (the emulator's default poster)."""
    request = urllib.request.Request(  # noqa: S310 - loopback http(s) only, checked on create
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), b""
    except (urllib.error.URLError, TimeoutError) as exc:
        raise OSError(str(exc)) from exc


def _stamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Sub:
    id: str
    mailbox: str
    calendar_id: str | None
    resource: str
    change_types: frozenset[str]
    url: str
    client_state: str | None
    expires: dt.datetime
    lifecycle_url: str | None = None

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resource": self.resource,
            "changeType": ",".join(sorted(self.change_types)),
            "notificationUrl": self.url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "clientState": self.client_state,
            "expirationDateTime": _stamp(self.expires),
            "applicationId": "emulator",
            "creatorId": "emulator",
        }


class Subscriptions:
    """Subscriptions and their delivery.

    Args:
        store: the mailboxes (for the clock and the resources).
        poster: how a POST reaches the receiver (loopback HTTP by default).
        threaded: deliver from a background thread (the HTTP emulator); otherwise
            notifications wait in a queue until :meth:`flush` (the in-process front
            flushes after every request and user action).
    """

    def __init__(
        self, store: GraphStore, *, poster: Poster | None = None, threaded: bool = True
    ) -> None:
        self.store = store
        self._post = poster or post_over_http
        self._subs: dict[str, _Sub] = {}
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(
                target=self._run, name="graph-emulator-notify", daemon=True
            )
            self._thread.start()
        #: How many times each change notification is sent (Graph may send duplicates).
        self.copies = 1
        self.delivered = 0
        self.failed = 0
        self.slow = 0

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)

    def flush(self, timeout: float = 5.0) -> None:
        """Deliver (or wait for) every queued notification."""
        if self._thread is None:
            while True:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    return
                if job is not None:
                    self._deliver(*job)
        done = threading.Event()
        self._queue.put(("__flush__", {"event": done}))
        done.wait(timeout)

    def active(self, user: str | None = None) -> list[dict[str, Any]]:
        """The subscriptions (JSON), of one mailbox or all."""
        return [s.json() for s in self._subs.values() if user is None or s.mailbox == user]

    # -- HTTP --------------------------------------------------------------------------

    def handle(self, method: str, rest: list[str], body: Any) -> tuple[int, Any]:
        """Serve ``/subscriptions[/{id}[/reauthorize]]``; returns ``(status, json body)``."""
        self._expire()
        if not rest:
            if method == "POST":
                return 201, self._create(body)
            if method == "GET":
                return 200, {"value": [s.json() for s in self._subs.values()]}
        elif len(rest) in (1, 2):
            sub = self._subs.get(rest[0])
            if sub is None:
                raise GraphError(404, "ResourceNotFound", "The object was not found.")
            if rest[1:] == ["reauthorize"] and method == "POST":
                return 204, None
            if len(rest) == 1 and method == "GET":
                return 200, sub.json()
            if len(rest) == 1 and method == "PATCH":
                sub.expires = self._expiry((body or {}).get("expirationDateTime"))
                return 200, sub.json()
            if len(rest) == 1 and method == "DELETE":
                del self._subs[sub.id]
                return 204, None
        raise GraphError(405, "MethodNotAllowed", "Not emulated.")

    def _expire(self) -> None:
        """The service deletes a subscription that was not renewed in time."""
        now = self.store.now()
        for sub_id in [s.id for s in self._subs.values() if s.expires <= now]:
            del self._subs[sub_id]

    def _expiry(self, value: object) -> dt.datetime:
        if not isinstance(value, str):
            raise GraphError(400, "InvalidRequest", "expirationDateTime is required.")
        try:
            when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise GraphError(400, "InvalidRequest", "expirationDateTime is not a date.") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        now = self.store.now()
        if when <= now or when > now + dt.timedelta(minutes=MAX_MINUTES):
            raise GraphError(
                400,
                "ExtensionError",
                f"Subscription expiration can only be 0-{MAX_MINUTES} minutes in the future.",
            )
        return when

    @staticmethod
    def _loopback(url: str, what: str) -> str:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.hostname not in _LOOPBACK:
            raise GraphError(400, "InvalidRequest", f"The emulator only notifies loopback {what}.")
        return url

    def _create(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise GraphError(400, "InvalidRequest", "A JSON body is required.")
        url = self._loopback(str(body.get("notificationUrl", "")), "notificationUrl")
        lifecycle = body.get("lifecycleNotificationUrl")
        if lifecycle is not None:
            lifecycle = self._loopback(str(lifecycle), "lifecycleNotificationUrl")
        resource = str(body.get("resource", "")).strip("/")
        segs = resource.split("/")
        calendar_id: str | None = None
        if segs[:1] == ["me"]:
            box, rest = self.store.mailbox("me"), segs[1:]
        elif len(segs) >= 2 and segs[0].lower() == "users":
            box, rest = self.store.mailbox(segs[1]), segs[2:]
        else:
            raise GraphError(400, "InvalidRequest", f"Unsupported resource: {resource}")
        if rest == ["events"]:
            calendar_id = None
        elif len(rest) == 3 and rest[0] == "calendars" and rest[2] == "events":
            calendar_id = box.calendar(rest[1]).id
        else:
            raise GraphError(400, "InvalidRequest", f"Unsupported resource: {resource}")
        types = frozenset(
            t.strip() for t in str(body.get("changeType", "")).split(",") if t.strip()
        )
        if not types or not types <= {"created", "updated", "deleted"}:
            raise GraphError(400, "InvalidRequest", "changeType must be created/updated/deleted.")
        client_state = body.get("clientState")
        if client_state is not None and not (
            isinstance(client_state, str) and len(client_state) <= 128
        ):
            raise GraphError(400, "InvalidRequest", "clientState is a string of at most 128.")
        expires = self._expiry(body.get("expirationDateTime"))
        if sum(1 for s in self._subs.values() if s.mailbox == box.user) >= MAX_PER_MAILBOX:
            raise GraphError(
                403,
                "ExtensionError",
                f"The mailbox already has {MAX_PER_MAILBOX} subscriptions (the limit).",
            )
        self._validate(url)
        if lifecycle is not None:
            self._validate(lifecycle)
        sub = _Sub(
            id=str(uuid.uuid4()),
            mailbox=box.user,
            calendar_id=calendar_id,
            resource=resource,
            change_types=types,
            url=url,
            client_state=client_state,
            expires=expires,
            lifecycle_url=lifecycle,
        )
        self._subs[sub.id] = sub
        return sub.json()

    def _validate(self, url: str) -> None:
        token = f"Validation: Testing client application reachability {uuid.uuid4()}"
        target = f"{url}{'&' if '?' in url else '?'}validationToken={urllib.parse.quote(token)}"
        try:
            status, answer = self._post(target, b"", "text/plain", VALIDATION_TIMEOUT)
            ok = status == 200 and answer.decode("utf-8") == token
        except (OSError, UnicodeDecodeError):
            ok = False
        if not ok:
            raise GraphError(
                400,
                "ValidationError",
                "Subscription validation request failed. Response must exactly match "
                "validationToken query parameter.",
            )

    # -- notifications -----------------------------------------------------------------

    def changed(self, box: Mailbox, item: StoredEvent | Tombstone, change: str) -> None:
        """Queue notifications for a change (called with the store lock held)."""
        if isinstance(item, StoredEvent):
            event_id, calendar_id, etag = item.immutable_id, item.calendar_id, item.change_key
        else:
            event_id, calendar_id, etag = item.ids[0], item.calendar_id, ""
        now = self.store.now()
        for sub in list(self._subs.values()):
            if sub.expires <= now:
                continue
            if sub.mailbox != box.user or change not in sub.change_types:
                continue
            if sub.calendar_id is not None and sub.calendar_id != calendar_id:
                continue
            odata_id = f"Users/{box.user}/Events/{event_id}"
            note = {
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": _stamp(sub.expires),
                "changeType": change,
                "resource": odata_id,
                "clientState": sub.client_state,
                "tenantId": _TENANT,
                "resourceData": {
                    "@odata.type": "#Microsoft.Graph.Event",
                    "@odata.id": odata_id,
                    "@odata.etag": f'W/"{etag}"',
                    "id": event_id,
                },
            }
            for _ in range(max(1, self.copies)):
                self._queue.put((sub.url, {"value": [note]}))

    def lifecycle(self, subscription_id: str, event: str) -> None:
        """Send a lifecycle notification; ``subscriptionRemoved`` also removes it.

        Raises:
            KeyError: no such subscription.
            ValueError: an unknown lifecycle event, or the subscription has no
                ``lifecycleNotificationUrl``.
        """
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"unknown lifecycle event {event!r}")
        sub = self._subs[subscription_id]
        if sub.lifecycle_url is None:
            raise ValueError("the subscription has no lifecycleNotificationUrl")
        note = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": _stamp(sub.expires),
            "tenantId": _TENANT,
            "clientState": sub.client_state,
            "lifecycleEvent": event,
        }
        if event == "subscriptionRemoved":
            del self._subs[sub.id]
        self._queue.put((sub.lifecycle_url, {"value": [note]}))

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            url, payload = job
            if url == "__flush__":
                payload["event"].set()
                continue
            self._deliver(url, payload)

    def _deliver(self, url: str, payload: dict[str, Any]) -> None:
        started = time.monotonic()
        try:
            status, _ = self._post(
                url, json.dumps(payload).encode(), "application/json", DELIVERY_TIMEOUT
            )
        except OSError:
            status = 0
        took = time.monotonic() - started
        if took > SLOW_AFTER:
            self.slow += 1
        if 200 <= status < 300 and took <= DELIVERY_TIMEOUT:
            self.delivered += 1
        else:
            self.failed += 1
