"""A fake of the desktop Outlook object model, for testing code that drives Outlook over COM.

Windows and Outlook are not needed: :class:`FakeOutlook` stands in for the Outlook process,
``FakeOutlook.dispatch`` for ``win32com.client.Dispatch("Outlook.Application")`` and
:func:`with_events` for ``win32com.client.WithEvents``. The objects it hands out have the
member names of the real object model (``GetNamespace``, ``GetDefaultFolder``, ``Items``,
``Restrict``, ``AppointmentItem.Save`` ...) and reproduce the documented behaviour a sync tool
trips over; each module's docstring names the Microsoft documentation page it follows:

- ``_filter``: the ``Restrict`` date format (the user's Windows locale, or nothing matches),
  minute precision and the properties ``Restrict`` refuses;
- ``_appointment``: local-time ``Start`` / ``End`` vs ``StartUTC``, ``StartTimeZone`` of
  your own and of others' meetings, ``ResponseStatus``, EntryID vs GlobalAppointmentID,
  ``Copy``, ``Categories`` separators, ``Send``; ``_properties``: ``UserProperties``;
- ``_pattern`` (``_recurrence`` holds its rules): ``RecurrencePattern``, ``Exceptions``,
  ``GetOccurrence``, ``RecurrenceState``;
- ``_items``: ``Items`` (``Restrict``, ``IncludeRecurrences``), ``Table``, the ``ItemAdd`` /
  ``ItemChange`` / ``ItemRemove`` events and their gaps;
- ``_objects``: ``Application``, ``NameSpace``, folders;
- ``_process``: the default store behind ``GetDefaultFolder``, read-only folders, copies of
  meetings;
- ``_server``: faults (busy, network, unreadable, Outlook closing, no classic Outlook),
  cached-mode lag.

The modules import one another in one direction only: ``_errors``, ``_store`` <
``_filter``, ``_recurrence`` < ``_process`` < ``_session`` < ``_pattern``, ``_properties``
< ``_appointment`` < ``_items`` < ``_objects`` < ``_server``.

Example::

    outlook = FakeOutlook()
    app = outlook.dispatch()
    calendar = app.GetNamespace("MAPI").GetDefaultFolder(9)
    item = calendar.Items.Add(1)
    item.Subject = "Lunch"
    item.Save()
"""

from outlook_sync.testing.outlook_com._appointment import AppointmentItem
from outlook_sync.testing.outlook_com._errors import ComError, Fault
from outlook_sync.testing.outlook_com._items import Items
from outlook_sync.testing.outlook_com._objects import Application, Folder, Folders, Namespace
from outlook_sync.testing.outlook_com._pattern import Exception_, Exceptions, RecurrencePattern
from outlook_sync.testing.outlook_com._properties import (
    Recipients,
    UserProperties,
    UserProperty,
)
from outlook_sync.testing.outlook_com._server import BULK_THRESHOLD, FakeOutlook, with_events
from outlook_sync.testing.outlook_com._session import TimeZone
from outlook_sync.testing.outlook_com._store import FolderData, ManualClock, Record

__all__ = [
    "BULK_THRESHOLD",
    "Application",
    "AppointmentItem",
    "ComError",
    "Exception_",
    "Exceptions",
    "FakeOutlook",
    "Fault",
    "Folder",
    "FolderData",
    "Folders",
    "Items",
    "ManualClock",
    "Namespace",
    "Recipients",
    "Record",
    "RecurrencePattern",
    "TimeZone",
    "UserProperties",
    "UserProperty",
    "with_events",
]
