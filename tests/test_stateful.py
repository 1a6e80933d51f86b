"""Random users on both sides, random syncs and crashes: the data promises hold.

Invariants, in plain words (see shared RELIABILITY.md):

- after a sync that finished without failures, both calendars hold the same events
  (convergence), every item is in exactly one link (one-to-one), no two items on a side
  carry the same partner key (no duplicates), and planning again finds nothing to do
  (idempotence);
- no edit a user made is lost: after such a sync, each field a user changed since the
  previous good sync still holds the user's value, unless the conflict log names that
  item and field (the policy overrode it);
- a crash at any point (before or after any write) is recovered by the next normal sync.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import Counter

import attrs
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from outlook_sync import (
    BackendUnavailableError,
    Event,
    InMemoryBulkCalendar,
    InMemoryCalendar,
    Item,
    Side,
    SyncPolicy,
    SyncReport,
)
from outlook_sync._core.merge import MERGE_UNITS
from tests.strategies import edits, events
from tests.world import World, make_world

FAULT_POINTS = ["create", "update", "delete", "after_create", "after_update", "after_delete",
                "list", "get"]


class Crash(Exception):
    """The process dies here (not an outlook_sync error: nothing catches it)."""


class TwoCalendars(RuleBasedStateMachine):
    policy = SyncPolicy()
    kind: type[InMemoryCalendar] = InMemoryCalendar

    def __init__(self) -> None:
        super().__init__()
        self.world: World = make_world(policy=self.policy, kind=self.kind)
        self.side = {Side.SALJSTOD: self.world.saljstod, Side.OUTLOOK: self.world.outlook}
        # what each item held after the last good sync, and the users' edits since
        self.before: dict[tuple[Side, str], Event] = {}
        self.edited: dict[tuple[Side, str], Event] = {}
        self.conflicts_seen = 0

    # -- users --------------------------------------------------------------------

    @rule(side=st.sampled_from(list(Side)), event=events())
    def add(self, side: Side, event: Event) -> None:
        self.side[side].add(event)

    @rule(side=st.sampled_from(list(Side)), data=st.data())
    def edit(self, side: Side, data: st.DataObject) -> None:
        cal = self.side[side]
        if not cal.items():
            return
        item_id = data.draw(st.sampled_from(sorted(cal.items())))
        old = cal.items()[item_id]
        new = data.draw(edits(old))
        cal.update(item_id, new)
        if new != old:
            self.edited[(side, item_id)] = new

    @rule(side=st.sampled_from(list(Side)), data=st.data())
    def delete(self, side: Side, data: st.DataObject) -> None:
        cal = self.side[side]
        if not cal.items():
            return
        item_id = data.draw(st.sampled_from(sorted(cal.items())))
        cal.delete(item_id)
        self.edited.pop((side, item_id), None)

    @rule(data=st.data())
    def user_copies_an_outlook_item(self, data: st.DataObject) -> None:
        cal = self.world.outlook
        if not cal.items():
            return
        item_id = data.draw(st.sampled_from(sorted(cal.items())))
        original = cal.get(item_id)
        assert original is not None
        assert not isinstance(original, BaseException)
        key = getattr(original, "partner_key", None)
        cal.add(cal.items()[item_id], partner_key=key)  # the copy keeps the hidden key

    @rule(hours=st.integers(1, 48))
    def time_passes(self, hours: int) -> None:
        self.world.clock.advance(hours=hours)

    # -- syncs --------------------------------------------------------------------

    @rule()
    def sync(self) -> None:
        self._check_good(self.world.sync.sync(confirm_mass_delete=True))

    @rule(side=st.sampled_from(list(Side)), point=st.sampled_from(FAULT_POINTS),
          crash=st.booleans())
    def sync_with_a_fault(self, side: Side, point: str, crash: bool) -> None:
        error: Exception = Crash() if crash else BackendUnavailableError("connection lost")
        self.side[side].fail_next(point, error)
        with contextlib.suppress(Crash):
            self.world.sync.sync(confirm_mass_delete=True)
        self.side[side]._faults.clear()
        # What this attempt did is unknown to the model: later checks start from here.
        self._remember()

    @rule()
    def full_sync_now(self) -> None:
        self._check_good(self.world.sync.full_sync_now(confirm_mass_delete=True))

    @rule(days=st.integers(0, 3))
    def user_sets_an_earlier_last_sync_date(self, days: int) -> None:
        last = self.world.sync.last_sync
        if last is not None:
            self.world.sync.set_last_sync(last - dt.timedelta(days=days))

    # -- checks ---------------------------------------------------------------------

    def _check_good(self, report: SyncReport) -> None:
        if not report.ok:
            return
        world = self.world
        all_links = world.state.links("anna")
        links = [link for link in all_links if link.gone is None]
        # survivors of a deletion the policy did not propagate ("unlink only")
        kept = {
            side: {link.id(side) for link in all_links if link.gone is side.other}
            for side in Side
        }
        contents = {
            side: sorted(e.content() for i, e in self.side[side].items().items()
                         if i not in kept[side])
            for side in Side
        }
        assert contents[Side.SALJSTOD] == contents[Side.OUTLOOK], "both hold the same events"
        s_ids = Counter(link.saljstod_id for link in links)
        o_ids = Counter(link.outlook_id for link in links)
        assert set(s_ids) | kept[Side.SALJSTOD] == set(world.saljstod.items()), (
            "every Säljstöd item is linked once"
        )
        assert set(o_ids) | kept[Side.OUTLOOK] == set(world.outlook.items()), (
            "every Outlook item is linked once"
        )
        assert max(s_ids.values(), default=1) == 1
        assert max(o_ids.values(), default=1) == 1
        for link in links:
            # the link state says what both sides hold now, at the versions they are at,
            # with no write left recorded as in flight
            s_item = world.saljstod.get(link.saljstod_id)
            o_item = world.outlook.get(link.outlook_id)
            assert isinstance(s_item, Item)
            assert isinstance(o_item, Item)
            assert link.attempt is None, "no update is left recorded as in flight"
            assert link.base.content() == s_item.event.content() == o_item.event.content(), (
                "the link's base is what both items hold")
            assert (link.saljstod_version, link.outlook_version) == (
                s_item.version, o_item.version), "the link has the items' versions"
        for cal in (world.saljstod, world.outlook):
            keys = Counter(
                item.partner_key
                for item_id in cal.items()
                if (item := cal.get(item_id)) is not None and getattr(item, "partner_key", None)
            )
            assert max(keys.values(), default=1) == 1, "no two items claim one partner"
        self._check_no_lost_edit()
        assert len(world.sync.plan()) == 0, "a second sync plans nothing"
        writes = len(world.saljstod.write_log) + len(world.outlook.write_log)
        assert world.sync.sync().total_writes == 0
        assert len(world.saljstod.write_log) + len(world.outlook.write_log) == writes
        self._remember()

    def _remember(self) -> None:
        world = self.world
        self.before = {
            (side, item_id): event
            for side, cal in self.side.items()
            for item_id, event in cal.items().items()
        }
        self.edited.clear()
        self.conflicts_seen = len(world.state.conflicts("anna"))

    def _check_no_lost_edit(self) -> None:
        new_conflicts = self.world.state.conflicts("anna")[self.conflicts_seen:]
        for (side, item_id), wanted in self.edited.items():
            now = self.side[side].items().get(item_id)
            before = self.before.get((side, item_id))
            overridden = {
                field
                for c in new_conflicts
                if item_id in (c.saljstod_id, c.outlook_id)
                for field in c.fields
            }
            if now is None and wanted != before:
                # only a conflict (keep-both split, delete-vs-edit) may remove it
                assert any(item_id in (c.saljstod_id, c.outlook_id) for c in new_conflicts), (
                    f"edited {side} item {item_id} disappeared"
                )
                continue
            if now is None:
                continue
            for unit in MERGE_UNITS:
                mine = tuple(getattr(wanted, f) for f in unit)
                if before is not None and mine == tuple(getattr(before, f) for f in unit):
                    continue  # the user did not change this unit
                if before is None:
                    continue
                if set(unit) & overridden:
                    continue
                assert tuple(getattr(now, f) for f in unit) == mine, (
                    f"the user's edit of {unit} on {side} {item_id} was lost"
                )

    @invariant()
    def calendars_hold_only_valid_events(self) -> None:
        for cal in self.side.values():
            assert isinstance(cal, InMemoryCalendar)
            assert all(isinstance(e, Event) for e in cal.items().values())

    @precondition(lambda self: True)
    @rule()
    def final_sync_converges(self) -> None:
        report = self.world.sync.sync(confirm_mass_delete=True)
        assert report.ok, str(report)
        self._check_good(report)


class TwoCalendarsKeepBoth(TwoCalendars):
    policy = SyncPolicy(conflict="keep_both")


class TwoCalendarsSaljstodWins(TwoCalendars):
    policy = attrs.evolve(SyncPolicy(), conflict="saljstod_wins", outlook_deletions="unlink")


class TwoCalendarsInBulk(TwoCalendars):
    """Both calendars write in bulk: creates, stamps, updates and deletes go in runs,
    the creates' stamps and links settled in groups; a crash strikes inside a run."""

    kind = InMemoryBulkCalendar


_settings = settings(max_examples=150, stateful_step_count=40, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])
TestTwoCalendars = TwoCalendars.TestCase
TestTwoCalendars.settings = _settings
TestTwoCalendarsKeepBoth = TwoCalendarsKeepBoth.TestCase
TestTwoCalendarsKeepBoth.settings = _settings
TestTwoCalendarsSaljstodWins = TwoCalendarsSaljstodWins.TestCase
TestTwoCalendarsSaljstodWins.settings = _settings
TestTwoCalendarsInBulk = TwoCalendarsInBulk.TestCase
TestTwoCalendarsInBulk.settings = _settings
