"""Server mode and Graph's lifecycle notifications, in-process.

A lifecycle notification reaches the web endpoint, which defers ``subscribe_user`` with
the event and the subscription's id; the job then recreates a removed subscription and
renews one that needs reauthorization at once, not when the stored expiry nears
(https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events).
Without any notification, the periodic renewal renews a subscription near its expiry by
``PATCH`` and replaces one that Graph answers 404 for (it forgot it without a word).

The Graph emulator is Microsoft Graph; a small loopback receiver stands in for the public
URL (it answers the validation requests and keeps the lifecycle notifications it gets);
``Resources`` (what a worker holds) runs over a real PostgreSQL, in a schema of its own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import json
import threading
import time
import tomllib
import types
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from tests.conftest import require_extra

require_extra("server", "procrastinate", "psycopg", "starlette")

from outlook_sync.server.config import ServerConfig, parse_server_config  # noqa: E402
from outlook_sync.server.notify import decide  # noqa: E402
from outlook_sync.server.queue import RetryLater  # noqa: E402
from outlook_sync.server.runner import Resources  # noqa: E402
from outlook_sync.server.subscriptions import ensure_subscription, parse_expiry  # noqa: E402
from outlook_sync.testing.graph import GraphEmulator, run_emulator  # noqa: E402

pytestmark = pytest.mark.postgres
NOW = dt.datetime(2026, 12, 5, 8, tzinfo=dt.UTC)
USER, MAILBOX = "anna", "anna@contoso.test"


class Receiver:
    """The public URL: answers Graph's validation requests, keeps what else it gets."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        received = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                if "validationToken" in query:
                    answer, status = query["validationToken"][0].encode(), 200
                else:
                    received.append(body)
                    answer, status = b"", 202
                self.send_response(status)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/notifications"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def lifecycle(self, event: str, timeout: float = 5.0) -> bytes:
        """The first lifecycle notification of ``event`` received (waits for it)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for body in self.bodies:
                if any(n.get("lifecycleEvent") == event for n in json.loads(body)["value"]):
                    return body
            time.sleep(0.02)
        raise AssertionError(f"no {event} notification arrived")


@pytest.fixture
def graph() -> Iterator[GraphEmulator]:
    with run_emulator() as emulator:
        yield emulator


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def config(tmp_path: Path, graph: GraphEmulator, receiver: Receiver) -> ServerConfig:
    text = (f'[saljstod]\nbackend = "sql"\ndatabase = "sqlite"\npath = "{tmp_path / "crm.db"}"\n\n'
            f'[outlook]\nbackend = "graph"\nbase_url = "{graph.base_url}"\n'
            'token_env = "TEST_TOKEN"\n\n'
            '[state]\nbackend = "postgresql"\ndsn_env = "STATE_DSN"\n\n'
            f'[server]\npublic_url = "{receiver.url}"\n')
    return parse_server_config(tomllib.loads(text), path=tmp_path / "outlook-sync.toml")


@pytest.fixture
def resources(config: ServerConfig, schema_dsn: str) -> Iterator[Resources]:
    found = Resources(config, {"STATE_DSN": schema_dsn, "TEST_TOKEN": "t"}, slots=1)
    try:
        found.with_ledger(lambda led: led.create())  # what the worker does at start
        found.with_ledger(lambda led: led.reconcile([(USER, MAILBOX)], now=NOW))
        yield found
    finally:
        found.close()


def _stored(res: Resources) -> list[str]:
    with res.slot() as slot:
        return [s.subscription_id for s in slot.state.subscriptions(USER)]


def _at_graph(graph: GraphEmulator) -> list[str]:
    return [s["id"] for s in graph.active_subscriptions(MAILBOX)]


def _event_of(res: Resources, body: bytes) -> tuple[str, str, str]:
    """What the web endpoint decides for ``body``: ``(user, event, subscription id)``."""
    with res.slot() as slot:
        decision = decide({}, body, slot.state)
    [event] = decision.lifecycle
    return event.user, event.event, event.subscription_id


def test_a_removed_subscription_is_recreated_at_once(
    resources: Resources, graph: GraphEmulator, receiver: Receiver
) -> None:
    assert ensure_subscription(resources, USER, RetryLater) == "created"
    [first] = _at_graph(graph)
    assert _stored(resources) == [first]

    graph.remove_subscription(first)  # Graph drops it and says so
    user, event, sub_id = _event_of(resources, receiver.lifecycle("subscriptionRemoved"))
    assert (user, event, sub_id) == (USER, "subscriptionRemoved", first)
    assert _at_graph(graph) == []

    done = ensure_subscription(resources, USER, RetryLater, lifecycle=event,
                               subscription_id=sub_id)
    assert done == "created"
    [second] = _at_graph(graph)
    assert second != first
    assert _stored(resources) == [second]

    # a late copy of the same notification changes nothing: the new one stays
    assert ensure_subscription(resources, USER, RetryLater, lifecycle=event,
                               subscription_id=sub_id) == "current"
    assert _at_graph(graph) == [second]
    assert _stored(resources) == [second]


def test_reauthorization_renews_the_subscription_now(
    resources: Resources, graph: GraphEmulator, receiver: Receiver
) -> None:
    assert ensure_subscription(resources, USER, RetryLater) == "created"
    [sub_id] = _at_graph(graph)
    graph.reset_counts()
    assert ensure_subscription(resources, USER, RetryLater) == "current"  # far from expiry
    assert graph.request_count(path_contains="subscriptions") == 0

    graph.require_reauthorization(sub_id)
    user, event, noted = _event_of(resources, receiver.lifecycle("reauthorizationRequired"))
    assert (user, event, noted) == (USER, "reauthorizationRequired", sub_id)
    done = ensure_subscription(resources, USER, RetryLater, lifecycle=event,
                               subscription_id=noted)
    assert done == "renewed"
    assert graph.request_count(method="PATCH", path_contains=f"subscriptions/{sub_id}") == 1
    assert _at_graph(graph) == [sub_id]
    assert _stored(resources) == [sub_id]


def test_missed_notifications_only_resync(
    resources: Resources, graph: GraphEmulator, receiver: Receiver
) -> None:
    assert ensure_subscription(resources, USER, RetryLater) == "created"
    [sub_id] = _at_graph(graph)
    graph.miss_notifications(sub_id)
    body = receiver.lifecycle("missed")
    with resources.slot() as slot:
        decision = decide({}, body, slot.state)
    assert decision.sync == {USER}
    graph.reset_counts()
    assert ensure_subscription(resources, USER, RetryLater, lifecycle="missed",
                               subscription_id=sub_id) == "current"
    assert graph.request_count(path_contains="subscriptions") == 0


def test_the_web_endpoint_hands_the_event_to_the_subscription_job(
    config: ServerConfig, schema_dsn: str, resources: Resources, graph: GraphEmulator,
    receiver: Receiver,
) -> None:
    import httpx
    import psycopg

    from outlook_sync.server.web import build_web_app
    from outlook_sync.server.worker import prepare_database

    environ = {"STATE_DSN": schema_dsn, "TEST_TOKEN": "t"}
    asyncio.run(prepare_database(config, environ))
    assert ensure_subscription(resources, USER, RetryLater) == "created"
    [sub_id] = _at_graph(graph)
    graph.remove_subscription(sub_id)
    body = receiver.lifecycle("subscriptionRemoved")

    async def post() -> int:
        app = build_web_app(config, environ)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://web") as client:
            answer = await client.post("/notifications", content=body)
        return answer.status_code

    assert asyncio.run(post()) == 202
    with psycopg.connect(schema_dsn) as conn:
        jobs = conn.execute("SELECT task_name, args FROM procrastinate_jobs"
                            " ORDER BY id").fetchall()
    assert ("outlook_sync.subscribe_user", {
        "user": USER, "lifecycle": "subscriptionRemoved", "subscription_id": sub_id,
    }) in jobs
    assert any(name == "outlook_sync.sync_user" and args["user"] == USER
               for name, args in jobs)

    # the job, run with those arguments as a worker would, leaves one live subscription
    from outlook_sync.server.queue import build_queue

    [args] = [a for name, a in jobs if name == "outlook_sync.subscribe_user"]
    task = build_queue(config, environ).tasks["outlook_sync.subscribe_user"]
    context = types.SimpleNamespace(additional_context={"resources": resources})
    assert asyncio.run(task.func(context, **args)) == "created"
    [live] = _at_graph(graph)
    assert live != sub_id
    assert _stored(resources) == [live]


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _age(res: Resources, graph: GraphEmulator, sub_id: str, left: dt.timedelta) -> None:
    """Make the subscription expire in ``left``, at Graph and in the state store alike
    (as if it had been created long ago)."""
    expires = dt.datetime.now(dt.UTC).replace(microsecond=0) + left
    answer = res.graph_client(MAILBOX).request(
        "PATCH", f"subscriptions/{sub_id}", body={"expirationDateTime": _stamp(expires)})
    assert answer.status == 200
    with res.slot() as slot:
        [record] = slot.state.subscriptions(USER)
        slot.state.save_subscription(USER, attrs.evolve(record, expires=expires))


def test_a_subscription_near_its_expiry_is_renewed_by_patch(
    resources: Resources, graph: GraphEmulator
) -> None:
    assert ensure_subscription(resources, USER, RetryLater) == "created"
    [sub_id] = _at_graph(graph)
    with resources.slot() as slot:
        [before] = slot.state.subscriptions(USER)
    # two renewal periods (2 h) or more left: nothing is sent
    _age(resources, graph, sub_id, dt.timedelta(hours=2, minutes=5))
    graph.reset_counts()
    assert ensure_subscription(resources, USER, RetryLater) == "current"
    assert graph.request_count(path_contains="subscriptions") == 0

    _age(resources, graph, sub_id, dt.timedelta(minutes=30))
    graph.reset_counts()
    started = dt.datetime.now(dt.UTC)
    assert ensure_subscription(resources, USER, RetryLater) == "renewed"
    assert graph.request_count(method="PATCH", path_contains=f"subscriptions/{sub_id}") == 1
    assert graph.request_count(path_contains="subscriptions") == 1  # no POST, no DELETE

    # the same subscription, pushed a full lifetime (subscription_minutes - 1) ahead
    lifetime = dt.timedelta(minutes=resources.config.subscription_minutes - 1)
    [at_graph] = graph.active_subscriptions(MAILBOX)
    assert at_graph["id"] == sub_id
    graph_expiry = parse_expiry(at_graph["expirationDateTime"])
    assert graph_expiry is not None
    assert started + lifetime - dt.timedelta(seconds=2) <= graph_expiry
    assert graph_expiry <= dt.datetime.now(dt.UTC) + lifetime
    with resources.slot() as slot:
        [after] = slot.state.subscriptions(USER)
    assert after.subscription_id == sub_id
    assert after.expires == graph_expiry  # the store keeps what Graph answered
    assert after.client_state == before.client_state  # notifications still check out
    assert after.client_state == at_graph["clientState"]


def test_a_subscription_graph_no_longer_knows_is_replaced(
    resources: Resources, graph: GraphEmulator
) -> None:
    assert ensure_subscription(resources, USER, RetryLater) == "created"
    [old_id] = _at_graph(graph)
    with resources.slot() as slot:
        [old] = slot.state.subscriptions(USER)
    late = json.dumps({"value": [{
        "subscriptionId": old_id, "clientState": old.client_state, "changeType": "updated",
        "resource": f"Users/{MAILBOX}/Events/x", "tenantId": "t",
        "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "id": "x"},
    }]}).encode()
    with resources.slot() as slot:
        assert decide({}, late, slot.state).sync == {USER}  # while it is stored
    _age(resources, graph, old_id, dt.timedelta(minutes=30))
    # Graph forgets it without telling (deleted by another client, expired unnoticed)
    gone = resources.graph_client(MAILBOX).request("DELETE", f"subscriptions/{old_id}")
    assert gone.status == 204
    assert _at_graph(graph) == []
    assert _stored(resources) == [old_id]  # the store still believes in it

    graph.reset_counts()
    assert ensure_subscription(resources, USER, RetryLater) == "created"
    assert graph.request_count(method="PATCH", path_contains=f"subscriptions/{old_id}") == 1
    assert [r.status for r in graph.requests if r.method == "PATCH"] == [404]
    assert graph.request_count(method="POST", path_contains="subscriptions") == 1

    [at_graph] = graph.active_subscriptions(MAILBOX)
    new_id = at_graph["id"]
    assert new_id != old_id
    with resources.slot() as slot:
        [new] = slot.state.subscriptions(USER)
    assert new.subscription_id == new_id  # the old record is dropped, the new one kept
    assert new.client_state == at_graph["clientState"] != old.client_state
    # a late notification through the forgotten subscription no longer checks out
    with resources.slot() as slot:
        decision = decide({}, late, slot.state)
    assert decision.sync == set()
    assert decision.rejected == 1
    # and the next renewal finds the new one current
    graph.reset_counts()
    assert ensure_subscription(resources, USER, RetryLater) == "current"
    assert graph.request_count(path_contains="subscriptions") == 0
