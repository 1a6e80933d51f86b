"""Change-notification subscriptions (webhooks) of the emulator.

Follows https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks and
https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions:

- ``POST /subscriptions`` validates the notification URL first: the service POSTs to
  ``{notificationUrl}?validationToken={token}`` and expects, within 10 seconds, ``200 OK``
  with the token as ``text/plain`` body; otherwise the subscription is refused (400).
- ``expirationDateTime`` must be in the future and at most 10 080 minutes (just under
  seven days) away for Outlook events (the "Subscription lifetime" table of the
  subscription resource page); ``PATCH /subscriptions/{id}`` renews it.
- Notifications are POSTed as ``{"value": [{subscriptionId, clientState, changeType,
  resource, resourceData: {id, @odata.type, @odata.id, @odata.etag}, …}]}``; the receiver
  answers 2xx.

Differences, for safety in tests: the service requires an HTTPS URL; the emulator accepts
only ``http``/``https`` URLs on the loopback interface (127.0.0.1, ::1, localhost) and
never contacts any other host.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from outlook_sync.testing.graph.store import GraphError, GraphStore, Mailbox, StoredEvent, Tombstone

__all__ = ["Subscriptions"]

MAX_MINUTES = 10_080
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


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

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resource": self.resource,
            "changeType": ",".join(sorted(self.change_types)),
            "notificationUrl": self.url,
            "clientState": self.client_state,
            "expirationDateTime": self.expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "applicationId": "emulator",
            "creatorId": "emulator",
        }


class Subscriptions:
    """Subscriptions and their delivery thread."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self._subs: dict[str, _Sub] = {}
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._thread = threading.Thread(
            target=self._deliver, name="graph-emulator-notify", daemon=True
        )
        self._thread.start()
        self.delivered = 0
        self.failed = 0

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every queued notification was delivered (or failed)."""
        done = threading.Event()
        self._queue.put(("__flush__", {"event": done}))
        done.wait(timeout)

    # -- HTTP --------------------------------------------------------------------------

    def handle(self, method: str, rest: list[str], body: Any) -> tuple[int, Any]:
        """Serve ``/subscriptions[/{id}]``; returns ``(status, json body)``."""
        if not rest:
            if method == "POST":
                return 201, self._create(body)
            if method == "GET":
                return 200, {"value": [s.json() for s in self._subs.values()]}
        elif len(rest) == 1:
            sub = self._subs.get(rest[0])
            if sub is None:
                raise GraphError(404, "ResourceNotFound", "The object was not found.")
            if method == "GET":
                return 200, sub.json()
            if method == "PATCH":
                sub.expires = self._expiry((body or {}).get("expirationDateTime"))
                return 200, sub.json()
            if method == "DELETE":
                del self._subs[sub.id]
                return 204, None
        raise GraphError(405, "MethodNotAllowed", "Not emulated.")

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

    def _create(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise GraphError(400, "InvalidRequest", "A JSON body is required.")
        url = str(body.get("notificationUrl", ""))
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.hostname not in _LOOPBACK:
            raise GraphError(400, "InvalidRequest", "The emulator only notifies loopback URLs.")
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
        expires = self._expiry(body.get("expirationDateTime"))
        self._validate(url)
        sub = _Sub(
            id=str(uuid.uuid4()),
            mailbox=box.user,
            calendar_id=calendar_id,
            resource=resource,
            change_types=types,
            url=url,
            client_state=body.get("clientState"),
            expires=expires,
        )
        self._subs[sub.id] = sub
        return sub.json()

    def _validate(self, url: str) -> None:
        token = f"Validation: Testing client application reachability {uuid.uuid4()}"
        target = f"{url}{'&' if '?' in url else '?'}validationToken={urllib.parse.quote(token)}"
        request = urllib.request.Request(  # noqa: S310 - loopback http(s) only
            target, data=b"", method="POST", headers={"Content-Type": "text/plain"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
                answer = resp.read().decode("utf-8")
                ok = resp.status == 200 and answer == token
        except (urllib.error.URLError, OSError, TimeoutError):
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
                "subscriptionExpirationDateTime": sub.json()["expirationDateTime"],
                "changeType": change,
                "resource": odata_id,
                "clientState": sub.client_state,
                "tenantId": "00000000-0000-0000-0000-000000000000",
                "resourceData": {
                    "@odata.type": "#Microsoft.Graph.Event",
                    "@odata.id": odata_id,
                    "@odata.etag": f'W/"{etag}"',
                    "id": event_id,
                },
            }
            self._queue.put((sub.url, {"value": [note]}))

    def _deliver(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            url, payload = job
            if url == "__flush__":
                payload["event"].set()
                continue
            request = urllib.request.Request(  # noqa: S310 - loopback http(s) only
                url,
                data=json.dumps(payload).encode(),
                method="POST",
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
                    resp.read()
                self.delivered += 1
            except (urllib.error.URLError, OSError, TimeoutError):
                self.failed += 1
