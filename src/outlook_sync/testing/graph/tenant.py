"""The emulated tenant behind both fronts: its mailboxes, faults, subscriptions and the
control API tests use (user actions, faults, inspection).

:class:`~outlook_sync.testing.graph.server.GraphEmulator` serves it over loopback HTTP;
:class:`~outlook_sync.testing.graph.mock.MockGraph` serves it in-process as an
``httpx.MockTransport``. Per-mailbox limits follow the Outlook service limits in
https://learn.microsoft.com/en-us/graph/throttling-limits ("Outlook service limits"):
at most 4 concurrent requests per app per mailbox and 10 000 requests per 10 minutes;
past either, the answer is 429 with ``Retry-After``. Requests inside a ``$batch`` count
one by one against the budget (https://learn.microsoft.com/en-us/graph/throttling,
"Throttling and batching").
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from outlook_sync.testing.graph.faults import FaultRule, Faults
from outlook_sync.testing.graph.service import GraphService, RequestRecord
from outlook_sync.testing.graph.store import (
    DEFAULT_USER,
    GraphError,
    GraphStore,
    SentMail,
    StoredEvent,
    format_graph_datetime,
    norm_prop,
)
from outlook_sync.testing.graph.subscriptions import Poster, Subscriptions

__all__ = ["EmulatedTenant", "mailboxes_of"]


def _mailbox_of(path: str) -> str | None:
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] in ("v1.0", "beta"):
        parts = parts[1:]
    if parts[:1] == ["me"]:
        return DEFAULT_USER
    if len(parts) >= 2 and parts[0] == "users":
        return urllib.parse.unquote(parts[1]).casefold()
    return None


def mailboxes_of(path: str, body: Any) -> dict[str, int]:
    """The mailboxes a request touches, with how many requests each (batch items count)."""
    boxes: collections.Counter[str] = collections.Counter()
    if path.rstrip("/").endswith("$batch") and isinstance(body, dict):
        for item in body.get("requests") or []:
            if isinstance(item, dict):
                box = _mailbox_of("/" + str(item.get("url", "")).lstrip("/"))
                if box:
                    boxes[box] += 1
    else:
        box = _mailbox_of(path)
        if box:
            boxes[box] += 1
    return dict(boxes)


class _Limits:
    """In-flight requests and the rolling request budget, per mailbox."""

    def __init__(self, max_concurrent: int, budget: int, window: float) -> None:
        self.max_concurrent = max_concurrent
        self.budget = budget
        self.window = window
        self._lock = threading.Lock()
        self._in_flight: collections.Counter[str] = collections.Counter()
        self._stamps: dict[str, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )
        self.peak: collections.Counter[str] = collections.Counter()

    def enter(self, boxes: dict[str, int]) -> GraphError | None:
        now = time.monotonic()
        with self._lock:
            for box, count in boxes.items():
                stamps = self._stamps[box]
                while stamps and stamps[0] <= now - self.window:
                    stamps.popleft()
                if len(stamps) + count > self.budget:
                    wait = max(1.0, stamps[0] + self.window - now) if stamps else 1.0
                    return GraphError(
                        429,
                        "ApplicationThrottled",
                        "Application is over its MailboxConcurrency limit.",
                        {"Retry-After": str(round(wait))},
                    )
                if self._in_flight[box] >= self.max_concurrent:
                    return GraphError(
                        429,
                        "ApplicationThrottled",
                        "Application is over its MailboxConcurrency limit.",
                        {"Retry-After": "1"},
                    )
            for box, count in boxes.items():
                self._in_flight[box] += 1
                self.peak[box] = max(self.peak[box], self._in_flight[box])
                self._stamps[box].extend([now] * count)
        return None

    def leave(self, boxes: dict[str, int]) -> None:
        with self._lock:
            for box in boxes:
                self._in_flight[box] -= 1


def _time(value: dt.datetime | dt.date) -> dict[str, str]:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("emulator seed times must be aware datetimes or dates")
        return {"dateTime": format_graph_datetime(value.astimezone(dt.UTC)), "timeZone": "UTC"}
    wall = dt.datetime(value.year, value.month, value.day)  # noqa: DTZ001 - floating date
    return {"dateTime": format_graph_datetime(wall), "timeZone": "UTC"}


class EmulatedTenant:
    """The state and control API shared by the emulator's fronts.

    Besides serving requests (through a front), it offers *user actions* that change the
    mailbox without going through HTTP (they send no mail and are not counted), *faults*
    to arm (see :mod:`outlook_sync.testing.graph.faults`), and inspection.

    Args:
        max_concurrent: concurrent requests per mailbox before 429 (documented: 4).
        request_budget: requests per mailbox per ``budget_window`` seconds (10 000 / 600).
        clock: the service's clock (aware UTC datetimes).
        poster: how notifications reach their receiver (loopback HTTP by default).
        threaded_notifications: deliver notifications from a background thread.
    """

    def __init__(
        self,
        *,
        max_concurrent: int = 4,
        request_budget: int = 10_000,
        budget_window: float = 600.0,
        clock: Callable[[], dt.datetime] | None = None,
        poster: Poster | None = None,
        threaded_notifications: bool = True,
    ) -> None:
        self.store = GraphStore(clock)
        self.faults = Faults()
        self.subscriptions = Subscriptions(
            self.store, poster=poster, threaded=threaded_notifications
        )
        self.service = GraphService(self.store, self.faults, self.subscriptions)
        self._limits = _Limits(max_concurrent, request_budget, budget_window)

    def _after_change(self) -> None:
        """Hook run after each user action (the in-process front delivers notifications)."""

    # -- inspection --------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request served, batch items included (``inner=True``)."""
        return list(self.service.log)

    def request_count(
        self,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        inner: bool | None = False,
    ) -> int:
        """How many HTTP requests (or, with ``inner=True``, batch items) were served."""
        return sum(
            1
            for r in self.service.log
            if (inner is None or r.inner == inner)
            and (method is None or r.method == method)
            and (path_contains is None or path_contains in r.path)
        )

    def reset_counts(self) -> None:
        self.service.log.clear()

    @property
    def sent_mail(self) -> list[SentMail]:
        """Meeting requests, updates and cancellations the service would have e-mailed."""
        return list(self.store.sent_mail)

    @property
    def peak_concurrency(self) -> int:
        return max(self._limits.peak.values(), default=0)

    def events(self, user: str = "me", calendar_id: str | None = None) -> list[StoredEvent]:
        """The events of a calendar (default calendar when ``calendar_id`` is None)."""
        with self.store.lock:
            box = self.store.mailbox(user)
            cal = box.calendar(calendar_id)
            return list(box.iter_calendar(cal.id))

    def event(self, event_id: str, user: str = "me") -> StoredEvent:
        with self.store.lock:
            return self.store.mailbox(user).find(event_id)

    def extended_value(self, event_id: str, prop_id: str, user: str = "me") -> str | None:
        return self.event(event_id, user).extended.get(norm_prop(prop_id))

    # -- user actions ------------------------------------------------------------------

    def add_calendar(self, name: str, user: str = "me") -> str:
        with self.store.lock:
            return self.store.mailbox(user).add_calendar(name).id

    def default_calendar_id(self, user: str = "me") -> str:
        return self.store.mailbox(user).default_calendar_id

    def seed_event(
        self,
        subject: str,
        start: dt.datetime | dt.date,
        end: dt.datetime | dt.date,
        *,
        user: str = "me",
        calendar_id: str | None = None,
        extended: dict[str, str] | None = None,
        **fields: Any,
    ) -> str:
        """Create an event as the user would (no mail, not counted); return its immutable id.

        ``fields`` are Graph JSON properties (``body``, ``showAs``, ``attendees``, …).
        """
        body: dict[str, Any] = {
            "subject": subject,
            "start": _time(start),
            "end": _time(end),
            "isAllDay": not isinstance(start, dt.datetime),
            **fields,
        }
        if extended:
            body["singleValueExtendedProperties"] = [
                {"id": k, "value": v} for k, v in extended.items()
            ]
        with self.store.lock:
            box = self.store.mailbox(user)
            event = box.create(box.calendar(calendar_id).id, body)
            self.subscriptions.changed(box, event, "created")
        self._after_change()
        return event.immutable_id

    def user_edit(self, event_id: str, user: str = "me", **fields: Any) -> None:
        """Change an event as the user would in Outlook (Graph JSON property names).

        ``start``/``end`` may be given as datetimes or dates.
        """
        body = {k: _time(v) if isinstance(v, dt.date) else v for k, v in fields.items()}
        with self.store.lock:
            box = self.store.mailbox(user)
            event = box.find(event_id)
            box.update(event, body)
            self.subscriptions.changed(box, event, "updated")
        self._after_change()

    def user_delete(self, event_id: str, user: str = "me") -> None:
        with self.store.lock:
            box = self.store.mailbox(user)
            box.delete(box.find(event_id))
            self.subscriptions.changed(box, box.tombstones[-1], "deleted")
        self._after_change()

    def user_move(self, event_id: str, calendar_id: str, user: str = "me") -> None:
        """Move an event to another calendar (its regular id changes, not its immutable id)."""
        with self.store.lock:
            box = self.store.mailbox(user)
            box.move(box.find(event_id), calendar_id)

    # -- faults ------------------------------------------------------------------------

    def throttle(
        self,
        times: int = 1,
        *,
        retry_after: float | None = 1,
        status: int = 429,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> FaultRule:
        """Answer the next ``times`` matching requests with ``status`` (429/503/504)."""
        return self.faults.add(
            FaultRule(
                "status", times, method, path_contains, status=status, retry_after=retry_after
            )
        )

    def unavailable(
        self,
        times: int = 1,
        *,
        status: int = 503,
        retry_after: float | None = None,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> FaultRule:
        return self.throttle(
            times,
            retry_after=retry_after,
            status=status,
            method=method,
            path_contains=path_contains,
        )

    def drop_connection(
        self,
        times: int = 1,
        *,
        after: bool = False,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> FaultRule:
        """Close the connection unanswered; with ``after=True`` the request was carried out."""
        kind = "drop_after" if after else "drop_before"
        return self.faults.add(FaultRule(kind, times, method, path_contains))

    def slow(
        self,
        seconds: float,
        times: int = 1,
        *,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> FaultRule:
        return self.faults.add(FaultRule("delay", times, method, path_contains, delay=seconds))

    def corrupt(
        self,
        body: bytes,
        times: int = 1,
        *,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> FaultRule:
        """Answer 200 with ``body`` as raw bytes (malformed or truncated JSON)."""
        return self.faults.add(FaultRule("corrupt", times, method, path_contains, body=body))

    def unauthorized(self, times: int = 1) -> FaultRule:
        """Answer 401 (access token expired) to the next ``times`` requests."""
        return self.faults.add(FaultRule("unauthorized", times))

    def before_next(
        self,
        action: Callable[[], None],
        *,
        method: str | None = None,
        path_contains: str | None = None,
        times: int = 1,
    ) -> FaultRule:
        """Run ``action`` (a user action) just before the next matching request is served."""
        return self.faults.add(FaultRule("callback", times, method, path_contains, callback=action))

    def expire_delta_tokens(self) -> None:
        """Forget every delta/skip token: the next use answers 410 ``syncStateNotFound``."""
        with self.store.lock:
            self.store.expire_sync_states()

    def revoke_token(self, token: str) -> None:
        """Refuse this access token from now on (401)."""
        self.service.revoked_tokens.add(token)

    def flush_notifications(self, timeout: float = 5.0) -> None:
        """Deliver (or wait for) the notifications queued so far."""
        self.subscriptions.flush(timeout)

    # -- change notifications -----------------------------------------------------------

    @property
    def notification_copies(self) -> int:
        """How many times each change notification is sent (Graph may send duplicates)."""
        return self.subscriptions.copies

    @notification_copies.setter
    def notification_copies(self, copies: int) -> None:
        self.subscriptions.copies = copies

    def active_subscriptions(self, user: str | None = None) -> list[dict[str, Any]]:
        """The subscriptions the service holds (JSON), of one mailbox (``me@…``) or all."""
        with self.store.lock:
            key = None if user is None else self.store.mailbox(user).user
            return self.subscriptions.active(key)

    def _lifecycle(self, subscription_id: str, event: str) -> None:
        with self.store.lock:
            self.subscriptions.lifecycle(subscription_id, event)
        self._after_change()

    def remove_subscription(self, subscription_id: str) -> None:
        """The service removes a subscription and says so (``subscriptionRemoved``)."""
        self._lifecycle(subscription_id, "subscriptionRemoved")

    def miss_notifications(self, subscription_id: str) -> None:
        """The service lost notifications and says so (``missed``)."""
        self._lifecycle(subscription_id, "missed")

    def require_reauthorization(self, subscription_id: str) -> None:
        """The service asks for reauthorization (``reauthorizationRequired``)."""
        self._lifecycle(subscription_id, "reauthorizationRequired")
