"""The change-notification endpoint's logic, independent of the web framework.

Follows https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks:

- **Validation.** When a subscription is created (or its URL changes), Graph POSTs to
  ``{notificationUrl}?validationToken=…`` and expects, within 10 seconds, ``200 OK`` with
  the URL-decoded token as the ``text/plain`` body.
- **Notifications.** A POST with ``{"value": [ … ]}``; each notification carries its
  ``subscriptionId`` and the ``clientState`` given at creation, which the receiver must
  check ("verify that the clientState … matches") and otherwise ignore the
  notification. The receiver answers ``202 Accepted`` quickly (within 3 seconds; slow
  endpoints get notifications delayed or dropped) and does the work later.
- **Lifecycle notifications** (``lifecycleEvent`` =
  ``reauthorizationRequired`` / ``subscriptionRemoved`` / ``missed``,
  https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events): renew
  or recreate the subscription; after ``subscriptionRemoved`` or ``missed``, changes may
  have been lost, so the user is synced too. Each event goes on to the subscription job
  with the id of the subscription it came through (:class:`Lifecycle`): a removed
  subscription is recreated at once, one that needs reauthorization is renewed at once
  (:func:`outlook_sync.server.subscriptions.subscribe`).

This module only decides; the caller defers the jobs.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from outlook_sync.adapters.graph.webhooks import read_notifications, validation_answer
from outlook_sync.protocols import SubscriptionStore

__all__ = ["Decision", "Lifecycle", "Reply", "decide"]


@attrs.frozen(kw_only=True)
class Reply:
    """The HTTP answer: status, content type, body."""

    status: int
    content_type: str = "text/plain; charset=utf-8"
    body: bytes = b""


@attrs.frozen(kw_only=True)
class Lifecycle:
    """One checked lifecycle notification: whose subscription, which, and what happened."""

    user: str
    subscription_id: str
    event: str


@attrs.frozen(kw_only=True)
class Decision:
    """What to do about one request to the endpoint.

    Attributes:
        sync: users whose calendars changed (or may have: lifecycle ``missed``).
        resubscribe: users whose subscription must be renewed or recreated.
        lifecycle: the lifecycle notifications behind ``resubscribe`` (one per user,
            subscription and event), for the subscription job.
        rejected: notifications ignored (unknown subscription or wrong clientState).
        reply: the answer to send.
    """

    sync: frozenset[str] = frozenset()
    resubscribe: frozenset[str] = frozenset()
    lifecycle: tuple[Lifecycle, ...] = ()
    rejected: int = 0
    reply: Reply = Reply(status=202)


def decide(query: Mapping[str, str], body: bytes, store: SubscriptionStore) -> Decision:
    """Answer a validation request, or check each notification against its subscription.

    The parsing and the ``clientState`` check are the Graph adapter's framework-independent
    ones (:mod:`outlook_sync.adapters.graph.webhooks`); this function only turns the
    checked notices into work: a change -> sync the user; ``reauthorizationRequired`` ->
    renew the subscription; ``subscriptionRemoved`` / ``missed`` -> both.
    """
    validation = validation_answer(query)
    if validation is not None:
        return Decision(reply=Reply(status=validation.status,
                                    content_type=validation.content_type,
                                    body=validation.body))
    try:
        notices, rejected = read_notifications(body, store)
    except (ValueError, UnicodeDecodeError):
        return Decision(reply=Reply(status=400, body=b"malformed notification"))
    sync: set[str] = set()
    resubscribe: set[str] = set()
    lifecycle: dict[tuple[str, str, str], Lifecycle] = {}
    for notice in notices:
        if not notice.lifecycle:
            sync.add(notice.user)
            continue
        resubscribe.add(notice.user)
        if notice.lifecycle != "reauthorizationRequired":
            sync.add(notice.user)  # subscriptionRemoved, missed: changes may have been lost
        key = (notice.user, notice.subscription_id, notice.lifecycle)
        lifecycle.setdefault(key, Lifecycle(user=notice.user,
                                            subscription_id=notice.subscription_id,
                                            event=notice.lifecycle))
    return Decision(sync=frozenset(sync), resubscribe=frozenset(resubscribe),
                    lifecycle=tuple(lifecycle[k] for k in sorted(lifecycle)),
                    rejected=rejected)
