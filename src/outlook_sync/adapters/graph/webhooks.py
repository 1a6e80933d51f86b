"""Receiving Graph change notifications, independent of any web framework.

The desktop receiver (:mod:`.push`) and a server's webhook endpoint both call
:func:`handle_webhook` with the request's query parameters and body, and the
:class:`~outlook_sync.protocols.SubscriptionStore` that knows the subscriptions; they
answer with the returned :class:`WebhookAnswer` and hand the :class:`Notice` values to
whoever syncs. Nothing here does network I/O, so the answer is always quick.

What Microsoft documents, and how it is met:

- **Validation handshake.** Creating a subscription makes Graph POST
  ``?validationToken=…`` to the URL; the endpoint must answer ``200 OK``, ``text/plain``,
  with the token as the body within 10 seconds
  (https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks,
  "notificationUrl validation"). The token is echoed as plain text, never as HTML.
- **The 3-second rule.** "If Microsoft Graph doesn't receive a 2xx class code within 3
  seconds, it tries to resend the change notification"; an endpoint that is slow
  repeatedly is throttled, then dropped (same page, "Processing the change notification"
  and "Throttling"). :func:`handle_webhook` only parses and checks; it answers ``202
  Accepted``, and the sync happens elsewhere.
- **clientState.** Each notification must carry the ``clientState`` its subscription was
  created with; otherwise it "may have been sent by a rogue actor" (same page). A
  notification for an unknown subscription, or with the wrong ``clientState``, is
  dropped (and counted); it still gets 202, so a forger learns nothing.
- **Lifecycle notifications** (``lifecycleEvent``: ``reauthorizationRequired``,
  ``subscriptionRemoved``, ``missed``) arrive at the same kind of endpoint with the same
  ``clientState`` (https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events);
  they become :class:`Notice` values with ``lifecycle`` set.
- **Duplicates.** Graph may deliver the same change more than once.
  :class:`Coalescer` drops a notice already seen (same subscription, change, item and
  ``@odata.etag``) within a short window.
"""

from __future__ import annotations

import collections
import hmac
import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from outlook_sync.protocols import SubscriptionStore

__all__ = [
    "LIFECYCLE_EVENTS",
    "Coalescer",
    "Notice",
    "WebhookAnswer",
    "handle_webhook",
    "read_notifications",
    "validation_answer",
]

log = logging.getLogger("outlook_sync.adapters.graph")

#: The lifecycle events Graph sends.
LIFECYCLE_EVENTS = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})


@attrs.frozen(kw_only=True)
class WebhookAnswer:
    """What the endpoint answers: status, content type and body."""

    status: int
    content_type: str = "text/plain; charset=utf-8"
    body: bytes = b""


@attrs.frozen(kw_only=True)
class Notice:
    """One checked notification.

    Attributes:
        user: whose subscription it is (from the store).
        subscription_id: the subscription it came through.
        change_type: ``created`` / ``updated`` / ``deleted`` (empty for lifecycle).
        item_id: the changed event's id (empty for lifecycle).
        etag: the ``@odata.etag`` Graph sent (empty when none).
        lifecycle: the lifecycle event, or empty for a change.
    """

    user: str
    subscription_id: str
    change_type: str = ""
    item_id: str = ""
    etag: str = ""
    lifecycle: str = ""


def _params(query: str | Mapping[str, str]) -> dict[str, str]:
    if isinstance(query, str):
        return dict(urllib.parse.parse_qsl(query.lstrip("?"), keep_blank_values=True))
    return dict(query)


def validation_answer(query: str | Mapping[str, str]) -> WebhookAnswer | None:
    """The answer to a validation request, or None if ``query`` carries no token."""
    token = _params(query).get("validationToken")
    if token is None:
        return None
    return WebhookAnswer(status=200, body=token.encode("utf-8"))


def read_notifications(body: bytes, store: SubscriptionStore) -> tuple[list[Notice], int]:
    """The notifications of a POST body that pass the ``clientState`` check.

    Returns the notices and how many entries were dropped (unknown subscription, wrong
    ``clientState``, or not a notification).

    Raises:
        ValueError: the body is not a JSON notification collection.
    """
    data = json.loads(body)
    if not isinstance(data, dict) or not isinstance(data.get("value"), list):
        raise ValueError("not a change notification collection")
    notices: list[Notice] = []
    dropped = 0
    for entry in data["value"]:
        notice = _check(entry, store) if isinstance(entry, dict) else None
        if notice is None:
            dropped += 1
        else:
            notices.append(notice)
    return notices, dropped


def _check(entry: Mapping[str, Any], store: SubscriptionStore) -> Notice | None:
    sub_id = entry.get("subscriptionId")
    if not isinstance(sub_id, str) or not sub_id:
        return None
    found = store.find_subscription(sub_id)
    sent = entry.get("clientState")
    if found is None or not isinstance(sent, str):
        log.warning("a change notification for an unknown subscription was dropped")
        return None
    user, record = found
    if not hmac.compare_digest(sent.encode("utf-8"), record.client_state.encode("utf-8")):
        log.warning("a change notification with a wrong clientState was dropped")
        return None
    event = entry.get("lifecycleEvent")
    if isinstance(event, str) and event:
        if event not in LIFECYCLE_EVENTS:
            return None
        return Notice(user=user, subscription_id=sub_id, lifecycle=event)
    data = entry.get("resourceData")
    item_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(item_id, str) or not item_id:
        return None
    etag = data.get("@odata.etag") if isinstance(data, dict) else None
    return Notice(
        user=user,
        subscription_id=sub_id,
        change_type=str(entry.get("changeType", "")),
        item_id=item_id,
        etag=etag if isinstance(etag, str) else "",
    )


def handle_webhook(
    query: str | Mapping[str, str], body: bytes, store: SubscriptionStore
) -> tuple[WebhookAnswer, list[Notice]]:
    """Answer one request to the notification endpoint.

    A validation request is echoed; a notification collection is checked and answered
    ``202 Accepted`` with the notices that passed; anything else is ``400``. Never does
    network I/O; the caller acts on the notices after answering (or in another thread).
    """
    answer = validation_answer(query)
    if answer is not None:
        return answer, []
    try:
        notices, dropped = read_notifications(body, store)
    except (ValueError, UnicodeDecodeError):
        return WebhookAnswer(status=400, body=b"malformed notification"), []
    if dropped:
        log.info("%d change notification(s) failed the subscription check", dropped)
    return WebhookAnswer(status=202), notices


class Coalescer:
    """Drops notices already seen within ``window`` seconds (Graph sends duplicates).

    A notice is the same when subscription, change type, item and ``@odata.etag`` are.
    A real second change carries a new ``@odata.etag`` (the item's new ``changeKey``) and
    passes; a deletion has no etag, and a second deletion of the same item is a duplicate.
    Lifecycle notices always pass.
    """

    def __init__(
        self,
        window: float = 30.0,
        *,
        limit: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self.limit = limit
        self._clock = clock
        self._seen: collections.OrderedDict[tuple[str, str, str, str], float] = (
            collections.OrderedDict()
        )
        self.dropped = 0

    def fresh(self, notices: Sequence[Notice]) -> list[Notice]:
        """The notices not seen before (in order)."""
        now = self._clock()
        while self._seen and (
            next(iter(self._seen.values())) <= now - self.window or len(self._seen) > self.limit
        ):
            self._seen.popitem(last=False)
        out: list[Notice] = []
        for notice in notices:
            if notice.lifecycle:
                out.append(notice)
                continue
            key = (notice.subscription_id, notice.change_type, notice.item_id, notice.etag)
            if key in self._seen:
                self.dropped += 1
                continue
            self._seen[key] = now
            out.append(notice)
        return out
