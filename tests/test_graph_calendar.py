"""GraphCalendar against the Graph emulator over loopback HTTP: the Calendar contract,
mapping, retries, faults, bulk writes and change notifications."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings

from outlook_sync import (
    BackendUnavailableError,
    BrokenItem,
    Calendar,
    ChangeNotifier,
    Cursor,
    Event,
    Item,
    ItemNotFoundError,
    ItemOpener,
    ItemRejectedError,
    ListingError,
    ShowAs,
    VersionConflictError,
)
from outlook_sync.adapters.graph import (
    PARTNER_PROPERTY,
    GraphCalendar,
    GraphClient,
    RetryPolicy,
    StaticToken,
    WebhookSubscription,
)
from outlook_sync.adapters.graph.mapping import MappingError, event_from_graph
from outlook_sync.testing.graph import GraphEmulator, run_emulator
from tests.strategies import events

T0 = dt.datetime(2026, 3, 3, 9, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


class Sleeps:
    """Records the waits the client asks for instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def graph() -> Iterator[GraphEmulator]:
    with run_emulator() as emulator:
        yield emulator


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


_OPEN: list[GraphClient] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def make_calendar(graph: GraphEmulator, sleeps: Sleeps, **kwargs: Any) -> GraphCalendar:
    client = GraphClient(
        graph.base_url,
        kwargs.pop("tokens", StaticToken("token-1")),
        mailbox=f"test-{id(graph)}-{id(sleeps)}",
        sleep=sleeps,
        random=lambda: 0.5,
        timeout=kwargs.pop("timeout", 5.0),
        retry=kwargs.pop("retry", None),
    )
    _OPEN.append(client)
    return GraphCalendar(client, **kwargs)


@pytest.fixture
def cal(graph: GraphEmulator, sleeps: Sleeps) -> GraphCalendar:
    return make_calendar(graph, sleeps)


def meeting(subject: str = "Kundmöte", start: dt.datetime = T0) -> Event:
    return Event(subject=subject, start=start, end=start + HOUR)


# -- the Calendar contract ---------------------------------------------------------------


def test_implements_the_calendar_and_capability_protocols(cal: GraphCalendar) -> None:
    assert isinstance(cal, Calendar)
    assert isinstance(cal, ItemOpener)
    assert isinstance(cal, ChangeNotifier)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(event=events())
def test_every_event_survives_a_round_trip_through_graph(cal: GraphCalendar, event: Event) -> None:
    created = cal.create(event, partner_key="s-1")
    read = cal.get(created.id)
    assert isinstance(read, Item)
    assert read.event == event
    assert read.partner_key == "s-1"
    assert read.version == created.version


def test_all_day_html_body_reminder_and_sensitivity_are_mapped(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    event_id = graph.seed_event(
        "Konferens",
        dt.date(2026, 5, 4),
        dt.date(2026, 5, 6),
        body={"contentType": "html", "content": "<p>Rad&nbsp;1</p><div>Rad 2<br>Rad 3</div>"},
        showAs="oof",
        sensitivity="confidential",
        isReminderOn=False,
        categories=["Resa"],
    )
    item = cal.get(event_id)
    assert isinstance(item, Item)
    assert item.event == Event(
        subject="Konferens",
        start=dt.date(2026, 5, 4),
        end=dt.date(2026, 5, 6),
        all_day=True,
        body="Rad 1\nRad 2\nRad 3",
        show_as=ShowAs.OUT_OF_OFFICE,
        private=True,
        categories=("Resa",),
        reminder_minutes=None,
    )


def test_windows_time_zone_names_are_read_as_instants() -> None:
    data = {
        "subject": "x",
        "start": {"dateTime": "2026-07-01T09:00:00.0000000", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2026-07-01T10:00:00.0000000", "timeZone": "W. Europe Standard Time"},
    }
    event = event_from_graph(data)
    assert event.start == dt.datetime(2026, 7, 1, 7, tzinfo=dt.UTC)
    with pytest.raises(MappingError, match="time zone"):
        event_from_graph({**data, "start": {"dateTime": "2026-07-01T09:00", "timeZone": "Mars"}})


def test_list_all_is_complete_with_partner_keys_and_a_delta_token(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    linked = cal.create(meeting("linked"), partner_key="s-1")
    mine = graph.seed_event("typed in Outlook", T0, T0 + HOUR)
    listing = cal.list_all()
    assert listing.complete
    assert {i.id: i.partner_key for i in listing.items} == {linked.id: "s-1", mine: None}
    assert listing.cursor.token is not None
    assert listing.cursor.watermark is not None


def test_incremental_listing_with_no_change_costs_two_requests(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    for n in range(30):
        cal.create(meeting(f"m{n}", T0 + n * HOUR), partner_key=f"s-{n}")
    cursor = cal.list_all().cursor
    graph.reset_counts()
    listing = cal.list_changes(cursor)
    assert (listing.items, listing.deleted, listing.complete) == ((), frozenset(), False)
    # the delta link (the window) and the lastModifiedDateTime filter (all time)
    assert graph.request_count() == 2


def test_changes_and_deletions_are_reported_with_their_partner_keys(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    a = cal.create(meeting("a"), partner_key="s-a")
    b = cal.create(meeting("b"), partner_key="s-b")
    cursor = cal.list_all().cursor
    graph.user_edit(a.id, subject="a edited")
    graph.user_edit(a.id, subject="a edited twice")  # the same item twice: one entry
    graph.user_delete(b.id)
    new = graph.seed_event("new", T0, T0 + HOUR)
    listing = cal.list_changes(cursor)
    assert {(i.id, i.event.subject, i.partner_key) for i in listing.items} == {
        (a.id, "a edited twice", "s-a"),
        (new, "new", None),
    }
    assert listing.deleted == {b.id}
    assert cal.list_changes(listing.cursor).items == ()


def test_an_item_that_left_a_narrow_window_is_not_called_deleted(
    graph: GraphEmulator, sleeps: Sleeps
) -> None:
    from outlook_sync.adapters.graph import DeltaWindow

    narrow = make_calendar(
        graph, sleeps, window=DeltaWindow(start=T0 - 24 * HOUR, end=T0 + 24 * HOUR)
    )
    item = narrow.create(meeting(), partner_key="s-1")
    cursor = narrow.list_all().cursor
    graph.user_edit(item.id, start=T0 + 1000 * HOUR, end=T0 + 1001 * HOUR)
    listing = narrow.list_changes(cursor)
    assert listing.deleted == frozenset()
    assert [i.id for i in listing.items] == [item.id]


def test_an_expired_delta_token_falls_back_to_a_complete_listing(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    item = cal.create(meeting(), partner_key="s-1")
    cursor = cal.list_all().cursor
    graph.expire_delta_tokens()
    listing = cal.list_changes(cursor)
    assert listing.complete
    assert [i.id for i in listing.items] == [item.id]
    assert listing.cursor.token != cursor.token


def test_no_cursor_token_means_a_complete_listing(cal: GraphCalendar) -> None:
    assert cal.list_changes(Cursor()).complete


def test_find_by_partner_key(graph: GraphEmulator, cal: GraphCalendar) -> None:
    item = cal.create(meeting(), partner_key="O'Brien-1")
    cal.create(meeting("other"), partner_key="s-2")
    assert [i.id for i in cal.find_by_partner_key("O'Brien-1")] == [item.id]
    assert cal.find_by_partner_key("absent") == []
    assert graph.extended_value(item.id, PARTNER_PROPERTY) == "O'Brien-1"


def test_update_sends_if_match_and_a_user_edit_in_between_is_a_conflict(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    item = cal.create(meeting(), partner_key="s-1")
    graph.before_next(lambda: graph.user_edit(item.id, subject="the user's"), method="PATCH")
    with pytest.raises(VersionConflictError):
        cal.update(item.id, meeting("the sync's"), expected_version=item.version)
    assert graph.event(item.id).data["subject"] == "the user's"


def test_update_keeps_the_partner_key_and_can_rewrite_it(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    item = cal.create(meeting(), partner_key="s-1")
    updated = cal.update(item.id, meeting("new"), expected_version=item.version)
    assert updated.partner_key == "s-1"
    assert updated.version != item.version
    rewritten = cal.update(
        item.id, meeting("new"), expected_version=updated.version, partner_key="s-9"
    )
    assert rewritten.partner_key == "s-9"
    assert graph.extended_value(item.id, PARTNER_PROPERTY) == "s-9"


def test_a_retried_patch_whose_first_answer_was_lost_is_not_a_conflict(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    item = cal.create(meeting(), partner_key="s-1")
    graph.drop_connection(after=True, method="PATCH")
    updated = cal.update(item.id, meeting("changed"), expected_version=item.version)
    assert updated.event == meeting("changed")
    assert graph.event(item.id).data["subject"] == "changed"


def test_delete_checks_the_version_and_reports_missing_items(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    item = cal.create(meeting(), partner_key="s-1")
    graph.user_edit(item.id, location={"displayName": "Rum 4"})
    with pytest.raises(VersionConflictError):
        cal.delete(item.id, expected_version=item.version)
    current = cal.get(item.id)
    assert isinstance(current, Item)
    cal.delete(item.id, expected_version=current.version)
    assert cal.get(item.id) is None
    with pytest.raises(ItemNotFoundError):
        cal.delete(item.id, expected_version=current.version)
    with pytest.raises(ItemNotFoundError):
        cal.update(item.id, meeting(), expected_version=current.version)


def test_open_item_returns_the_web_link(cal: GraphCalendar) -> None:
    item = cal.create(meeting(), partner_key="s-1")
    assert (cal.open_item(item.id) or "").startswith("https://outlook.office365.com/owa/")


def test_named_calendar_of_another_user(graph: GraphEmulator, sleeps: Sleeps) -> None:
    work = graph.add_calendar("Säljstöd", user="anna@example.com")
    named = make_calendar(graph, sleeps, user="anna@example.com", calendar_id=work)
    item = named.create(meeting(), partner_key="s-1")
    assert [e.immutable_id for e in graph.events("anna@example.com", work)] == [item.id]
    assert graph.events() == []
    assert [i.id for i in named.list_all().items] == [item.id]


# -- invitations -------------------------------------------------------------------------


def test_no_invitation_is_ever_sent_and_meetings_are_left_alone(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    attendees = [{"emailAddress": {"address": "team@example.com"}, "type": "required"}]
    team = graph.seed_event("Teammöte", T0, T0 + HOUR, attendees=attendees)
    invited = graph.seed_event(
        "Kundens möte", T0, T0 + HOUR, attendees=attendees, isOrganizer=False
    )
    listing = cal.list_all()
    versions = {i.id: i.version for i in listing.items}
    with pytest.raises(ItemRejectedError, match="attendees"):
        cal.update(team, meeting("moved"), expected_version=versions[team])
    with pytest.raises(ItemRejectedError, match="attendees"):
        cal.delete(team, expected_version=versions[team])
    events = {i.id: i.event for i in listing.items}
    stamped = cal.update(team, events[team], expected_version=versions[team], partner_key="s-9")
    assert stamped.partner_key == "s-9"
    assert graph.extended_value(team, PARTNER_PROPERTY) == "s-9"
    cal.update(invited, meeting("my copy"), expected_version=versions[invited])
    created = cal.create(meeting(), partner_key="s-1")
    cal.update(created.id, meeting("x"), expected_version=created.version)
    assert graph.sent_mail == []
    assert graph.event(team).data["subject"] == "Teammöte"


def test_the_meeting_guard_reads_unknown_items_first(graph: GraphEmulator, sleeps: Sleeps) -> None:
    attendees = [{"emailAddress": {"address": "team@example.com"}}]
    team = graph.seed_event("Teammöte", T0, T0 + HOUR, attendees=attendees)
    fresh = make_calendar(graph, sleeps)  # a new process: nothing listed yet
    with pytest.raises(ItemRejectedError):
        fresh.update(team, meeting(), expected_version=graph.event(team).change_key)
    assert graph.sent_mail == []


# -- throttling, retries, authentication ---------------------------------------------------


def test_throttling_honours_retry_after_with_a_cap(
    graph: GraphEmulator, cal: GraphCalendar, sleeps: Sleeps
) -> None:
    graph.throttle(times=1, retry_after=3)
    graph.throttle(times=1, retry_after=100_000)
    assert cal.get("missing") is None
    assert sleeps.calls == [3.25, 120.25]  # Retry-After (capped at 120) + jitter 0.5*0.5


def test_503_and_504_back_off_exponentially_then_give_up(
    graph: GraphEmulator, cal: GraphCalendar, sleeps: Sleeps
) -> None:
    graph.unavailable(times=2, status=503)
    assert cal.get("missing") is None
    graph.unavailable(times=10, status=504)
    with pytest.raises(BackendUnavailableError, match="504"):
        cal.get("missing")
    assert sleeps.calls[:2] == [0.375, 0.75]  # half fixed, half jitter, doubling
    assert max(sleeps.calls) <= RetryPolicy().max_delay


class CountingTokens:
    def __init__(self) -> None:
        self.refreshes = 0

    def token(self, *, refresh: bool = False) -> str:
        if refresh:
            self.refreshes += 1
        return f"secret-token-{self.refreshes}"


def test_401_refreshes_the_token_once(graph: GraphEmulator, sleeps: Sleeps) -> None:
    tokens = CountingTokens()
    cal = make_calendar(graph, sleeps, tokens=tokens)
    graph.unauthorized(times=1)
    assert cal.list_all().complete
    assert tokens.refreshes == 1
    graph.unauthorized(times=2)
    with pytest.raises(BackendUnavailableError, match="not authorised") as caught:
        cal.list_all()
    assert "secret-token" not in str(caught.value)
    assert "secret-token" not in repr(cal) + repr(cal.client) + repr(StaticToken("secret-token"))


def test_requests_to_one_mailbox_never_exceed_four_at_once(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    items = [cal.create(meeting(f"m{n}"), partner_key=f"s-{n}") for n in range(8)]
    graph.slow(0.15, times=8, method="GET")
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda item: cal.get(item.id), items))
    assert all(isinstance(r, Item) for r in results)
    assert graph.peak_concurrency <= 4
    assert graph.request_count(method="GET") == 8  # none was throttled and retried


def test_the_request_budget_paces_instead_of_hitting_429(graph: GraphEmulator) -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    client = GraphClient(
        graph.base_url,
        StaticToken("t"),
        mailbox="paced",
        sleep=sleep,
        clock=lambda: now[0],
        budget=5,
        budget_window=60.0,
    )
    _OPEN.append(client)
    cal = GraphCalendar(client)
    for _ in range(7):
        cal.get("missing")
    assert waits == [60.0]
    assert graph.request_count(method="GET") == 7


# -- malformed answers and dropped connections ------------------------------------------


def test_a_malformed_delta_page_fails_the_listing(graph: GraphEmulator, cal: GraphCalendar) -> None:
    cal.create(meeting(), partner_key="s-1")
    cursor = cal.list_all().cursor
    graph.corrupt(b'{"value": [{"id": "x"', path_contains="delta")
    with pytest.raises(ListingError, match="malformed"):
        cal.list_changes(cursor)
    graph.corrupt(
        b'{"value": [{"subject": "no id"}], "@odata.deltaLink": "x"}', path_contains="delta"
    )
    with pytest.raises(ListingError, match="without an id"):
        cal.list_all()
    graph.corrupt(b'{"value": []}', path_contains="delta")
    with pytest.raises(ListingError, match="neither"):
        cal.list_all()
    assert len(cal.list_all().items) == 1  # the next try works


def test_an_unmappable_item_is_broken_not_deleted(graph: GraphEmulator, cal: GraphCalendar) -> None:
    item = cal.create(meeting(), partner_key="s-1")
    cursor = cal.list_all().cursor
    graph.user_edit(item.id, isReminderOn=True, reminderMinutesBeforeStart="soon")
    listing = cal.list_changes(cursor)
    assert listing.deleted == frozenset()
    assert listing.items == ()
    assert [(b.id, b.partner_key) for b in listing.broken] == [(item.id, "s-1")]
    assert "reminder" in listing.broken[0].reason


def test_without_series_support_a_series_is_quarantined_as_one_broken_item(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    cal = GraphCalendar(cal.client, series=False)
    master = graph.seed_event(
        "Veckomöte",
        T0,
        T0 + HOUR,
        recurrence={
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"]},
            "range": {"type": "noEnd", "startDate": "2026-03-03", "recurrenceTimeZone": "UTC"},
        },
    )
    listing = cal.list_all()
    assert listing.items == ()
    assert [b.id for b in listing.broken] == [master]


def test_a_create_whose_answer_was_lost_is_not_duplicated(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    graph.drop_connection(after=True, method="POST")
    item = cal.create(meeting(), partner_key="s-1")
    graph.drop_connection(after=False, method="POST")
    other = cal.create(meeting("other"), partner_key="s-2")
    assert sorted(e.immutable_id for e in graph.events()) == sorted([item.id, other.id])


def test_a_slow_answer_is_retried_for_reads(graph: GraphEmulator, sleeps: Sleeps) -> None:
    cal = make_calendar(graph, sleeps, timeout=0.2)
    item = cal.create(meeting(), partner_key="s-1")
    graph.slow(1.0, method="GET")
    assert isinstance(cal.get(item.id), Item)
    assert len(sleeps.calls) == 1


# -- bulk writes ----------------------------------------------------------------------------


def test_create_many_uses_one_batch_per_20_and_reports_each_item(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    graph.throttle(times=1, status=400, method="POST", path_contains="/events")
    requests = [(meeting(f"m{n}", T0 + n * HOUR), f"s-{n}") for n in range(45)]
    results = cal.create_many(requests)
    assert graph.request_count() == 3
    assert sum(isinstance(r, ItemRejectedError) for r in results) == 1
    created = [r for r in results if isinstance(r, Item)]
    assert len(created) == 44 == len(graph.events())
    assert all(r.partner_key == f"s-{n}" for n, r in enumerate(results) if isinstance(r, Item))


def test_create_many_retries_throttled_items_only(
    graph: GraphEmulator, cal: GraphCalendar, sleeps: Sleeps
) -> None:
    graph.throttle(times=3, retry_after=2, method="POST", path_contains="/events")
    results = cal.create_many([(meeting(f"m{n}"), f"s-{n}") for n in range(10)])
    assert all(isinstance(r, Item) for r in results)
    assert len(graph.events()) == 10
    assert graph.request_count() == 2
    assert sleeps.calls == [2.25]


def test_create_many_with_a_lost_answer_creates_nothing_twice(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    graph.drop_connection(after=True, method="POST", path_contains="$batch")
    results = cal.create_many([(meeting(f"m{n}"), f"s-{n}") for n in range(5)])
    assert all(isinstance(r, Item) for r in results)
    assert len(graph.events()) == 5


def test_update_and_delete_many_fail_per_item(graph: GraphEmulator, cal: GraphCalendar) -> None:
    items = [cal.create(meeting(f"m{n}"), partner_key=f"s-{n}") for n in range(3)]
    graph.user_edit(items[1].id, subject="user edit")
    updated = cal.update_many(
        [(i.id, attrs.evolve(i.event, location="Rum"), i.version, None) for i in items]
    )
    assert isinstance(updated[1], VersionConflictError)
    assert [type(r) for r in updated].count(Item) == 2
    fresh = [r for r in updated if isinstance(r, Item)]
    deleted = cal.delete_many([(r.id, r.version) for r in fresh] + [(items[1].id, "stale")])
    assert deleted[:2] == [None, None]
    assert isinstance(deleted[2], VersionConflictError)
    assert [e.immutable_id for e in graph.events()] == [items[1].id]


# -- change notifications -----------------------------------------------------------------


def test_delta_polling_reports_changed_ids(graph: GraphEmulator, cal: GraphCalendar) -> None:
    from outlook_sync.adapters.graph import DeltaPoller

    seen: list[list[str]] = []
    poller = DeltaPoller(cal, lambda ids: seen.append(list(ids)))
    poller.poll()  # the first round only takes a token
    graph.reset_counts()
    poller.poll()
    assert seen == []
    assert graph.request_count() == 1
    item = cal.create(meeting(), partner_key="s-1")
    poller.poll()
    assert seen == [[item.id]]


def test_subscribe_starts_a_poller_that_close_stops(cal: GraphCalendar) -> None:
    subscription = cal.subscribe(lambda ids: None)
    subscription.close()
    subscription.close()


def test_webhook_subscription_handshake_notifications_and_renewal(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    received: list[list[str]] = []
    holder: dict[str, WebhookSubscription] = {}

    class Hook(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            sub = holder["sub"]
            status, ctype, payload = sub.handle(self.path.partition("?")[2], body)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/graph-hook"
        holder["sub"] = sub = WebhookSubscription(cal, url, lambda ids: received.append(list(ids)))
        sub.create()
        assert sub.id is not None
        assert not sub.renew_if_due()
        item = cal.create(meeting(), partner_key="s-1")
        graph.flush_notifications()
        assert [item.id] in received
        forged = b'{"value": [{"clientState": "guess", "resourceData": {"id": "x"}}]}'
        assert sub.handle("", forged)[0] == 202
        assert ["x"] not in received
        sub.expires = dt.datetime.now(dt.UTC)
        assert sub.renew_if_due()
        sub.close()
        assert graph.subscriptions.handle("GET", [], None)[1] == {"value": []}
    finally:
        server.shutdown()
        server.server_close()


def test_broken_item_partner_is_kept_when_a_read_is_malformed(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    item = cal.create(meeting(), partner_key="s-1")
    graph.corrupt(b"{not json", method="GET")
    got = cal.get(item.id)
    assert isinstance(got, BrokenItem)
    assert got.id == item.id


def test_own_writes_come_back_in_the_next_round_without_extra_requests(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    cursor = cal.list_all().cursor
    created = cal.create(meeting(), partner_key="s-1")
    graph.reset_counts()
    listing = cal.list_changes(cursor)
    assert [(i.id, i.partner_key, i.version) for i in listing.items] == [
        (created.id, "s-1", created.version)
    ]
    assert graph.request_count() == 2  # the delta round and the filter: no re-read


def test_a_refused_events_listing_fails_the_listing(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    cal.create(meeting(), partner_key="s-1")
    graph.throttle(status=400, method="GET", path_contains="/calendar/events")
    with pytest.raises(ListingError):
        cal.list_all()


def test_an_event_keeps_its_time_zone_through_outlook(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    from zoneinfo import ZoneInfo

    stockholm = ZoneInfo("Europe/Stockholm")
    start = dt.datetime(2026, 3, 3, 9, 0, tzinfo=stockholm)
    event = Event(subject="Kundmöte", start=start, end=start + HOUR)
    created = cal.create(event, partner_key="s-tz")
    (stored,) = graph.events()
    assert stored.start_zone == "W. Europe Standard Time"  # what Outlook shows the user
    back = cal.get(created.id)
    assert isinstance(back, Item)
    assert back.event == event
    assert isinstance(back.event.start, dt.datetime)
    # CLDR names Berlin for "W. Europe Standard Time": same rules, same wall time
    assert back.event.start.utcoffset() == dt.timedelta(hours=1)
    assert back.event.start.hour == 9
