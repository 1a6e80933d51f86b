"""Hypothesis strategies for the model, kept in one place."""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st

from outlook_sync import Event, ShowAs
from tests.world import STOCKHOLM, UTC

SUBJECTS = ["Kundmöte", "Lunch", "Demo ACME", "Uppföljning", "Samtal"]
ZONES = [STOCKHOLM, UTC, dt.timezone(dt.timedelta(hours=-5))]


@st.composite
def events(draw: st.DrawFn, *, subjects: list[str] | None = None) -> Event:
    """Small value spaces on purpose: collisions exercise matching and merging."""
    subject = draw(st.sampled_from(subjects or SUBJECTS))
    if draw(st.booleans()) and draw(st.integers(0, 4)) == 0:
        day = dt.date(2026, 12, 1) + dt.timedelta(days=draw(st.integers(0, 5)))
        return Event(subject=subject, start=day, end=day + dt.timedelta(days=1), all_day=True)
    zone = draw(st.sampled_from(ZONES))
    start = dt.datetime(2026, 12, 1, 8, tzinfo=UTC).astimezone(zone) + dt.timedelta(
        hours=draw(st.integers(0, 6))
    )
    return Event(
        subject=subject,
        start=start,
        end=start + dt.timedelta(minutes=draw(st.sampled_from([0, 30, 60]))),
        location=draw(st.sampled_from(["", "Kontoret", "Teams"])),
        body=draw(st.sampled_from(["", "Agenda", "Agenda\r\nrad två"])),
        categories=draw(st.sampled_from([(), ("Kund",), ("Kund", "Viktigt")])),
        show_as=draw(st.sampled_from(list(ShowAs))),
        private=draw(st.booleans()),
        reminder_minutes=draw(st.sampled_from([None, 0, 15])),
    )


@st.composite
def edits(draw: st.DrawFn, event: Event) -> Event:
    """A user's edit of ``event``: one or two fields changed."""
    from attrs import evolve

    choice = draw(st.sampled_from(["subject", "location", "body", "time", "show_as"]))
    if choice == "subject":
        return evolve(event, subject=draw(st.sampled_from(SUBJECTS)) + " (ändrad)")
    if choice == "location":
        return evolve(event, location=draw(st.sampled_from(["Rum 4", "Hos kund", ""])))
    if choice == "body":
        return evolve(event, body=draw(st.sampled_from(["Ny agenda", "", "Ring först"])))
    if choice == "show_as":
        return evolve(event, show_as=draw(st.sampled_from(list(ShowAs))))
    shift = dt.timedelta(minutes=draw(st.sampled_from([-60, 30, 120])))
    return evolve(event, start=event.start + shift, end=event.end + shift)
