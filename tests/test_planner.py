"""The pure planner, scenario by scenario (no backend, no clock)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outlook_sync import (
    BrokenItem,
    ConflictPolicy,
    Create,
    Delete,
    Event,
    Item,
    Link,
    LinkPair,
    Listing,
    Side,
    SyncPlan,
    SyncPolicy,
    Unlink,
    Update,
    plan,
)
from tests.strategies import edits, events
from tests.world import UTC, meeting

S, O = Side.SALJSTOD, Side.OUTLOOK


def item(item_id: str, event: Event, *, version: str = "1", partner: str | None = None,
         modified: dt.datetime | None = None) -> Item:
    return Item(id=item_id, version=version, event=event, partner_key=partner, changed=modified)


def full(*items: Item, broken: tuple[BrokenItem, ...] = ()) -> Listing:
    return Listing(items=items, complete=True, broken=broken)


def changes(*items: Item, deleted: tuple[str, ...] = ()) -> Listing:
    return Listing(items=items, complete=False, deleted=deleted)


def of(kind: type, result: SyncPlan) -> list:  # type: ignore[type-arg]
    return [a for a in result.actions if isinstance(a, kind)]


# -- first full sync --------------------------------------------------------------


def test_first_sync_links_what_exists_on_both_sides_and_copies_the_rest() -> None:
    both = meeting("Kundmöte ACME")
    result = plan(
        saljstod=full(item("S1", both), item("S2", meeting("Bara i Säljstöd", hour=11))),
        outlook=full(item("O1", meeting("  kundmöte acme ")),
                     item("O2", meeting("Lunch", hour=12))),
        links=[],
    )
    created = {(a.side, a.source_id) for a in of(Create, result)}
    assert created == {(O, "S2"), (S, "O2")}
    adopted = [a for a in result.actions if isinstance(a, LinkPair | Update)]
    assert len(adopted) == 1
    assert not of(Delete, result)


def test_identical_items_on_both_sides_link_without_any_write() -> None:
    result = plan(saljstod=full(item("S1", meeting())), outlook=full(item("O1", meeting())),
                  links=[])
    (action,) = result.actions
    assert isinstance(action, LinkPair)
    assert action.new_link
    assert (action.link.saljstod_id, action.link.outlook_id) == ("S1", "O1")


def test_ambiguous_matches_pair_exact_copies_first_then_by_id_and_are_reported() -> None:
    a = meeting("Demo", location="Rum 1")
    b = meeting("Demo", location="Rum 2")
    result = plan(
        saljstod=full(item("S1", a), item("S2", b), item("S3", a)),
        outlook=full(item("O7", b), item("O8", a)),
        links=[],
    )
    pairs = {(x.link.saljstod_id, x.link.outlook_id) for x in of(LinkPair, result)}
    assert pairs == {("S1", "O8"), ("S2", "O7")}
    assert [(c.side, c.source_id) for c in of(Create, result)] == [(O, "S3")]
    (notice,) = result.notices
    assert notice.kind == "ambiguous_match"
    # deterministic: the same input gives the same plan
    again = plan(saljstod=full(item("S3", a), item("S2", b), item("S1", a)),
                 outlook=full(item("O8", a), item("O7", b)), links=[])
    assert again == result


def test_a_partner_key_left_by_a_crash_links_instead_of_duplicating() -> None:
    result = plan(saljstod=full(item("S1", meeting())),
                  outlook=full(item("O9", meeting(), partner="S1")), links=[])
    (action,) = result.actions
    assert isinstance(action, LinkPair)
    assert action.link.outlook_id == "O9"


def test_a_users_copy_of_a_linked_item_becomes_a_new_item_not_a_second_claim() -> None:
    link = Link(saljstod_id="S1", outlook_id="O1", base=meeting())
    copy = item("O2", meeting(hour=13), partner="S1")
    result = plan(saljstod=changes(), outlook=changes(copy), links=[link])
    (create,) = of(Create, result)
    assert create.side is S
    assert create.source_id == "O2"
    assert create.source_partner_key == "S1"  # the engine rewrites the stale claim
    assert [n.kind for n in result.notices] == ["duplicate_claim"]
    assert not of(Update, result)


# -- three-way decisions ----------------------------------------------------------

LINKED = Link(saljstod_id="S1", outlook_id="O1", base=meeting(), saljstod_version="1",
              outlook_version="1")
EARLY = dt.datetime(2026, 11, 20, 9, tzinfo=UTC)
LATE = dt.datetime(2026, 11, 20, 10, tzinfo=UTC)


def both_changed(policy: SyncPolicy, s_event: Event, o_event: Event,
                 s_time: dt.datetime = EARLY, o_time: dt.datetime = LATE) -> SyncPlan:
    return plan(saljstod=changes(item("S1", s_event, version="2", modified=s_time)),
                outlook=changes(item("O1", o_event, version="2", modified=o_time)),
                links=[LINKED], policy=policy)


@pytest.mark.parametrize(
    ("policy", "winner"),
    [("saljstod_wins", S), ("outlook_wins", O), ("newest_wins", O), ("merge", O)],
)
def test_a_field_changed_on_both_sides_goes_to_the_policys_winner(
    policy: str, winner: Side
) -> None:
    s_event, o_event = meeting(location="Säljstöd-rum"), meeting(location="Outlook-rum")
    result = both_changed(SyncPolicy(conflict=policy), s_event, o_event)
    (update,) = of(Update, result)
    assert update.base.location == (s_event if winner is S else o_event).location
    assert update.conflict is not None
    assert update.conflict.overridden is winner.other
    assert "location" in update.conflict.fields


def test_newest_wins_looks_at_the_backends_modification_times() -> None:
    s_event, o_event = meeting(location="Säljstöd-rum"), meeting(location="Outlook-rum")
    result = both_changed(SyncPolicy(conflict="newest_wins"), s_event, o_event,
                          s_time=LATE, o_time=EARLY)
    (update,) = of(Update, result)
    assert update.base.location == "Säljstöd-rum"


def test_merge_keeps_edits_to_different_fields_from_both_sides() -> None:
    result = both_changed(SyncPolicy(), meeting(location="Rum 4"), meeting(body="Agenda"))
    (update,) = of(Update, result)
    assert (update.base.location, update.base.body) == ("Rum 4", "Agenda")
    assert update.conflict is None


def test_merge_moves_start_end_and_all_day_together() -> None:
    moved_s = meeting(hour=13, minutes=30)
    moved_o = meeting(hour=15, minutes=90)
    result = both_changed(SyncPolicy(merge_fallback="saljstod_wins"), moved_s, moved_o)
    (update,) = of(Update, result)
    assert (update.base.start, update.base.end) == (moved_s.start, moved_s.end)


def test_keep_both_splits_the_pair_and_keeps_the_losing_version_as_its_own_item() -> None:
    s_event, o_event = meeting(location="Säljstöd-rum"), meeting(location="Outlook-rum")
    result = both_changed(SyncPolicy(conflict="keep_both"), s_event, o_event)
    assert [type(a) for a in result.actions] == [Unlink, Create, Create]
    creates = of(Create, result)
    assert {(c.side, c.event.location) for c in creates} == {
        (S, "Outlook-rum"),   # the newer (Outlook) version also lands in Säljstöd
        (O, "Säljstöd-rum"),  # the older one survives as its own item in Outlook
    }


def test_equal_edits_on_both_sides_are_not_a_conflict() -> None:
    same = meeting(location="Rum 4")
    result = both_changed(SyncPolicy(conflict="keep_both"), same, same)
    (action,) = result.actions
    assert isinstance(action, LinkPair)
    assert action.link.base == same


def test_delete_on_one_side_and_edit_on_the_other_recreates_the_edited_item() -> None:
    edited = meeting(location="Nytt rum")
    result = plan(saljstod=changes(deleted=("S1",)),
                  outlook=changes(item("O1", edited, version="2")), links=[LINKED])
    (create,) = result.actions
    assert isinstance(create, Create)
    assert (create.side, create.source_id, create.event) == (S, "O1", edited)
    assert create.replaces == ("S1", "O1")


# -- bad input ------------------------------------------------------------------


def test_a_broken_item_never_causes_its_partner_to_be_deleted() -> None:
    result = plan(saljstod=full(broken=(BrokenItem(id="S1", reason="start is NULL"),)),
                  outlook=full(item("O1", meeting())), links=[LINKED])
    assert len(result) == 0
    (q,) = result.quarantined
    assert (q.side, q.item_id, q.reason) == (S, "S1", "start is NULL")


def test_an_id_listed_twice_is_quarantined_not_guessed() -> None:
    result = plan(saljstod=full(item("S1", meeting()), item("S1", meeting(hour=12))),
                  outlook=full(item("O1", meeting())), links=[LINKED])
    assert len(result) == 0
    assert [q.item_id for q in result.quarantined] == ["S1"]


def test_an_item_both_listed_and_reported_deleted_counts_as_present() -> None:
    result = plan(saljstod=Listing(items=(item("S1", meeting(), partner="O1"),), deleted={"S1"},
                                   complete=False),
                  outlook=changes(), links=[LINKED])
    assert len(result) == 0


# -- guards ---------------------------------------------------------------------


def linked_pairs(n: int) -> list[Link]:
    return [Link(saljstod_id=f"S{i}", outlook_id=f"O{i}", base=meeting(f"M{i}"))
            for i in range(n)]


def test_an_emptied_outlook_calendar_does_not_wipe_the_crm() -> None:
    links = linked_pairs(5)
    result = plan(saljstod=full(*(item(f"S{i}", meeting(f"M{i}")) for i in range(5))),
                  outlook=full(), links=links)
    assert result.refused is not None
    assert "empty" in result.refused
    confirmed = plan(saljstod=full(*(item(f"S{i}", meeting(f"M{i}")) for i in range(5))),
                     outlook=full(), links=links, confirm_mass_delete=True)
    assert confirmed.refused is None
    assert len(of(Delete, confirmed)) == 5


@pytest.mark.parametrize(("deleted", "refused"), [(10, False), (11, True)])
def test_mass_delete_guard_needs_more_than_20_percent_and_more_than_10(
    deleted: int, refused: bool
) -> None:
    links = linked_pairs(40)
    gone = tuple(f"O{i}" for i in range(deleted))
    result = plan(saljstod=changes(), outlook=changes(deleted=gone), links=links)
    assert (result.refused is not None) is refused
    assert len(of(Delete, result)) == deleted


def test_the_guard_counts_against_all_links_not_only_the_loaded_ones() -> None:
    links = linked_pairs(12)
    result = plan(saljstod=changes(), outlook=changes(deleted=tuple(f"O{i}" for i in range(12))),
                  links=links, link_count=1000)
    assert result.refused is None


# -- properties -----------------------------------------------------------------


def mirror(result: SyncPlan) -> set[tuple[object, ...]]:
    """A side-neutral summary: swapping the inputs must swap the sides."""
    summary: set[tuple[object, ...]] = set()
    for a in result.actions:
        if isinstance(a, Create):
            summary.add(("create", a.side, a.source_id, a.event.content()))
        elif isinstance(a, Update):
            summary.add(("update", tuple(sorted((w.side.value, w.item_id) for w in a.writes)),
                         a.base.content()))
        elif isinstance(a, Delete):
            summary.add(("delete", a.side, a.item_id))
        elif isinstance(a, LinkPair):
            summary.add(("link", a.link.saljstod_id, a.link.outlook_id))
        else:
            summary.add(("unlink", a.saljstod_id, a.outlook_id))
    return summary


def swap(summary: set[tuple[object, ...]]) -> set[tuple[object, ...]]:
    out: set[tuple[object, ...]] = set()
    for entry in summary:
        if entry[0] in ("create", "delete"):
            side = entry[1]
            assert isinstance(side, Side)
            out.add((entry[0], side.other, *entry[2:]))
        elif entry[0] == "update":
            out.add(("update", tuple(sorted(("saljstod" if s == "outlook" else "outlook", i)
                                            for s, i in entry[1])), entry[2]))  # type: ignore[attr-defined]
        else:
            out.add((entry[0], entry[2], entry[1]))
    return out


@st.composite
def scenario(draw: st.DrawFn) -> tuple[Listing, Listing, list[Link]]:
    n = draw(st.integers(0, 6))
    links: list[Link] = []
    s_items: list[Item] = []
    o_items: list[Item] = []
    s_deleted: list[str] = []
    o_deleted: list[str] = []
    for i in range(n):
        base = draw(events())
        links.append(Link(saljstod_id=f"a{i}", outlook_id=f"b{i}", base=base))
        for side_items, deleted, item_id in ((s_items, s_deleted, f"a{i}"),
                                             (o_items, o_deleted, f"b{i}")):
            what = draw(st.sampled_from(["same", "edit", "gone", "quiet"]))
            if what == "same":
                side_items.append(item(item_id, base))
            elif what == "edit":
                side_items.append(item(item_id, draw(edits(base)), version="2",
                                       modified=LATE if draw(st.booleans()) else EARLY))
            elif what == "gone":
                deleted.append(item_id)
    for i in range(draw(st.integers(0, 3))):
        s_items.append(item(f"c{i}", draw(events())))
    for i in range(draw(st.integers(0, 3))):
        o_items.append(item(f"d{i}", draw(events())))
    return (Listing(items=s_items, deleted=s_deleted, complete=False),
            Listing(items=o_items, deleted=o_deleted, complete=False), links)


@given(scenario(), st.sampled_from(list(ConflictPolicy)))
@settings(max_examples=200)
def test_swapping_the_two_sides_mirrors_the_plan(
    case: tuple[Listing, Listing, list[Link]], policy: ConflictPolicy
) -> None:
    s_listing, o_listing, links = case
    forward = plan(saljstod=s_listing, outlook=o_listing, links=links,
                   policy=SyncPolicy(conflict=policy), confirm_mass_delete=True)
    swapped_links = [Link(saljstod_id=link.outlook_id, outlook_id=link.saljstod_id,
                          base=link.base) for link in links]
    backward = plan(saljstod=o_listing, outlook=s_listing, links=swapped_links,
                    policy=SyncPolicy(conflict=policy).mirrored(), confirm_mass_delete=True)
    assert mirror(backward) == swap(mirror(forward))


@given(scenario())
@settings(max_examples=100)
def test_planning_is_deterministic(case: tuple[Listing, Listing, list[Link]]) -> None:
    s_listing, o_listing, links = case
    first = plan(saljstod=s_listing, outlook=o_listing, links=links)
    again = plan(saljstod=s_listing, outlook=o_listing, links=list(reversed(links)))
    assert first == again


def test_an_item_that_moved_and_got_a_new_id_is_relinked_not_deleted_and_recreated() -> None:
    link = Link(saljstod_id="S1", outlook_id="O1", base=meeting(), saljstod_version="1",
                outlook_version="1")
    moved = item("O7", meeting(location="Nytt rum"), version="9", partner="S1")
    result = plan(saljstod=changes(), outlook=changes(moved, deleted=("O1",)), links=[link])
    (update,) = result.actions
    assert isinstance(update, Update)
    assert (update.saljstod_id, update.outlook_id) == ("S1", "O7")
    assert update.replaces == ("S1", "O1")
    assert [(w.side, w.item_id) for w in update.writes] == [(S, "S1")]
    assert not of(Delete, result)
    assert not of(Create, result)


def test_a_copy_of_an_item_deleted_on_both_sides_is_a_new_item_not_a_move() -> None:
    link = Link(saljstod_id="S1", outlook_id="O1", base=meeting())
    copy = item("O2", meeting(), partner="S1")
    result = plan(saljstod=changes(deleted=("S1",)), outlook=changes(copy, deleted=("O1",)),
                  links=[link])
    assert {type(a).__name__ for a in result.actions} == {"Unlink", "Create"}
    (create,) = of(Create, result)
    assert (create.side, create.source_id) == (S, "O2")


def test_a_pair_whose_versions_cannot_be_combined_is_held_not_the_whole_sync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import outlook_sync._core.plan as planner
    from outlook_sync import InvalidEventError

    real = planner.resolve  # type: ignore[attr-defined]

    def picky(s_item: Item, o_item: Item, *args: object, **kwargs: object) -> object:
        if s_item.id == "S1":
            raise InvalidEventError("end is before start", field="end")
        return real(s_item, o_item, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(planner, "resolve", picky)
    links = [Link(saljstod_id=f"S{i}", outlook_id=f"O{i}", base=meeting(f"M{i}"),
                  saljstod_version="1", outlook_version="1") for i in (1, 2)]
    result = plan(
        saljstod=changes(*(item(f"S{i}", meeting(f"M{i}", location="X"), version="2",
                                partner=f"O{i}") for i in (1, 2))),
        outlook=changes(*(item(f"O{i}", meeting(f"M{i}", location="Y"), version="2",
                               partner=f"S{i}") for i in (1, 2))),
        links=links,
    )
    assert [(a.saljstod_id, a.outlook_id) for a in of(Update, result)] == [("S2", "O2")]
    (held,) = result.quarantined
    assert (held.side, held.item_id) == (S, "S1")
    assert "end is before start" in held.reason
