"""The Outlook COM adapter runs the Calendar contract suite against the fake Outlook
object model.

Each calendar of the factory is another calendar folder of one mailbox (the default one
first); an item "made by the user" is an appointment added as in Outlook's own window.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from outlook_sync.adapters.outlook_com import OutlookComCalendar
from outlook_sync.adapters.outlook_com.events import OutlookSubscription
from outlook_sync.model import Event
from outlook_sync.protocols import Subscription
from outlook_sync.testing.contract import Backend, BackendFactory, CalendarContract, Capabilities
from outlook_sync.testing.outlook_com import FakeOutlook, ManualClock, with_events


def _no_sleep(_seconds: float) -> None:
    return None


def deliver(subscription: Subscription) -> None:
    """What the host's timer does on the COM thread: look for what the events missed."""
    assert isinstance(subscription, OutlookSubscription)
    subscription.check()


class TestOutlookComCalendar(CalendarContract):
    capabilities = Capabilities(series=True, change_notifier=True, item_opener=True,
                                identified=True, item_restorer=False)  # fmt: skip

    @pytest.fixture
    def make_backend(self) -> BackendFactory:
        clock = ManualClock(dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC))
        outlook = FakeOutlook(clock=clock)
        numbers = itertools.count(1)

        def make() -> Backend:
            number = next(numbers)
            folder = outlook.folder()
            path = None
            if number > 1:
                folder = outlook.add_calendar(f"Kalender {number}")
                path = f"\\\\anna@example.com\\Calendar\\Kalender {number}"

            def add_unlinked(event: Event) -> str:
                return outlook.add_appointment(event.subject, event.start, event.end,
                                               folder=folder)  # fmt: skip

            calendar = OutlookComCalendar(outlook.dispatch, folder=path, clock=clock,
                                          sleep=_no_sleep, with_events=with_events)  # fmt: skip
            return Backend(calendar=calendar, add_unlinked=add_unlinked, deliver=deliver,
                           pass_time=clock.advance, unknown_id="00000000DEADBEEF")  # fmt: skip

        return make
