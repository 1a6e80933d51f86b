"""The Graph emulator behaves as Microsoft documents, over real loopback HTTP."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from outlook_sync.testing.graph import GraphEmulator, run_emulator

PROP = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name SaljstodId"
PREFER = 'IdType="ImmutableId", outlook.timezone="UTC"'
# At most 1 825 days: Graph refuses longer calendar views (emulator views module).
WINDOW = {"startDateTime": "2024-01-01T00:00:00Z", "endDateTime": "2028-12-01T00:00:00Z"}
T0 = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def graph() -> Iterator[GraphEmulator]:
    with run_emulator() as emulator:
        yield emulator


@pytest.fixture
def http(graph: GraphEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=graph.base_url, headers={"Authorization": "Bearer t", "Prefer": PREFER}
    ) as client:
        yield client


def event_body(subject: str = "Meeting", **extra: Any) -> dict[str, Any]:
    return {
        "subject": subject,
        "start": {"dateTime": "2025-03-03T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2025-03-03T10:00:00", "timeZone": "UTC"},
        **extra,
    }


def delta_round(http: httpx.Client, url: str, **params: str) -> tuple[list[dict[str, Any]], str]:
    entries: list[dict[str, Any]] = []
    response = http.get(url, params=params or None)
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        entries += page["value"]
        if "@odata.deltaLink" in page:
            return entries, page["@odata.deltaLink"]
        response = http.get(page["@odata.nextLink"])


def test_requests_without_a_bearer_token_get_401(graph: GraphEmulator) -> None:
    response = httpx.get(f"{graph.base_url}/me/events")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_create_read_update_delete_round_trip(http: httpx.Client) -> None:
    created = http.post("/me/events", json=event_body("Lunch"))
    assert created.status_code == 201
    event = created.json()
    assert event["id"].startswith("imm-")
    assert event["@odata.etag"] == f'W/"{event["changeKey"]}"'
    patched = http.patch(f"/me/events/{event['id']}", json={"subject": "Late lunch"})
    assert patched.json()["subject"] == "Late lunch"
    assert patched.json()["changeKey"] != event["changeKey"]
    assert http.delete(f"/me/events/{event['id']}").status_code == 204
    assert http.get(f"/me/events/{event['id']}").json()["error"]["code"] == "ErrorItemNotFound"


def test_times_are_returned_in_the_preferred_zone(http: httpx.Client) -> None:
    body = event_body()
    body["start"] = {"dateTime": "2025-07-01T09:00:00", "timeZone": "W. Europe Standard Time"}
    body["end"] = {"dateTime": "2025-07-01T10:00:00", "timeZone": "Europe/Stockholm"}
    event = http.post("/me/events", json=body).json()
    assert event["start"] == {"dateTime": "2025-07-01T07:00:00.0000000", "timeZone": "UTC"}
    stockholm = http.get(
        f"/me/events/{event['id']}", headers={"Prefer": 'outlook.timezone="Europe/Stockholm"'}
    ).json()
    assert stockholm["end"]["dateTime"].startswith("2025-07-01T10:00:00")


def test_immutable_ids_survive_a_move_but_regular_ids_do_not(
    graph: GraphEmulator, http: httpx.Client
) -> None:
    event_id = graph.seed_event("Review", T0, T0 + dt.timedelta(hours=1))
    regular = http.get(f"/me/events/{event_id}", headers={"Prefer": ""}).json()["id"]
    assert regular != event_id
    graph.user_move(event_id, graph.add_calendar("Archive"))
    assert http.get(f"/me/events/{event_id}").status_code == 200
    assert http.get(f"/me/events/{regular}").status_code == 404


def test_stale_if_match_answers_412(graph: GraphEmulator, http: httpx.Client) -> None:
    event = http.post("/me/events", json=event_body()).json()
    graph.user_edit(event["id"], subject="Changed in Outlook")
    stale = {"If-Match": f'W/"{event["changeKey"]}"'}
    response = http.patch(f"/me/events/{event['id']}", json={"subject": "x"}, headers=stale)
    assert response.status_code == 412
    assert response.json()["error"]["code"] == "ErrorIrresolvableConflict"
    assert http.delete(f"/me/events/{event['id']}", headers=stale).status_code == 412
    assert graph.event(event["id"]).data["subject"] == "Changed in Outlook"


def test_extended_property_filter_and_expand(graph: GraphEmulator, http: httpx.Client) -> None:
    tagged = http.post(
        "/me/events",
        json=event_body(singleValueExtendedProperties=[{"id": PROP, "value": "s'1"}]),
    ).json()
    http.post("/me/events", json=event_body("untagged"))
    expand = f"singleValueExtendedProperties($filter=id eq '{PROP}')"
    by_value = http.get(
        "/me/calendar/events",
        params={
            "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' "
            "and ep/value eq 's''1')",
            "$expand": expand,
        },
    ).json()["value"]
    assert [e["id"] for e in by_value] == [tagged["id"]]
    assert by_value[0]["singleValueExtendedProperties"] == [{"id": PROP, "value": "s'1"}]
    any_value = http.get(
        "/me/events",
        params={
            "$filter": f"singleValueExtendedProperties/any(ep: ep/id eq '{PROP}' "
            "and ep/value ne null)"
        },
    ).json()["value"]
    assert len(any_value) == 1


def test_delta_pages_then_reports_changes_and_removals(
    graph: GraphEmulator, http: httpx.Client
) -> None:
    ids = [graph.seed_event(f"e{i}", T0, T0 + dt.timedelta(hours=1)) for i in range(5)]
    http.headers["Prefer"] = PREFER + ", odata.maxpagesize=2"
    first, link = delta_round(http, "/me/calendarView/delta", **WINDOW)
    assert sorted(e["id"] for e in first) == sorted(ids)
    assert graph.request_count(path_contains="delta") == 3  # 2 + 2 + 1
    graph.user_edit(ids[0], subject="changed")
    graph.user_delete(ids[1])
    changes, link2 = delta_round(http, link)
    assert [e["subject"] for e in changes if "@removed" not in e] == ["changed"]
    assert [e["id"] for e in changes if "@removed" in e] == [ids[1]]
    assert changes[-1]["@removed"] == {"reason": "deleted"}
    nothing, _ = delta_round(http, link2)
    assert nothing == []


def test_delta_window_and_removed_for_events_leaving_it(
    graph: GraphEmulator, http: httpx.Client
) -> None:
    inside = graph.seed_event("inside", T0, T0 + dt.timedelta(hours=1))
    graph.seed_event(
        "outside", dt.datetime(1990, 1, 1, tzinfo=dt.UTC), dt.datetime(1990, 1, 1, 1, tzinfo=dt.UTC)
    )
    first, link = delta_round(http, "/me/calendarView/delta", **WINDOW)
    assert [e["id"] for e in first] == [inside]
    graph.user_edit(
        inside,
        start=dt.datetime(1991, 1, 1, tzinfo=dt.UTC),
        end=dt.datetime(1991, 1, 1, 1, tzinfo=dt.UTC),
    )
    changes, _ = delta_round(http, link)
    assert changes == [{"id": inside, "@removed": {"reason": "deleted"}}]
    assert graph.event(inside).data["subject"] == "inside"  # not deleted, only outside


def test_delta_refuses_unsupported_options_and_missing_window(http: httpx.Client) -> None:
    assert http.get("/me/calendarView/delta").status_code == 400
    response = http.get("/me/calendarView/delta", params={**WINDOW, "$select": "subject"})
    assert response.status_code == 400


def test_expired_delta_token_answers_410_sync_state_not_found(
    graph: GraphEmulator, http: httpx.Client
) -> None:
    _, link = delta_round(http, "/me/calendarView/delta", **WINDOW)
    graph.expire_delta_tokens()
    response = http.get(link)
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "syncStateNotFound"


def test_named_calendars_and_other_users_are_separate(
    graph: GraphEmulator, http: httpx.Client
) -> None:
    work = http.post("/users/anna@example.com/calendars", json={"name": "Work"}).json()["id"]
    http.post(f"/users/anna@example.com/calendars/{work}/events", json=event_body("w"))
    http.post("/me/events", json=event_body("mine"))
    named, _ = delta_round(
        http, f"/users/anna@example.com/calendars/{work}/calendarView/delta", **WINDOW
    )
    assert [e["subject"] for e in named] == ["w"]
    assert [e.data["subject"] for e in graph.events("anna@example.com", work)] == ["w"]
    assert [e.data["subject"] for e in graph.events()] == ["mine"]


def test_batch_runs_items_with_their_own_status_and_dependencies(
    graph: GraphEmulator, http: httpx.Client
) -> None:
    graph.throttle(path_contains="/events", method="POST", retry_after=3)
    requests = [
        {
            "id": "1",
            "method": "POST",
            "url": "/me/events",
            "body": event_body("a"),
            "headers": {"Content-Type": "application/json"},
        },
        {"id": "2", "method": "GET", "url": "/me/events/nope"},
        {
            "id": "3",
            "method": "POST",
            "url": "/me/events",
            "body": event_body("b"),
            "headers": {"Content-Type": "application/json"},
            "dependsOn": ["2"],
        },
        {
            "id": "4",
            "method": "POST",
            "url": "/me/events",
            "body": event_body("c"),
            "headers": {"Content-Type": "application/json"},
        },
    ]
    answers = {
        a["id"]: a for a in http.post("/$batch", json={"requests": requests}).json()["responses"]
    }
    assert answers["1"]["status"] == 429
    assert answers["1"]["headers"]["Retry-After"] == "3"
    assert answers["2"]["status"] == 404
    assert answers["3"]["status"] == 424
    assert answers["4"]["status"] == 201
    assert [e.data["subject"] for e in graph.events()] == ["c"]
    assert graph.request_count() == 1
    assert graph.request_count(inner=True) == 3  # the failed dependency never ran


def test_batch_of_more_than_20_is_refused(http: httpx.Client) -> None:
    requests = [{"id": str(i), "method": "GET", "url": "/me/events"} for i in range(21)]
    assert http.post("/$batch", json={"requests": requests}).status_code == 400


def test_invitations_are_recorded_never_sent(graph: GraphEmulator, http: httpx.Client) -> None:
    http.post("/me/events", json=event_body("no attendees"))
    assert graph.sent_mail == []
    attendee = {"emailAddress": {"address": "bo@example.com"}, "type": "required"}
    meeting = http.post("/me/events", json=event_body("team", attendees=[attendee])).json()
    http.patch(f"/me/events/{meeting['id']}", json={"categories": ["Red"]})
    http.patch(f"/me/events/{meeting['id']}", json={"subject": "moved"})
    http.delete(f"/me/events/{meeting['id']}")
    assert [(m.kind, m.recipients) for m in graph.sent_mail] == [
        ("meetingRequest", ("bo@example.com",)),
        ("meetingUpdate", ("bo@example.com",)),
        ("meetingCancellation", ("bo@example.com",)),
    ]


def test_transaction_id_makes_a_repeated_post_return_the_same_event(
    graph: GraphEmulator, http: httpx.Client
) -> None:
    first = http.post("/me/events", json=event_body(transactionId="t-1")).json()
    again = http.post("/me/events", json=event_body(transactionId="t-1")).json()
    assert again["id"] == first["id"]
    assert len(graph.events()) == 1


def test_faults_throttle_unavailable_drop_slow_and_corrupt(
    graph: GraphEmulator, http: httpx.Client
) -> None:
    graph.throttle(retry_after=7)
    response = http.get("/me/events")
    assert (response.status_code, response.headers["Retry-After"]) == (429, "7")
    graph.unavailable()
    assert http.get("/me/events").status_code == 503
    graph.drop_connection(method="POST", after=True)
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/me/events", json=event_body("landed"))
    assert [e.data["subject"] for e in graph.events()] == ["landed"]
    graph.slow(0.5)
    with pytest.raises(httpx.ReadTimeout):
        http.get("/me/events", timeout=0.05)
    graph.corrupt(b'{"value": [')
    with pytest.raises(ValueError, match="Expecting"):
        http.get("/me/events").json()
    assert http.get("/me/events").status_code == 200


def test_user_edit_between_two_requests(graph: GraphEmulator, http: httpx.Client) -> None:
    event = http.post("/me/events", json=event_body()).json()
    graph.before_next(lambda: graph.user_edit(event["id"], subject="user"), method="PATCH")
    response = http.patch(
        f"/me/events/{event['id']}",
        json={"subject": "sync"},
        headers={"If-Match": f'W/"{event["changeKey"]}"'},
    )
    assert response.status_code == 412


def test_more_than_four_concurrent_requests_per_mailbox_are_throttled(
    graph: GraphEmulator, http: httpx.Client
) -> None:
    graph.slow(0.3, times=6)
    statuses: list[int] = []

    def call() -> None:
        with httpx.Client(headers={"Authorization": "Bearer t"}) as client:
            statuses.append(client.get(f"{graph.base_url}/me/events").status_code)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(429) >= 1
    assert graph.peak_concurrency <= 4


class _Receiver(BaseHTTPRequestHandler):
    received: list[bytes] = []  # noqa: RUF012 - test double

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        token = self.path.partition("validationToken=")[2]
        if token:
            from urllib.parse import unquote

            payload = unquote(token).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
        else:
            _Receiver.received.append(body)
            payload = b""
            self.send_response(202)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def test_subscription_validates_the_url_then_notifies(
    graph: GraphEmulator, http: httpx.Client
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
        sub = http.post(
            "/subscriptions",
            json={
                "changeType": "created,updated,deleted",
                "notificationUrl": f"http://127.0.0.1:{server.server_address[1]}/hook",
                "resource": "me/events",
                "expirationDateTime": expires,
                "clientState": "secret",
            },
        )
        assert sub.status_code == 201, sub.text
        too_long = (dt.datetime.now(dt.UTC) + dt.timedelta(days=8)).isoformat()
        renew = http.patch(
            f"/subscriptions/{sub.json()['id']}", json={"expirationDateTime": too_long}
        )
        assert renew.status_code == 400
        event_id = graph.seed_event("watched", T0, T0 + dt.timedelta(hours=1))
        graph.flush_notifications()
        assert any(event_id.encode() in body and b"secret" in body for body in _Receiver.received)
    finally:
        server.shutdown()
        server.server_close()


def test_subscription_is_refused_when_validation_fails(http: httpx.Client) -> None:
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    response = http.post(
        "/subscriptions",
        json={
            "changeType": "created",
            "notificationUrl": "http://127.0.0.1:9/unreachable",
            "resource": "me/events",
            "expirationDateTime": expires,
        },
    )
    assert response.status_code == 400


def test_sync_reset_410_names_the_initial_query_in_location(
    graph: GraphEmulator, http: httpx.Client
) -> None:
    graph.seed_event("kept", T0, T0 + dt.timedelta(hours=1))
    _, link = delta_round(http, "/me/calendarView/delta", **WINDOW)
    graph.expire_delta_tokens()
    gone = http.get(link)
    assert gone.status_code == 410
    restart = gone.headers["Location"]
    assert "$deltatoken=" in restart
    assert "startDateTime=2024-01-01" in restart
    entries, _ = delta_round(http, restart)
    assert [e["subject"] for e in entries] == ["kept"]


def test_extended_property_filter_name_is_case_sensitive_value_is_not(
    graph: GraphEmulator, http: httpx.Client
) -> None:
    graph.seed_event("keyed", T0, T0 + dt.timedelta(hours=1), extended={PROP: "Key-7"})

    def found(prop: str, value: str) -> list[str]:
        flt = f"singleValueExtendedProperties/any(ep: ep/id eq '{prop}' and ep/value eq '{value}')"
        answer = http.get("/me/events", params={"$filter": flt})
        assert answer.status_code == 200, answer.text
        return [e["subject"] for e in answer.json()["value"]]

    assert found(PROP, "key-7") == ["keyed"]  # value: case-insensitive
    shouted = "STRING {66F5A359-4659-4830-9070-00047EC6AC6E} NAME SaljstodId"
    assert found(shouted, "Key-7") == ["keyed"]  # type, GUID and keyword: any case
    assert found(PROP.replace("SaljstodId", "saljstodid"), "Key-7") == []  # name: exact


def test_events_carry_the_properties_graph_returns(http: httpx.Client) -> None:
    plain = http.post("/me/events", json=event_body("Desk")).json()
    placed = http.post(
        "/me/events", json=event_body("Visit", location={"displayName": "Room 4"})
    ).json()
    assert plain["hasAttachments"] is False
    assert plain["responseRequested"] is True
    assert plain["responseStatus"] == {"response": "organizer", "time": "0001-01-01T00:00:00Z"}
    assert plain["onlineMeetingUrl"] is None
    assert plain["locations"] == []
    assert [loc["displayName"] for loc in placed["locations"]] == ["Room 4"]


def _batch(http: httpx.Client, *requests: dict[str, Any]) -> httpx.Response:
    return http.post("/$batch", json={"requests": list(requests)})


def test_batch_answers_carry_their_headers(http: httpx.Client) -> None:
    answer = _batch(
        http,
        {
            "id": "1",
            "method": "POST",
            "url": "/me/events",
            "body": event_body(),
            "headers": {"Content-Type": "application/json"},
        },
        {"id": "2", "method": "GET", "url": "/me/events/missing"},
    )
    assert answer.status_code == 200
    by_id = {r["id"]: r for r in answer.json()["responses"]}
    assert by_id["1"]["status"] == 201
    assert by_id["1"]["headers"]["Content-Type"].startswith("application/json")
    assert by_id["2"]["status"] == 404
    assert by_id["2"]["headers"]["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    ("requests", "why"),
    [
        (
            [{"id": "1", "method": "POST", "url": "/me/events", "body": event_body()}],
            "Content-Type",
        ),
        (
            [
                {"id": "a", "method": "GET", "url": "/me/events"},
                {"id": "A", "method": "GET", "url": "/me/events"},
            ],
            "unique",
        ),
        (
            [{"id": "1", "method": "GET", "url": "https://graph.microsoft.com/v1.0/me/events"}],
            "relative",
        ),
    ],
)
def test_batch_refuses_what_the_docs_disallow(
    graph: GraphEmulator, http: httpx.Client, requests: list[dict[str, Any]], why: str
) -> None:
    answer = _batch(http, *requests)
    assert answer.status_code == 400
    assert why in answer.json()["error"]["message"]
    assert graph.events() == []  # nothing in a refused batch ran


def test_the_fault_control_endpoint_refuses_what_it_does_not_know(
    graph: GraphEmulator, http: httpx.Client
) -> None:
    control = graph.base_url.rsplit("/v1.0", 1)[0] + "/_emulator/faults"
    for body in ({}, {"kind": "status", "staus": 503}, {"kind": "nonsense"},
                 {"kind": "status", "times": "many"}, {"kind": "status", "times": "2"},
                 {"kind": "status", "times": True}, {"kind": "status", "times": -1},
                 {"kind": "status", "status": 200}, {"kind": "status", "status": "503"},
                 {"kind": "delay", "delay": -1}, {"kind": "status", "method": 5},
                 {"kind": "status", "path_contains": ["events"]},
                 {"kind": "status", "retry_after": [1]}):
        answer = http.post(control, json=body)
        assert answer.status_code == 400, (body, answer.text)
    assert http.get("/me/events").status_code == 200  # nothing was armed
    armed = http.post(control, json={"kind": "status", "status": 503})
    assert armed.status_code == 204
    assert http.get("/me/events").status_code == 503
