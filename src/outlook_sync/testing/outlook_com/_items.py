"""The fake ``Items`` collection and the ``Table`` / ``Row`` of ``Folder.GetTable``.

Sources for the behaviour reproduced here:

- ``Items.Restrict`` / ``Find`` filters: see ``_filter`` (locale date format, minute precision).
  ``Restrict`` "cannot be used and will cause an error" with ``Body``, ``Categories``,
  ``Class``, ``EntryID``, ``RecurrenceState``, ``ResponseState``, ``Saved`` ... (the page's
  whole table, :data:`~outlook_sync.testing.outlook_com._filter.NOT_FILTERABLE`); a
  ``Folder.GetTable`` filter goes through the same check here.
  https://learn.microsoft.com/en-us/office/vba/api/outlook.items.restrict
  ``Find`` "will return an error with the following properties in the Filter": the same
  table, refused the same way.
  https://learn.microsoft.com/en-us/office/vba/api/outlook.items.find
- ``Items.SetColumns`` "cannot be used, and will cause an error" with ``EntryID``, ``Body``,
  ``Categories``, ``Class``, ``MessageClass`` ... or any property returning an object; after it,
  "properties which are not cached are returned empty",
  https://learn.microsoft.com/en-us/previous-versions/office/developer/office-2010/bb610268(v=office.14)
  — the fast way to list ids is ``Folder.GetTable``, whose default calendar columns are
  EntryID, Subject, CreationTime, LastModificationTime, MessageClass, Start, End, IsRecurring
  (dates as local times, like the items' own properties),
  https://learn.microsoft.com/en-us/office/vba/outlook/how-to/search-and-filter/default-properties-displayed-in-a-table-object
- ``Items.IncludeRecurrences``: "This property only has an effect if the Items collection
  contains appointments and is not sorted by any property other than Start in ascending
  order"; with it, iterating (``GetFirst``/``GetNext``, ``Find``/``FindNext``, ``for``) yields
  every occurrence of every series (``RecurrenceState`` 2, or 3 for an exception; cancelled
  ones left out) among the single items, in order of (original) start, and a series with no
  end makes the collection endless (the fake stops at Outlook's "none" year 4501). "You
  should not use Count property of Items collection when iterating Items collection with
  IncludeRecurrence property set to True. The value of Count will be an undefined value."
  Sort first, then set the property, then ``Restrict``: the restriction then applies to the
  occurrences.
  https://learn.microsoft.com/en-us/office/vba/api/outlook.items.includerecurrences — the fake
  returns a nonsense ``Count`` in that mode; ``Item(index)`` and tables ignore the property.
- Events ``ItemAdd(Item)``, ``ItemChange(Item)``, ``ItemRemove()`` (no item: the removed one is
  not named). ItemAdd "does not run when a large number of items are added to the folder at
  once" and ItemRemove not "if 16 or more items are deleted at once".
  https://learn.microsoft.com/en-us/office/vba/api/outlook.items.itemadd
  https://learn.microsoft.com/en-us/office/vba/api/outlook.items.itemremove
  Events are delivered only while the ``Items`` object that was subscribed is still referenced
  (an event sink on a temporary ``Folder.Items`` stops when it is garbage collected).
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import weakref
from collections.abc import Iterator
from typing import Any

from outlook_sync.testing.outlook_com._appointment import AppointmentItem
from outlook_sync.testing.outlook_com._errors import invalid_argument
from outlook_sync.testing.outlook_com._filter import NOT_FILTERABLE, Predicate, compile_filter
from outlook_sync.testing.outlook_com._recurrence import occurrence_record, occurrences
from outlook_sync.testing.outlook_com._session import Session
from outlook_sync.testing.outlook_com._store import FolderData, Record, default_fields

__all__ = ["CALENDAR_TABLE_COLUMNS", "NOT_CACHEABLE", "Items", "Row", "Table", "new_item"]

OL_APPOINTMENT_ITEM = 1
UNDEFINED_COUNT = 2_147_483_647
#: Where an endless series stops when occurrences are included (Outlook's "none" date).
_LAST_OCCURRENCE = dt.datetime(4501, 1, 1, tzinfo=dt.UTC)
#: Properties ``SetColumns`` refuses (the documented list, as far as appointments go).
NOT_CACHEABLE = frozenset(
    {
        "Body",
        "Categories",
        "Class",
        "EntryID",
        "MessageClass",
        "Saved",
        "UserProperties",
        "Recipients",
        "StartTimeZone",
        "EndTimeZone",
        "Parent",
    }
)
#: The default columns of ``Folder.GetTable`` for a calendar folder.
CALENDAR_TABLE_COLUMNS = (
    "EntryID",
    "Subject",
    "CreationTime",
    "LastModificationTime",
    "MessageClass",
    "Start",
    "End",
    "IsRecurring",
)



class Items:
    """A folder's items, optionally restricted and sorted (a live view)."""

    def __init__(
        self,
        session: Session,
        folder: FolderData,
        *,
        predicate: Predicate | None = None,
        sort: str | None = None,
        descending: bool = False,
    ) -> None:
        self._session = session
        self._folder = folder
        self._predicate = predicate
        self._sort = sort
        self._descending = descending
        self._cursor: Iterator[AppointmentItem] = iter(())
        self._find: Predicate | None = None
        self.IncludeRecurrences = False
        self.columns: tuple[str, ...] = ()

    def _value(self, record: Record, name: str) -> Any:
        item = AppointmentItem.view(self._session, self._folder, record)
        if name in self._folder.folder_fields and name in record.user_props:
            return record.user_props[name].value
        if name in self._folder.folder_fields:
            return None
        return item._read(name)

    def _matches(self, record: Record, predicate: Predicate | None) -> bool:
        return predicate is None or predicate(lambda name: self._value(record, name))

    def _records(self) -> list[Record]:
        records = [r for r in self._folder.records.values() if self._matches(r, self._predicate)]
        if self._sort is not None:
            key = self._sort
            records.sort(key=lambda r: self._value(r, key), reverse=self._descending)
        return records

    def _event_item(self, record: Record) -> AppointmentItem:
        """The item an ItemAdd / ItemChange event hands to the sink."""
        return AppointmentItem(self._session, self._folder, record, saved=True)

    def _wrap(self, record: Record) -> AppointmentItem:
        item = AppointmentItem(self._session, self._folder, record, saved=True)
        if self.columns:
            object.__setattr__(item, "_columns", frozenset(self.columns))
        return item

    def _compile(self, text: str, *, refused: frozenset[str] = frozenset()) -> Predicate:
        outlook = self._session.outlook
        return compile_filter(
            text,
            short_date=outlook.short_date,
            short_time=outlook.short_time,
            folder_fields=self._folder.folder_fields,
            refused=refused,
        )

    @property
    def Count(self) -> int:
        self._session.tick("Items.Count")
        if self.IncludeRecurrences and self._sort == "Start":
            return UNDEFINED_COUNT
        return len(self._records())

    def __len__(self) -> int:
        return self.Count

    def __iter__(self) -> Iterator[AppointmentItem]:
        self._session.tick("Items.__iter__")
        yield from self._stream()

    def _expanding(self) -> bool:
        return bool(self.IncludeRecurrences) and self._sort == "Start" and not self._descending

    def _stream(self) -> Iterator[AppointmentItem]:
        """What iteration yields: live items, or items and occurrences (IncludeRecurrences)."""
        if not self._expanding():
            for record in self._records():
                live = self._folder.records.get(record.entry_id)
                if live is not None:
                    yield self._wrap(live)
            return
        records = list(self._folder.records.values())
        singles = sorted(
            (r for r in records if r.pattern is None and self._matches(r, self._predicate)),
            key=lambda r: r.start_utc,
        )
        streams: list[Iterator[tuple[dt.datetime, Record]]] = [((r.start_utc, r) for r in singles)]
        streams += [self._occurrences(r) for r in records if r.pattern is not None]
        for _start, record in heapq.merge(*streams, key=lambda pair: pair[0]):
            yield self._wrap(record)

    def _occurrences(self, master: Record) -> Iterator[tuple[dt.datetime, Record]]:
        assert master.pattern is not None
        exceptions = master.pattern.exceptions
        originals = itertools.takewhile(lambda o: o < _LAST_OCCURRENCE, occurrences(master))
        for original in originals:
            found = exceptions.get(original)
            if found is not None and found.deleted:
                continue
            record = occurrence_record(master, original)
            if self._matches(record, self._predicate):
                yield original, record

    def Item(self, Index: int) -> AppointmentItem:
        self._session.tick("Items.Item")
        records = self._records()
        if not 1 <= Index <= len(records):
            raise invalid_argument("Array index out of bounds.")
        return self._wrap(records[Index - 1])

    def GetFirst(self) -> AppointmentItem | None:
        self._session.tick("Items.GetFirst")
        self._cursor = self._stream()
        return self._step()

    def GetNext(self) -> AppointmentItem | None:
        self._session.tick("Items.GetNext")
        return self._step()

    def _step(self) -> AppointmentItem | None:
        return next(self._cursor, None)

    def Restrict(self, Filter: str) -> Items:
        self._session.tick("Items.Restrict")
        predicate = self._compile(Filter, refused=NOT_FILTERABLE)
        outer = self._predicate
        combined: Predicate = (
            predicate if outer is None else (lambda get: outer(get) and predicate(get))
        )
        restricted = Items(
            self._session,
            self._folder,
            predicate=combined,
            sort=self._sort,
            descending=self._descending,
        )
        restricted.IncludeRecurrences = self.IncludeRecurrences
        return restricted

    def Find(self, Filter: str) -> AppointmentItem | None:
        """The first item matching ``Filter``; ``FindNext`` gives the next ones.

        "The method will return an error with the following properties in the Filter":
        the same table as ``Restrict``'s (Body, Class, EntryID, RecurrenceState, Saved ...;
        :data:`~outlook_sync.testing.outlook_com._filter.NOT_FILTERABLE`), refused here the
        same way. https://learn.microsoft.com/en-us/office/vba/api/outlook.items.find
        """
        self._session.tick("Items.Find")
        self._find = self._compile(Filter, refused=NOT_FILTERABLE)
        self._cursor = self._stream()
        return self._find_next()

    def FindNext(self) -> AppointmentItem | None:
        self._session.tick("Items.FindNext")
        return self._find_next()

    def _find_next(self) -> AppointmentItem | None:
        while (item := self._step()) is not None:
            if self._matches(item._state, self._find):
                return item
        return None

    def Sort(self, Property: str, Descending: bool = False) -> None:
        self._session.tick("Items.Sort")
        self._sort = Property.strip().strip("[]")
        self._descending = bool(Descending)

    def SetColumns(self, Columns: str) -> None:
        """Cache only these properties (recorded; the fake reads every property anyway)."""
        self._session.tick("Items.SetColumns")
        columns = tuple(c.strip() for c in Columns.split(",") if c.strip())
        refused = [c for c in columns if c in NOT_CACHEABLE]
        if refused:
            raise invalid_argument(f"SetColumns cannot cache {', '.join(refused)}.")
        self.columns = columns

    def ResetColumns(self) -> None:
        self._session.tick("Items.ResetColumns")
        self.columns = ()

    def Add(self, Type: int = OL_APPOINTMENT_ITEM) -> AppointmentItem:
        """A new, unsaved appointment in this folder (it gets its EntryID on ``Save``)."""
        self._session.tick("Items.Add")
        if Type != OL_APPOINTMENT_ITEM:
            raise invalid_argument("The fake only creates appointments (olAppointmentItem).")
        return new_item(self._session, self._folder)

    # -- events (see with_events) ----------------------------------------------------------
    def _advise(self, sink: Any) -> None:
        self._folder.subscribers.append((weakref.ref(self), sink))

    def _unadvise(self, sink: Any) -> None:
        self._folder.subscribers[:] = [
            (ref, s) for ref, s in self._folder.subscribers if s is not sink
        ]


class Row:
    """One row of a :class:`Table`: ``Item(index or column name)``, ``GetValues()``."""

    def __init__(self, session: Session, values: dict[str, Any]) -> None:
        self._session = session
        self._values = values

    def Item(self, Index: int | str) -> Any:
        self._session.tick("Row.Item")
        if isinstance(Index, int):
            return list(self._values.values())[Index - 1]
        return self._values[Index]

    def __call__(self, Index: int | str) -> Any:
        return self.Item(Index)

    def GetValues(self) -> tuple[Any, ...]:
        self._session.tick("Row.GetValues")
        return tuple(self._values.values())


class Table:
    """A read-only, forward-only view of a folder's items (``Folder.GetTable``)."""

    def __init__(self, session: Session, items: Items) -> None:
        self._session = session
        self._items = items
        self._columns = list(CALENDAR_TABLE_COLUMNS)
        self._rows = items._records()
        self._position = 0

    @property
    def EndOfTable(self) -> bool:
        self._session.tick("Table.EndOfTable")
        return self._position >= len(self._rows)

    def GetRowCount(self) -> int:
        self._session.tick("Table.GetRowCount")
        return len(self._rows)

    def MoveToStart(self) -> None:
        self._session.tick("Table.MoveToStart")
        self._position = 0

    def GetNextRow(self) -> Row | None:
        self._session.tick("Table.GetNextRow")
        if self._position >= len(self._rows):
            return None
        record = self._rows[self._position]
        self._position += 1
        values = {name: self._items._value(record, name) for name in self._columns}
        return Row(self._session, values)

    def Restrict(self, Filter: str) -> Table:
        self._session.tick("Table.Restrict")
        return Table(self._session, self._items.Restrict(Filter))


def new_item(session: Session, folder: FolderData) -> AppointmentItem:
    """A new, unsaved appointment in ``folder``: next full hour, 30 minutes, local zone."""
    outlook = session.outlook
    now = outlook.clock()
    start = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    record = Record(
        entry_id="",
        global_id=outlook.new_global_id(),
        start_utc=start,
        end_utc=start + dt.timedelta(minutes=30),
        start_tz=outlook.time_zone,
        end_tz=outlook.time_zone,
        created=now,
        modified=now,
        fields=default_fields(),
    )
    return AppointmentItem(session, folder, record, saved=False)
