"""Change hints from Graph: delta polling, and a single webhook subscription.

Without a reachable endpoint, :class:`DeltaPoller` follows its own delta link every
``interval`` seconds, which costs one request per poll when nothing changed, and tells
the host which ids changed. Hints may be duplicated or spurious; the sync's own listing
decides (the core's rule).

Push is :mod:`outlook_sync.adapters.graph.push` (``ChangeFeed``/``PushSubscription``:
subscriptions kept in the state store, lifecycle notifications, duplicates coalesced).
:class:`WebhookSubscription` is the older, store-less form kept for compatibility
(https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks): it
creates the subscription, answers the validation handshake through :meth:`handle`
(echo ``validationToken`` as ``text/plain`` within 10 seconds), checks ``clientState`` on
each notification, and renews the subscription before it expires. Outlook event
subscriptions live at most 10 080 minutes (the "Subscription lifetime" table of
https://learn.microsoft.com/en-us/graph/api/resources/subscription); it asks for 4 230
by default and never more than 10 075.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import threading
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# The shared base (poll_once, subscription_resource, client): no import of calendar.py.
from outlook_sync.adapters.graph.core import GraphCore as GraphCalendar
from outlook_sync.adapters.graph.transport import MalformedResponseError, error_for
from outlook_sync.errors import BackendError, BackendUnavailableError

__all__ = ["DeltaPoller", "WebhookSubscription"]

log = logging.getLogger("outlook_sync.adapters.graph")


class DeltaPoller:
    """Polls a calendar's delta link in a background thread; ``close()`` stops it."""

    def __init__(
        self,
        calendar: GraphCalendar,
        callback: Callable[[Sequence[str]], None],
        *,
        interval: float = 30.0,
    ) -> None:
        self.calendar = calendar
        self.callback = callback
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="graph-delta-poller", daemon=True)
        self._token: str | None = None
        self.polls = 0

    def start(self) -> DeltaPoller:
        self._thread.start()
        return self

    def poll(self) -> None:
        """One poll (also usable without the thread, e.g. from the host's own timer)."""
        ids, self._token, reset = self.calendar.poll_once(self._token)
        self.polls += 1
        if ids or (reset and self.polls > 1):
            self.callback(ids)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except BackendError as exc:
                log.warning("delta poll failed: %s", exc)
            self._stop.wait(self.interval)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=10)


class WebhookSubscription:
    """A Graph change subscription for a calendar, renewed before it expires.

    Args:
        calendar: whose events to watch.
        notification_url: the host's HTTPS endpoint; it passes each request to
            :meth:`handle`.
        callback: receives the changed ids.
        lifetime: requested lifetime (at most 10 075 minutes are asked for).
        renew_before: renew this long before expiry.
        clock: the host clock (aware UTC), injected for tests.
    """

    def __init__(
        self,
        calendar: GraphCalendar,
        notification_url: str,
        callback: Callable[[Sequence[str]], None],
        *,
        lifetime: dt.timedelta = dt.timedelta(minutes=4_230),
        renew_before: dt.timedelta = dt.timedelta(hours=2),
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.calendar = calendar
        self.notification_url = notification_url
        self.callback = callback
        self.lifetime = min(lifetime, dt.timedelta(minutes=10_080) - dt.timedelta(minutes=5))
        self.renew_before = renew_before
        self._clock = clock
        self._client_state = secrets.token_urlsafe(24)
        self.id: str | None = None
        self.expires: dt.datetime | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"WebhookSubscription(id={self.id!r})"

    def _expiry(self) -> str:
        return (self._clock() + self.lifetime).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")

    def create(self) -> WebhookSubscription:
        """Create the subscription (Graph validates ``notification_url`` meanwhile).

        Raises:
            BackendUnavailableError: Graph refused or could not be reached.
        """
        body = {
            "changeType": "created,updated,deleted",
            "notificationUrl": self.notification_url,
            "resource": self.calendar.subscription_resource,
            "expirationDateTime": self._expiry(),
            "clientState": self._client_state,
        }
        resp = self.calendar.client.request("POST", "subscriptions", body=body, safe_to_retry=False)
        if not resp.ok:
            raise BackendUnavailableError(str(error_for(resp, what="POST /subscriptions")))
        self._accept(resp.json_object())
        return self

    def _accept(self, data: Mapping[str, Any]) -> None:
        self.id = str(data["id"])
        raw = str(data.get("expirationDateTime", "")).removesuffix("Z")
        main, _, frac = raw.partition(".")
        try:
            when = dt.datetime.fromisoformat(f"{main}.{frac[:6]}" if frac else main)
        except ValueError:
            when = self._clock() + self.lifetime
        self.expires = when if when.tzinfo else when.replace(tzinfo=dt.UTC)

    def renew(self) -> None:
        """Push the expiry ``lifetime`` ahead.

        Raises:
            BackendUnavailableError: the renewal failed.
        """
        if self.id is None:
            raise BackendUnavailableError("the subscription was never created")
        resp = self.calendar.client.request(
            "PATCH", f"subscriptions/{self.id}", body={"expirationDateTime": self._expiry()}
        )
        if not resp.ok:
            raise BackendUnavailableError(str(error_for(resp, what="PATCH /subscriptions")))
        self._accept(resp.json_object())

    def renew_if_due(self) -> bool:
        """Renew when the expiry is closer than ``renew_before``; True if it renewed."""
        if self.expires is not None and self.expires - self._clock() > self.renew_before:
            return False
        self.renew()
        return True

    def start_renewing(self, check_every: float = 600.0) -> WebhookSubscription:
        """Renew in a background thread until :meth:`close`."""

        def run() -> None:
            while not self._stop.wait(check_every):
                try:
                    self.renew_if_due()
                except (BackendError, MalformedResponseError) as exc:
                    log.warning("subscription renewal failed: %s", exc)

        self._renewer = threading.Thread(target=run, name="graph-subscription-renew", daemon=True)
        self._renewer.start()
        return self

    def handle(self, query: str | Mapping[str, str], body: bytes) -> tuple[int, str, bytes]:
        """Answer one request to ``notification_url``: ``(status, content type, body)``.

        A validation request (``?validationToken=…``) is echoed as ``text/plain``.
        Notifications with the wrong ``clientState`` are ignored (and logged); the
        others' ids go to ``callback``. Always answers quickly (202).
        """
        params = dict(urllib.parse.parse_qsl(query)) if isinstance(query, str) else dict(query)
        token = params.get("validationToken")
        if token is not None:
            return 200, "text/plain", token.encode("utf-8")
        try:
            value = json.loads(body).get("value")
        except (ValueError, AttributeError, RecursionError):
            return 400, "text/plain", b"malformed notification"
        ids: list[str] = []
        for note in value if isinstance(value, list) else []:
            if not isinstance(note, dict):
                continue
            if note.get("clientState") != self._client_state:
                log.warning("a change notification with a wrong clientState was ignored")
                continue
            data = note.get("resourceData") or {}
            if isinstance(data, dict) and isinstance(data.get("id"), str):
                ids.append(data["id"])
        if ids:
            self.callback(ids)
        return 202, "text/plain", b""

    def close(self) -> None:
        """Stop renewing and delete the subscription (best effort, idempotent)."""
        self._stop.set()
        if self.id is None:
            return
        sub_id, self.id = self.id, None
        try:
            self.calendar.client.request("DELETE", f"subscriptions/{sub_id}")
        except BackendError as exc:
            log.info("could not delete subscription: %s", exc)
