"""What syncs and which way: per-user filters and per-field directions."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from outlook_sync import ConfigurationError, Side, SyncPolicy
from outlook_sync.scope import Direction, SyncFilter
from tests.world import make_world, meeting


def test_private_items_stay_out_when_the_user_says_so() -> None:
    world = make_world(policy=SyncPolicy(filter=SyncFilter(include_private=False)))
    world.saljstod.add(meeting("Läkarbesök", private=True))
    world.saljstod.add(meeting("Kundmöte", hour=11))
    world.sync.sync()
    assert [e.subject for e in world.outlook.items().values()] == ["Kundmöte"]
    assert len(world.sync.plan()) == 0


def test_only_chosen_categories_sync() -> None:
    policy = SyncPolicy(filter=SyncFilter(categories=["Kund"], exclude_categories=["Intern"]))
    world = make_world(policy=policy)
    world.saljstod.add(meeting("A", categories=["kund"]))
    world.saljstod.add(meeting("B", hour=11, categories=["Kund", "Intern"]))
    world.outlook.add(meeting("C", hour=12))
    world.sync.sync()
    # C has no "Kund" category: it stays in Outlook only; B is "Intern": Säljstöd only
    assert sorted(e.subject for e in world.outlook.items().values()) == ["A", "C"]
    assert [e.subject for e in world.saljstod.items().values()] == ["A", "B"]


def test_a_date_range_limits_the_sync() -> None:
    policy = SyncPolicy(filter=SyncFilter(start_from=dt.date(2026, 12, 2),
                                          start_until=dt.date(2026, 12, 4)))
    world = make_world(policy=policy)
    for day in (1, 2, 3, 4):
        world.saljstod.add(meeting(f"Dag {day}", day=day))
    world.sync.sync()
    assert sorted(e.subject for e in world.outlook.items().values()) == ["Dag 2", "Dag 3"]


def test_an_item_that_leaves_the_filter_is_unlinked_not_deleted_nor_copied_back() -> None:
    world = make_world(policy=SyncPolicy(filter=SyncFilter(include_private=False)))
    s_id = world.saljstod.add(meeting("Möte"))
    world.sync.sync()
    (o_id,) = world.outlook.items()
    world.saljstod.update(s_id, meeting("Möte", private=True))
    report = world.sync.sync()
    assert report.unlinked == 1
    assert report.total_writes == 0
    assert o_id in world.outlook.items()
    assert world.state.links("anna") == []
    # the former partner changes in Outlook: it is still not pushed back as a new item
    world.outlook.update(o_id, meeting("Möte", location="Rum 2"))
    assert world.sync.sync().total_writes == 0
    assert world.sync.full_sync_now().total_writes == 0
    assert len(world.saljstod.items()) == 1
    # back in the filter: linked again, no duplicate
    world.saljstod.update(s_id, meeting("Möte", location="Rum 3"))
    report = world.sync.sync()
    assert report.linked == 1
    assert len(world.saljstod.items()) == len(world.outlook.items()) == 1


def test_notes_travel_only_from_saljstod_to_outlook() -> None:
    world = make_world(policy=SyncPolicy(directions={"body": "to_outlook"}))
    s_id = world.saljstod.add(meeting("Möte", body="CRM-anteckning"))
    world.sync.sync()
    (o_id,) = world.outlook.items()
    world.outlook.update(o_id, meeting("Möte", body="Outlook-anteckning"))
    report = world.sync.sync()
    assert report.total_writes == 0
    assert world.saljstod.items()[s_id].body == "CRM-anteckning"
    world.saljstod.update(s_id, meeting("Möte", body="Ny CRM-anteckning"))
    world.sync.sync()
    assert world.outlook.items()[o_id].body == "Ny CRM-anteckning"


def test_show_as_travels_only_from_outlook_while_other_fields_go_both_ways() -> None:
    world = make_world(policy=SyncPolicy(directions={"show_as": "to_saljstod"}))
    s_id = world.saljstod.add(meeting("Möte"))
    world.sync.sync()
    (o_id,) = world.outlook.items()
    world.saljstod.update(s_id, meeting("Möte", show_as="free", location="Rum 1"))
    world.sync.sync()
    outlook_now = world.outlook.items()[o_id]
    assert (outlook_now.location, outlook_now.show_as.value) == ("Rum 1", "busy")
    world.outlook.update(o_id, attrs.evolve(outlook_now, show_as="out_of_office"))
    world.sync.sync()
    assert world.saljstod.items()[s_id].show_as.value == "out_of_office"
    assert len(world.sync.plan()) == 0


def test_bad_scope_settings_name_the_key() -> None:
    with pytest.raises(ConfigurationError) as caught:
        SyncPolicy(directions={"notes": "to_outlook"})
    assert caught.value.key == "directions.notes"
    with pytest.raises(ConfigurationError):
        SyncPolicy(directions={"body": "sideways"})
    with pytest.raises(ConfigurationError):
        SyncFilter(start_from=dt.datetime(2026, 1, 1))
    with pytest.raises(ConfigurationError):
        SyncFilter(categories="Kund")


def test_directions_mirror_with_the_sides() -> None:
    assert Direction.TO_OUTLOOK.flows_from(Side.SALJSTOD)
    assert not Direction.TO_OUTLOOK.flows_from(Side.OUTLOOK)
    assert SyncPolicy(directions={"body": "to_outlook"}).mirrored().direction("body") is (
        Direction.TO_SALJSTOD
    )
