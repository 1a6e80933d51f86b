"""What the host shows: the sync's status, and each activity's sync status."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from outlook_sync import (
    DeletePolicy,
    Event,
    InMemoryCalendar,
    ItemRejectedError,
    ListingError,
    MemoryStateStore,
    StateError,
    Synchronizer,
    SyncInProgressError,
    SyncPolicy,
)
from outlook_sync.protocols import StateChange
from outlook_sync.status import ActivityState, StatusBoard, SyncStatus

START = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


def meeting(subject: str, hour: int = 9) -> Event:
    start = START.replace(hour=hour)
    return Event(subject=subject, start=start, end=start + dt.timedelta(hours=1))


@attrs.define
class Desk:
    saljstod: InMemoryCalendar
    outlook: InMemoryCalendar
    state: MemoryStateStore
    sync: Synchronizer
    board: StatusBoard

    def partner(self, s_id: str) -> str:
        [link] = self.state.links("anna", saljstod_ids=[s_id])
        return link.outlook_id


def make_desk(policy: SyncPolicy | None = None, cls: type[Synchronizer] = Synchronizer) -> Desk:
    saljstod = InMemoryCalendar(name="saljstod", id_prefix="S")
    outlook = InMemoryCalendar(name="outlook", id_prefix="O")
    state = MemoryStateStore()
    sync = cls(saljstod=saljstod, outlook=outlook, state=state, user="anna", policy=policy)
    return Desk(saljstod, outlook, state, sync, StatusBoard(sync))


@pytest.fixture
def desk() -> Desk:
    return make_desk()


# -- the sync as a whole ------------------------------------------------------------------------


def test_before_any_sync_the_board_shows_idle_and_never_synced(desk: Desk) -> None:
    status = desk.board.status()
    assert status.idle
    assert status.last_sync is None
    assert status.last_success is None
    assert status.last_error is None
    assert status.healthy
    assert status.conflicts == ()
    assert status.quarantined == ()
    assert status.pending == ()


def test_a_running_sync_shows_as_running_with_its_progress(desk: Desk) -> None:
    for hour in range(8, 12):
        desk.saljstod.add(meeting(f"Möte {hour}", hour=hour))
    seen: list[SyncStatus] = []
    report = desk.board.sync(progress=lambda *_: seen.append(desk.board.status()))
    assert all(status.running for status in seen)
    assert ("apply", 2, 4) in [(s.phase, s.done, s.total) for s in seen]
    after = desk.board.status()
    assert after.idle
    assert after.phase is None
    assert after.last_report is report
    assert after.last_success == report.finished_at
    assert after.last_sync == report.last_sync


def test_a_failed_listing_is_the_last_error_until_a_later_success_heals(desk: Desk) -> None:
    desk.board.sync()
    desk.outlook.fail_next("list", ListingError("Outlook is not responding"))
    failed = desk.board.sync()
    status = desk.board.status()
    assert not status.healthy
    assert status.last_error is not None
    assert "Outlook is not responding" in status.last_error
    assert status.last_error_at == failed.finished_at
    desk.board.sync()
    healed = desk.board.status()
    assert healed.healthy
    assert healed.last_error == status.last_error  # still shown, with its time
    assert healed.last_success is not None
    assert status.last_error_at is not None
    assert healed.last_success > status.last_error_at


def test_an_item_failure_is_reported_and_the_item_pending(desk: Desk) -> None:
    s_id = desk.saljstod.add(meeting("Kundmöte"))
    desk.board.sync()
    desk.outlook.fail_next("update", ItemRejectedError("the mailbox is full"))
    desk.saljstod.update(s_id, meeting("Kundmöte (flyttat)", hour=11))
    desk.board.sync()
    status = desk.board.status()
    assert not status.healthy
    assert status.last_error is not None
    assert "the mailbox is full" in status.last_error
    assert status.pending
    activity = desk.board.activity(s_id)
    assert activity.state is ActivityState.PENDING
    assert activity.reason is not None
    assert "the mailbox is full" in activity.reason
    desk.board.sync()  # the retry succeeds
    assert desk.board.activity(s_id).state is ActivityState.SYNCED


class BrokenStateStore(MemoryStateStore):
    def __init__(self) -> None:
        super().__init__()
        self.broken = False

    def commit(self, user: str, change: StateChange) -> None:
        if self.broken:
            raise StateError("the database is read-only")
        super().commit(user, change)


def test_an_exception_is_recorded_and_raised() -> None:
    state = BrokenStateStore()
    sync = Synchronizer(
        saljstod=InMemoryCalendar(), outlook=InMemoryCalendar(), state=state, user="anna"
    )
    board = StatusBoard(sync)
    state.broken = True
    with pytest.raises(StateError):
        board.sync()
    status = board.status()
    assert status.idle
    assert not status.healthy
    assert status.last_error == "StateError: the database is read-only"


def test_a_sync_refused_for_a_running_one_leaves_no_error(desk: Desk) -> None:
    with desk.state.lock("anna", ttl=dt.timedelta(minutes=1)), pytest.raises(SyncInProgressError):
        desk.board.sync()
    status = desk.board.status()
    assert status.idle
    assert status.healthy
    assert status.last_error is None


def test_cancel_stops_the_sync_between_items(desk: Desk) -> None:
    for hour in range(8, 14):
        desk.saljstod.add(meeting(f"Möte {hour}", hour=hour))

    def cancel_after_two(phase: str, done: int, _total: int) -> None:
        if phase == "apply" and done == 2:
            desk.board.cancel()

    report = desk.board.sync(progress=cancel_after_two)
    assert report.cancelled
    assert 2 <= len(desk.outlook.items()) < 6
    assert desk.board.status().last_error is not None
    assert desk.board.sync().ok  # the next sync is not cancelled and does the rest
    assert len(desk.outlook.items()) == 6


def test_full_sync_now_through_the_board(desk: Desk) -> None:
    desk.board.sync()
    report = desk.board.full_sync_now()
    assert report.full == {"saljstod": True, "outlook": True}
    assert desk.board.status().last_report is report


def test_conflicts_and_quarantine_come_from_the_state_store(desk: Desk) -> None:
    s_id = desk.saljstod.add(meeting("Kundmöte"))
    desk.board.sync()
    o_id = desk.partner(s_id)
    desk.saljstod.update(s_id, meeting("Kundmöte (Säljstöd)"))
    desk.outlook.update(o_id, meeting("Kundmöte (Outlook)"))
    desk.outlook.add_broken("O-trasig", "the start date is 4501-01-01")
    desk.board.sync()
    # a new board (say, after a restart) shows what the store keeps
    status = StatusBoard(desk.sync).status()
    assert [c.kind for c in status.conflicts] == ["both_changed"]
    assert [(q.item_id, q.reason) for q in status.quarantined] == [
        ("O-trasig", "the start date is 4501-01-01")
    ]
    assert status.last_sync is not None
    assert status.last_success == status.last_sync
    assert status.last_report is None


# -- per activity --------------------------------------------------------------------------------


def test_a_synced_activity_shows_its_partner_and_when(desk: Desk) -> None:
    s_id = desk.saljstod.add(meeting("Kundmöte"))
    report = desk.board.sync()
    activity = desk.board.activity(s_id)
    assert activity.state is ActivityState.SYNCED
    assert activity.outlook_id == desk.partner(s_id)
    assert activity.synced_as_of == report.last_sync
    assert activity.reason is None


def test_a_new_activity_is_not_synced_yet(desk: Desk) -> None:
    desk.board.sync()
    s_id = desk.saljstod.add(meeting("Ny"))
    activity = desk.board.activity(s_id)
    assert activity.state is ActivityState.NOT_SYNCED
    assert activity.outlook_id is None
    assert activity.synced_as_of is None


def test_an_activity_whose_partner_is_unreadable_is_quarantined_with_the_reason(
    desk: Desk,
) -> None:
    s_id = desk.saljstod.add(meeting("Kundmöte"))
    desk.board.sync()
    desk.outlook.add_broken(desk.partner(s_id), "unknown time zone 'Customized'", partner_key=s_id)
    desk.board.sync()
    activity = desk.board.activity(s_id)
    assert activity.state is ActivityState.QUARANTINED
    assert activity.reason == "outlook: unknown time zone 'Customized'"
    assert activity.synced_as_of is None


def test_an_unreadable_activity_is_quarantined(desk: Desk) -> None:
    desk.saljstod.add_broken("S-bad", "end before start")
    desk.board.sync()
    activity = desk.board.activity("S-bad")
    assert activity.state is ActivityState.QUARANTINED
    assert activity.reason == "saljstod: end before start"


def test_an_activity_in_the_conflict_log_says_how_it_was_resolved(desk: Desk) -> None:
    s_id = desk.saljstod.add(meeting("Kundmöte"))
    desk.board.sync()
    desk.saljstod.update(s_id, meeting("Kundmöte (Säljstöd)"))
    desk.outlook.update(desk.partner(s_id), meeting("Kundmöte (Outlook)"))
    report = desk.board.sync()
    activity = desk.board.activity(s_id)
    assert activity.state is ActivityState.CONFLICT
    assert [c.kind for c in activity.conflicts] == ["both_changed"]
    assert activity.synced_as_of == report.last_sync
    desk.state.clear_conflicts("anna")  # the user reviewed it
    assert desk.board.activity(s_id).state is ActivityState.SYNCED


def test_an_activity_kept_after_its_partner_was_deleted_says_so() -> None:
    desk = make_desk(SyncPolicy(saljstod_deletions=DeletePolicy.UNLINK))
    s_id = desk.saljstod.add(meeting("Kundmöte"))
    desk.board.sync()
    desk.outlook.delete(desk.partner(s_id))
    desk.board.sync()
    activity = desk.board.activity(s_id)
    assert activity.state is ActivityState.NOT_SYNCED
    assert activity.reason is not None
    assert "deleted in Outlook" in activity.reason


def test_many_activities_at_once(desk: Desk) -> None:
    ids = [desk.saljstod.add(meeting(f"Möte {h}", hour=h)) for h in range(8, 12)]
    desk.board.sync()
    statuses = desk.board.activities([*ids, "S-unknown"])
    assert [statuses[i].state for i in ids] == [ActivityState.SYNCED] * 4
    assert statuses["S-unknown"].state is ActivityState.NOT_SYNCED


# -- with the engine's observer hook --------------------------------------------------------------


def test_with_the_engine_hook_every_sync_is_seen_once() -> None:
    desk = make_desk()  # the engine's own observer hook: the board attaches itself
    desk.saljstod.add(meeting("Kundmöte"))
    direct = desk.sync.sync()  # not through the board
    assert desk.board.status().last_report is direct
    seen: list[SyncStatus] = []
    through = desk.board.sync(progress=lambda *_: seen.append(desk.board.status()))
    assert all(status.running for status in seen)
    status = desk.board.status()
    assert status.last_report is through
    assert status.idle


def test_the_fixed_status_reasons_read_in_swedish() -> None:
    from outlook_sync.i18n import CONFLICT_KINDS, Translator
    from outlook_sync.status import KEPT_UNLINKED_OUTLOOK, RETRIED

    t = Translator("sv")
    assert t(KEPT_UNLINKED_OUTLOOK).startswith("dess motsvarighet togs bort i Outlook")
    assert t(RETRIED).startswith("en skrivning misslyckades")
    assert t(CONFLICT_KINDS["both_changed"]) != "both changed"
