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
  have been lost, so the user is synced too.

This module only decides; the caller looks subscriptions up and defers the jobs.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Mapping

import attrs

__all__ = ["Decision", "Reply", "decide", "validation_reply"]

#: Longest validation token echoed (Graph's are well under 200 characters).
MAX_TOKEN = 1024


@attrs.frozen(kw_only=True)
class Reply:
    """The HTTP answer: status, content type, body."""

    status: int
    content_type: str = "text/plain; charset=utf-8"
    body: bytes = b""


@attrs.frozen(kw_only=True)
class Decision:
    """What to do about one POST of notifications.

    Attributes:
        sync: users whose calendars changed (or may have: lifecycle ``missed``).
        resubscribe: users whose subscription must be renewed or recreated.
        rejected: notifications ignored (unknown subscription or wrong clientState).
        reply: the answer to send.
    """

    sync: frozenset[str] = frozenset()
    resubscribe: frozenset[str] = frozenset()
    rejected: int = 0
    reply: Reply = Reply(status=202)


def validation_reply(query: Mapping[str, str]) -> Reply | None:
    """The answer to a validation request, or ``None`` if this is not one."""
    token = query.get("validationToken")
    if token is None:
        return None
    if len(token) > MAX_TOKEN:
        return Reply(status=400, body=b"validation token too long")
    return Reply(status=200, body=token.encode("utf-8"))


def decide(body: bytes, lookup: Callable[[str], tuple[str, str] | None]) -> Decision:
    """Check each notification of a POST against its subscription.

    Args:
        body: the request body.
        lookup: subscription id -> ``(user, client state)``, or ``None`` if unknown.
    """
    try:
        value = json.loads(body).get("value")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return Decision(reply=Reply(status=400, body=b"malformed notification"))
    if not isinstance(value, list):
        return Decision(reply=Reply(status=400, body=b"malformed notification"))
    sync: set[str] = set()
    resubscribe: set[str] = set()
    rejected = 0
    for note in value:
        if not isinstance(note, dict):
            rejected += 1
            continue
        sub_id, state = note.get("subscriptionId"), note.get("clientState")
        found = lookup(sub_id) if isinstance(sub_id, str) else None
        if (found is None or not isinstance(state, str)
                or not hmac.compare_digest(found[1].encode(), state.encode())):
            rejected += 1
            continue
        user = found[0]
        event = note.get("lifecycleEvent")
        if event is None:
            sync.add(user)
        elif event == "reauthorizationRequired":
            resubscribe.add(user)
        else:  # subscriptionRemoved, missed, and any future event: resync to be safe
            resubscribe.add(user)
            sync.add(user)
    return Decision(sync=frozenset(sync), resubscribe=frozenset(resubscribe),
                    rejected=rejected)
