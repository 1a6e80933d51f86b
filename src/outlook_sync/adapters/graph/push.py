"""Push for direct sync: Graph change notifications when the host is reachable, a delta
poll otherwise.

Theory of operation
-------------------
:class:`ChangeFeed` is what ``GraphCalendar.subscribe`` uses (``GraphCalendar(...,
changes=ChangeFeed(...))``), so the watcher needs nothing new: it calls
``subscribe(callback)`` and gets a :class:`~outlook_sync.protocols.Subscription`.

- **Without a webhook** (the default) it polls the calendar's delta link every
  ``poll_interval`` seconds (:class:`~.notifications.DeltaPoller`).
- **With a** :class:`Webhook` (the host has an HTTPS URL Graph can reach, forwarded to a
  :class:`WebhookReceiver` on this machine, or a server endpoint) it keeps one Graph
  subscription per calendar (:class:`PushSubscription`) and reports each notified id at
  once. If the subscription cannot be made (endpoint unreachable, validation failed,
  refused), it logs why and polls instead; the watcher re-subscribes when a push
  subscription dies, and tries push again.

Subscriptions live in the state store (:class:`~outlook_sync.protocols.SubscriptionStore`:
id, resource, clientState, expiry, URL), so a restarted process recognises
notifications for the subscriptions it already has, and, when it subscribes again,
renews the one it finds (``PATCH``) instead of creating another: a mailbox allows 1 000
subscriptions, all applications together
(https://learn.microsoft.com/en-us/graph/change-notifications-overview). Records for
the same calendar beyond the first, for another URL, or that Graph no longer knows are
deleted (at Graph too). Closing a subscription deletes it at Graph and in the store.

Lifetimes: Outlook event subscriptions live at most 10 080 minutes (under 7 days) — the
"Subscription lifetime" table of
https://learn.microsoft.com/en-us/graph/api/resources/subscription (copies of the page
from before 2023 said 4 230). :class:`Webhook` never asks for more than
:data:`MAX_LIFETIME` (a few minutes under it, for clock skew), defaults to 4 230 minutes
(within both versions of the page) and renews when ``renew_before`` is left.

Lifecycle notifications (``lifecycleNotificationUrl`` is the same URL;
https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events):

- ``reauthorizationRequired``: renew now (PATCH renews and reauthorizes; the page allows
  either);
- ``subscriptionRemoved``: the subscription is gone: make a new one, and report
  "something changed" (an empty id list) so the watcher catches up;
- ``missed``: notifications were lost: report "something changed".

Receiving is :func:`~.webhooks.handle_webhook` (no framework, no network I/O): the
validation handshake, the ``clientState`` check against the store, and a ``202`` at once.
The callbacks run on the receiver's dispatch thread, never before the answer is sent
(the 3-second rule). Duplicates are dropped by a :class:`~.webhooks.Coalescer`.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs

from outlook_sync.adapters.graph.core import GraphCore
from outlook_sync.adapters.graph.notifications import DeltaPoller
from outlook_sync.adapters.graph.transport import MalformedResponseError, error_for
from outlook_sync.adapters.graph.webhooks import Coalescer, Notice, handle_webhook
from outlook_sync.errors import BackendError, BackendUnavailableError, ConfigurationError
from outlook_sync.protocols import Subscription, SubscriptionStore
from outlook_sync.records import SubscriptionRecord

__all__ = [
    "DEFAULT_LIFETIME",
    "MAX_LIFETIME",
    "ChangeFeed",
    "PushSubscription",
    "Webhook",
    "WebhookReceiver",
]

log = logging.getLogger("outlook_sync.adapters.graph")

#: The longest lifetime asked for: under the documented 10 080 minutes, with margin.
MAX_LIFETIME = dt.timedelta(minutes=10_080) - dt.timedelta(minutes=5)
#: The default lifetime (within the current and the older subscription page).
DEFAULT_LIFETIME = dt.timedelta(minutes=4_230)

Callback = Callable[[Sequence[str]], None]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class WebhookReceiver:
    """A small HTTP endpoint on this machine for Graph's notifications (standard library).

    Graph must reach it through the public ``notification_url`` the host configures
    (a reverse proxy or tunnel forwarding to ``host:port``). Every POST is answered at
    once by :func:`~.webhooks.handle_webhook`; checked notices are handed to the
    subscription they belong to on a separate dispatch thread.

    Args:
        store: where subscriptions and their clientState are kept.
        host, port: where to listen (``port=0``: any free port, see :attr:`port`).
    """

    def __init__(self, store: SubscriptionStore, host: str = "127.0.0.1", port: int = 0) -> None:
        self.store = store
        self._targets: dict[str, Callable[[Notice], None]] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[list[Notice] | None] = queue.Queue()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                query = self.path.partition("?")[2]
                answer, notices = handle_webhook(query, body, receiver.store)
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
                if notices:
                    receiver._queue.put(notices)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._serve = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), name="graph-webhook", daemon=True
        )
        self._dispatch = threading.Thread(
            target=self._run, name="graph-webhook-dispatch", daemon=True
        )
        self.handled = 0

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def local_url(self) -> str:
        """``http://host:port/`` of the listening socket (for a tunnel, or tests)."""
        host = str(self._server.server_address[0])
        return f"http://{host}:{self.port}/"

    def start(self) -> WebhookReceiver:
        self._serve.start()
        self._dispatch.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._queue.put(None)
        if self._dispatch.is_alive():
            self._dispatch.join(timeout=5)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def register(self, subscription_id: str, target: Callable[[Notice], None]) -> None:
        with self._lock:
            self._targets[subscription_id] = target

    def unregister(self, subscription_id: str) -> None:
        with self._lock:
            self._targets.pop(subscription_id, None)

    def _run(self) -> None:
        while True:
            notices = self._queue.get()
            if notices is None:
                return
            for notice in notices:
                with self._lock:
                    target = self._targets.get(notice.subscription_id)
                if target is None:
                    continue  # a subscription of another process (or already closed)
                try:
                    target(notice)
                except Exception:  # one failing subscriber must not stop the others
                    log.exception("handling a change notification failed")
                self.handled += 1


@attrs.frozen(kw_only=True)
class Webhook:
    """Push settings: where Graph posts, and where subscriptions are kept.

    Attributes:
        notification_url: the HTTPS URL Graph posts to (also the lifecycle URL).
        store: the state store (it keeps the subscriptions).
        user: the sync's user (the store's key).
        receiver: the local endpoint that receives what Graph posts to the URL, or
            ``None`` when a server endpoint calls :func:`~.webhooks.handle_webhook`
            and delivers notices with :meth:`PushSubscription.deliver`.
        lifetime: asked of Graph, at most :data:`MAX_LIFETIME`.
        renew_before: renew when less than this is left.
        check_every: seconds between renewal checks.
        coalesce_window: seconds within which a repeated notice is a duplicate.
    """

    notification_url: str
    store: SubscriptionStore
    user: str
    receiver: WebhookReceiver | None = None
    lifetime: dt.timedelta = DEFAULT_LIFETIME
    renew_before: dt.timedelta = dt.timedelta(hours=12)
    check_every: float = 600.0
    coalesce_window: float = 30.0

    def __attrs_post_init__(self) -> None:
        if not self.notification_url.startswith(("https://", "http://")):
            raise ConfigurationError("the notification URL must be an http(s) URL")
        if self.lifetime <= dt.timedelta(0) or self.renew_before >= self.lifetime:
            raise ConfigurationError("renew_before must be shorter than the lifetime")


class PushSubscription:
    """One Graph change subscription for a calendar, kept in the state store.

    :meth:`open` reuses a stored subscription (renewing it) or creates one; notices
    reach :meth:`deliver` (from the receiver, or from a server endpoint); :meth:`close`
    deletes it. ``alive`` turns False when the subscription was removed and could not
    be made again (the watcher then re-subscribes).
    """

    def __init__(
        self,
        calendar: GraphCore,
        callback: Callback,
        webhook: Webhook,
        *,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self.calendar = calendar
        self.callback = callback
        self.webhook = webhook
        self._clock = clock
        self._lifetime = min(webhook.lifetime, MAX_LIFETIME)
        self._coalescer = Coalescer(webhook.coalesce_window)
        self.record: SubscriptionRecord | None = None
        self.alive = True
        self.closed = False
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        sub_id = self.record.subscription_id if self.record else None
        return f"PushSubscription(id={sub_id!r})"

    # -- Graph -------------------------------------------------------------------------

    def _expiry_text(self) -> str:
        return (self._clock() + self._lifetime).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")

    @staticmethod
    def _expires(data: Mapping[str, Any], fallback: dt.datetime) -> dt.datetime:
        raw = str(data.get("expirationDateTime", "")).removesuffix("Z")
        main, _, frac = raw.partition(".")
        try:
            when = dt.datetime.fromisoformat(f"{main}.{frac[:6]}" if frac else main)
        except ValueError:
            return fallback
        return when if when.tzinfo else when.replace(tzinfo=dt.UTC)

    def _create(self) -> SubscriptionRecord:
        client_state = secrets.token_urlsafe(48)  # at most 128 characters (subscription page)
        body = {
            "changeType": "created,updated,deleted",
            "notificationUrl": self.webhook.notification_url,
            "lifecycleNotificationUrl": self.webhook.notification_url,
            "resource": self.calendar.subscription_resource,
            "expirationDateTime": self._expiry_text(),
            "clientState": client_state,
        }
        resp = self.calendar.client.request("POST", "subscriptions", body=body, safe_to_retry=False)
        if not resp.ok:
            raise BackendUnavailableError(str(error_for(resp, what="POST /subscriptions")))
        data = resp.json_object()
        record = SubscriptionRecord(
            subscription_id=str(data["id"]),
            resource=self.calendar.subscription_resource,
            client_state=client_state,
            expires=self._expires(data, self._clock() + self._lifetime),
            notification_url=self.webhook.notification_url,
        )
        self.webhook.store.save_subscription(self.webhook.user, record)
        return record

    def _renew(self, record: SubscriptionRecord) -> SubscriptionRecord | None:
        """PATCH the expiry; None when Graph no longer has the subscription."""
        resp = self.calendar.client.request(
            "PATCH",
            f"subscriptions/{record.subscription_id}",
            body={"expirationDateTime": self._expiry_text()},
        )
        if resp.status == 404:
            self.webhook.store.drop_subscription(self.webhook.user, record.subscription_id)
            return None
        if not resp.ok:
            raise BackendUnavailableError(str(error_for(resp, what="PATCH /subscriptions")))
        renewed = attrs.evolve(
            record, expires=self._expires(resp.json_object(), self._clock() + self._lifetime)
        )
        self.webhook.store.save_subscription(self.webhook.user, renewed)
        return renewed

    def _delete(self, record: SubscriptionRecord) -> None:
        try:
            self.calendar.client.request("DELETE", f"subscriptions/{record.subscription_id}")
        except BackendError as exc:
            log.info("could not delete subscription: %s", exc)
        self.webhook.store.drop_subscription(self.webhook.user, record.subscription_id)

    # -- lifecycle ---------------------------------------------------------------------

    def open(self) -> PushSubscription:
        """Reuse a stored subscription for this calendar (renewed), or create one.

        Raises:
            BackendUnavailableError: Graph refused or could not be reached (the
                notification URL did not pass validation, say).
        """
        with self._lock:
            self.record = self._adopt() or self._create()
            if self.webhook.receiver is not None:
                self.webhook.receiver.register(self.record.subscription_id, self.deliver)
        self._renewer = threading.Thread(target=self._renew_loop, name="graph-push", daemon=True)
        self._renewer.start()
        return self

    def _adopt(self) -> SubscriptionRecord | None:
        """The stored subscription for this calendar and URL, renewed; others deleted."""
        kept: SubscriptionRecord | None = None
        resource = self.calendar.subscription_resource
        now = self._clock()
        for record in self.webhook.store.subscriptions(self.webhook.user):
            if record.resource != resource:
                continue  # another calendar's: not ours to touch
            if (
                kept is not None
                or record.notification_url != self.webhook.notification_url
                or record.expires <= now
            ):
                self._delete(record)
                continue
            kept = self._renew(record)
        return kept

    def renew_if_due(self) -> bool:
        """Renew when less than ``renew_before`` is left; True if it renewed."""
        with self._lock:
            record = self.record
            if record is None or record.expires - self._clock() > self.webhook.renew_before:
                return False
            self._replace(self._renew(record))
            return True

    def _replace(self, record: SubscriptionRecord | None) -> None:
        """Take ``record`` as current; when it is None (gone at Graph), make a new one."""
        old = self.record
        if record is None:
            try:
                record = self._create()
            except BackendError as exc:
                log.warning("the change subscription is gone and could not be made again: %s", exc)
                self.alive = False
        receiver = self.webhook.receiver
        if receiver is not None and old is not None and (record is None or record != old):
            receiver.unregister(old.subscription_id)
        self.record = record
        if receiver is not None and record is not None:
            receiver.register(record.subscription_id, self.deliver)

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.webhook.check_every):
            try:
                self.renew_if_due()
            except (BackendError, MalformedResponseError) as exc:
                log.warning("subscription renewal failed: %s", exc)

    def deliver(self, notice: Notice) -> None:
        """Act on one checked notice (a change, or a lifecycle event)."""
        if self.closed:
            return
        for fresh in self._coalescer.fresh([notice]):
            if not fresh.lifecycle:
                self.callback([fresh.item_id])
            elif fresh.lifecycle == "reauthorizationRequired":
                with self._lock:
                    if self.record is not None:
                        self._replace(self._renew(self.record))
            elif fresh.lifecycle == "subscriptionRemoved":
                with self._lock:
                    if self.record is not None:
                        self.webhook.store.drop_subscription(
                            self.webhook.user, self.record.subscription_id
                        )
                    self._replace(None)
                self.callback([])
            else:  # missed
                self.callback([])

    @property
    def duplicates(self) -> int:
        """Notices dropped as duplicates so far."""
        return self._coalescer.dropped

    def close(self) -> None:
        """Stop renewing and delete the subscription at Graph and in the store (idempotent)."""
        self._stop.set()
        with self._lock:
            if self.closed:
                return
            self.closed = True
            record, self.record = self.record, None
        if record is None:
            return
        if self.webhook.receiver is not None:
            self.webhook.receiver.unregister(record.subscription_id)
        self._delete(record)


@attrs.frozen(kw_only=True)
class ChangeFeed:
    """How a :class:`~outlook_sync.adapters.graph.GraphCalendar` reports changes.

    Attributes:
        poll_interval: seconds between delta polls (the fallback, and the only path
            without a webhook).
        webhook: push settings; ``None`` polls.
    """

    poll_interval: float = 30.0
    webhook: Webhook | None = None

    def __attrs_post_init__(self) -> None:
        if self.poll_interval <= 0:
            raise ConfigurationError("the poll interval must be positive")

    def subscribe(self, calendar: GraphCore, callback: Callback) -> Subscription:
        """Push when a webhook is configured and Graph accepts it; poll otherwise."""
        if self.webhook is not None:
            push = PushSubscription(calendar, callback, self.webhook)
            try:
                return push.open()
            except (BackendError, MalformedResponseError) as exc:
                log.warning("push notifications unavailable (polling instead): %s", exc)
        return DeltaPoller(calendar, callback, interval=self.poll_interval).start()
