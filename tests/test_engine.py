"""The engine, as a user of Säljstöd and Outlook would see it."""

from __future__ import annotations

import datetime as dt
import json
import threading

import attrs
import pytest

from outlook_sync import (
    BackendUnavailableError,
    Cursor,
    InvalidEventError,
    ItemNotFoundError,
    ItemRejectedError,
    ListingError,
    Side,
    SyncInProgressError,
    SyncPolicy,
)
from tests.world import UTC, World, make_world, meeting


@pytest.fixture
def world() -> World:
    return make_world()


def test_the_first_sync_copies_both_ways_and_a_second_sync_does_nothing(world: World) -> None:
    world.saljstod.add(meeting("Kundmöte ACME"))
    world.outlook.add(meeting("Tandläkare", hour=15))
    report = world.sync.sync()
    assert report.ok
    assert report.full == {"saljstod": True, "outlook": True}
    assert report.count("create", Side.OUTLOOK) == 1
    assert report.count("create", Side.SALJSTOD) == 1
    assert world.converged()
    assert len(world.sync.plan()) == 0
    again = world.sync.sync()
    assert again.total_writes == 0
    assert again.full == {"saljstod": False, "outlook": False}


def test_edits_and_deletes_travel_both_ways(world: World) -> None:
    s_id = world.saljstod.add(meeting("Kundmöte"))
    o_id = world.outlook.add(meeting("Lunch", hour=12))
    world.sync.sync()
    world.saljstod.update(s_id, meeting("Kundmöte", location="Hos kund"))
    world.outlook.delete(o_id)
    report = world.sync.sync()
    assert report.count("update", Side.OUTLOOK) == 1
    assert report.count("delete", Side.SALJSTOD) == 1
    assert world.converged()
    assert [e.location for e in world.outlook.items().values()] == ["Hos kund"]


def test_an_item_changed_exactly_at_the_watermark_is_processed() -> None:
    world = make_world()
    world.clock.step = dt.timedelta(0)  # a coarse clock: everything happens "at once"
    s_id = world.saljstod.add(meeting())
    world.sync.sync()
    assert world.sync.last_sync is not None
    world.saljstod.update(s_id, meeting(location="Rum 4"))  # same instant as the watermark
    report = world.sync.sync()
    assert report.count("update", Side.OUTLOOK) == 1
    assert world.converged()
    # and re-seeing it (it is still "at" the watermark) plans nothing
    assert len(world.sync.plan()) == 0


def test_our_own_writes_coming_back_plan_nothing(world: World) -> None:
    for hour in range(8, 14):
        world.saljstod.add(meeting(f"Möte {hour}", hour=hour))
    world.sync.sync()
    plan = world.sync.plan()
    assert len(plan) == 0
    assert world.sync.sync().total_writes == 0


def test_an_activity_another_user_booked_reaches_outlook_whatever_its_timestamp(
    world: World,
) -> None:
    world.sync.sync()
    world.clock.advance(days=1)
    # booked by a colleague with an old modification time: no partner key yet
    world.saljstod.add(meeting("Bokad av Erik"))
    world.clock.advance(days=365)
    world.sync.set_last_sync(world.clock.now)  # long after the activity's own time
    report = world.sync.sync()
    assert report.count("create", Side.OUTLOOK) == 1
    assert [e.subject for e in world.outlook.items().values()] == ["Bokad av Erik"]


def test_set_last_sync_makes_the_next_sync_process_from_that_date(world: World) -> None:
    o_id = world.outlook.add(meeting())
    world.sync.sync()
    world.outlook.update(o_id, meeting(location="Rum 4"))
    edited = world.clock.now
    world.clock.advance(hours=2)
    world.sync.set_last_sync(edited + dt.timedelta(hours=1))
    assert world.sync.last_sync == edited + dt.timedelta(hours=1)
    assert len(world.sync.plan()) == 0  # the edit is older than the chosen date
    world.sync.set_last_sync(edited - dt.timedelta(hours=1))
    assert len(world.sync.plan()) == 1
    with pytest.raises(InvalidEventError):
        world.sync.set_last_sync(dt.datetime(2026, 1, 1))


def test_full_sync_now_clears_the_date_and_links_without_duplicates(world: World) -> None:
    world.saljstod.add(meeting("A"))
    world.outlook.add(meeting("B", hour=11))
    world.sync.sync()
    report = world.sync.full_sync_now()
    assert report.full == {"saljstod": True, "outlook": True}
    assert report.total_writes == 0
    assert len(world.saljstod.items()) == len(world.outlook.items()) == 2
    assert world.sync.last_sync is not None


def test_lost_link_state_relinks_by_content_instead_of_duplicating() -> None:
    world = make_world()
    world.saljstod.add(meeting("A"))
    world.outlook.add(meeting("B", hour=11))
    world.sync.sync()
    fresh = make_world()
    fresh.saljstod, fresh.outlook = world.saljstod, world.outlook
    fresh.sync.saljstod, fresh.sync.outlook = world.saljstod, world.outlook
    report = fresh.sync.sync()
    assert report.total_writes == 0
    assert report.linked == 2


def test_a_failing_listing_deletes_nothing_and_writes_nothing(world: World) -> None:
    for hour in range(8, 12):
        world.saljstod.add(meeting(f"M{hour}", hour=hour))
    world.sync.sync()
    world.outlook.fail_next("list", ListingError("network problems"))
    report = world.sync.sync()
    assert report.error is not None
    assert "network problems" in report.error
    assert report.total_writes == 0
    assert len(world.saljstod.items()) == 4


def test_a_rejected_item_is_reported_and_retried_while_the_rest_syncs(world: World) -> None:
    world.saljstod.add(meeting("A"))
    world.saljstod.add(meeting("B", hour=11))
    world.outlook.fail_next("create", ItemRejectedError("too large", side="outlook"))
    report = world.sync.sync()
    assert not report.ok
    assert len(report.failures) == 1
    assert report.count("create", Side.OUTLOOK) == 1
    retry = world.sync.sync()
    assert retry.ok
    assert retry.count("create", Side.OUTLOOK) == 1
    assert world.converged()


def test_a_crash_after_creating_in_outlook_does_not_duplicate_on_the_next_sync(
    world: World,
) -> None:
    world.saljstod.add(meeting("A"))
    world.outlook.fail_next("after_create", BackendUnavailableError("connection dropped"))
    world.sync.sync()
    assert len(world.outlook.items()) == 1  # it was created, but the link was not saved
    report = world.sync.sync()
    assert report.count("create", Side.OUTLOOK) == 0
    assert len(world.outlook.items()) == 1
    assert len(world.sync.plan()) == 0


def test_a_concurrent_edit_is_detected_not_overwritten(world: World) -> None:
    s_id = world.saljstod.add(meeting())
    world.sync.sync()
    (o_id,) = world.outlook.items()
    world.saljstod.update(s_id, meeting(location="Säljstöd-rum"))
    plan = world.sync.plan()
    assert len(plan) == 1
    # the user edits the Outlook item between our listing and our write
    original_update = world.outlook.update

    def edit_first(item_id: str, event: object, **kw: object) -> object:
        world.outlook.update = original_update  # type: ignore[method-assign]
        original_update(o_id, meeting(body="Användarens anteckning"))
        return original_update(item_id, event, **kw)  # type: ignore[arg-type]

    world.outlook.update = edit_first  # type: ignore[method-assign,assignment]
    report = world.sync.sync()
    # the stale write was refused, the new version re-read and merged in the same sync
    assert report.ok
    assert report.concurrent_edits == 1
    merged = world.outlook.items()[o_id]
    assert (merged.location, merged.body) == ("Säljstöd-rum", "Användarens anteckning")
    assert world.converged()


def test_mass_delete_is_refused_until_confirmed(world: World) -> None:
    ids = [world.outlook.add(meeting(f"M{i}", day=1 + i % 20, hour=8 + i % 9))
           for i in range(30)]
    world.sync.sync()
    for item_id in ids[:15]:
        world.outlook.delete(item_id)
    report = world.sync.sync()
    assert report.refused is not None
    assert not report.ok
    assert len(world.saljstod.items()) == 30
    confirmed = world.sync.sync(confirm_mass_delete=True)
    assert confirmed.count("delete", Side.SALJSTOD) == 15
    assert world.converged()


def test_items_the_sync_deleted_can_be_restored(world: World) -> None:
    s_id = world.saljstod.add(meeting("Viktigt möte"))
    world.sync.sync()
    (o_id,) = world.outlook.items()
    world.outlook.delete(o_id)
    world.sync.sync()
    assert world.saljstod.items() == {}
    (kept,) = world.state.deleted_items("anna")
    assert (kept.side, kept.item_id, kept.event.subject) == (Side.SALJSTOD, s_id, "Viktigt möte")
    restored = world.sync.restore(Side.SALJSTOD, s_id)
    assert restored.item.event.subject == "Viktigt möte"
    world.sync.sync()
    assert [e.subject for e in world.outlook.items().values()] == ["Viktigt möte"]
    assert world.converged()
    with pytest.raises(ItemNotFoundError):
        world.sync.restore(Side.SALJSTOD, s_id)


def test_deleted_items_are_kept_for_the_configured_time_only() -> None:
    world = make_world(policy=SyncPolicy(keep_deleted=dt.timedelta(days=30)))
    world.saljstod.add(meeting())
    world.sync.sync()
    (o_id,) = world.outlook.items()
    world.outlook.delete(o_id)
    world.sync.sync()
    assert len(world.state.deleted_items("anna")) == 1
    world.clock.advance(days=31)
    world.sync.sync()
    assert world.state.deleted_items("anna") == []


def test_unlink_only_keeps_the_crm_activity_when_outlook_deletes() -> None:
    world = make_world(policy=SyncPolicy(saljstod_deletions="unlink"))
    world.saljstod.add(meeting("Behåll i CRM"))
    world.sync.sync()
    (o_id,) = world.outlook.items()
    world.outlook.delete(o_id)
    world.sync.sync()
    assert [e.subject for e in world.saljstod.items().values()] == ["Behåll i CRM"]
    assert world.outlook.items() == {}
    # and it is not pushed back as a new item, not even by a full sync
    world.sync.full_sync_now()
    assert world.outlook.items() == {}


def test_a_quarantined_item_is_reported_and_leaves_its_partner_alone(world: World) -> None:
    world.saljstod.add(meeting("A"))
    world.sync.sync()
    (o_id,) = world.outlook.items()
    (s_id,) = world.saljstod.items()
    world.saljstod.add_broken(s_id, "start is NULL")
    report = world.sync.full_sync_now()
    assert [(q.side, q.item_id) for q in report.quarantined] == [(Side.SALJSTOD, s_id)]
    assert o_id in world.outlook.items()
    assert [q.reason for q in world.state.quarantine("anna")] == ["start is NULL"]
    world.saljstod.update(s_id, meeting("A, lagad"))
    world.sync.sync()
    assert world.state.quarantine("anna") == []
    assert [e.subject for e in world.outlook.items().values()] == ["A, lagad"]


def test_two_syncs_for_one_user_do_not_run_at_once(world: World) -> None:
    entered, release = threading.Event(), threading.Event()
    original = world.saljstod.list_all

    def slow_listing() -> object:
        entered.set()
        release.wait(5)
        return original()

    world.saljstod.list_all = slow_listing  # type: ignore[method-assign,assignment]
    worker = threading.Thread(target=world.sync.sync)
    worker.start()
    assert entered.wait(5)
    with pytest.raises(SyncInProgressError):
        world.sync.sync()
    release.set()
    worker.join(5)
    world.saljstod.list_all = original  # type: ignore[method-assign]
    assert world.sync.sync().ok


def test_the_report_reads_well_and_serialises_to_json(world: World) -> None:
    world.saljstod.add(meeting("Kundmöte"))
    report = world.sync.sync()
    text = str(report)
    assert "Säljstöd" in text
    assert "created 1" in text
    data = json.loads(report.to_json())
    assert data["writes"]["outlook"]["create"] == 1
    assert data["ok"] is True
    assert dt.datetime.fromisoformat(data["last_sync"]).tzinfo is not None


def test_cancel_stops_between_items_and_the_next_sync_finishes(world: World) -> None:
    for hour in range(8, 16):
        world.saljstod.add(meeting(f"M{hour}", hour=hour))
    calls: list[tuple[str, int, int]] = []
    report = world.sync.sync(progress=lambda *a: calls.append(a),
                             cancel=lambda: len(world.outlook.items()) >= 3)
    assert report.cancelled
    assert len(world.outlook.items()) == 3
    assert ("apply", 0, 8) in calls
    assert world.sync.sync().ok
    assert world.converged()
    assert len(world.outlook.items()) == 8


def test_cursors_come_from_each_backends_clock(world: World) -> None:
    world.sync.sync()
    cursor = world.state.cursor("anna", Side.OUTLOOK)
    assert isinstance(cursor, Cursor)
    assert cursor.watermark is not None
    assert cursor.watermark.tzinfo is UTC


def test_an_event_with_an_edited_subject_only_on_outlook_wins_by_default(world: World) -> None:
    s_id = world.saljstod.add(meeting("Möte"))
    world.sync.sync()
    (o_id,) = world.outlook.items()
    world.saljstod.update(s_id, meeting("Möte", location="A"))
    world.outlook.update(o_id, attrs.evolve(meeting("Möte"), location="B"))  # newer
    report = world.sync.sync()
    (conflict,) = report.conflicts
    assert conflict.fields == ("location",)
    assert conflict.overridden is Side.SALJSTOD
    assert world.saljstod.items()[s_id].location == "B"
    assert world.state.conflicts("anna") == [conflict]


def test_the_last_error_is_kept_for_status_displays_until_a_clean_sync(world: World) -> None:
    world.saljstod.add(meeting("A"))
    world.outlook.fail_next("create", ItemRejectedError("too large", side="outlook"))
    world.sync.sync()
    trouble = world.sync.last_error
    assert trouble is not None
    when, what = trouble
    assert when.tzinfo is not None
    assert "1 item(s) failed" in what
    assert "too large" in what
    world.sync.sync()
    assert world.sync.last_error is None
