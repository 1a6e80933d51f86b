"""Push for direct sync: Graph change notifications through a WebhookReceiver, against the
Graph emulator over loopback HTTP, with subscriptions kept in the state store."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import httpx
import pytest

from outlook_sync import Event, InMemoryCalendar, MemoryStateStore, Synchronizer
from outlook_sync.adapters.graph import GraphCalendar, GraphClient, StaticToken
from outlook_sync.adapters.graph.notifications import DeltaPoller
from outlook_sync.adapters.graph.push import (
    DEFAULT_LIFETIME,
    MAX_LIFETIME,
    ChangeFeed,
    PushSubscription,
    Webhook,
    WebhookReceiver,
)
from outlook_sync.adapters.graph.webhooks import Coalescer, Notice, handle_webhook
from outlook_sync.records import SubscriptionRecord
from outlook_sync.testing.graph import GraphEmulator, run_emulator
from outlook_sync.watch import Watcher

USER = "anna"
T0 = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


class Heard:
    """What a subscription's callback received, with a way to wait for it."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self._cond = threading.Condition()

    def __call__(self, ids: Sequence[str]) -> None:
        with self._cond:
            self.calls.append(list(ids))
            self._cond.notify_all()

    def wait_for(self, test: Callable[[list[list[str]]], bool], timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: test(self.calls), timeout)

    @property
    def ids(self) -> list[str]:
        return [i for call in self.calls for i in call]


@pytest.fixture
def graph() -> Iterator[GraphEmulator]:
    with run_emulator() as emulator:
        yield emulator


@pytest.fixture
def store() -> MemoryStateStore:
    return MemoryStateStore()


@pytest.fixture
def receiver(store: MemoryStateStore) -> Iterator[WebhookReceiver]:
    with WebhookReceiver(store) as endpoint:
        yield endpoint


_OPEN: list[GraphCalendar] = []


@pytest.fixture(autouse=True)
def _close_calendars() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def outlook(graph: GraphEmulator, feed: ChangeFeed | None = None) -> GraphCalendar:
    client = GraphClient(graph.base_url, StaticToken("t"), sleep=lambda _: None)
    calendar = GraphCalendar(client, changes=feed)
    _OPEN.append(calendar)
    return calendar


def webhook(
    store: MemoryStateStore, receiver: WebhookReceiver, lifetime: dt.timedelta = DEFAULT_LIFETIME
) -> Webhook:
    return Webhook(
        notification_url=receiver.local_url,
        store=store,
        user=USER,
        receiver=receiver,
        lifetime=lifetime,
    )


def test_a_change_in_outlook_is_pushed_once_though_graph_sends_it_three_times(
    graph: GraphEmulator, store: MemoryStateStore, receiver: WebhookReceiver
) -> None:
    graph.notification_copies = 3
    heard = Heard()
    calendar = outlook(graph, ChangeFeed(webhook=webhook(store, receiver)))
    subscription = calendar.subscribe(heard)
    try:
        assert isinstance(subscription, PushSubscription)
        [record] = store.subscriptions(USER)
        assert [s["id"] for s in graph.active_subscriptions()] == [record.subscription_id]
        assert record.resource == calendar.subscription_resource
        event_id = graph.seed_event("Kundmöte", T0, T0 + HOUR)
        assert heard.wait_for(lambda calls: any(event_id in call for call in calls))
        graph.user_edit(event_id, subject="Kundmöte (flyttat)")
        graph.flush_notifications()
        assert heard.wait_for(lambda calls: len(calls) >= 2)
        time.sleep(0.2)  # let any duplicate arrive
        assert heard.ids == [event_id, event_id]  # created, updated: 6 posts, 2 changes
        assert subscription.duplicates == 4
    finally:
        subscription.close()
    assert store.subscriptions(USER) == []
    assert graph.active_subscriptions() == []


def test_a_restarted_process_renews_its_stored_subscription_instead_of_leaking_one(
    graph: GraphEmulator, store: MemoryStateStore
) -> None:
    first = WebhookReceiver(store).start()
    url = first.local_url
    port = first.port
    old = PushSubscription(outlook(graph), Heard(), webhook(store, first)).open()
    [record] = store.subscriptions(USER)
    old._stop.set()  # the process dies: nothing is deleted
    first.close()

    with WebhookReceiver(store, port=port) as second:
        assert second.local_url == url
        heard = Heard()
        again = PushSubscription(outlook(graph), heard, webhook(store, second)).open()
        try:
            assert again.record is not None
            assert again.record.subscription_id == record.subscription_id
            assert len(graph.active_subscriptions()) == 1
            event_id = graph.seed_event("Efter omstart", T0, T0 + HOUR)
            assert heard.wait_for(lambda calls: [event_id] in calls)
        finally:
            again.close()


def test_stored_subscriptions_graph_lost_or_for_another_url_are_cleaned_up(
    graph: GraphEmulator, store: MemoryStateStore, receiver: WebhookReceiver
) -> None:
    resource = outlook(graph).subscription_resource
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    for sub_id, url in (("lost-at-graph", receiver.local_url), ("old-url", "https://old/x")):
        store.save_subscription(
            USER,
            SubscriptionRecord(
                subscription_id=sub_id,
                resource=resource,
                client_state="s",
                expires=future,
                notification_url=url,
            ),
        )
    push = PushSubscription(outlook(graph), Heard(), webhook(store, receiver)).open()
    try:
        [record] = store.subscriptions(USER)
        assert record.subscription_id not in ("lost-at-graph", "old-url")
        assert [s["id"] for s in graph.active_subscriptions()] == [record.subscription_id]
    finally:
        push.close()


def test_lifecycle_notifications_recreate_renew_and_catch_up(
    graph: GraphEmulator, store: MemoryStateStore, receiver: WebhookReceiver
) -> None:
    heard = Heard()
    push = PushSubscription(outlook(graph), heard, webhook(store, receiver)).open()
    try:
        assert push.record is not None
        first = push.record
        graph.miss_notifications(first.subscription_id)
        assert heard.wait_for(lambda calls: calls == [[]])  # "something changed"

        graph.remove_subscription(first.subscription_id)
        assert heard.wait_for(lambda calls: len(calls) == 2)
        assert push.alive
        assert push.record is not None
        assert push.record.subscription_id != first.subscription_id
        assert [r.subscription_id for r in store.subscriptions(USER)] == [
            push.record.subscription_id
        ]
        event_id = graph.seed_event("Nytt abonnemang", T0, T0 + HOUR)
        assert heard.wait_for(lambda calls: [event_id] in calls)

        before = push.record.expires
        time.sleep(0.01)
        graph.require_reauthorization(push.record.subscription_id)
        assert _until(lambda: push.record is not None and push.record.expires > before)
    finally:
        push.close()


def _until(test: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if test():
            return True
        time.sleep(0.01)
    return test()


def test_forged_notifications_get_202_and_are_dropped(
    graph: GraphEmulator, store: MemoryStateStore, receiver: WebhookReceiver
) -> None:
    heard = Heard()
    push = PushSubscription(outlook(graph), heard, webhook(store, receiver)).open()
    try:
        assert push.record is not None
        forged = {
            "value": [
                {
                    "subscriptionId": push.record.subscription_id,
                    "clientState": "guessed",
                    "changeType": "deleted",
                    "resourceData": {"id": "victim"},
                }
            ]
        }
        answer = httpx.post(receiver.local_url, content=json.dumps(forged))
        assert answer.status_code == 202
        garbage = httpx.post(receiver.local_url, content=b"<html>")
        assert garbage.status_code == 400
        time.sleep(0.2)
        assert heard.calls == []
    finally:
        push.close()


def test_the_answer_never_waits_for_the_sync(
    graph: GraphEmulator, store: MemoryStateStore, receiver: WebhookReceiver
) -> None:
    """The 3-second rule: a slow callback does not slow the answer to Graph."""
    release = threading.Event()
    heard = Heard()

    def slow(ids: Sequence[str]) -> None:
        release.wait(10)
        heard(ids)

    push = PushSubscription(outlook(graph), slow, webhook(store, receiver)).open()
    try:
        for n in range(3):
            graph.seed_event(f"Möte {n}", T0, T0 + HOUR)
        graph.flush_notifications()
        assert graph.subscriptions.delivered == 3
        assert graph.subscriptions.failed == 0
        assert graph.subscriptions.slow == 0
        release.set()
        assert heard.wait_for(lambda calls: len(calls) == 3)
    finally:
        release.set()
        push.close()


def test_without_a_reachable_endpoint_the_configured_poll_is_the_fallback(
    graph: GraphEmulator, store: MemoryStateStore
) -> None:
    unreachable = Webhook(notification_url="http://127.0.0.1:9/hook", store=store, user=USER)
    heard = Heard()
    calendar = outlook(graph, ChangeFeed(poll_interval=0.05, webhook=unreachable))
    subscription = calendar.subscribe(heard)
    try:
        assert isinstance(subscription, DeltaPoller)
        assert subscription.interval == 0.05
        assert store.subscriptions(USER) == []
        time.sleep(0.15)
        event_id = graph.seed_event("Hittad av pollningen", T0, T0 + HOUR)
        assert heard.wait_for(lambda calls: any(event_id in call for call in calls))
    finally:
        subscription.close()


def test_no_lifetime_longer_than_graph_allows_is_asked_for(
    graph: GraphEmulator, store: MemoryStateStore, receiver: WebhookReceiver
) -> None:
    hook = webhook(store, receiver, lifetime=dt.timedelta(days=30))
    push = PushSubscription(outlook(graph), Heard(), hook).open()
    try:
        [sub] = graph.active_subscriptions()
        expires = dt.datetime.fromisoformat(sub["expirationDateTime"].replace("Z", "+00:00"))
        assert expires <= dt.datetime.now(dt.UTC) + MAX_LIFETIME
        assert expires > dt.datetime.now(dt.UTC) + MAX_LIFETIME - dt.timedelta(minutes=1)
    finally:
        push.close()


def test_handle_webhook_is_plain_functions_a_server_endpoint_can_reuse() -> None:
    store = MemoryStateStore()
    record = SubscriptionRecord(
        subscription_id="s1",
        resource="me/events",
        client_state="secret",
        expires=T0,
        notification_url="https://example/hook",
    )
    store.save_subscription(USER, record)
    answer, notices = handle_webhook({"validationToken": "a<b>"}, b"", store)
    assert (answer.status, answer.body, answer.content_type) == (
        200,
        b"a<b>",
        "text/plain; charset=utf-8",
    )
    assert notices == []
    body = {
        "value": [
            {
                "subscriptionId": "s1",
                "clientState": "secret",
                "changeType": "updated",
                "resourceData": {"id": "e1", "@odata.etag": 'W/"k1"'},
            },
            {"subscriptionId": "s1", "clientState": "secret", "lifecycleEvent": "missed"},
            {"subscriptionId": "nope", "clientState": "secret", "lifecycleEvent": "missed"},
        ]
    }
    answer, notices = handle_webhook("", json.dumps(body).encode(), store)
    assert answer.status == 202
    assert notices == [
        Notice(user=USER, subscription_id="s1", change_type="updated", item_id="e1", etag='W/"k1"'),
        Notice(user=USER, subscription_id="s1", lifecycle="missed"),
    ]
    coalescer = Coalescer(window=10, clock=lambda: 0.0)
    assert coalescer.fresh(notices + notices) == notices + notices[1:]


def test_the_watcher_brings_an_outlook_edit_to_saljstod_within_a_second_by_push(
    graph: GraphEmulator, store: MemoryStateStore, receiver: WebhookReceiver
) -> None:
    saljstod = InMemoryCalendar(name="saljstod", id_prefix="S")
    item_id = saljstod.add(Event(subject="Kundmöte", start=T0, end=T0 + HOUR))
    feed = ChangeFeed(poll_interval=3600, webhook=webhook(store, receiver))
    sync = Synchronizer(saljstod=saljstod, outlook=outlook(graph, feed), state=store, user=USER)
    with Watcher(sync) as watcher:
        assert watcher.wait_idle(30)
        [link] = store.links(USER)
        began = time.monotonic()
        graph.user_edit(link.outlook_id, subject="Kundmöte (flyttat i Outlook)")
        assert _until(lambda: saljstod.items()[item_id].subject.endswith("Outlook)"), 5.0)
        took = time.monotonic() - began
        assert watcher.wait_idle(30)
    assert took < 1.0  # the poll (3600 s) could not have found it
