"""Recurring series: rule, zone and exceptions; expansion; Outlook's two pattern forms.

Theory of operation
-------------------
A :class:`Recurrence` is a value: an RFC 5545 ``RRULE`` (evaluated by python-dateutil), the
series' IANA time zone, the series start as a local wall time in that zone, the cancelled
occurrences and the changed ones (exceptions, each an :class:`~outlook_sync.model.Event`
with its own subject, times and location). Expanding a series into occurrences (events)
is :func:`outlook_sync._core.expansion.expand`: this package is calendar math below the
model, and never imports it. It is validated and *canonicalised* at
construction, so two recurrences that describe the same series in the same way compare
equal, and an invalid or runaway one never exists.

The package is split by concern; import from here, not from the modules:

- :mod:`.rule` — parsing, the one canonical spelling, refusing runaway rules;
- :mod:`.series` — the :class:`Recurrence` value and its exceptions;
- :mod:`.pattern` — Outlook's six patterns, shared by the two forms below;
- :mod:`.graph` — Microsoft Graph ``patternedRecurrence``;
- :mod:`.com` — the Outlook object model's ``RecurrencePattern``.

A rule outside Outlook's patterns raises :class:`UnsupportedRecurrenceError` when it is
converted; nothing is approximated.
"""

from __future__ import annotations

from outlook_sync.recurrence.com import ComRecurrencePattern, from_com, to_com
from outlook_sync.recurrence.graph import from_graph, to_graph
from outlook_sync.recurrence.pattern import UnsupportedRecurrenceError
from outlook_sync.recurrence.rule import (
    MAX_INTERVAL,
    MAX_OCCURRENCES_PER_YEAR,
    InvalidRecurrenceError,
    OriginalStart,
)
from outlook_sync.recurrence.series import Recurrence

__all__ = [
    "MAX_INTERVAL",
    "MAX_OCCURRENCES_PER_YEAR",
    "ComRecurrencePattern",
    "InvalidRecurrenceError",
    "OriginalStart",
    "Recurrence",
    "UnsupportedRecurrenceError",
    "from_com",
    "from_graph",
    "to_com",
    "to_graph",
]
