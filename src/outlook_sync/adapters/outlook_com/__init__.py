"""Desktop Outlook over COM (pywin32): the calendar adapter and its pieces.

- :class:`OutlookComCalendar` (``calendar.py``): the Calendar Protocol, "Open in Outlook"
  and change events;
- ``connection.py``: attaching to Outlook, the folder in use now and its identity;
- ``reading.py`` / ``writing.py``: opening items for the listings; create, update, delete;
- ``mapping.py``: AppointmentItem <-> Event, the only place COM objects meet the model;
- ``series.py``: a master's RecurrencePattern and Exceptions <-> Recurrence;
- ``listing.py``: id table, watermark filter and cursor token;
- ``errors.py``: the one place COM errors are translated (busy calls retried);
- ``regional.py``: the Windows regional settings Outlook's filters depend on;
- ``dispatch.py``: the real pywin32 binding, imported lazily and only on Windows.

Tests drive the adapter against :mod:`outlook_sync.testing.outlook_com`.
"""

from outlook_sync.adapters.outlook_com.calendar import FolderChoice, OutlookComCalendar
from outlook_sync.adapters.outlook_com.errors import RetryPolicy
from outlook_sync.adapters.outlook_com.events import OutlookSubscription
from outlook_sync.adapters.outlook_com.regional import (
    BRITISH,
    GERMAN,
    SWEDISH,
    US_ENGLISH,
    WindowsLocale,
)

__all__ = [
    "BRITISH",
    "GERMAN",
    "SWEDISH",
    "US_ENGLISH",
    "FolderChoice",
    "OutlookComCalendar",
    "OutlookSubscription",
    "RetryPolicy",
    "WindowsLocale",
]
