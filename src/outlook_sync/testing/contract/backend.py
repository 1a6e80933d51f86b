"""What a backend hands the contract suite: a calendar, a few hooks, and what it can do.

An integrator's test class returns a factory of :class:`Backend` from its ``make_backend``
fixture; each call opens a *new, empty* calendar of the backend under test (a new file, a
new database user, a new mailbox folder). The suite needs two calendars only for the
tests that tell calendars apart (identity, isolation).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import attrs

from outlook_sync.model import Event
from outlook_sync.protocols import Calendar, Subscription

__all__ = ["Backend", "BackendFactory", "Capabilities"]


@attrs.frozen(kw_only=True)
class Capabilities:
    """What the backend can store and which optional protocols it promises.

    A content feature the backend cannot store (``series``, ``all_day``, ``private``
    ``False``) must be *refused* with :class:`~outlook_sync.errors.ItemRejectedError`,
    never stored as something else: the suite checks that instead of the round trip.

    The capability flags (``bulk_writer`` ...) say which optional protocols of
    :mod:`outlook_sync.protocols` the calendar implements; the suite checks that it does
    (``isinstance``) and runs their tests, and skips the tests of the others.

    Attributes:
        series: keeps a recurring :class:`~outlook_sync.model.Event` as one series master.
        all_day: keeps all-day events as dates.
        private: keeps the private flag.
        bulk_writer: implements :class:`~outlook_sync.protocols.BulkWriter`.
        bulk_deleter: implements :class:`~outlook_sync.protocols.BulkDeleter`.
        change_notifier: implements :class:`~outlook_sync.protocols.ChangeNotifier`.
        item_opener: implements :class:`~outlook_sync.protocols.ItemOpener`.
        identified: implements :class:`~outlook_sync.protocols.IdentifiedCalendar`.
        item_restorer: implements :class:`~outlook_sync.protocols.ItemRestorer`.
    """

    series: bool = False
    all_day: bool = True
    private: bool = True
    bulk_writer: bool = False
    bulk_deleter: bool = False
    change_notifier: bool = False
    item_opener: bool = False
    identified: bool = False
    item_restorer: bool = False


@attrs.frozen(kw_only=True)
class Backend:
    """One new, empty calendar of the backend under test, and the hooks the suite uses.

    Attributes:
        calendar: the :class:`~outlook_sync.protocols.Calendar` under test.
        add_unlinked: makes an item *as the user would* in the backend's own application
            (no partner key) and returns its id; ``None`` skips the tests of unlinked
            items.
        pass_time: moves the backend's clock forward (a test clock); ``None`` when the
            backend keeps real time. The listing tests let time pass between writes and
            listings with it, so that "an old item" is old to the backend.
        deliver: makes a :class:`~outlook_sync.protocols.ChangeNotifier` subscription
            deliver what is pending now (one poll); ``None``: the suite waits up to
            ``notification_timeout`` seconds for the backend's own delivery.
        notification_timeout: how long a change notification may take to arrive.
        secrets: strings that must never appear in the calendar's identity (tokens,
            passwords).
        unknown_id: an id the backend never issued, in its own id format.
    """

    calendar: Calendar
    add_unlinked: Callable[[Event], str] | None = None
    pass_time: Callable[[dt.timedelta], object] | None = None
    deliver: Callable[[Subscription], None] | None = None
    notification_timeout: float = 5.0
    secrets: tuple[str, ...] = ()
    unknown_id: str = "no-such-item-4711"

    def wait(self, delta: dt.timedelta) -> None:
        """Let ``delta`` pass on the backend's clock, if it is a test clock."""
        if self.pass_time is not None:
            self.pass_time(delta)


#: What the ``make_backend`` fixture returns: each call opens a new, empty calendar.
BackendFactory = Callable[[], Backend]
