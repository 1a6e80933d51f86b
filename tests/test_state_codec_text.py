"""The state codec's JSON text: ``event_to_json`` writes what the generic encoding writes.

``event_to_json`` writes a single appointment directly (every link's base goes through
it); the text must be the one ``to_json(encode_event(event))`` gives, character for
character, so stored state compares, reads and round-trips as it always did.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import zoneinfo
from pathlib import Path
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from outlook_sync.errors import InvalidEventError
from outlook_sync.model import Event, ShowAs
from outlook_sync.recurrence import Recurrence
from outlook_sync.state import codec

STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")


def _keyless_zone() -> zoneinfo.ZoneInfo:
    """A ZoneInfo read from a file: its ``key`` is None (stored as a fixed offset)."""
    path = next(Path(p) / "Europe" / "Stockholm" for p in zoneinfo.TZPATH
                if (Path(p) / "Europe" / "Stockholm").exists())
    with path.open("rb") as file:
        return zoneinfo.ZoneInfo.from_file(file)


_ZONES: list[dt.tzinfo] = [STOCKHOLM, zoneinfo.ZoneInfo("America/New_York"), dt.UTC,
                           dt.timezone(dt.timedelta(hours=5, minutes=30))]
with contextlib.suppress(StopIteration):  # no system zone files (tzdata package only)
    _ZONES.append(_keyless_zone())
_TEXT = st.text(max_size=30) | st.sampled_from(['"', "\\", "å\"\\\n\t", "😀", "\u2028", ""])


@st.composite
def events(draw: st.DrawFn) -> Event:
    common: dict[str, Any] = {
        "subject": draw(_TEXT),
        "location": draw(_TEXT),
        "body": draw(_TEXT),
        "categories": draw(st.lists(_TEXT, max_size=3)),
        "show_as": draw(st.sampled_from(list(ShowAs))),
        "private": draw(st.booleans()),
        "reminder_minutes": draw(st.none() | st.integers(0, 10_000)),
    }
    try:
        if draw(st.booleans()):
            day = draw(st.dates(dt.date(1990, 1, 1), dt.date(2100, 1, 1)))
            return Event(start=day, end=day + dt.timedelta(days=draw(st.integers(1, 30))),
                         all_day=True, **common)
        start = draw(st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2100, 1, 1),
                                  timezones=st.sampled_from(_ZONES)))
        end = (start + dt.timedelta(minutes=draw(st.integers(0, 10_000)))).astimezone(
            draw(st.sampled_from(_ZONES)))
        return Event(start=start, end=end, **common)
    except InvalidEventError:
        assume(False)
        raise


def _generic(event: Event) -> str:
    """The encoding as ``event_to_json`` wrote it before its fast path."""
    return json.dumps(codec.encode_event(event), ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"))


@given(events())
@settings(max_examples=400, deadline=None)
def test_event_to_json_writes_the_generic_encoding_character_for_character(
    event: Event,
) -> None:
    text = codec.event_to_json(event)
    assert text == _generic(event)
    assert codec.to_json(codec.encode_event(event)) == text
    assert codec.event_from_json(text) == event


def test_a_keyless_zone_and_a_fixed_offset_store_no_zone_name() -> None:
    start = dt.datetime(2024, 3, 5, 9, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    event = Event(subject="Möte", start=start, end=start + dt.timedelta(hours=1))
    data = json.loads(codec.event_to_json(event))
    assert data["start_zone"] is None
    assert data["end_zone"] is None
    assert codec.event_to_json(event) == _generic(event)


def test_a_series_master_is_written_by_the_generic_encoding() -> None:
    start = dt.datetime(2024, 3, 4, 9, tzinfo=STOCKHOLM)
    event = Event(subject="Veckomöte", start=start, end=start + dt.timedelta(hours=1),
                  recurrence=Recurrence(rule="FREQ=WEEKLY;BYDAY=MO", start=start,
                                        time_zone="Europe/Stockholm"))
    text = codec.event_to_json(event)
    assert text == _generic(event)
    assert '"recurrence":{' in text
    assert codec.event_from_json(text) == event


def test_text_written_by_0_1_reads_back_and_is_written_again_without_the_change_time() -> None:
    # as an earlier outlook_sync stored a link's base
    stored = (
        '{"all_day":false,"body":"Agenda\\nrad två","categories":["Kund","Viktigt"],'
        '"end":"2024-03-05T10:00:00+01:00","end_zone":"Europe/Stockholm",'
        '"last_modified":"2024-03-01T08:00:00+00:00","last_modified_zone":null,'
        '"location":"Kontoret","private":true,"reminder_minutes":15,"show_as":"tentative",'
        '"start":"2024-03-05T09:00:00+01:00","start_zone":"Europe/Stockholm",'
        '"subject":"Kundmöte \\"A\\"","v":1}'
    )
    event = codec.event_from_json(stored)
    assert event.subject == 'Kundmöte "A"'
    assert isinstance(event.start, dt.datetime)
    assert event.start.tzinfo == STOCKHOLM
    # the change time 0.1 kept in an event is the item's now: read past, not written
    assert codec.event_to_json(event) == stored.replace(
        '"last_modified":"2024-03-01T08:00:00+00:00","last_modified_zone":null,', "")
