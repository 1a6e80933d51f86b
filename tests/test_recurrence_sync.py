"""Recurring series in the model, the state codec and the merge, and series synced to Säljstöd.

The engine scenarios sync a weekly series between an in-memory Outlook that keeps series
(``supports_series=True``) and a plain in-memory Säljstöd, through the engine and
:func:`~outlook_sync.series_view.wrap_for_series`, as a user of the two products would see
it: single activities in Säljstöd, exceptions and cancellations in Outlook.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import attrs
import pytest

from outlook_sync import Event, InvalidEventError
from outlook_sync._core.merge import resolve
from outlook_sync.errors import StateError
from outlook_sync.model import CONTENT_FIELDS, Item
from outlook_sync.records import ConflictPolicy
from outlook_sync.recurrence import Recurrence
from outlook_sync.state import codec

UTC = dt.UTC
STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")


def _at(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=STOCKHOLM)


def _timed(value: dt.datetime | dt.date) -> dt.datetime:
    """The value as a datetime (the test knows it is timed)."""
    assert isinstance(value, dt.datetime)
    return value


def _series_master(
    start: dt.datetime, rule: str = "FREQ=WEEKLY", subject: str = "Säljmöte", **fields: object
) -> Event:
    recurrence = Recurrence(rule=rule, start=start, time_zone="Europe/Stockholm")
    return Event(
        subject=subject,
        start=start,
        end=start + dt.timedelta(hours=1),
        recurrence=recurrence,
        **fields,  # type: ignore[arg-type]
    )


# --- the model ----------------------------------------------------------------------------


def test_a_series_master_carries_its_recurrence_and_compares_by_it() -> None:
    master = _series_master(_at(2026, 1, 5))
    assert master.recurrence is not None
    assert "recurrence" in CONTENT_FIELDS
    same_in_utc = attrs.evolve(
        master, start=_timed(master.start).astimezone(UTC), end=_timed(master.end).astimezone(UTC)
    )
    assert same_in_utc == master
    assert same_in_utc.content() == master.content()
    single = attrs.evolve(master, recurrence=None)
    assert single != master
    assert single.content() != master.content()
    # a single appointment's content is what it was before series existed
    assert len(single.content()) == 10


def test_cancelled_and_changed_occurrences_are_part_of_the_content() -> None:
    master = _series_master(_at(2026, 1, 5))
    assert master.recurrence is not None
    key = _at(2026, 1, 12).astimezone(UTC)
    cancelled = attrs.evolve(master, recurrence=master.recurrence.cancel(key))
    moved = attrs.evolve(
        master,
        recurrence=master.recurrence.change(
            key, Event(subject="Säljmöte", start=_at(2026, 1, 13), end=_at(2026, 1, 13, 10))
        ),
    )
    contents = {master.content(), cancelled.content(), moved.content()}
    assert len(contents) == 3
    assert cancelled != master != moved


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"recurrence": "FREQ=WEEKLY"}, "must be a Recurrence"),
        ({"start": _at(2026, 1, 6), "end": _at(2026, 1, 6, 10)}, "starts with its first"),
        (
            {"start": dt.date(2026, 1, 5), "end": dt.date(2026, 1, 6), "all_day": True},
            "cannot be the recurrence",
        ),
    ],
)
def test_a_series_that_does_not_fit_its_master_is_refused(
    changes: dict[str, Any], message: str
) -> None:
    master = _series_master(_at(2026, 1, 5))
    with pytest.raises(InvalidEventError, match=message) as caught:
        attrs.evolve(master, **changes)
    assert caught.value.field == "recurrence"


def test_an_all_day_series_fits_an_all_day_master() -> None:
    day = dt.date(2026, 1, 5)
    recurrence = Recurrence(rule="FREQ=WEEKLY", start=day, time_zone="Europe/Stockholm")
    master = Event(
        subject="Mässa",
        start=day,
        end=day + dt.timedelta(days=1),
        all_day=True,
        recurrence=recurrence,
    )
    assert master.recurrence == recurrence


def test_a_changed_occurrence_cannot_itself_be_a_series() -> None:
    master = _series_master(_at(2026, 1, 5))
    assert master.recurrence is not None
    with pytest.raises(InvalidEventError, match="single event"):
        master.recurrence.change(_at(2026, 1, 12), _series_master(_at(2026, 1, 12)))


# --- the state codec ----------------------------------------------------------------------


def test_a_series_master_survives_the_state_codec() -> None:
    master = _series_master(_at(2026, 1, 5), location="Rum 4")
    assert master.recurrence is not None
    recurrence = master.recurrence.cancel(_at(2026, 1, 19)).change(
        _at(2026, 1, 12),
        Event(subject="Säljmöte (flyttat)", start=_at(2026, 1, 13, 14), end=_at(2026, 1, 13, 15)),
    )
    master = attrs.evolve(master, recurrence=recurrence)
    back = codec.event_from_json(codec.event_to_json(master))
    assert back == master
    assert back.recurrence is not None
    assert _timed(back.recurrence.start).tzinfo == STOCKHOLM
    assert back.content() == master.content()
    assert codec.event_to_json(back) == codec.event_to_json(master)


def test_an_all_day_series_survives_the_state_codec() -> None:
    day = dt.date(2026, 1, 5)
    recurrence = Recurrence(
        rule="FREQ=WEEKLY;COUNT=5",
        start=day,
        time_zone="Europe/Stockholm",
        cancelled=[dt.date(2026, 1, 12)],
    )
    master = Event(
        subject="Mässa",
        start=day,
        end=day + dt.timedelta(days=2),
        all_day=True,
        recurrence=recurrence,
    )
    assert codec.event_from_json(codec.event_to_json(master)) == master


def test_a_stored_event_without_recurrence_reads_as_a_single_appointment() -> None:
    single = Event(subject="Lunch", start=_at(2026, 1, 5, 12), end=_at(2026, 1, 5, 13))
    data = codec.encode_event(single)
    assert "recurrence" not in data
    assert codec.decode_event(data).recurrence is None


@pytest.mark.parametrize(
    "recurrence",
    [
        "FREQ=WEEKLY",
        {"rule": "FREQ=WEEKLY", "time_zone": "Europe/Stockholm"},
        {
            "rule": "FREQ=SECONDLY",
            "time_zone": "Europe/Stockholm",
            "start": "2026-01-05T09:00:00+01:00",
        },
        {
            "rule": "FREQ=WEEKLY",
            "time_zone": "Europe/Stockholm",
            "start": "2026-01-05T09:00:00+01:00",
            "cancelled": ["someday"],
        },
        {
            "rule": "FREQ=WEEKLY",
            "time_zone": "Europe/Stockholm",
            "start": "2026-01-05T09:00:00+01:00",
            "changed": [["2026-01-12T08:00:00+00:00"]],
        },
    ],
)
def test_a_damaged_stored_recurrence_is_a_state_error(recurrence: object) -> None:
    data = codec.encode_event(_series_master(_at(2026, 1, 5)))
    data["recurrence"] = recurrence
    with pytest.raises(StateError):
        codec.decode_event(data)


# --- merging ------------------------------------------------------------------------------


def test_a_moved_series_and_a_cancelled_occurrence_merge_into_a_valid_series() -> None:
    """The series moves with its start: a merge never pairs one side's start with the
    other side's series (which would be an event that cannot exist)."""
    base = _series_master(_at(2026, 1, 5))
    assert base.recurrence is not None
    moved = attrs.evolve(
        base,
        start=_at(2026, 1, 5, 10),
        end=_at(2026, 1, 5, 11),
        recurrence=attrs.evolve(base.recurrence, start=_at(2026, 1, 5, 10)),
    )
    cancelled = attrs.evolve(base, recurrence=base.recurrence.cancel(_at(2026, 1, 12)))
    for fallback in (ConflictPolicy.SALJSTOD_WINS, ConflictPolicy.OUTLOOK_WINS):
        outcome = resolve(
            Item(id="S1", version="1", event=cancelled),
            Item(id="O1", version="1", event=moved),
            base,
            policy=ConflictPolicy.MERGE,
            fallback=fallback,
        )
        assert outcome.merged in (moved, cancelled)
        assert outcome.conflict is not None
        assert "recurrence" in outcome.conflict.fields


def test_a_renamed_series_and_a_cancelled_occurrence_merge_cleanly() -> None:
    base = _series_master(_at(2026, 1, 5))
    assert base.recurrence is not None
    renamed = attrs.evolve(base, subject="Säljmöte Q1")
    cancelled = attrs.evolve(base, recurrence=base.recurrence.cancel(_at(2026, 1, 12)))
    outcome = resolve(
        Item(id="S1", version="1", event=cancelled),
        Item(id="O1", version="1", event=renamed),
        base,
        policy=ConflictPolicy.MERGE,
        fallback=ConflictPolicy.NEWEST_WINS,
    )
    assert outcome.conflict is None
    assert outcome.merged == attrs.evolve(renamed, recurrence=cancelled.recurrence)
