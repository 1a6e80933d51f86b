"""The fake ``Application``, ``NameSpace``, ``Folder`` and ``Folders`` objects.

Sources for the behaviour reproduced here:

- ``NameSpace.GetDefaultFolder(9)`` is the calendar (olFolderCalendar = 9, olFolderDeletedItems
  = 3), https://learn.microsoft.com/en-us/office/vba/api/outlook.oldefaultfolders ;
  ``GetItemFromID(EntryIDItem, EntryIDStore)``,
  https://learn.microsoft.com/en-us/office/vba/api/outlook.namespace.getitemfromid
- ``Application.CreateItem`` / ``Items.Add`` make a new, unsaved appointment (it gets its
  EntryID on ``Save``): https://learn.microsoft.com/en-us/office/vba/api/outlook.items.add
- ``Dispatch("Outlook.Application")`` needs classic Outlook's COM server; the new Outlook
  for Windows has none ("COM and VSTO add-ins aren't supported in the new Outlook on
  Windows"), so on a machine with only the new Outlook the ProgID does not resolve
  (CO_E_CLASSSTRING): see ``FakeOutlook(classic=False)``.
  https://learn.microsoft.com/en-us/office/dev/add-ins/outlook/outlook-add-ins-overview
"""

from __future__ import annotations

from collections.abc import Iterator

from outlook_sync.testing.outlook_com._appointment import AppointmentItem
from outlook_sync.testing.outlook_com._errors import invalid_argument, not_found
from outlook_sync.testing.outlook_com._items import Items, Table, new_item
from outlook_sync.testing.outlook_com._session import Session, TimeZones
from outlook_sync.testing.outlook_com._store import FolderData

__all__ = ["Application", "Folder", "Folders", "Namespace"]

OL_FOLDER_DELETED_ITEMS = 3
OL_FOLDER_CALENDAR = 9
OL_APPOINTMENT_ITEM = 1


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
        store = self._session.outlook.default_store
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
        return new_item(self._session, self._session.outlook.default_store.calendar)

    def Quit(self) -> None:
        self._session.tick("Application.Quit")
        self._session.outlook.quit()
