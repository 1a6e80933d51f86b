"""Every row of the decision table, driven through the pure planner."""

from __future__ import annotations

import itertools

import pytest

from outlook_sync import (
    BrokenItem,
    Create,
    Delete,
    DeletePolicy,
    Item,
    Link,
    LinkPair,
    Listing,
    Side,
    SyncPolicy,
    Update,
    plan,
)
from outlook_sync._core.decide import TABLE, Decision, State, decide
from tests.world import meeting

BASE = meeting("Kundmöte")
EDITED = {Side.SALJSTOD: meeting("Kundmöte", location="Rum 4"),
          Side.OUTLOOK: meeting("Kundmöte", body="Agenda")}
LINK = Link(saljstod_id="S1", outlook_id="O1", base=BASE, saljstod_version="1",
            outlook_version="1")


def listing_for(side: Side, state: State, *, complete: bool = False) -> Listing:
    item_id = LINK.id(side)
    if state is State.SAME:
        return Listing(items=(), complete=complete and False)
    if state is State.CHANGED:
        return Listing(items=(Item(id=item_id, version="2", event=EDITED[side]),),
                       complete=False)
    if state is State.GONE:
        return Listing(items=(), deleted={item_id}, complete=False)
    return Listing(items=(), broken=(BrokenItem(id=item_id, reason="unreadable"),),
                   complete=False)


def kinds(result: object) -> list[str]:
    return [type(action).__name__ for action in result]  # type: ignore[attr-defined]


def test_the_table_is_total_and_mirrors_itself() -> None:
    assert set(TABLE) == set(itertools.product(State, State))
    for (s, o), (decision, side) in TABLE.items():
        mirrored, mirrored_side = decide(o, s)
        assert mirrored is decision
        assert mirrored_side == (side.other if side else None)


EXPECTED: dict[tuple[State, State], list[str]] = {
    (State.SAME, State.SAME): [],
    (State.SAME, State.CHANGED): ["Update"],
    (State.CHANGED, State.SAME): ["Update"],
    (State.CHANGED, State.CHANGED): ["Update"],
    (State.SAME, State.GONE): ["Delete"],
    (State.GONE, State.SAME): ["Delete"],
    (State.CHANGED, State.GONE): ["Create"],
    (State.GONE, State.CHANGED): ["Create"],
    (State.GONE, State.GONE): ["Unlink"],
    **{combo: [] for combo in TABLE if State.BROKEN in combo},
}


@pytest.mark.parametrize(("s_state", "o_state"), sorted(EXPECTED, key=str))
def test_each_row_plans_what_the_table_says(s_state: State, o_state: State) -> None:
    result = plan(saljstod=listing_for(Side.SALJSTOD, s_state),
                  outlook=listing_for(Side.OUTLOOK, o_state), links=[LINK])
    assert kinds(result) == EXPECTED[(s_state, o_state)]
    decision, side = decide(s_state, o_state)
    if decision is Decision.PROPAGATE:
        (update,) = result.actions
        assert isinstance(update, Update)
        (write,) = update.writes
        assert write.side is side.other  # type: ignore[union-attr]
        assert write.event == EDITED[side]  # type: ignore[index]
        assert write.expected_version == "1"
    if decision is Decision.RESOLVE:
        (update,) = result.actions
        assert isinstance(update, Update)
        # different fields changed on each side: both edits survive on both sides
        assert update.base.location == "Rum 4"
        assert update.base.body == "Agenda"
        assert {w.side for w in update.writes} == {Side.SALJSTOD, Side.OUTLOOK}
        assert update.conflict is None
    if decision is Decision.DELETE:
        (delete,) = result.actions
        assert isinstance(delete, Delete)
        assert delete.side is side
        assert delete.event == BASE
    if decision is Decision.RECREATE:
        (create,) = result.actions
        assert isinstance(create, Create)
        assert create.side is side
        assert create.replaces == ("S1", "O1")
        assert create.conflict is not None
        assert create.conflict.kind == "delete_vs_edit"
    if decision is Decision.HOLD:
        assert result.quarantined


@pytest.mark.parametrize("side", list(Side))
def test_unlink_only_policy_keeps_the_survivor_and_remembers_the_tombstone(side: Side) -> None:
    policy = (SyncPolicy(saljstod_deletions=DeletePolicy.UNLINK) if side is Side.SALJSTOD
              else SyncPolicy(outlook_deletions=DeletePolicy.UNLINK))
    states = {side: State.SAME, side.other: State.GONE}
    result = plan(saljstod=listing_for(Side.SALJSTOD, states[Side.SALJSTOD]),
                  outlook=listing_for(Side.OUTLOOK, states[Side.OUTLOOK]),
                  links=[LINK], policy=policy)
    (action,) = result.actions
    assert isinstance(action, LinkPair)
    assert action.link.gone is side.other
    # Next time, the tombstone plans nothing, even when the survivor is listed again.
    again = plan(saljstod=Listing(items=(), complete=True), outlook=Listing(items=(),
                 complete=True), links=[action.link])
    assert kinds(again) == ["Unlink"]
    survivor = Item(id=LINK.id(side), version="1", event=BASE)
    listings = {side: Listing(items=(survivor,), complete=True),
                side.other: Listing(items=(), complete=True)}
    quiet = plan(saljstod=listings[Side.SALJSTOD], outlook=listings[Side.OUTLOOK],
                 links=[action.link])
    assert len(quiet) == 0


def test_a_complete_listing_without_the_item_means_deleted() -> None:
    present = Item(id="S1", version="1", event=BASE)
    result = plan(saljstod=Listing(items=(present,), complete=True),
                  outlook=Listing(items=(), complete=True), links=[LINK],
                  link_count=1000)
    assert kinds(result) == ["Delete"]


def test_an_incremental_listing_without_the_item_means_unchanged() -> None:
    present = Item(id="S1", version="1", event=BASE, partner_key="O1")
    result = plan(saljstod=Listing(items=(present,), complete=False),
                  outlook=Listing(items=(), complete=False), links=[LINK])
    assert len(result) == 0


def test_a_version_bump_without_a_content_change_is_not_a_change() -> None:
    bumped = Item(id="S1", version="7", event=BASE, partner_key="O1")
    result = plan(saljstod=Listing(items=(bumped,), complete=False),
                  outlook=Listing(items=(), complete=False), links=[LINK])
    assert len(result) == 0
    (refreshed,) = result.refreshed
    assert refreshed.saljstod_version == "7"


def test_a_linked_item_that_lost_its_partner_key_gets_it_written_again() -> None:
    stripped = Item(id="S1", version="3", event=BASE)  # e.g. a failed stamp earlier
    result = plan(saljstod=Listing(items=(stripped,), complete=False),
                  outlook=Listing(items=(), complete=False), links=[LINK])
    (action,) = result.actions
    assert isinstance(action, LinkPair)
    assert action.stamp == (Side.SALJSTOD,)
    assert action.link.base == BASE
