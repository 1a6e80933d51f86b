"""Graph listings that cover all time without ever asking for more than 1 825 days, and
that survive broken or hostile answers (loops, foreign links, floods of @removed ids).

Every scenario runs the real adapter against the emulator over loopback HTTP."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import httpx
import pytest

from outlook_sync import Cursor, Event, Item, ListingError, PermissionDeniedError
from outlook_sync.adapters.graph import DeltaWindow, GraphCalendar, GraphClient, StaticToken
from outlook_sync.errors import ConfigurationError
from outlook_sync.testing.graph import GraphEmulator, run_emulator
from tests.world import ManualClock

UTC = dt.UTC
HOUR = dt.timedelta(hours=1)
NOW = dt.datetime(2026, 3, 10, 8, tzinfo=UTC)
FAR_PAST = dt.datetime(1962, 5, 4, 9, tzinfo=UTC)
FAR_FUTURE = dt.datetime(2091, 9, 3, 9, tzinfo=UTC)


@pytest.fixture
def graph() -> Iterator[GraphEmulator]:
    with run_emulator() as emulator:
        yield emulator


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=NOW)


def make(graph: GraphEmulator, clock: ManualClock, **kwargs: object) -> GraphCalendar:
    client = GraphClient(
        graph.base_url,
        StaticToken("token-1"),
        mailbox=f"listing-{id(graph)}-{len(kwargs)}",
        sleep=lambda _s: None,
        random=lambda: 0.5,
        timeout=5.0,
    )
    return GraphCalendar(client, clock=clock, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def cal(graph: GraphEmulator, clock: ManualClock) -> Iterator[GraphCalendar]:
    calendar = make(graph, clock)
    yield calendar
    calendar.close()


def meeting(subject: str, start: dt.datetime) -> Event:
    return Event(subject=subject, start=start, end=start + HOUR)


# -- all time, in bounded requests -----------------------------------------------------------


def test_the_complete_listing_covers_all_time(graph: GraphEmulator, cal: GraphCalendar) -> None:
    old = graph.seed_event("1962", FAR_PAST, FAR_PAST + HOUR)
    late = graph.seed_event("2091", FAR_FUTURE, FAR_FUTURE + HOUR)
    near = cal.create(meeting("near", NOW), partner_key="s-1")
    listing = cal.list_all()
    assert listing.complete
    assert {i.id for i in listing.items} == {old, late, near.id}
    # nothing was refused: every view asked for was within Graph's 1 825 days
    assert all(r.status < 400 for r in graph.requests)


def test_the_emulator_refuses_a_view_longer_than_1825_days(graph: GraphEmulator) -> None:
    with httpx.Client(base_url=graph.base_url, headers={"Authorization": "Bearer t"}) as http:
        for path in ("/me/calendarView", "/me/calendarView/delta", "/me/calendarView/delta()"):
            answer = http.get(
                path,
                params={
                    "startDateTime": "2026-01-01T00:00:00Z",
                    "endDateTime": "2031-01-02T00:00:00Z",  # 1 827 days
                },
            )
            assert answer.status_code == 400, path
            assert answer.json()["error"]["code"] == "ErrorInvalidRequest"
            assert "Maximum number of days: 1825" in answer.json()["error"]["message"]
        ok = http.get(
            "/me/calendarView",
            params={"startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2030-12-31T00:00:00Z"},
        )
        assert ok.status_code == 200


def test_a_plain_calendar_view_expands_a_series_over_a_window_far_from_today(
    graph: GraphEmulator,
) -> None:
    graph.seed_event(
        "Veckomöte",
        dt.datetime(2026, 1, 5, 9, tzinfo=UTC),
        dt.datetime(2026, 1, 5, 10, tzinfo=UTC),
        recurrence={
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
            "range": {"type": "noEnd", "startDate": "2026-01-05", "recurrenceTimeZone": "UTC"},
        },
    )
    with httpx.Client(base_url=graph.base_url, headers={"Authorization": "Bearer t"}) as http:
        answer = http.get(
            "/me/calendarView",
            params={
                "startDateTime": "2040-03-01T00:00:00Z",
                "endDateTime": "2040-04-01T00:00:00Z",
                "$select": "subject,start,type",
                "$top": "50",
            },
        )
    assert answer.status_code == 200
    value = answer.json()["value"]
    starts = [v["start"]["dateTime"][:10] for v in value]
    assert starts == ["2040-03-05", "2040-03-12", "2040-03-19", "2040-03-26"]
    assert {v["type"] for v in value} == {"occurrence"}
    # $select: only what was asked for, plus id and @odata.etag
    assert set(value[0]) == {"id", "@odata.etag", "subject", "start", "type"}


def test_a_change_far_outside_the_delta_window_is_found(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    late = cal.create(meeting("2091", FAR_FUTURE), partner_key="s-late")
    cursor = cal.list_all().cursor
    graph.user_edit(late.id, subject="2091, moved to the afternoon")
    listing = cal.list_changes(cursor)
    assert [(i.id, i.event.subject, i.partner_key) for i in listing.items] == [
        (late.id, "2091, moved to the afternoon", "s-late")
    ]
    assert listing.deleted == frozenset()


def test_an_item_moved_out_of_the_window_is_not_deleted(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    item = cal.create(meeting("near", NOW + 24 * HOUR), partner_key="s-1")
    cursor = cal.list_all().cursor
    graph.user_edit(item.id, start=FAR_FUTURE, end=FAR_FUTURE + HOUR)
    listing = cal.list_changes(cursor)
    assert listing.deleted == frozenset()
    assert [i.id for i in listing.items] == [item.id]


def test_a_deletion_outside_the_window_is_found_by_the_daily_complete_listing(
    graph: GraphEmulator, cal: GraphCalendar, clock: ManualClock
) -> None:
    keep = cal.create(meeting("near", NOW), partner_key="s-keep")
    late = cal.create(meeting("2091", FAR_FUTURE), partner_key="s-late")
    cursor = cal.list_all().cursor
    graph.user_delete(late.id)
    quick = cal.list_changes(cursor)
    assert not quick.complete
    assert late.id not in {i.id for i in quick.items}
    clock.advance(hours=23)
    assert not cal.list_changes(quick.cursor).complete
    clock.advance(hours=1)
    daily = cal.list_changes(quick.cursor)
    assert daily.complete  # the evidence: a complete listing without the item
    assert [i.id for i in daily.items] == [keep.id]


def test_a_cursor_of_the_old_format_starts_with_a_complete_listing(cal: GraphCalendar) -> None:
    old = Cursor(watermark=NOW, token="https://graph.microsoft.com/v1.0/me/calendarView/delta")
    assert cal.list_changes(old).complete


def test_a_delta_window_longer_than_1825_days_is_refused_at_configuration() -> None:
    with pytest.raises(ConfigurationError, match="1825"):
        DeltaWindow(back=dt.timedelta(days=900), ahead=dt.timedelta(days=926))
    assert DeltaWindow(back=dt.timedelta(days=900), ahead=dt.timedelta(days=925))


def test_events_filter_on_last_modified_returns_only_later_changes(graph: GraphEmulator) -> None:
    first = graph.seed_event("before", NOW, NOW + HOUR)
    with graph.store.lock:
        graph.event(first).modified = dt.datetime(2020, 1, 1, tzinfo=UTC)
    later = graph.seed_event("after", NOW, NOW + HOUR)
    with httpx.Client(base_url=graph.base_url, headers={"Authorization": "Bearer t"}) as http:
        answer = http.get(
            "/me/events",
            params={"$filter": "lastModifiedDateTime ge 2024-01-01T00:00:00Z", "$select": "id"},
        )
    assert [v["id"] for v in answer.json()["value"]] == [graph.event(later).regular_id]


# -- broken or hostile answers --------------------------------------------------------------


def _page(graph: GraphEmulator, value: list[dict[str, object]], **links: str) -> bytes:
    return json.dumps({"value": value, **links}).encode()


def test_a_next_link_loop_ends_the_listing_and_deletes_nothing(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    item = cal.create(meeting("near", NOW), partner_key="s-1")
    cursor = cal.list_all().cursor
    loop = f"{graph.base_url}/me/calendarView/delta?$skiptoken=again"
    body = _page(graph, [{"id": item.id, "changeKey": "x"}], **{"@odata.nextLink": loop})
    graph.corrupt(body, times=10_000, path_contains="calendarView/delta")
    graph.reset_counts()
    with pytest.raises(ListingError, match="loop"):
        cal.list_changes(cursor)
    assert graph.request_count() <= 3  # stopped at the first repeat, not after 10 000 pages


def test_too_many_pages_end_the_listing(graph: GraphEmulator, clock: ManualClock) -> None:
    cal = make(graph, clock, max_pages=5)
    cursor = cal.list_all().cursor
    for n in range(10):  # every page new, so only the cap can stop it
        link = f"{graph.base_url}/me/calendarView/delta?$skiptoken=p{n}"
        body = _page(graph, [{"id": f"x{n}", "changeKey": "k"}], **{"@odata.nextLink": link})
        graph.corrupt(body, path_contains="calendarView/delta")
    with pytest.raises(ListingError, match="more than 5 pages"):
        cal.list_changes(cursor)
    cal.close()


@pytest.mark.parametrize("kind", ["@odata.nextLink", "@odata.deltaLink"])
def test_a_link_to_another_host_is_never_followed(
    graph: GraphEmulator, cal: GraphCalendar, kind: str
) -> None:
    cursor = cal.list_all().cursor
    body = _page(graph, [], **{kind: "https://graph.example.net/v1.0/me/calendarView/delta?x=1"})
    graph.corrupt(body, path_contains="calendarView/delta")
    with pytest.raises(ListingError, match="another host"):
        cal.list_changes(cursor)


def test_a_stored_cursor_naming_another_host_is_not_followed(cal: GraphCalendar) -> None:
    cursor = cal.list_all().cursor
    assert cursor.token is not None
    forged = cursor.token.replace(cal.client.base_url, "https://graph.example.net/v1.0")
    assert forged != cursor.token
    with pytest.raises(ListingError, match="another host"):
        cal.list_changes(Cursor(watermark=cursor.watermark, token=forged))


def test_a_flood_of_removed_ids_is_one_pass_and_rereads_only_known_items(
    graph: GraphEmulator, cal: GraphCalendar
) -> None:
    known = [cal.create(meeting(f"m{n}", NOW + n * HOUR), partner_key=f"s-{n}") for n in range(3)]
    cursor = cal.list_all().cursor
    graph.user_delete(known[0].id)
    with graph.store.lock:  # unchanged for long: the lastModifiedDateTime filter skips them
        for k in known[1:]:
            graph.event(k.id).modified = dt.datetime(2020, 1, 1, tzinfo=UTC)
    removed = {"reason": "deleted"}
    flood: list[dict[str, object]] = [
        {"id": f"unknown-{n}", "@removed": removed} for n in range(20_000)
    ]
    flood += [{"id": k.id, "@removed": {"reason": "deleted"}} for k in known]
    delta_link = f"{graph.base_url}/me/calendarView/delta?$deltatoken=after-flood"
    graph.corrupt(
        _page(graph, flood, **{"@odata.deltaLink": delta_link}),
        path_contains="calendarView/delta",
    )
    graph.reset_counts()
    listing = cal.list_changes(cursor)
    # the known items are read again in one $batch of 3: one is gone, two are still there
    assert known[0].id in listing.deleted
    assert {k.id for k in known[1:]} <= {i.id for i in listing.items}
    assert {k.id for k in known[1:]}.isdisjoint(listing.deleted)
    # unknown ids are named deleted without a read (no link has them: nothing happens)
    assert "unknown-7" in listing.deleted
    assert graph.request_count(method="POST") == 1
    assert graph.request_count(inner=True) == 3


# -- identity, permissions, partner keys -----------------------------------------------------


def test_calendar_identity_names_the_mailbox_and_calendar_and_is_cached(
    graph: GraphEmulator, cal: GraphCalendar, clock: ManualClock
) -> None:
    identity = cal.calendar_identity()
    box = graph.store.mailbox("me")
    assert identity == f"graph:{box.id}/{box.default_calendar_id}"
    graph.reset_counts()
    assert cal.calendar_identity() == identity
    assert graph.request_count() == 0
    other_id = graph.add_calendar("Privat")
    other = make(graph, clock, calendar_id=other_id)
    assert other.calendar_identity() == f"graph:{box.id}/{other_id}"
    assert "token" not in identity
    other.close()


def test_a_read_only_calendar_refuses_writes_with_permission_denied(
    graph: GraphEmulator, clock: ManualClock
) -> None:
    with graph.store.lock:
        shared = graph.store.mailbox("me").add_calendar("Chefens", can_edit=False)
    cal = make(graph, clock, calendar_id=shared.id)
    with pytest.raises(PermissionDeniedError) as refused:
        cal.create(meeting("try", NOW), partner_key="s-1")
    assert refused.value.side == "outlook"
    assert graph.events(calendar_id=shared.id) == []
    cal.close()


def test_find_by_partner_key_compares_exactly(graph: GraphEmulator, cal: GraphCalendar) -> None:
    upper = cal.create(meeting("upper", NOW), partner_key="ABC-1")
    cal.create(meeting("lower", NOW), partner_key="abc-1")
    found = cal.find_by_partner_key("ABC-1")
    assert [(i.id, i.partner_key) for i in found] == [(upper.id, "ABC-1")]
    assert all(isinstance(i, Item) for i in found)
