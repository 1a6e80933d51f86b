"""An invalid appointment never exists: every bad value is refused with the field named."""

from __future__ import annotations

import datetime as dt
import re

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from outlook_sync import Event, InvalidEventError, ShowAs, Side
from outlook_sync.model import MAX_BODY_CHARS, Item, Listing
from tests.strategies import events
from tests.world import STOCKHOLM, UTC, meeting

NY = dt.timezone(dt.timedelta(hours=-5))


def test_a_meeting_with_only_subject_start_and_end_gets_defaults() -> None:
    event = meeting()
    assert event.location == ""
    assert event.show_as is ShowAs.BUSY
    assert event.reminder_minutes is None
    assert event.all_day is False


def test_arguments_are_keyword_only() -> None:
    start = dt.datetime(2026, 1, 1, 9, tzinfo=UTC)
    with pytest.raises(TypeError):
        Event("Möte", start, start)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"end": dt.datetime(2026, 12, 1, 8, tzinfo=STOCKHOLM)}, "end"),
        ({"start": dt.datetime(2026, 12, 1, 9)}, "start"),
        ({"end": dt.datetime(2026, 12, 1, 10)}, "end"),
        ({"subject": "x" * 256}, "subject"),
        ({"location": "\ud800"}, "location"),
        ({"subject": "Möte\x00"}, "subject"),
        ({"body": "x" * (MAX_BODY_CHARS + 1)}, "body"),
        ({"body": "a\x07b"}, "body"),
        ({"show_as": "sometimes"}, "show_as"),
        ({"reminder_minutes": -5}, "reminder_minutes"),
        ({"reminder_minutes": True}, "reminder_minutes"),
        ({"categories": ["a,b"]}, "categories"),
        ({"categories": "Kund"}, "categories"),
        ({"start": dt.datetime(1, 1, 1, tzinfo=UTC)}, "start"),
        ({"end": dt.datetime(9999, 12, 31, tzinfo=UTC)}, "end"),
        ({"start": dt.datetime(1899, 12, 30, tzinfo=UTC)}, "start"),
        ({"private": "yes"}, "private"),
    ],
)
def test_bad_values_are_refused_with_the_field_named(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidEventError) as caught:
        attrs.evolve(meeting(), **changes)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)


def test_all_day_events_are_dates_not_midnights() -> None:
    midnight = dt.datetime(2026, 3, 3, tzinfo=STOCKHOLM)
    with pytest.raises(InvalidEventError, match="dates, not midnights"):
        Event(subject="Mässa", start=midnight, end=midnight + dt.timedelta(days=1), all_day=True)
    day = Event(subject="Mässa", start=dt.date(2026, 3, 3), end=dt.date(2026, 3, 4),
                all_day=True)
    assert day.end - day.start == dt.timedelta(days=1)


def test_an_all_day_event_needs_an_exclusive_end_after_its_start() -> None:
    with pytest.raises(InvalidEventError, match="exclusive"):
        Event(subject="Mässa", start=dt.date(2026, 3, 3), end=dt.date(2026, 3, 3), all_day=True)


def test_a_timed_event_cannot_have_date_values() -> None:
    with pytest.raises(InvalidEventError, match="must be a datetime"):
        Event(subject="Möte", start=dt.date(2026, 3, 3), end=dt.date(2026, 3, 4))


def test_zero_length_calls_are_allowed() -> None:
    start = dt.datetime(2026, 3, 3, 9, tzinfo=UTC)
    assert Event(subject="Samtal", start=start, end=start).end == start


def test_the_same_meeting_written_in_two_zones_is_equal() -> None:
    stockholm = meeting()
    assert isinstance(stockholm.start, dt.datetime)
    assert isinstance(stockholm.end, dt.datetime)
    utc = attrs.evolve(stockholm, start=stockholm.start.astimezone(UTC),
                       end=stockholm.end.astimezone(UTC))
    assert stockholm == utc
    assert hash(stockholm) == hash(utc)
    assert stockholm.content() == utc.content()


def test_an_items_change_time_is_metadata_not_content() -> None:
    event = meeting()
    a = Item(id="x", version="1", event=event, changed=dt.datetime(2026, 1, 1, tzinfo=UTC))
    b = Item(id="x", version="1", event=event, changed=dt.datetime(2026, 2, 1, tzinfo=UTC))
    assert a == b
    assert a.event is b.event  # the content is shared, never copied per item
    with pytest.raises(InvalidEventError):
        Item(id="x", version="1", event=event, changed=dt.datetime(2026, 1, 1))
    with pytest.raises(TypeError):  # a change time is the item's, not the content's
        Event(subject="x", start=event.start, end=event.end,
              last_modified=dt.datetime(2026, 1, 1, tzinfo=UTC))  # type: ignore[call-arg]


def test_outlook_line_endings_and_category_order_do_not_make_a_difference() -> None:
    a = meeting(body="rad 1\r\nrad 2", categories=["Kund", "Viktigt", "kund"])
    b = meeting(body="rad 1\nrad 2", categories=["Viktigt", "Kund"])
    assert a == b
    assert a.categories == ("Kund", "Viktigt")


def test_match_key_ignores_case_and_spacing_of_the_subject() -> None:
    assert meeting("Kundmöte  ACME").match_key == meeting(" kundmöte acme ").match_key
    assert meeting("Kundmöte").match_key != meeting("Kundmöte", hour=10).match_key


def test_a_listing_of_items_converts_iterables() -> None:
    listing = Listing(items=iter(()), complete=True, deleted=["x"])
    assert listing.items == ()
    assert listing.deleted == frozenset({"x"})


@given(events())
def test_every_generated_event_survives_evolve_unchanged(event: Event) -> None:
    assert attrs.evolve(event) == event


def test_a_time_in_the_repeated_dst_hour_equals_the_same_instant_in_utc() -> None:
    folded = dt.datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=STOCKHOLM)
    a = Event(subject="Nattmöte", start=folded, end=folded + dt.timedelta(hours=1))
    b = Event(subject="Nattmöte", start=folded.astimezone(UTC),
              end=(folded + dt.timedelta(hours=1)).astimezone(UTC))
    assert a == b
    assert hash(a) == hash(b)


_CC = {chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]}


def _refusal(text: str, allowed: set[str]) -> str | None:
    """What the text is refused for, by the definition: the first character that is
    broken unicode (a lone surrogate, which UTF-8 cannot encode) or a control character
    (category Cc) not allowed in the field; ``None`` when the text is fine."""
    for ch in text:
        try:
            ch.encode("utf-8")
        except UnicodeEncodeError:
            return "lone surrogate"
        if ch in _CC and ch not in allowed:
            return f"U+{ord(ch):04X}"
    return None


@given(st.text(alphabet=st.characters(codec=None), max_size=12), st.booleans())
def test_text_is_refused_exactly_when_utf8_cannot_hold_it_or_it_has_a_control_char(
    text: str, in_body: bool
) -> None:
    allowed = {"\n", "\t", "\r"} if in_body else set()  # the body reads \r as \n
    expected = _refusal(text, allowed)
    start = dt.datetime(2025, 3, 3, 9, tzinfo=dt.UTC)

    def make() -> Event:
        if in_body:
            return Event(subject="s", body=text, start=start, end=start)
        return Event(subject=text, start=start, end=start)

    if expected is None:
        make()
    else:
        with pytest.raises(InvalidEventError, match=re.escape(expected)):
            make()


# -- the fast builders (for values already checked) build what __init__ builds ------------


def _fields(value: attrs.AttrsInstance) -> tuple[object, ...]:
    return tuple(getattr(value, field.name) for field in attrs.fields(type(value)))


@given(events())
def test_trusted_item_and_link_are_what_their_init_builds(event: Event) -> None:
    from outlook_sync._core.actions import Create, build_create
    from outlook_sync.model import Link, trusted_item, trusted_link

    when = dt.datetime(2026, 3, 2, 9, tzinfo=UTC)
    item = Item(id="O1", version="7", event=event, partner_key="S1", changed=when)
    fast = trusted_item("O1", "7", event, "S1", when)
    assert type(fast) is Item
    assert _fields(fast) == _fields(item)
    link = Link(saljstod_id="S1", outlook_id="O1", base=event, saljstod_version="2",
                outlook_version="7")
    assert _fields(trusted_link("S1", "O1", event, "2", "7")) == _fields(link)
    # trailing fields with a plain default may be left out, as with __init__
    assert _fields(trusted_item("O1", "7", event)) == _fields(Item(id="O1", version="7",
                                                                   event=event))
    assert _fields(trusted_link("S1", "O1", event)) == _fields(
        Link(saljstod_id="S1", outlook_id="O1", base=event))
    assert _fields(trusted_link("S1", "O1", event, "2", "7", Side.OUTLOOK, 3)) == _fields(
        attrs.evolve(link, gone=Side.OUTLOOK, generation=3))
    assert getattr(trusted_link, "__name__", None) == "trusted_link"
    assert _fields(link.at_generation(4)) == _fields(attrs.evolve(link, generation=4))
    create = Create(side=Side.OUTLOOK, source_id="S1", source_version="2",
                    source_partner_key=None, event=event)
    assert _fields(build_create(Side.OUTLOOK, "S1", "2", None, event, None, None)) == (
        _fields(create))
