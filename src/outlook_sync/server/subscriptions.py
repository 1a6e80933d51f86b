"""Graph change subscriptions for every active user: create, renew, replace.

One subscription per user, on the synced calendar's events
(https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions): the
``clientState`` is a fresh random secret per subscription, kept in the state store's
subscription table (:class:`~outlook_sync.protocols.SubscriptionStore`) where the web
endpoint finds it to check each notification. Event subscriptions live at most
10 080 minutes ("Subscription lifetime"); the periodic renewal pushes the expiry ahead
(``PATCH /subscriptions/{id}``, https://learn.microsoft.com/en-us/graph/api/subscription-update)
when less than two renewal periods are left, and creates a new subscription when the
service no longer knows the old one (404). Notifications are hints; the sweep still
syncs everyone now and then, so a lost subscription delays a change, never loses it.

Lifecycle notifications (https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events)
reach this module as the ``lifecycle`` argument of :func:`subscribe`, with the id of the
subscription they came through:

- ``subscriptionRemoved``: Graph has dropped that subscription. Its record is dropped
  and, unless another live one is stored for the resource, a new subscription is
  created at once (not when the old record would have neared its expiry).
- ``reauthorizationRequired``: the subscription is renewed now, whatever its expiry
  (a ``PATCH`` of ``expirationDateTime`` reauthorizes it, as the page says); one that
  Graph no longer knows is replaced.
- ``missed``: nothing more than the periodic renewal; the caller syncs the user.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import urllib.parse
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from outlook_sync.adapters.graph import GraphCalendar, GraphClient
from outlook_sync.protocols import SubscriptionStore
from outlook_sync.records import SubscriptionRecord
from outlook_sync.server.config import ServerConfig


class _Slot(Protocol):
    @property
    def state(self) -> SubscriptionStore: ...


class Resources(Protocol):
    """What this module needs of a worker's resources (``runner.Resources`` has it);
    a protocol, so that the runner may import this module and not the reverse."""

    config: ServerConfig

    def slot(self) -> AbstractContextManager[_Slot]: ...

    def graph_client(self, mailbox: str) -> GraphClient: ...

    def with_ledger(self, body: Callable[[Any], Any]) -> Any: ...

__all__ = ["ensure_subscription", "needs_subscription", "parse_expiry", "subscribe"]

log = logging.getLogger("outlook_sync.server")


def parse_expiry(value: object) -> dt.datetime | None:
    """Graph's ``expirationDateTime`` (up to 7 fraction digits, ``Z``) as aware UTC."""
    if not isinstance(value, str) or not value:
        return None
    main, _, frac = value.removesuffix("Z").partition(".")
    try:
        when = dt.datetime.fromisoformat(f"{main}.{frac[:6]}" if frac else main)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def ensure_subscription(
    res: Resources, user: str, retry_later: type[Exception], *,
    lifecycle: str = "", subscription_id: str = "",
) -> str:
    """Make sure ``user`` has a live subscription; returns what was done.

    Args:
        lifecycle: the lifecycle event that asked for this (empty: the periodic
            renewal); see :func:`subscribe`.
        subscription_id: the subscription the lifecycle event came through, if known.

    Raises:
        retry_later: Graph throttled the request (``retry_after`` = its Retry-After).
    """
    account = res.with_ledger(lambda led: led.account(user))
    if account is None or res.config.public_url is None:
        return "nothing to do"
    with res.slot() as slot:
        return subscribe(res, user, account.mailbox, slot.state, retry_later,
                         lifecycle=lifecycle, subscription_id=subscription_id)


def subscribe(
    res: Resources, user: str, mailbox: str, store: SubscriptionStore,
    retry_later: type[Exception], *, lifecycle: str = "", subscription_id: str = "",
) -> str:
    """:func:`ensure_subscription` with the state store of a borrowed slot.

    Returns ``"current"`` (nothing to do), ``"renewed"``, ``"created"``, or
    ``"refused: …"`` when Graph would not create one.

    Args:
        lifecycle: ``subscriptionRemoved`` drops the stored record of
            ``subscription_id`` (without an id: every record of the resource) before
            making sure a live one exists; ``reauthorizationRequired`` renews the
            subscription even when its expiry is far off; ``missed`` and ``""`` renew
            only what expires within two renewal periods.
        subscription_id: the subscription the lifecycle event came through. A
            ``reauthorizationRequired`` for a subscription no longer stored (already
            replaced) changes nothing.

    Raises:
        retry_later: Graph throttled the request (``retry_after`` = its Retry-After).
    """
    config = res.config
    if config.public_url is None:
        return "nothing to do"
    now = dt.datetime.now(dt.UTC)
    lifetime = dt.timedelta(minutes=config.subscription_minutes) - dt.timedelta(minutes=1)
    renew_within = dt.timedelta(seconds=2 * config.renew_seconds)
    client = res.graph_client(mailbox)
    # the resource is a JSON string, not a URL: the mailbox goes in as Graph names it
    # (users/anna@contoso.com/events), not percent-encoded as in a request path
    resource = urllib.parse.unquote(GraphCalendar(
        client, user=mailbox, calendar_id=config.outlook.get("calendar")).subscription_resource)
    current = [s for s in store.subscriptions(user) if s.resource == resource]
    if lifecycle == "subscriptionRemoved":
        gone = [s for s in current
                if not subscription_id or s.subscription_id == subscription_id]
        for removed in gone:
            store.drop_subscription(user, removed.subscription_id)
            log.info("subscription %s of %s was removed by Graph; forgetting it",
                     removed.subscription_id, user)
        current = [s for s in current if s not in gone]
    for stale in current[1:]:
        store.drop_subscription(user, stale.subscription_id)
    if current:
        sub = current[0]
        reauthorize = lifecycle == "reauthorizationRequired" and (
            not subscription_id or sub.subscription_id == subscription_id)
        if sub.expires - now > renew_within and not reauthorize:
            return "current"
        if reauthorize:
            log.info("Graph asks to reauthorize the subscription of %s; renewing it", user)
        resp = client.request("PATCH", f"subscriptions/{sub.subscription_id}",
                              body={"expirationDateTime": _stamp(now + lifetime)})
        if resp.ok:
            expires = parse_expiry(resp.json_object().get("expirationDateTime"))
            store.save_subscription(user, SubscriptionRecord(
                subscription_id=sub.subscription_id, resource=resource,
                client_state=sub.client_state, expires=expires or now + lifetime,
                notification_url=sub.notification_url,
            ))
            return "renewed"
        _raise_if_throttled(resp.status, resp.headers.get("retry-after"), retry_later)
        store.drop_subscription(user, sub.subscription_id)
        log.info("subscription of %s could not be renewed (HTTP %s); replacing it",
                 user, resp.status)
    client_state = secrets.token_urlsafe(24)
    resp = client.request(
        "POST",
        "subscriptions",
        body={
            "changeType": "created,updated,deleted",
            "notificationUrl": config.public_url,
            "lifecycleNotificationUrl": config.public_url,
            "resource": resource,
            "expirationDateTime": _stamp(now + lifetime),
            "clientState": client_state,
        },
        safe_to_retry=False,
    )
    if not resp.ok:
        _raise_if_throttled(resp.status, resp.headers.get("retry-after"), retry_later)
        code = _code(resp.content)
        log.warning("subscription for %s refused: HTTP %s %s", user, resp.status, code)
        return f"refused: HTTP {resp.status} {code}".strip()
    data = resp.json_object()
    store.save_subscription(user, SubscriptionRecord(
        subscription_id=str(data["id"]), resource=resource, client_state=client_state,
        expires=parse_expiry(data.get("expirationDateTime")) or now + lifetime,
        notification_url=config.public_url,
    ))
    return "created"


def _code(content: bytes) -> str:
    try:
        err = json.loads(content).get("error") or {}
    except (ValueError, AttributeError):
        return ""
    return str(err.get("code") or "") if isinstance(err, dict) else ""


def _raise_if_throttled(status: int, retry_after: str | None, retry_later: type[Exception]) -> None:
    if status in (429, 503):
        try:
            wait = float(retry_after) if retry_after else 30.0
        except ValueError:
            wait = 30.0
        raise retry_later(f"Graph answered {status}", retry_after=wait)  # type: ignore[call-arg]


def needs_subscription(res: Resources, user: str, store: SubscriptionStore) -> bool:
    """No subscription yet, or one that expires within two renewal periods."""
    if res.config.public_url is None:
        return False
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2 * res.config.renew_seconds)
    return not any(s.expires > soon for s in store.subscriptions(user))
