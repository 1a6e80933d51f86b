"""The in-memory calendars: the reference adapter, and a stand-in user for tests.

- :class:`InMemoryCalendar` (:mod:`~outlook_sync.adapters.memory.calendar`) writes one
  item per call, as desktop Outlook and most custom backends do; it implements
  :class:`~outlook_sync.protocols.Calendar` with the semantics every other backend must
  match, and lets a test act as a user would and inject faults.
- :class:`InMemoryBulkCalendar` (:mod:`~outlook_sync.adapters.memory.bulk`) writes many
  items per call, as the SQL adapter and Graph's ``$batch`` do.
- :class:`WriteLog` (:mod:`~outlook_sync.adapters.memory.write_log`): what both record
  of their writes, for tests to count.
"""

from outlook_sync.adapters.memory.bulk import InMemoryBulkCalendar
from outlook_sync.adapters.memory.calendar import InMemoryCalendar
from outlook_sync.adapters.memory.write_log import WriteLog

__all__ = ["InMemoryBulkCalendar", "InMemoryCalendar", "WriteLog"]
