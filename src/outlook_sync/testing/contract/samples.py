"""The events the contract suite writes: small value spaces that still reach every field.

Times are whole minutes (Outlook keeps no seconds) in 2026, in three zones, on a winter
day, a summer day and the day Stockholm moves its clocks forward.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from outlook_sync.model import Event, ShowAs
from outlook_sync.recurrence import Recurrence

__all__ = ["STOCKHOLM", "contract_events", "meeting", "weekly_series"]

STOCKHOLM = ZoneInfo("Europe/Stockholm")
ZONES = (STOCKHOLM, dt.UTC, ZoneInfo("America/New_York"))
DAYS = (dt.date(2026, 12, 1), dt.date(2026, 7, 1), dt.date(2026, 3, 29))
SUBJECTS = ("Kundmöte", "Lunch", "Demo ACME", "Uppföljning – Åre", "Möte 🎉")


def meeting(subject: str = "Kundmöte", *, day: int = 1, hour: int = 9, **fields: object) -> Event:
    """A one-hour meeting in December 2026, Stockholm time."""
    start = dt.datetime(2026, 12, day, hour, tzinfo=STOCKHOLM)
    return Event(subject=subject, start=start, end=start + dt.timedelta(hours=1),
                 **fields)  # type: ignore[arg-type]  # fmt: skip


def weekly_series(subject: str = "Veckomöte") -> Event:
    """A weekly series of five Monday meetings, Stockholm time."""
    start = dt.datetime(2026, 11, 2, 9, tzinfo=STOCKHOLM)
    rule = Recurrence(rule="FREQ=WEEKLY;COUNT=5", start=start, time_zone="Europe/Stockholm")
    return Event(subject=subject, start=start, end=start + dt.timedelta(hours=1),
                 recurrence=rule)  # fmt: skip


@st.composite
def contract_events(
    draw: st.DrawFn, *, all_day: bool = True, private: bool = True
) -> Event:
    """Single (not recurring) events; ``all_day``/``private`` ``False`` leave those out."""
    subject = draw(st.sampled_from(SUBJECTS))
    day = draw(st.sampled_from(DAYS))
    if all_day and draw(st.integers(0, 3)) == 0:
        days = dt.timedelta(days=draw(st.integers(1, 3)))
        return Event(subject=subject, start=day, end=day + days, all_day=True)
    zone = draw(st.sampled_from(ZONES))
    start = dt.datetime.combine(day, dt.time(7), dt.UTC).astimezone(zone) + dt.timedelta(
        minutes=draw(st.sampled_from([0, 30, 90, 360]))
    )
    return Event(
        subject=subject,
        start=start,
        end=start + dt.timedelta(minutes=draw(st.sampled_from([0, 30, 60, 150]))),
        location=draw(st.sampled_from(["", "Kontoret", "Storgatan 1, Göteborg"])),
        body=draw(st.sampled_from(["", "Agenda", "Agenda\nrad två\n\n– slut"])),
        categories=draw(st.sampled_from([(), ("Kund",), ("Kund", "Viktigt")])),
        show_as=draw(st.sampled_from(list(ShowAs))),
        private=draw(st.booleans()) if private else False,
        reminder_minutes=draw(st.sampled_from([None, 0, 15, 1440])),
    )
