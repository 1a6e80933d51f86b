"""The fake ``Application``, ``NameSpace``, ``Folder``, ``Items`` and ``TimeZone`` objects.

Sources for the behaviour reproduced here:

- ``NameSpace.GetDefaultFolder(9)`` is the calendar (olFolderCalendar = 9, olFolderDeletedItems
  = 3), https://learn.microsoft.com/en-us/office/vba/api/outlook.oldefaultfolders ;
  ``GetItemFromID(EntryIDItem, EntryIDStore)``,
  https://learn.microsoft.com/en-us/office/vba/api/outlook.namespace.getitemfromid
- ``Items.Restrict`` / ``Find`` filters: see ``_filter`` (locale date format, minute precision).
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
from typing import TYPE_CHECKING, Any

from outlook_sync.testing.outlook_com._appointment import AppointmentItem
from outlook_sync.testing.outlook_com._errors import (
    disconnected,
    invalid_argument,
    not_found,
    server_unavailable,
)
from outlook_sync.testing.outlook_com._filter import Predicate, compile_filter
from outlook_sync.testing.outlook_com._recurrence import occurrence_record, occurrences
from outlook_sync.testing.outlook_com._store import FolderData, Record, default_fields

if TYPE_CHECKING:
    from outlook_sync.testing.outlook_com._server import FakeOutlook

__all__ = [
    "Application",
    "Folder",
    "Folders",
    "Items",
    "Namespace",
    "Row",
    "Session",
    "Table",
    "TimeZone",
]

OL_FOLDER_DELETED_ITEMS = 3
OL_FOLDER_CALENDAR = 9
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


class Session:
    """One connection to the fake Outlook process (dies when Outlook quits)."""

    def __init__(self, outlook: FakeOutlook, generation: int) -> None:
        self.outlook = outlook
        self.generation = generation

    def tick(self, member: str, entry_id: str | None = None) -> None:
        """Account for one COM call; raise what Outlook would raise right now."""
        outlook = self.outlook
        if not outlook.running:
            raise server_unavailable()
        if self.generation != outlook.generation:
            raise disconnected()
        outlook.before_call(member, entry_id)


class TimeZone:
    """``TimeZone``: ``ID`` is the Windows zone name ("W. Europe Standard Time")."""

    def __init__(self, session: Session, zone_id: str) -> None:
        self._session = session
        self.ID = zone_id
        self.Name = zone_id


class TimeZones:
    """``Application.TimeZones``: ``CurrentTimeZone`` and ``Item(ID)``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @property
    def CurrentTimeZone(self) -> TimeZone:
        self._session.tick("TimeZones.CurrentTimeZone")
        return TimeZone(self._session, self._session.outlook.time_zone)

    def Item(self, Index: str) -> TimeZone:
        self._session.tick("TimeZones.Item")
        from outlook_sync.timezones import UnknownTimeZoneError, windows_to_iana

        try:
            windows_to_iana(Index)
        except UnknownTimeZoneError:
            raise invalid_argument(f"Unknown time zone {Index!r}.") from None
        return TimeZone(self._session, Index)


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

    def _wrap(self, record: Record) -> AppointmentItem:
        item = AppointmentItem(self._session, self._folder, record, saved=True)
        if self.columns:
            object.__setattr__(item, "_columns", frozenset(self.columns))
        return item

    def _compile(self, text: str) -> Predicate:
        outlook = self._session.outlook
        return compile_filter(
            text,
            short_date=outlook.short_date,
            short_time=outlook.short_time,
            folder_fields=self._folder.folder_fields,
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
        predicate = self._compile(Filter)
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
        self._session.tick("Items.Find")
        self._find = self._compile(Filter)
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
        return self._session.outlook.new_item(self._session, self._folder)

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


class Folder:
    """A folder: ``Name``, ``EntryID``, ``StoreID``, ``FolderPath``, ``Items``, ``Folders``."""

    def __init__(self, session: Session, data: FolderData) -> None:
        self._session = session
        self._data = data

    def _tick(self, member: str) -> None:
        self._session.tick(member)

    @property
    def Name(self) -> str:
        self._tick("Folder.Name")
        return self._data.name

    @property
    def EntryID(self) -> str:
        self._tick("Folder.EntryID")
        return self._data.entry_id

    @property
    def StoreID(self) -> str:
        self._tick("Folder.StoreID")
        return self._data.store.store_id

    @property
    def FolderPath(self) -> str:
        self._tick("Folder.FolderPath")
        return self._data.path

    @property
    def DefaultItemType(self) -> int:
        self._tick("Folder.DefaultItemType")
        return self._data.default_item_type

    @property
    def Items(self) -> Items:
        """A *new* Items object on every access, as in Outlook."""
        self._tick("Folder.Items")
        return Items(self._session, self._data)

    def GetTable(self, Filter: str = "", TableContents: int = 0) -> Table:
        """A :class:`Table` of the folder's items (optionally filtered, Jet syntax)."""
        self._tick("Folder.GetTable")
        items = Items(self._session, self._data)
        source = items.Restrict(Filter) if Filter else items
        return Table(self._session, source)

    @property
    def Folders(self) -> Folders:
        self._tick("Folder.Folders")
        return Folders(self._session, self._data.children, parent=self._data)


class Folders:
    """A folder collection: ``Count``, ``Item(index or name)``, ``Add(name)``."""

    def __init__(
        self, session: Session, folders: list[FolderData], *, parent: FolderData | None
    ) -> None:
        self._session = session
        self._folders = folders
        self._parent = parent

    @property
    def Count(self) -> int:
        self._session.tick("Folders.Count")
        return len(self._folders)

    def Item(self, Index: int | str) -> Folder:
        self._session.tick("Folders.Item")
        if isinstance(Index, str):
            for data in self._folders:
                if data.name.casefold() == Index.casefold():
                    return Folder(self._session, data)
            raise not_found()
        if not 1 <= Index <= len(self._folders):
            raise invalid_argument("Array index out of bounds.")
        return Folder(self._session, self._folders[Index - 1])

    def __call__(self, Index: int | str) -> Folder:
        return self.Item(Index)

    def __iter__(self) -> Iterator[Folder]:
        self._session.tick("Folders.__iter__")
        for data in list(self._folders):
            yield Folder(self._session, data)

    def Add(self, Name: str, Type: int | None = None) -> Folder:
        self._session.tick("Folders.Add")
        if self._parent is None:
            raise invalid_argument("Stores cannot be added through NameSpace.Folders.")
        data = self._session.outlook.add_folder(
            self._parent, Name, calendar=Type == OL_FOLDER_CALENDAR
        )
        return Folder(self._session, data)


class Namespace:
    """``Application.GetNamespace("MAPI")``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def GetDefaultFolder(self, FolderType: int) -> Folder:
        self._session.tick("NameSpace.GetDefaultFolder")
        store = self._session.outlook.stores[0]
        if FolderType == OL_FOLDER_CALENDAR:
            return Folder(self._session, store.calendar)
        if FolderType == OL_FOLDER_DELETED_ITEMS:
            return Folder(self._session, store.deleted_items)
        raise invalid_argument(f"The fake has no default folder {FolderType}.")

    def GetItemFromID(self, EntryIDItem: str, EntryIDStore: str | None = None) -> AppointmentItem:
        self._session.tick("NameSpace.GetItemFromID", EntryIDItem)
        found = self._session.outlook.find_record(EntryIDItem, EntryIDStore)
        if found is None:
            raise not_found()
        folder, record = found
        return AppointmentItem(self._session, folder, record, saved=True)

    def GetFolderFromID(self, EntryIDFolder: str, EntryIDStore: str | None = None) -> Folder:
        self._session.tick("NameSpace.GetFolderFromID")
        data = self._session.outlook.find_folder(EntryIDFolder, EntryIDStore)
        if data is None:
            raise not_found()
        return Folder(self._session, data)

    @property
    def Folders(self) -> Folders:
        self._session.tick("NameSpace.Folders")
        return Folders(self._session, [s.root for s in self._session.outlook.stores], parent=None)


class Application:
    """``Outlook.Application`` as ``win32com.client.Dispatch`` returns it."""

    Name = "Outlook"
    Version = "16.0.0.0"

    def __init__(self, session: Session) -> None:
        self._session = session

    def GetNamespace(self, Type: str) -> Namespace:
        self._session.tick("Application.GetNamespace")
        if Type.upper() != "MAPI":
            raise invalid_argument("Only the MAPI namespace exists.")
        return Namespace(self._session)

    @property
    def Session(self) -> Namespace:
        return self.GetNamespace("MAPI")

    @property
    def TimeZones(self) -> TimeZones:
        self._session.tick("Application.TimeZones")
        return TimeZones(self._session)

    def CreateItem(self, ItemType: int) -> AppointmentItem:
        self._session.tick("Application.CreateItem")
        if ItemType != OL_APPOINTMENT_ITEM:
            raise invalid_argument("The fake only creates appointments (olAppointmentItem).")
        return self._session.outlook.new_item(
            self._session, self._session.outlook.stores[0].calendar
        )

    def Quit(self) -> None:
        self._session.tick("Application.Quit")
        self._session.outlook.quit()


def blank_record(outlook: FakeOutlook, global_id: str, *, local_zone: str) -> Record:
    """A new appointment: next full hour, 30 minutes, in the local zone."""
    now = outlook.clock()
    start = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    return Record(
        entry_id="",
        global_id=global_id,
        start_utc=start,
        end_utc=start + dt.timedelta(minutes=30),
        start_tz=local_zone,
        end_tz=local_zone,
        created=now,
        modified=now,
        fields=default_fields(),
    )
