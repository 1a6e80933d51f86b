"""The data promises, tried as a user and an independent tester would (issue 11).

Each scenario is a plain, realistic case in which an earlier release lost data or
invented a deletion; each asserts what is on both calendars afterwards.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from outlook_sync import (
    BackendUnavailableError,
    ConflictPolicy,
    Event,
    InMemoryBulkCalendar,
    InMemoryCalendar,
    InvalidEventError,
    Item,
    LeaseLostError,
    Link,
    Listing,
    MemoryStateStore,
    PermissionDeniedError,
    Side,
    SqliteStateStore,
    StateChange,
    Synchronizer,
    SyncInProgressError,
    SyncPolicy,
    VersionConflictError,
    plan,
)
from outlook_sync._core.actions import Delete
from outlook_sync.recurrence import Recurrence
from tests.world import STOCKHOLM, World, make_world, meeting


class Kill(BaseException):
    """The process dies here (not an error the engine may catch)."""


@pytest.fixture
def world() -> World:
    return make_world()


def subjects(calendar: InMemoryCalendar) -> list[str]:
    return sorted(event.subject for event in calendar.items().values())


# -- 1. an emptied calendar ----------------------------------------------------------


@pytest.mark.parametrize("count", [2, 5, 10])
def test_emptying_outlook_after_the_first_sync_deletes_nothing_until_confirmed(
    world: World, count: int
) -> None:
    for day in range(1, count + 1):
        world.saljstod.add(meeting(f"Möte {day}", day=day))
    world.sync.sync()
    for o_id in list(world.outlook.items()):
        world.outlook.delete(o_id)
    report = world.sync.sync()  # an incremental listing: deletion reports only
    assert report.refused is not None
    assert "confirmation" in report.refused
    assert len(world.saljstod.items()) == count  # nothing deleted
    assert world.sync.plan().refused  # and it stays refused
    confirmed = world.sync.sync(confirm_mass_delete=True)
    assert confirmed.ok
    assert world.saljstod.items() == {}


def test_all_but_a_few_is_refused_too_and_an_ordinary_delete_is_not(world: World) -> None:
    ids = [world.saljstod.add(meeting(f"Möte {day}", day=day)) for day in range(1, 21)]
    world.sync.sync()
    for s_id in ids[:18]:  # all but 2 of 20: more than nine tenths
        world.saljstod.delete(s_id)
    assert world.sync.sync().refused
    assert len(world.outlook.items()) == 20
    world2 = make_world()
    kept = [world2.saljstod.add(meeting(f"Möte {day}", day=day)) for day in range(1, 6)]
    world2.sync.sync()
    world2.saljstod.delete(kept[0])
    report = world2.sync.sync()  # one of five: an ordinary delete
    assert report.ok
    assert len(world2.outlook.items()) == 4


@pytest.mark.parametrize(("count", "edited"), [(5, 1), (12, 2)])
def test_an_emptied_outlook_is_refused_even_when_some_activities_were_edited_meanwhile(
    count: int, edited: int
) -> None:
    # The edited activities would be re-created in Outlook (edit wins over delete), the
    # rest deleted: Outlook still reports every linked item gone, and that is refused.
    world = make_world()
    ids = [world.saljstod.add(meeting(f"Möte {day}", day=day)) for day in range(1, count + 1)]
    world.sync.sync()
    for s_id in ids[:edited]:
        world.saljstod.update(s_id, meeting("Ändrad i Säljstöd", day=1))
    for o_id in list(world.outlook.items()):
        world.outlook.delete(o_id)
    report = world.sync.sync()
    assert report.refused is not None
    assert "confirmation" in report.refused
    assert len(world.saljstod.items()) == count  # nothing deleted


def test_tombstones_do_not_dilute_the_emptied_calendar_rule() -> None:
    # With "unlink" for Outlook, an activity deleted in Säljstöd leaves its Outlook
    # appointment kept and a tombstone link. Those are no live pairs: emptying Outlook
    # later is still "every linked item gone", and refused.
    world = make_world(policy=SyncPolicy(outlook_deletions="unlink"))
    ids = [world.saljstod.add(meeting(f"Möte {day}", day=day)) for day in range(1, 11)]
    world.sync.sync()
    for s_id in ids[:5]:
        world.saljstod.delete(s_id)
    assert world.sync.sync().ok  # five unlinked, kept in Outlook
    assert len(world.outlook.items()) == 10
    for o_id in list(world.outlook.items()):
        world.outlook.delete(o_id)  # Outlook emptied
    report = world.sync.sync()
    assert report.refused is not None
    assert "confirmation" in report.refused
    assert len(world.saljstod.items()) == 5  # the five live activities are all still there


def test_an_item_kept_by_an_unlink_policy_is_reported_as_no_longer_synced() -> None:
    world = make_world(policy=SyncPolicy(saljstod_deletions="unlink"))
    world.saljstod.add(meeting("Kundmöte"))
    world.saljstod.add(meeting("Annat", day=2))
    world.sync.sync()
    o_id = next(i for i, e in world.outlook.items().items() if e.subject == "Kundmöte")
    world.outlook.delete(o_id)
    report = world.sync.sync()
    assert report.unlinked == 1  # not "nothing to do": the pair stopped syncing
    assert "stopped syncing 1 pair" in str(report)
    assert len(world.saljstod.items()) == 2  # kept, as the policy says


def test_emptying_a_side_is_refused_on_a_complete_listing_as_well(world: World) -> None:
    world.saljstod.add(meeting("A"))
    world.saljstod.add(meeting("B", day=2))
    world.sync.sync()
    for o_id in list(world.outlook.items()):
        world.outlook.delete(o_id)
    report = world.sync.full_sync_now()
    assert report.refused
    assert subjects(world.saljstod) == ["A", "B"]


# -- 2. a switched calendar ------------------------------------------------------------


def test_switching_to_another_outlook_calendar_and_full_sync_deletes_nothing(
    world: World,
) -> None:
    for day in range(1, 6):
        world.saljstod.add(meeting(f"Möte {day}", day=day))
    world.sync.sync()
    # the user picks another (empty) Outlook calendar and presses Full sync now
    new = InMemoryCalendar(clock=world.clock, name="outlook2", id_prefix="N")
    new.add(meeting("Möte 3", day=3))  # one of them exists there already
    world.sync.outlook = new
    report = world.sync.full_sync_now()
    assert report.ok, report
    assert report.switched == ("outlook",)
    assert len(world.saljstod.items()) == 5  # nothing deleted in Säljstöd
    assert subjects(new) == [f"Möte {day}" for day in range(1, 6)]  # no duplicate
    assert report.count("delete", Side.SALJSTOD) == 0
    assert world.sync.sync().total_writes == 0


def test_a_field_emptied_before_a_switched_calendar_is_not_refilled_unlogged(
    world: World,
) -> None:
    # The user clears a meeting's location in Säljstöd, then switches to another
    # Outlook calendar that holds an older copy of it, location and all. The links are
    # forgotten and the pair is made again by matching: the older location may win by
    # the policy, but never silently: the user's empty version is in the conflict log.
    booked = world.saljstod.add(meeting("Kundmöte", location="Kontoret"))
    world.sync.sync()
    world.saljstod.update(booked, meeting("Kundmöte", location=""))
    new = InMemoryCalendar(clock=world.clock, name="outlook2", id_prefix="N")
    new.add(meeting("Kundmöte", location="Kontoret"))
    world.sync.outlook = new
    report = world.sync.sync()
    assert report.ok, str(report)
    assert report.switched == ("outlook",)
    (conflict,) = report.conflicts
    assert conflict.saljstod_id == booked
    assert conflict.fields == ("location",)
    assert conflict.saljstod is not None
    assert conflict.saljstod.location == ""
    assert world.state.conflicts("anna") == [conflict]
    assert world.sync.sync().total_writes == 0


def test_a_dry_run_after_a_switch_shows_what_the_sync_will_do(world: World) -> None:
    for day in range(1, 6):
        world.saljstod.add(meeting(f"Möte {day}", day=day))
    world.sync.sync()
    new = InMemoryCalendar(clock=world.clock, name="outlook2", id_prefix="N")
    new.add(meeting("Möte 3", day=3))
    world.sync.outlook = new
    dry = world.sync.plan()  # nothing recorded, nothing written
    assert not dry.refused
    assert [type(a).__name__ for a in dry.actions].count("Delete") == 0
    assert [type(a).__name__ for a in dry.actions].count("Create") == 4  # Möte 3 is paired
    assert world.state.identity("anna", Side.OUTLOOK) != new.calendar_identity()
    assert world.state.link_count("anna") == 5  # the dry run dropped nothing
    report = world.sync.sync()
    assert report.count("create", Side.OUTLOOK) == 4


def test_the_default_calendar_changing_under_the_adapter_deletes_nothing(world: World) -> None:
    for day in range(1, 4):
        world.outlook.add(meeting(f"Möte {day}", day=day))
    world.sync.sync()
    # a new profile: the same adapter object now reads another, empty calendar
    for o_id in list(world.outlook.items()):
        world.outlook.delete(o_id)
    world.outlook.identity = "memory:another-mailbox"
    report = world.sync.sync()  # no user action at all
    assert report.switched == ("outlook",)
    assert report.count("delete", Side.SALJSTOD) == 0
    assert len(world.saljstod.items()) == 3
    assert len(world.outlook.items()) == 3  # copied into the new calendar


def test_a_host_building_a_new_synchronizer_on_the_new_calendar_loses_nothing(
    tmp_path: Path,
) -> None:
    state = SqliteStateStore(tmp_path / "state.db")
    world = make_world(state=state)
    for day in range(1, 4):
        world.saljstod.add(meeting(f"Möte {day}", day=day))
    world.sync.sync()
    new = InMemoryCalendar(clock=world.clock, name="graph", id_prefix="G")
    again = Synchronizer(saljstod=world.saljstod, outlook=new, state=state, user="anna",
                         clock=world.clock)
    report = again.full_sync_now()
    assert report.switched == ("outlook",)
    assert len(world.saljstod.items()) == 3
    assert len(new.items()) == 3
    assert state.identity("anna", Side.OUTLOOK) == new.calendar_identity()


# -- 3. write-ahead --------------------------------------------------------------------


def _conflicting(world: World) -> tuple[str, str]:
    s_id = world.saljstod.add(meeting("Kundmöte", location="Rum 1"))
    world.sync.sync()
    (o_id,) = world.outlook.items()
    world.saljstod.update(s_id, meeting("Kundmöte", location="Rum 2"))
    world.clock.advance(minutes=5)
    world.outlook.update(o_id, meeting("Kundmöte", location="Rum 3"))  # newer
    return s_id, o_id


def test_a_lost_reply_after_an_overwrite_still_leaves_the_loser_in_the_conflict_log(
    world: World,
) -> None:
    _conflicting(world)
    world.saljstod.fail_next("after_update", BackendUnavailableError("timeout"))
    world.sync.sync()
    (conflict,) = world.state.conflicts("anna")
    assert conflict.saljstod is not None
    assert conflict.saljstod.location == "Rum 2"
    assert [e.location for e in world.saljstod.items().values()] == ["Rum 3"]
    world.sync.sync()
    assert world.converged()
    assert len(world.state.conflicts("anna")) == 1


def test_a_kill_right_after_an_overwrite_still_leaves_the_loser_in_the_conflict_log(
    world: World,
) -> None:
    _conflicting(world)
    world.saljstod.fail_next("after_update", Kill())
    with pytest.raises(Kill):
        world.sync.sync()
    (conflict,) = world.state.conflicts("anna")
    assert conflict.saljstod is not None
    assert conflict.saljstod.location == "Rum 2"


def test_an_overwrite_that_failed_before_writing_is_logged_once_when_it_succeeds(
    world: World,
) -> None:
    _conflicting(world)
    world.saljstod.fail_next("update", BackendUnavailableError("timed out"))  # not written
    world.sync.sync()
    world.sync.sync()  # the same conflict again, now written
    assert len(world.state.conflicts("anna")) == 1
    assert world.converged()


def test_a_refused_overwrite_leaves_no_false_conflict(world: World) -> None:
    from outlook_sync import ItemRejectedError

    _conflicting(world)
    world.saljstod.fail_next("update", ItemRejectedError("no"))
    world.sync.sync()
    assert world.state.conflicts("anna") == []  # nothing was overwritten
    world.sync.sync()
    assert len(world.state.conflicts("anna")) == 1
    assert world.converged()


@pytest.mark.parametrize("fault", [BackendUnavailableError("reply lost"), Kill()])
def test_a_delete_whose_reply_is_lost_or_process_killed_can_be_restored(
    world: World, fault: BaseException
) -> None:
    s_id = world.saljstod.add(meeting("Viktigt möte", location="Hos kund"))
    world.saljstod.add(meeting("Annat", day=2))  # so one delete is no mass delete
    world.saljstod.add(meeting("Tredje", day=3))
    world.sync.sync()
    o_id = next(i for i, e in world.outlook.items().items() if e.subject == "Viktigt möte")
    world.outlook.delete(o_id)
    world.saljstod.fail_next("after_delete", fault)
    with contextlib.suppress(Kill):
        world.sync.sync()
    assert s_id not in world.saljstod.items()
    (kept,) = world.state.deleted_items("anna")
    assert kept.event.location == "Hos kund"
    restored = world.sync.restore(Side.SALJSTOD, s_id)
    assert restored.same_id
    assert world.saljstod.items()[s_id].location == "Hos kund"


def test_restoring_an_item_whose_delete_never_happened_creates_no_duplicate(
    world: World,
) -> None:
    # The delete failed before it was carried out; its content was written ahead.
    # Restoring it later must find the item still there, not create a second one.
    world.saljstod.add(meeting("Viktigt möte"))
    world.saljstod.add(meeting("Annat", day=2))
    world.saljstod.add(meeting("Tredje", day=3))
    world.sync.sync()
    s_id = next(i for i, e in world.saljstod.items().items() if e.subject == "Viktigt möte")
    o_id = next(i for i, e in world.outlook.items().items() if e.subject == "Viktigt möte")
    world.saljstod.delete(s_id)
    world.outlook.fail_next("delete", BackendUnavailableError("timed out"))
    world.sync.sync()
    assert o_id in world.outlook.items()  # the delete did not happen
    restored = world.sync.restore(Side.OUTLOOK, o_id)
    assert restored.item.id == o_id
    assert restored.same_id
    assert subjects(world.outlook).count("Viktigt möte") == 1
    assert world.state.deleted_items("anna") == []


# -- 4. held is not forgotten ----------------------------------------------------------


@pytest.mark.parametrize("broken_side", [Side.SALJSTOD, Side.OUTLOOK])
def test_a_change_made_while_its_partner_was_unreadable_syncs_when_it_is_repaired(
    world: World, broken_side: Side
) -> None:
    s_id = world.saljstod.add(meeting("Kundmöte"))
    world.sync.sync()
    (o_id,) = world.outlook.items()
    ids = {Side.SALJSTOD: s_id, Side.OUTLOOK: o_id}
    calendars = {Side.SALJSTOD: world.saljstod, Side.OUTLOOK: world.outlook}
    broken, readable = calendars[broken_side], calendars[broken_side.other]
    original = broken.items()[ids[broken_side]]
    partner_key = ids[broken_side.other]
    broken.add_broken(ids[broken_side], "start is NULL", partner_key=partner_key)
    readable.update(ids[broken_side.other], meeting("Kundmöte", location="Flyttat"))
    held = world.sync.sync()
    assert [q.item_id for q in held.quarantined] == [ids[broken_side]]
    assert "start is NULL" in held.quarantined[0].reason
    assert (broken_side.other, ids[broken_side.other]) in world.state.pending("anna")
    world.sync.sync()  # still held: still pending
    broken.update(ids[broken_side], original, partner_key=partner_key)  # repaired as it was
    world.sync.sync()
    assert [e.location for e in broken.items().values()] == ["Flyttat"]
    assert world.converged()
    assert world.state.pending("anna") == []


@pytest.mark.parametrize("broken_side", [Side.SALJSTOD, Side.OUTLOOK])
def test_a_deletion_made_while_its_partner_was_unreadable_syncs_when_it_is_repaired(
    world: World, broken_side: Side
) -> None:
    s_id = world.saljstod.add(meeting("Kundmöte"))
    world.saljstod.add(meeting("Annat", day=2))  # one delete of three: no mass delete
    world.saljstod.add(meeting("Tredje", day=3))
    world.sync.sync()
    o_id = next(i for i, e in world.outlook.items().items() if e.subject == "Kundmöte")
    ids = {Side.SALJSTOD: s_id, Side.OUTLOOK: o_id}
    calendars = {Side.SALJSTOD: world.saljstod, Side.OUTLOOK: world.outlook}
    broken, readable = calendars[broken_side], calendars[broken_side.other]
    original = broken.items()[ids[broken_side]]
    partner_key = ids[broken_side.other]
    broken.add_broken(ids[broken_side], "start is NULL", partner_key=partner_key)
    readable.delete(ids[broken_side.other])  # deleted while its partner is held
    held = world.sync.sync()
    assert [q.item_id for q in held.quarantined] == [ids[broken_side]]
    world.sync.sync()  # still held: the deletion still waits
    broken.update(ids[broken_side], original, partner_key=partner_key)  # repaired
    world.sync.sync()
    assert "Kundmöte" not in subjects(broken)  # the deletion reached it
    assert world.converged()
    assert world.state.pending("anna") == []


# -- 5. the first full sync never blanks a field ---------------------------------------


def test_pairing_a_bare_outlook_copy_keeps_the_activitys_location_and_notes(
    world: World,
) -> None:
    world.saljstod.add(meeting("Kundmöte", location="Göteborg", body="Ta med offerten"))
    world.clock.advance(hours=1)
    world.outlook.add(meeting("Kundmöte"))  # a bare copy, touched later
    report = world.sync.sync()
    assert report.linked == 1
    for calendar in (world.saljstod, world.outlook):
        (event,) = calendar.items().values()
        assert (event.location, event.body) == ("Göteborg", "Ta med offerten")
    assert world.state.conflicts("anna") == []  # nothing was contested


def test_two_different_values_at_first_pairing_go_to_the_policy_and_are_recorded() -> None:
    world = make_world(policy=SyncPolicy(conflict=ConflictPolicy.NEWEST_WINS))
    world.saljstod.add(meeting("Kundmöte", location="Göteborg", body="Anteckning"))
    world.clock.advance(hours=1)
    world.outlook.add(meeting("Kundmöte", location="Malmö"))
    world.sync.sync()
    (event,) = world.saljstod.items().values()
    assert (event.location, event.body) == ("Malmö", "Anteckning")
    (conflict,) = world.state.conflicts("anna")
    assert conflict.fields == ("location",)
    assert conflict.saljstod is not None
    assert conflict.saljstod.location == "Göteborg"
    assert conflict.result is not None
    assert conflict.result.location == "Malmö"


# -- 6. restore ------------------------------------------------------------------------


class _NoRestore(InMemoryCalendar):
    """A backend without the ItemRestorer capability."""

    restore = None  # type: ignore[assignment]


def test_restore_on_a_backend_that_keeps_nothing_says_what_it_could_not_restore() -> None:
    world = make_world()
    world.sync.saljstod = crm = _NoRestore(clock=world.clock, name="crm", id_prefix="C")
    ids = [crm.add(meeting(f"Möte {day}", day=day)) for day in range(1, 4)]
    world.sync.sync()
    o_id = next(i for i, e in world.outlook.items().items() if e.subject == "Möte 1")
    world.outlook.delete(o_id)
    world.sync.sync()
    restored = world.sync.restore(Side.SALJSTOD, ids[0])
    assert not restored.same_id
    assert restored.not_restored
    world.sync.sync()
    assert subjects(world.outlook) == ["Möte 1", "Möte 2", "Möte 3"]


# -- 7. one writer ---------------------------------------------------------------------


def test_a_sync_that_lost_its_lease_commits_nothing() -> None:
    store = MemoryStateStore()
    with store.lock("anna", ttl=dt.timedelta(minutes=2)):
        store.break_lock("anna")  # it expired and another sync took it over
        change = StateChange(add_pending=((Side.OUTLOOK, "x"),))
        with pytest.raises(LeaseLostError):
            store.commit("anna", change)
    assert store.pending("anna") == []


def test_a_long_sync_keeps_its_sqlite_lease_and_a_second_sync_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    first = SqliteStateStore(path)
    second = SqliteStateStore(path)
    with first.lock("anna", ttl=dt.timedelta(seconds=0.6)):
        time.sleep(1.5)  # past the ttl: only the heartbeat keeps the lease
        with pytest.raises(SyncInProgressError):
            second.lock("anna", ttl=dt.timedelta(1)).__enter__()
        holder = second.lock_holder("anna")
        assert holder is not None
        assert "pid" in holder[0]
    assert second.lock_holder("anna") is None
    with second.lock("anna", ttl=dt.timedelta(seconds=1)):
        pass


def test_a_killed_holders_sqlite_lease_clears_after_its_ttl(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first, second = SqliteStateStore(path), SqliteStateStore(path)
    connection = sqlite3.connect(path)
    # a holder that died: its row is there, nobody renews it
    connection.execute("INSERT INTO outlook_sync_locks (user_name, owner, expires_at, holder)"
                       " VALUES ('anna', 'dead', (julianday('now') - 2440587.5) * 86400.0"
                       " + 0.5, 'host pid 1')")
    connection.commit()
    with pytest.raises(SyncInProgressError):
        second.lock("anna", ttl=dt.timedelta(1)).__enter__()
    time.sleep(0.7)
    with first.lock("anna", ttl=dt.timedelta(seconds=5)):
        pass


def test_no_deletion_is_drawn_from_a_link_committed_after_the_listing() -> None:
    event = meeting("Kundmöte")
    s_item = Item(id="S1", version="1", event=event, partner_key="O1")
    newer_link = Link(saljstod_id="S1", outlook_id="O1", base=event, generation=7)
    older_link = Link(saljstod_id="S2", outlook_id="O2", base=event, generation=3)
    s2 = Item(id="S2", version="1", event=event, partner_key="O2")
    outlook = Listing(items=(), complete=True)  # listed before S1<->O1 was linked
    result = plan(saljstod=Listing(items=(s_item, s2), complete=False), outlook=outlook,
                  links=[newer_link, older_link], listed_generation=5,
                  confirm_mass_delete=True)
    deleted = [a.item_id for a in result.actions if isinstance(a, Delete)]
    assert deleted == ["S2"]


@pytest.mark.parametrize("attempt", range(5))  # the race is rare: try it a few times
def test_two_syncs_started_together_on_a_new_state_file_one_wins_one_is_told(
    tmp_path: Path, attempt: int
) -> None:
    path = tmp_path / f"new-{attempt}.db"
    outcomes: list[str] = []

    def run() -> None:
        try:
            store = SqliteStateStore(path)
            world = make_world(state=store)
            world.saljstod.add(meeting("Kundmöte"))
            world.sync.sync()
            outcomes.append("synced")
        except SyncInProgressError:
            outcomes.append("busy")

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) in (["synced", "synced"], ["busy", "synced"])


# -- 8. errors stay in the hierarchy ----------------------------------------------------


@pytest.mark.parametrize("year", [1900, 1999, 2000, 2399, 2799, 2999])
def test_a_yearly_series_of_any_start_year_is_fine(year: int) -> None:
    start = dt.datetime(year, 6, 1, 10, tzinfo=STOCKHOLM)
    recurrence = Recurrence(rule="FREQ=YEARLY", start=start, time_zone="Europe/Stockholm")
    event = Event(subject="Kundens jubileum", start=start, end=start + dt.timedelta(hours=1),
                  recurrence=recurrence)
    assert event.recurrence is not None


# -- 9. a last sync date in the future --------------------------------------------------


def test_a_last_sync_date_in_the_future_is_refused(world: World) -> None:
    world.sync.sync()
    with pytest.raises(InvalidEventError, match="future"):
        world.sync.set_last_sync(world.clock.now + dt.timedelta(days=400))
    assert world.sync.last_sync is not None
    assert world.sync.last_sync < world.clock.now


# -- 10. a calendar the user may only read ---------------------------------------------


def test_a_read_only_outlook_calendar_by_policy_syncs_cleanly_one_way() -> None:
    world = make_world(policy=SyncPolicy(read_only={"outlook"}))
    o_id = world.outlook.add(meeting("Delad kalender"))
    world.saljstod.add(meeting("Bara i Säljstöd", day=2))
    report = world.sync.sync()
    assert report.ok
    assert subjects(world.saljstod) == ["Bara i Säljstöd", "Delad kalender"]
    assert world.outlook.write_log == []  # not even a partner-key stamp
    world.outlook.update(o_id, meeting("Delad kalender", location="Rum 7"))
    again = world.sync.sync()
    assert again.ok
    assert "Rum 7" in [e.location for e in world.saljstod.items().values()]
    assert world.outlook.write_log == []


def test_an_edit_that_cannot_reach_a_read_only_side_is_not_overwritten_later() -> None:
    # A note added in Säljstöd cannot travel to a read-only Outlook; when Outlook's
    # owner later moves the meeting, the move reaches Säljstöd and the note stays.
    world = make_world(policy=SyncPolicy(read_only={"outlook"}))
    o_id = world.outlook.add(meeting("Delad kalender"))
    assert world.sync.sync().ok
    (s_id,) = world.saljstod.items()
    world.saljstod.update(s_id, meeting("Delad kalender", body="Ta med offerten"))
    assert world.sync.sync().ok
    assert world.sync.sync().total_writes == 0  # settled, nothing written anywhere
    world.outlook.update(o_id, meeting("Delad kalender", location="Rum 7"))
    assert world.sync.sync().ok
    (event,) = world.saljstod.items().values()
    assert (event.location, event.body) == ("Rum 7", "Ta med offerten")
    assert world.outlook.write_log == []
    assert world.sync.sync().total_writes == 0
    # a second change in Outlook after the merge: still merged, the note still kept
    world.outlook.update(o_id, meeting("Delad kalender (flyttad)", location="Rum 7"))
    assert world.sync.sync().ok
    (event,) = world.saljstod.items().values()
    assert (event.subject, event.location, event.body) == (
        "Delad kalender (flyttad)", "Rum 7", "Ta med offerten")
    assert world.sync.sync().total_writes == 0


def test_a_permission_refusal_is_reported_once_and_loses_nothing() -> None:
    world = make_world()
    for day in range(1, 4):
        world.saljstod.add(meeting(f"Möte {day}", day=day))
    world.outlook.add(meeting("Från Outlook", day=5))
    refusal = PermissionDeniedError("you may only read this calendar")
    for _ in range(10):
        world.outlook.fail_next("create", refusal)
        world.outlook.fail_next("update", refusal)
    report = world.sync.sync()
    assert report.read_only == ("outlook",)
    assert not report.failures  # one notice, not one failure per item
    assert not report.ok
    assert "Från Outlook" in subjects(world.saljstod)  # the writable side got it
    assert len(world.saljstod.items()) == 4


def test_a_refused_outlook_create_is_reported_against_outlook() -> None:
    from outlook_sync import ItemRejectedError

    world = make_world()
    world.saljstod.add(meeting("Kundmöte"))
    world.outlook.fail_next("create", ItemRejectedError("too large"))
    (failure,) = world.sync.sync().failures
    assert failure.side is Side.OUTLOOK


def test_partner_key_stamps_count_as_writes(world: World) -> None:
    world.saljstod.add(meeting("Kundmöte"))
    report = world.sync.sync()
    assert report.count("create", Side.OUTLOOK) == 1
    assert report.count("stamp", Side.SALJSTOD) == 1  # the partner key on the source
    assert report.count("update", Side.SALJSTOD) == 0
    assert report.total_writes == len(world.saljstod.write_log) + len(world.outlook.write_log)


def test_an_observer_hears_the_plan_and_every_write_item_by_item(world: World) -> None:
    heard: list[tuple[str, str, str]] = []
    plans: list[int] = []

    class Log:
        def sync_started(self, user: str) -> None: ...
        def sync_progress(self, phase: str, done: int, total: int) -> None: ...
        def sync_finished(self, report: object) -> None: ...
        def sync_failed(self, user: str, error: BaseException) -> None: ...

        def sync_planned(self, plan: object) -> None:
            plans.append(len(plan))  # type: ignore[arg-type]

        def item_written(self, side: Side, operation: str, item_id: str,
                         event: Event | None) -> None:
            heard.append((side.value, operation, event.subject if event else ""))

    world.sync.add_observer(Log())
    world.saljstod.add(meeting("Kundmöte"))
    report = world.sync.sync()
    assert plans == [1]
    assert heard == [("outlook", "create", "Kundmöte"), ("saljstod", "stamp", "Kundmöte")]
    assert len(heard) == report.total_writes


# -- a user's edit after a create whose answer was lost ------------------------------


@pytest.mark.parametrize("kind", [InMemoryCalendar, InMemoryBulkCalendar])
@pytest.mark.parametrize("fault", ["lost reply", "kill"])
def test_a_field_emptied_after_a_lost_create_answer_stays_empty(
    kind: type[InMemoryCalendar], fault: str
) -> None:
    # The sync copies a booked meeting to Säljstöd, but the answer is lost (or the
    # process dies right after the write). Before the next sync the user clears the
    # meeting's location in Outlook. The next sync finds its own copy by the partner key
    # and pairs the two: the user's empty location must win, not the copy's old one.
    world = make_world(kind=kind)
    booked = world.outlook.add(meeting("Kundmöte", location="Kontoret"))
    error: BaseException = (BackendUnavailableError("connection lost") if fault == "lost reply"
                            else Kill())
    world.saljstod.fail_next("after_create", error)
    with contextlib.suppress(Kill):
        world.sync.sync()
    (copy_id,) = world.saljstod.items()
    assert world.saljstod.items()[copy_id].location == "Kontoret"  # the copy was written
    world.outlook.update(booked, meeting("Kundmöte", location=""))
    report = world.sync.sync()
    assert report.ok, str(report)
    assert [e.location for e in world.saljstod.items().values()] == [""]
    assert [e.location for e in world.outlook.items().values()] == [""]
    # the pairing without a base is logged, naming the location
    (conflict,) = report.conflicts
    assert conflict.fields == ("location",)
    assert conflict.outlook_id == booked
    assert world.sync.sync().total_writes == 0


# -- an update whose answer was lost, then undone by the user ------------------------------


@pytest.mark.parametrize("kind", [InMemoryCalendar, InMemoryBulkCalendar])
@pytest.mark.parametrize("fault", ["lost reply", "kill"])
def test_an_edit_undone_after_an_update_lost_its_answer_is_kept(
    kind: type[InMemoryCalendar], fault: str
) -> None:
    # The user adds an agenda to a meeting in Outlook; the sync writes it to Säljstöd
    # but the answer is lost (or the process dies right after the write). Before the
    # next sync the user takes the agenda out again. The Säljstöd item holds exactly
    # what the sync wrote (recorded ahead of the write), so the next sync knows it as
    # its own write, not the user's, and carries the undo over.
    world = make_world(kind=kind)
    booked = world.outlook.add(meeting("Kundmöte"))
    world.sync.sync()
    world.outlook.update(booked, meeting("Kundmöte", body="Agenda"))
    error: BaseException = (BackendUnavailableError("connection lost") if fault == "lost reply"
                            else Kill())
    world.saljstod.fail_next("after_update", error)
    with contextlib.suppress(Kill):
        world.sync.sync()
    assert [e.body for e in world.saljstod.items().values()] == ["Agenda"]  # written
    world.outlook.update(booked, meeting("Kundmöte", body=""))
    report = world.sync.sync()
    assert report.ok, str(report)
    assert [e.body for e in world.outlook.items().values()] == [""]
    assert [e.body for e in world.saljstod.items().values()] == [""]
    assert not world.state.conflicts("anna")
    assert world.sync.sync().total_writes == 0


@pytest.mark.parametrize("fault", ["unreachable", "refused"])
def test_an_update_that_did_not_happen_is_written_again(fault: str) -> None:
    # The same, but the write never happened (nothing sent, or the backend refused a
    # stale version): the next sync writes the user's edit, as it would have.
    world = make_world()
    booked = world.outlook.add(meeting("Kundmöte"))
    world.sync.sync()
    world.outlook.update(booked, meeting("Kundmöte", body="Agenda"))
    error = (BackendUnavailableError("connection refused") if fault == "unreachable"
             else VersionConflictError("changed meanwhile"))
    world.saljstod.fail_next("update", error)
    world.sync.sync()  # a refusal is re-read and planned again within this sync
    report = world.sync.sync()
    assert report.ok, str(report)
    assert [e.body for e in world.saljstod.items().values()] == ["Agenda"]
    assert [e.body for e in world.outlook.items().values()] == ["Agenda"]
    assert world.sync.sync().total_writes == 0


@pytest.mark.parametrize("fault", ["lost reply", "kill"])
def test_a_merge_written_to_both_sides_then_undone_after_a_lost_answer_is_kept(
    fault: str,
) -> None:
    # Both sides edited different fields: the merge writes the location to Säljstöd and
    # the subject to Outlook. The Säljstöd write's answer is lost, so Outlook is not
    # written. The user then takes the Outlook location out again. The next sync knows
    # Säljstöd's merged content as its own write: Outlook still gets the new subject,
    # and the user's undo of the location stays.
    world = make_world()
    s_id = world.saljstod.add(meeting("Möte"))
    world.sync.sync()
    (o_id,) = world.outlook.items()
    world.saljstod.update(s_id, meeting("Möte (ändrad)"))
    world.outlook.update(o_id, meeting("Möte", location="Rum 4"))
    error: BaseException = (BackendUnavailableError("connection lost") if fault == "lost reply"
                            else Kill())
    world.saljstod.fail_next("after_update", error)
    with contextlib.suppress(Kill):
        world.sync.sync()
    assert world.saljstod.items()[s_id].location == "Rum 4"  # the merge was written there
    world.outlook.update(o_id, meeting("Möte", location=""))
    report = world.sync.sync()
    assert report.ok, str(report)
    assert world.outlook.items()[o_id] == meeting("Möte (ändrad)")
    assert world.saljstod.items()[s_id] == meeting("Möte (ändrad)")
    assert not world.state.conflicts("anna")
    assert world.sync.sync().total_writes == 0


@pytest.mark.parametrize("kind", [InMemoryCalendar, InMemoryBulkCalendar])
@pytest.mark.parametrize("fault", ["lost reply", "kill"])
def test_a_lost_answer_found_written_is_recorded_even_when_nothing_is_left_to_write(
    kind: type[InMemoryCalendar], fault: str
) -> None:
    # Both sides edited different fields: the merge writes the agenda to Säljstöd and the
    # room to Outlook. Outlook is unreachable: only Säljstöd is written. The next sync
    # writes the room to Outlook, and that answer is lost (or the process dies right
    # after). The sync after finds Outlook holding exactly what it wrote: both sides
    # agree, nothing is left to write, and the pair's link must now say so (the content
    # both hold, the versions they are at, no pending attempt). It did not: the link
    # still described the pair before the write, so a later sync that did not list the
    # Outlook item wrote against its old version, or planned the write again (found by
    # tests/test_sql_stateful.py).
    world = make_world(kind=kind)
    s_id = world.saljstod.add(meeting("Kundmöte"))
    world.sync.sync()
    (o_id,) = world.outlook.items()
    world.saljstod.update(s_id, meeting("Kundmöte", location="Rum 1"))
    world.outlook.update(o_id, meeting("Kundmöte", body="Agenda"))
    world.outlook.fail_next("update", BackendUnavailableError("unreachable"))
    world.sync.sync()
    assert world.saljstod.items()[s_id] == meeting("Kundmöte", location="Rum 1", body="Agenda")
    error: BaseException = (BackendUnavailableError("connection lost") if fault == "lost reply"
                            else Kill())
    world.outlook.fail_next("after_update", error)
    with contextlib.suppress(Kill):
        world.sync.sync()
    both = meeting("Kundmöte", location="Rum 1", body="Agenda")
    assert world.outlook.items()[o_id] == both  # written, the answer lost
    report = world.sync.sync()
    assert report.ok, str(report)
    assert report.total_writes == 0
    (link,) = world.state.links("anna")
    assert link.attempt is None
    assert link.base == both
    s_item, o_item = world.saljstod.get(s_id), world.outlook.get(o_id)
    assert isinstance(s_item, Item)
    assert isinstance(o_item, Item)
    assert (link.saljstod_version, link.outlook_version) == (s_item.version, o_item.version)
    world.saljstod.update(s_id, meeting("Kundmöte", location="Rum 2", body="Agenda"))
    report = world.sync.sync()
    assert report.ok, str(report)
    assert report.total_writes == 1  # the new room, against Outlook's current version
    assert world.outlook.items()[o_id].location == "Rum 2"
    assert world.sync.sync().total_writes == 0
