"""Progress a user understands: "12 000 of 20 000, about 8 minutes left".

The engine reports progress as ``progress(phase, done, total)`` (phases ``"list"``,
``"plan"`` and ``"apply"``; see :data:`outlook_sync.apply.Progress`). A host that wants
more than a count wraps its callback in a :class:`ProgressEstimate`, passes the
estimate as the ``progress`` argument of :meth:`Synchronizer.sync`, and reads
:meth:`ProgressEstimate.update` (or receives a :class:`ProgressUpdate` per call)::

    estimate = ProgressEstimate(listener=lambda update: print(update.text))
    synchronizer.sync(progress=estimate)

The remaining time is the work left at the rate the current phase has kept since it
began (done items over elapsed time), so a pause — a Graph mailbox's request budget
running out for the rest of its 10-minute window — lengthens the estimate honestly
instead of being forgotten. No estimate is given before :data:`MIN_SECONDS` of a phase
and :data:`MIN_DONE` items: the first seconds of a sync say little about the rest.

The clock is injectable (monotonic by default); nothing here touches a backend.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import attrs

__all__ = [
    "MIN_DONE",
    "MIN_SECONDS",
    "ProgressEstimate",
    "ProgressUpdate",
    "describe",
    "phase_name",
]

#: Seconds of a phase before a remaining time is estimated.
MIN_SECONDS = 2.0
#: Items of a phase done before a remaining time is estimated.
MIN_DONE = 20

_PHASES = {"list": "reading the calendars", "plan": "planning", "apply": "writing changes"}


@attrs.frozen(kw_only=True)
class ProgressUpdate:
    """One progress report, with what a person needs to read it.

    Attributes:
        phase: ``"list"``, ``"plan"`` or ``"apply"``.
        done, total: items done and planned in this phase.
        remaining: the estimated time left in this phase, or ``None`` when it cannot be
            told yet (too early, nothing done) or the phase is over.
        text: the same in words: ``"12 000 of 20 000, about 8 minutes left"``.
    """

    phase: str
    done: int
    total: int
    remaining: dt.timedelta | None
    text: str


class ProgressEstimate:
    """A ``progress(phase, done, total)`` callback that estimates the time left.

    Args:
        listener: called with a :class:`ProgressUpdate` when a phase starts or ends, and
            in between at most every ``interval`` seconds (a first sync reports every
            one of its 100 000 actions; a display needs a few updates a second).
        forward: another ``progress(phase, done, total)`` callback, called on every
            report (the host's own display).
        clock: seconds, monotonic (``time.monotonic``).
        interval: the least time between two listener calls within a phase.
    """

    def __init__(
        self,
        *,
        listener: Callable[[ProgressUpdate], None] | None = None,
        forward: Callable[[str, int, int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 0.1,
    ) -> None:
        self._listener = listener
        self._forward = forward
        self._clock = clock
        self._interval = interval
        self._told = float("-inf")
        self._phase: str | None = None
        self._started = 0.0
        self._first_done = 0
        self._done = 0
        self._total = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = self._clock()
        boundary = done == 0 or done >= total
        if phase != self._phase or done < self._done:
            self._phase, self._started, self._first_done = phase, now, done
            boundary = True
        self._done, self._total = done, total
        if self._forward is not None:
            self._forward(phase, done, total)
        if self._listener is not None and (boundary or now - self._told >= self._interval):
            self._told = now
            self._listener(self.update(now))

    def update(self, now: float | None = None) -> ProgressUpdate:
        """Where the sync is now, with the estimated time left."""
        now = self._clock() if now is None else now
        remaining = self._remaining(now)
        phase = self._phase or "list"
        return ProgressUpdate(phase=phase, done=self._done, total=self._total,
                              remaining=remaining,
                              text=describe(self._done, self._total, remaining))

    def _remaining(self, now: float) -> dt.timedelta | None:
        elapsed = now - self._started
        progressed = self._done - self._first_done
        if (self._total <= self._done or progressed < MIN_DONE or elapsed < MIN_SECONDS
                or progressed <= 0):
            return None
        seconds = (self._total - self._done) * elapsed / progressed
        return dt.timedelta(seconds=round(seconds))


def _count(number: int) -> str:
    return f"{number:,}".replace(",", "\u00a0")  # 12 000: a no-break space groups digits


def _duration(left: dt.timedelta) -> str:
    minutes = round(left.total_seconds() / 60)
    if left.total_seconds() < 60:
        return "less than a minute left"
    if minutes < 60:
        return f"about {minutes} minute{'s' if minutes != 1 else ''} left"
    hours, minutes = divmod(minutes, 60)
    text = f"about {hours} hour{'s' if hours != 1 else ''}"
    if minutes:
        text += f" {minutes} minute{'s' if minutes != 1 else ''}"
    return text + " left"


def describe(done: int, total: int, remaining: dt.timedelta | None) -> str:
    """``"12 000 of 20 000, about 8 minutes left"`` (English; the CLI translates).

    Without an estimate only the counts are given: ``"12 000 of 20 000"``.
    """
    text = f"{_count(done)} of {_count(total)}"
    if remaining is None:
        return text
    return f"{text}, {_duration(remaining)}"


def phase_name(phase: str) -> str:
    """What a phase is called in words (``"apply"`` is ``"writing changes"``)."""
    return _PHASES.get(phase, phase)
