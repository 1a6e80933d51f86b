"""The in-process front: ``MockGraph.transport`` (an ``httpx.MockTransport``) serves the
same emulated Graph as the HTTP emulator, with no port and no thread."""

from __future__ import annotations

import datetime as dt
import threading

import httpx
import pytest

from outlook_sync.adapters.graph import GraphCalendar, GraphClient, StaticToken
from outlook_sync.adapters.graph.mapping import PARTNER_PROPERTY
from outlook_sync.errors import BackendUnavailableError, VersionConflictError
from outlook_sync.model import Event
from outlook_sync.testing.graph import MockGraph

T0 = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)


def calendar_on(graph: MockGraph) -> GraphCalendar:
    client = GraphClient(
        graph.base_url,
        StaticToken("t"),
        http=httpx.Client(transport=graph.transport),
        sleep=lambda _: None,
    )
    return GraphCalendar(client)


def test_graph_calendar_round_trip_in_process_without_a_thread() -> None:
    graph = MockGraph()
    threads_before = threading.active_count()
    calendar = calendar_on(graph)
    graph.seed_event("From Outlook", T0, T0 + dt.timedelta(hours=1))
    start = T0 + dt.timedelta(days=1)
    event = Event(subject="From Säljstöd", start=start, end=start + dt.timedelta(hours=1))
    made = calendar.create(event, partner_key="s-1")
    listing = calendar.list_all()
    assert sorted(i.event.subject for i in listing.items) == ["From Outlook", "From Säljstöd"]
    assert graph.extended_value(made.id, PARTNER_PROPERTY) == "s-1"
    graph.user_edit(made.id, subject="Edited in Outlook")
    with pytest.raises(VersionConflictError):
        calendar.update(made.id, made.event, partner_key="s-1", expected_version=made.version)
    assert threading.active_count() == threads_before
    assert graph.request_count() > 0


def test_connection_faults_become_httpx_errors_the_adapter_handles() -> None:
    graph = MockGraph()
    calendar = calendar_on(graph)
    graph.drop_connection(times=10)
    with pytest.raises(BackendUnavailableError):
        calendar.list_all()


def test_notifications_reach_a_poster_synchronously() -> None:
    received: list[tuple[str, bytes]] = []

    def poster(url: str, body: bytes, content_type: str, timeout: float) -> tuple[int, bytes]:
        if "validationToken=" in url:
            token = httpx.URL(url).params["validationToken"]
            return 200, token.encode()
        received.append((url, body))
        return 202, b""

    graph = MockGraph(poster=poster)
    with graph.client() as http:
        expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
        made = http.post(
            "/subscriptions",
            json={
                "changeType": "created,updated,deleted",
                "notificationUrl": "https://127.0.0.1/hook",
                "resource": "me/events",
                "expirationDateTime": expires,
                "clientState": "secret",
            },
        )
        assert made.status_code == 201, made.text
        event_id = graph.seed_event("watched", T0, T0 + dt.timedelta(hours=1))
    assert len(received) == 1
    assert event_id.encode() in received[0][1]
