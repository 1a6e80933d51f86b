"""Random users, random syncs, lost replies, kills, emptied and switched calendars.

The invariants of RELIABILITY.md that earlier stateful tests did not state, in plain
words, checked after *every* sync attempt (good, refused, failed or killed):

- **nothing lost**: every version a sync write destroyed is in a log. A delete made by
  the sync leaves the item's content in the deleted-items log; an update that
  overwrote a user's edit leaves that edited version in the conflict log. Both are
  written ahead of the write, so a lost reply or a kill right after it changes nothing.
- **no deletion without evidence from the same calendar**: the sync deletes an item
  only if the user deleted its partner, in the calendar the link was made with. An
  emptied calendar is refused until confirmed; a switched calendar is never evidence.

The machine drives the engine over two in-memory calendars that record every write the
sync makes. ``OUTLOOK_SYNC_STATEFUL_EXAMPLES`` raises the example count (CI runs more).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from outlook_sync import (
    BackendUnavailableError,
    Event,
    InMemoryCalendar,
    Item,
    Side,
)
from outlook_sync._core.merge import MERGE_UNITS
from tests.strategies import edits, events
from tests.world import ManualClock, World, make_world

WRITES = ["create", "update", "delete"]


class Kill(BaseException):
    """The process dies here: nothing in the engine may catch it."""


class AuditedCalendar(InMemoryCalendar):
    """An in-memory calendar that records what each sync write replaced."""

    def __init__(self, *, clock: ManualClock, name: str, id_prefix: str) -> None:
        super().__init__(clock=clock, name=name, id_prefix=id_prefix)
        #: (operation, item id, the content before the write, the content after)
        self.destroyed: list[tuple[str, str, Event, Event | None]] = []

    def update(self, item_id: str, event: Event, *, expected_version: str | None = None,
               partner_key: str | None = None) -> Item:
        before = self.items().get(item_id)
        item = super().update(item_id, event, expected_version=expected_version,
                              partner_key=partner_key)
        if expected_version is not None and before is not None:
            self.destroyed.append(("update", item_id, before, event))
        return item

    def delete(self, item_id: str, *, expected_version: str | None = None) -> None:
        before = self.items().get(item_id)
        super().delete(item_id, expected_version=expected_version)
        if expected_version is not None and before is not None:
            self.destroyed.append(("delete", item_id, before, None))


class SafetyMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world: World = make_world()
        clock = self.world.clock
        self.world.sync.saljstod = AuditedCalendar(clock=clock, name="crm", id_prefix="S")
        self.world.sync.outlook = AuditedCalendar(clock=clock, name="outlook", id_prefix="O")
        self.generation = 0
        # the user's edits since the last sync attempt, and what the user deleted
        self.edited: dict[tuple[Side, str], Event] = {}
        self.original: dict[tuple[Side, str], Event] = {}
        self.user_deleted: set[tuple[Side, str]] = set()

    def cal(self, side: Side) -> AuditedCalendar:
        calendar = self.world.sync.saljstod if side is Side.SALJSTOD else self.world.sync.outlook
        assert isinstance(calendar, AuditedCalendar)
        return calendar

    # -- users ------------------------------------------------------------------------

    @rule(side=st.sampled_from(list(Side)), event=events())
    def add(self, side: Side, event: Event) -> None:
        self.cal(side).add(event)

    @rule(side=st.sampled_from(list(Side)), data=st.data())
    def edit(self, side: Side, data: st.DataObject) -> None:
        cal = self.cal(side)
        if not cal.items():
            return
        item_id = data.draw(st.sampled_from(sorted(cal.items())))
        old = cal.items()[item_id]
        new = data.draw(edits(old))
        cal.update(item_id, new)
        self.original.setdefault((side, item_id), old)
        self.edited[(side, item_id)] = new

    @rule(side=st.sampled_from(list(Side)), data=st.data())
    def delete(self, side: Side, data: st.DataObject) -> None:
        cal = self.cal(side)
        if not cal.items():
            return
        item_id = data.draw(st.sampled_from(sorted(cal.items())))
        cal.delete(item_id)
        self.user_deleted.add((side, item_id))

    @rule(side=st.sampled_from(list(Side)))
    def user_empties_a_calendar(self, side: Side) -> None:
        cal = self.cal(side)
        for item_id in list(cal.items()):
            cal.delete(item_id)
            self.user_deleted.add((side, item_id))

    @rule(keep=st.integers(0, 3))
    def user_switches_the_outlook_calendar(self, keep: int) -> None:
        """Another calendar (folder, mailbox, backend): some appointments are there too."""
        self.generation += 1
        old = self.cal(Side.OUTLOOK)
        new = AuditedCalendar(clock=self.world.clock, name=f"outlook{self.generation}",
                              id_prefix=f"N{self.generation}-")
        for event in list(old.items().values())[:keep]:
            new.add(event)  # the same appointment, without our partner key
        self.world.sync.outlook = new

    # -- syncs -------------------------------------------------------------------------

    @rule(confirm=st.booleans())
    def sync(self, confirm: bool) -> None:
        self._attempt(lambda: self.world.sync.sync(confirm_mass_delete=confirm))

    @rule()
    def full_sync_now(self) -> None:
        self._attempt(lambda: self.world.sync.full_sync_now())

    @rule(side=st.sampled_from(list(Side)), write=st.sampled_from(WRITES), kill=st.booleans())
    def sync_with_a_lost_reply_or_a_kill_after_a_write(self, side: Side, write: str,
                                                       kill: bool) -> None:
        fault: BaseException = Kill() if kill else BackendUnavailableError("reply lost")
        self.cal(side).fail_next(f"after_{write}", fault)
        self._attempt(lambda: self.world.sync.sync(confirm_mass_delete=True))
        self.cal(side)._faults.clear()

    # -- checks ------------------------------------------------------------------------

    def _attempt(self, run: object) -> None:
        links = {link.saljstod_id: link.outlook_id for link in self.world.state.links("anna")}
        partners = {(Side.SALJSTOD, s): (Side.OUTLOOK, o) for s, o in links.items()}
        partners.update({(Side.OUTLOOK, o): (Side.SALJSTOD, s) for s, o in links.items()})
        marks = {side: len(self.cal(side).destroyed) for side in Side}
        conflicts_before = len(self.world.state.conflicts("anna"))
        with contextlib.suppress(Kill):
            run()  # type: ignore[operator]
        self._check_nothing_lost(marks, conflicts_before)
        self._check_deletions_had_evidence(marks, partners)
        self.edited.clear()
        self.original.clear()

    def _check_nothing_lost(self, marks: dict[Side, int], conflicts_before: int) -> None:
        deleted = {(entry.side, entry.item_id): entry.event
                   for entry in self.world.state.deleted_items("anna")}
        new_conflicts = self.world.state.conflicts("anna")[conflicts_before:]
        for side in Side:
            for operation, item_id, before, after in self.cal(side).destroyed[marks[side]:]:
                if operation == "delete":
                    kept = deleted.get((side, item_id))
                    assert kept is not None, f"the sync deleted {side} {item_id} and kept nothing"
                    assert kept.content() == before.content(), "the deleted-items log is stale"
                    continue
                edited = self.edited.get((side, item_id))
                assert after is not None
                if edited is None or edited.content() != before.content():
                    continue  # not a version only the user had
                original = self.original[(side, item_id)]
                lost = [unit for unit in MERGE_UNITS  # what the user changed, then lost
                        if _unit(before, unit) != _unit(original, unit)
                        and _unit(before, unit) != _unit(after, unit)]
                if not lost:
                    continue
                logged = [c for c in new_conflicts
                          if item_id in (c.saljstod_id, c.outlook_id)
                          and _version(c, side) is not None
                          and _version(c, side) == before]
                assert logged, (f"the sync overwrote the user's edit of {side} {item_id} "
                                f"({lost}) and the conflict log does not have it")

    def _check_deletions_had_evidence(
        self, marks: dict[Side, int], partners: dict[tuple[Side, str], tuple[Side, str]]
    ) -> None:
        for side in Side:
            for operation, item_id, _before, _after in self.cal(side).destroyed[marks[side]:]:
                if operation != "delete":
                    continue
                partner = partners.get((side, item_id))
                assert partner is not None, f"the sync deleted unlinked {side} {item_id}"
                assert partner in self.user_deleted, (
                    f"the sync deleted {side} {item_id} but nobody deleted its partner "
                    f"{partner[1]} in the calendar it was linked with")

    @invariant()
    def calendars_hold_only_valid_events(self) -> None:
        for side in Side:
            assert all(isinstance(e, Event) for e in self.cal(side).items().values())


def _unit(event: Event, unit: Sequence[str]) -> tuple[object, ...]:
    return tuple(getattr(event, name) for name in unit)


def _version(conflict: object, side: Side) -> Event | None:
    value = getattr(conflict, side.value)
    return value if isinstance(value, Event) else None


_examples = int(os.environ.get("OUTLOOK_SYNC_STATEFUL_EXAMPLES", "100"))
TestSafety = SafetyMachine.TestCase
TestSafety.settings = settings(max_examples=_examples, stateful_step_count=30, deadline=None,
                               derandomize=True,
                               suppress_health_check=[HealthCheck.too_slow])
