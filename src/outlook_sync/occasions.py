"""When a sync runs: the sync occasions, and a small scheduler that decides what is due.

The product's help page promises a sync "when Säljstöd starts", right after the
personal settings are saved, and direct sync while both programs are open; its list of
the other occasions is lost. These are the occasions a host can switch on or off
(:class:`SyncOccasions`), each an :class:`Occasion`:

``STARTUP``
    Once when the host starts (the very first run is a full sync, because nothing is
    known yet; later start-ups catch up from the last sync date/time).
``SETTINGS_SAVED``
    Right after the user saves the *Outlook connection* settings (F7 – Save).
``INTERVAL``
    Periodically (default every 15 minutes) after the last sync, whatever caused it.
    This is also what catches up with change notifications that were lost.
``DEMAND``
    The host asked (a *Sync now* button, a command).
``NOTIFICATION``
    A side reported a change while direct sync runs; bursts are coalesced by a short
    debounce, and a steady stream still syncs at least every ``max_delay``.
``POLL``
    A side without push notifications (a SQL database) showed a change when polled;
    the poll interval backs off while nothing changes.
``RETRY``
    A sync failed (a side was unreachable, the mass-delete guard refused, an item
    failed); it is retried after a back-off that doubles up to the interval.

Theory of operation
-------------------
:class:`Schedule` is a plain object with an injectable monotonic clock (seconds). It
never sleeps and starts no thread: the runner (:class:`~outlook_sync.watch.Watcher`)
asks :meth:`Schedule.due` what to run and :meth:`Schedule.wait_time` how long it may
wait, and tells it what happened (:meth:`~Schedule.note`, :meth:`~Schedule.begin`,
:meth:`~Schedule.finished`). Occasions noted before a sync begins are covered by that
sync (its listing starts from the watermark, so it sees every change made before it);
occasions noted while it runs stay due and cause exactly one more pass.

It is not thread-safe: the runner serialises calls under its own lock.
"""

from __future__ import annotations

import datetime as dt
import enum
import time
from collections.abc import Callable
from typing import Any

import attrs

from outlook_sync.errors import ConfigurationError

__all__ = ["Occasion", "Schedule", "SyncOccasions"]

MonotonicClock = Callable[[], float]


class Occasion(enum.Enum):
    """Why a sync runs; see the module docstring."""

    STARTUP = "startup"
    SETTINGS_SAVED = "settings_saved"
    DEMAND = "demand"
    NOTIFICATION = "notification"
    POLL = "poll"
    RETRY = "retry"
    INTERVAL = "interval"


#: Most urgent first: what :meth:`Schedule.due` reports when several are due.
_PRIORITY = (
    Occasion.STARTUP,
    Occasion.SETTINGS_SAVED,
    Occasion.DEMAND,
    Occasion.NOTIFICATION,
    Occasion.POLL,
    Occasion.RETRY,
    Occasion.INTERVAL,
)


def _positive(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, dt.timedelta) or value <= dt.timedelta(0):
        raise ConfigurationError(f"{attr.name} must be a positive timedelta", key=attr.name)


def _not_negative(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, dt.timedelta) or value < dt.timedelta(0):
        raise ConfigurationError(f"{attr.name} must be a timedelta >= 0", key=attr.name)


def _optional_positive(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _positive(inst, attr, value)


def _flag(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{attr.name} must be a bool", key=attr.name)


@attrs.frozen(kw_only=True)
class SyncOccasions:
    """Which occasions trigger a sync on this host, and the timings.

    Attributes:
        on_startup: sync once when the runner starts.
        on_settings_saved: sync right after the user saves the connection settings.
        interval: the periodic sync's period after the last sync; ``None`` turns it
            off (then lost notifications are only caught up by the next other sync).
        on_demand: accept the host's *Sync now* requests.
        on_notifications: direct sync: subscribe to the sides' change notifications
            (and poll the sides that have none).
        debounce: quiet time after a notification before the sync starts; a burst
            (dragging an appointment) becomes one sync.
        max_delay: longest a steady stream of notifications can put a sync off.
        retry_after: first retry after a failed sync; doubles up to ``interval``
            (or 15 minutes when there is no interval).
        poll_min, poll_max: the polling period of a side without notifications, right
            after a change and when idle for long (it doubles in between).

    Raises:
        ConfigurationError: a value of the wrong kind or out of range.
    """

    on_startup: bool = attrs.field(default=True, validator=_flag)
    on_settings_saved: bool = attrs.field(default=True, validator=_flag)
    interval: dt.timedelta | None = attrs.field(
        default=dt.timedelta(minutes=15), validator=_optional_positive
    )
    on_demand: bool = attrs.field(default=True, validator=_flag)
    on_notifications: bool = attrs.field(default=True, validator=_flag)
    debounce: dt.timedelta = attrs.field(
        default=dt.timedelta(milliseconds=200), validator=_not_negative
    )
    max_delay: dt.timedelta = attrs.field(default=dt.timedelta(seconds=2), validator=_positive)
    retry_after: dt.timedelta = attrs.field(default=dt.timedelta(seconds=30), validator=_positive)
    poll_min: dt.timedelta = attrs.field(default=dt.timedelta(seconds=2), validator=_positive)
    poll_max: dt.timedelta = attrs.field(default=dt.timedelta(seconds=60), validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.poll_max < self.poll_min:
            raise ConfigurationError("poll_max must be >= poll_min", key="poll_max")

    def enabled(self, occasion: Occasion) -> bool:
        """Whether ``occasion`` triggers a sync on this host (``RETRY`` always does)."""
        return {
            Occasion.STARTUP: self.on_startup,
            Occasion.SETTINGS_SAVED: self.on_settings_saved,
            Occasion.DEMAND: self.on_demand,
            Occasion.NOTIFICATION: self.on_notifications,
            Occasion.POLL: self.on_notifications,
            Occasion.RETRY: True,
            Occasion.INTERVAL: self.interval is not None,
        }[occasion]


_LONGEST_BACKOFF = dt.timedelta(minutes=15)


class Schedule:
    """What is due when, for one user's runner. See the module docstring.

    Args:
        occasions: the host's configuration.
        clock: monotonic seconds (``time.monotonic``); injected by tests.
    """

    def __init__(
        self, occasions: SyncOccasions | None = None, *, clock: MonotonicClock | None = None
    ) -> None:
        self.occasions = occasions or SyncOccasions()
        self._clock = clock or time.monotonic
        #: occasion -> the monotonic time it becomes due
        self._due: dict[Occasion, float] = {}
        self._burst_started: float | None = None
        self._failures = 0
        self._polling = False
        self._poll_every = self.occasions.poll_min.total_seconds()
        self._next_poll: float | None = None

    def __repr__(self) -> str:
        due = ", ".join(sorted(o.value for o in self._due))
        return f"Schedule(due=[{due}])"

    # -- what happened --------------------------------------------------------------

    def start(self) -> None:
        """The runner starts: the start-up sync, and the first periodic deadline."""
        now = self._clock()
        if self.occasions.on_startup:
            self._due[Occasion.STARTUP] = now
        self._arm_interval(now)
        if self._polling:
            self._next_poll = now + self._poll_every

    def note(self, occasion: Occasion) -> bool:
        """Something happened that calls for a sync; False if the host turned it off.

        ``NOTIFICATION`` is debounced; the others are due at once (``RETRY`` and
        ``INTERVAL`` are scheduled by :meth:`finished`, but may be noted to run now).
        """
        if not self.occasions.enabled(occasion):
            return False
        now = self._clock()
        if occasion is Occasion.NOTIFICATION:
            if self._burst_started is None:
                self._burst_started = now
            latest = self._burst_started + self.occasions.max_delay.total_seconds()
            self._due[occasion] = min(now + self.occasions.debounce.total_seconds(), latest)
            self._poll_every = self.occasions.poll_min.total_seconds()
        else:
            self._due[occasion] = min(self._due.get(occasion, now), now)
        return True

    def poll_sides(self, polling: bool) -> None:
        """Whether some side has no notifications and must be polled."""
        if polling and not self._polling:
            self._next_poll = self._clock() + self._poll_every
        self._polling = polling
        if not polling:
            self._next_poll = None

    def polled(self, changed: bool) -> None:
        """A poll ran: a change makes ``POLL`` due and polls often; else back off."""
        now = self._clock()
        if changed:
            self._poll_every = self.occasions.poll_min.total_seconds()
            self.note(Occasion.POLL)
        else:
            self._poll_every = min(self._poll_every * 2, self.occasions.poll_max.total_seconds())
        self._next_poll = now + self._poll_every if self._polling else None

    def begin(self) -> frozenset[Occasion]:
        """A sync starts now: it covers every occasion noted so far; return them."""
        now = self._clock()
        covered = frozenset(
            o for o, when in self._due.items() if o is not Occasion.INTERVAL or when <= now
        )
        for occasion in covered:
            del self._due[occasion]
        self._burst_started = None
        return covered

    def finished(self, *, ok: bool, busy: bool = False, retry_in: float | None = None) -> None:
        """The sync ended. ``busy``: it could not start or go on (another sync held the
        lock, or a database stayed busy past its wait: :class:`BusyError`).

        A success re-arms the periodic sync; a failure schedules a retry with a
        back-off; busy retries soon (the other sync may not have seen the change), after
        ``retry_in`` seconds when the error suggested a wait.
        """
        now = self._clock()
        if busy:
            soon = max(1.0, self.occasions.debounce.total_seconds())
            self._due[Occasion.RETRY] = now + (soon if retry_in is None else max(retry_in, 0.1))
            return
        if ok:
            self._failures = 0
            self._due.pop(Occasion.RETRY, None)
            self._arm_interval(now)
            return
        self._failures += 1
        longest = self.occasions.interval or _LONGEST_BACKOFF
        delay = min(
            self.occasions.retry_after.total_seconds() * 2 ** (self._failures - 1),
            longest.total_seconds(),
        )
        self._due[Occasion.RETRY] = now + delay
        self._arm_interval(now)

    def clear(self) -> None:
        """Forget every noted occasion (the connection was disabled)."""
        for occasion in self.pending():
            del self._due[occasion]
        self._burst_started = None

    # -- what to do -----------------------------------------------------------------

    def due(self) -> Occasion | None:
        """The most urgent occasion due now, or ``None``."""
        now = self._clock()
        for occasion in _PRIORITY:
            when = self._due.get(occasion)
            if when is not None and when <= now:
                return occasion
        return None

    def pending(self) -> frozenset[Occasion]:
        """Occasions noted and not yet covered by a sync, due or not (``INTERVAL`` aside)."""
        return frozenset(o for o in self._due if o is not Occasion.INTERVAL)

    def poll_due(self) -> bool:
        """Whether the sides without notifications should be polled now."""
        return self._next_poll is not None and self._next_poll <= self._clock()

    def wait_time(self) -> float | None:
        """Seconds until something becomes due (0 if already); ``None``: nothing planned."""
        deadlines = list(self._due.values())
        if self._next_poll is not None:
            deadlines.append(self._next_poll)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - self._clock())

    def _arm_interval(self, now: float) -> None:
        if self.occasions.interval is not None:
            self._due[Occasion.INTERVAL] = now + self.occasions.interval.total_seconds()
