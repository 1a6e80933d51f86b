"""The fake Outlook *process*: its stores, its clock, its faults, without any COM surface.

:class:`Process` is what every COM object of the fake talks to (through its ``Session``):
the message stores and folders, the Windows settings, the planned faults, the counters, and
the record operations that several COM members share (move, copy, events). It imports no
COM object: the objects are built above it (``_session`` < ``_pattern`` < ``_appointment`` <
``_items`` < ``_objects`` < ``_server``), and the two things the process must hand out as
COM objects — a ``Folder`` (``AppointmentItem.Parent``) and the item an event carries — are
made by the layer that defines them (:meth:`Process.folder_object`, implemented by
``FakeOutlook``; an ``Items`` object wraps its own event items).

Sources for the behaviour kept here:

- ``NameSpace.GetDefaultFolder`` returns the default folder "for the current profile", i.e.
  of the profile's default store (``NameSpace.DefaultStore``); a new profile or another
  default mailbox changes it, and with it the folder's ``EntryID`` and ``StoreID``.
  https://learn.microsoft.com/en-us/office/vba/api/outlook.namespace.getdefaultfolder
  https://learn.microsoft.com/en-us/office/vba/api/outlook.namespace.defaultstore
- Access to a message "is determined by an object's parent. For a message, its folder
  determines access permissions": a calendar shared with *Reviewer* rights can be read but
  not written. Saving, deleting or moving an item of such a folder fails with
  ``MAPI_E_NO_ACCESS`` (``E_ACCESSDENIED``, 0x80070005), which Outlook reports as "You don't
  have appropriate permission to perform this operation."
  https://learn.microsoft.com/en-us/office/client-developer/outlook/mapi/permissions-for-mapi-objects-and-properties
- Copying a meeting ([MS-OXOCAL] 3.1.4.3 "Copying a Calendar Object"): every property is
  copied except the Global Object ID (new); for a meeting, ``PidLidResponseStatus`` "SHOULD
  be set to respNotResponded (0x00000005)" and the subject gets a "Copy:" prefix.
  https://learn.microsoft.com/en-us/openspecs/exchange_server_protocols/ms-oxocal/
  (section 3.1.4.3; also https://msdn.microsoft.com/library/ee201844%28v=exchg.80%29.aspx)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from outlook_sync.testing.outlook_com._errors import (
    Fault,
    access_denied,
    moved_or_deleted,
    server_unavailable,
)
from outlook_sync.testing.outlook_com._store import FolderData, ManualClock, Record, StoreData

__all__ = ["OL_RESPONSE_NOT_RESPONDED", "Process", "walk"]

#: OlResponseStatus olResponseNotResponded: a meeting request nobody answered yet,
#: https://learn.microsoft.com/en-us/office/vba/api/outlook.olresponsestatus
OL_RESPONSE_NOT_RESPONDED = 5


@dataclasses.dataclass
class _PlannedFault:
    fault: Fault
    times: int
    member: str | None
    entry_id: str | None


def walk(folder: FolderData) -> Iterable[FolderData]:
    """``folder`` and every folder below it."""
    yield folder
    for child in folder.children:
        yield from walk(child)


class Process:
    """The state of one fake Outlook installation (see the module docstring)."""

    def __init__(
        self,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        time_zone: str = "W. Europe Standard Time",
        short_date: str = "yyyy-MM-dd",
        short_time: str = "HH:mm",
        list_separator: str = ";",
        mailbox: str = "anna@example.com",
        running: bool = True,
    ) -> None:
        self.clock: Callable[[], dt.datetime] = clock or ManualClock()
        self.time_zone = time_zone
        self.short_date = short_date
        self.short_time = short_time
        self.list_separator = list_separator
        self.running = running
        self.can_start = True
        self.generation = 0
        self.stores: list[StoreData] = []
        self.sent: list[str] = []
        self.displayed: list[str] = []
        self.calls: Counter[str] = Counter()
        self.property_reads: Counter[str] = Counter()
        self.unreadable: dict[str, set[str]] = {}
        self.event_errors: list[BaseException] = []
        self._faults: list[_PlannedFault] = []
        self._quit_after: int | None = None
        self._serial = 0
        self.default_store = self.add_store(mailbox)

    def folder_object(self, session: Any, data: FolderData) -> Any:
        """The COM ``Folder`` for ``data`` (made by the layer that defines Folder)."""
        raise NotImplementedError

    # -- the process ------------------------------------------------------------------------
    def start(self) -> None:
        """The user (or COM) starts Outlook; objects from before stay disconnected."""
        if not self.running:
            self.running = True
            self.generation += 1

    def quit(self) -> None:
        """Outlook closes: every later call raises RPC_S_SERVER_UNAVAILABLE."""
        self.running = False
        self._quit_after = None

    def quit_after(self, calls: int | None) -> None:
        """Outlook closes after ``calls`` more COM calls (mid-sync); ``None`` cancels."""
        self._quit_after = calls

    def fail_next(
        self,
        fault: Fault,
        *,
        times: int = 1,
        member: str | None = None,
        entry_id: str | None = None,
    ) -> None:
        """The next ``times`` calls (to ``member`` / on ``entry_id`` if given) raise ``fault``."""
        self._faults.append(_PlannedFault(fault, times, member, entry_id))

    def make_unreadable(self, entry_id: str, *members: str) -> None:
        """Reading these properties (default: Body) of the item raises MAPI_E_CORRUPT_DATA."""
        self.unreadable.setdefault(entry_id, set()).update(members or ("Body",))

    def make_readable(self, entry_id: str) -> None:
        """Undo :meth:`make_unreadable`."""
        self.unreadable.pop(entry_id, None)

    def before_call(self, member: str, entry_id: str | None) -> None:
        """Called by every COM member: count it, then raise a planned fault if one is due."""
        if self._quit_after is not None:
            if self._quit_after <= 0:
                self.quit()
                raise server_unavailable()
            self._quit_after -= 1
        for planned in self._faults:
            if planned.member is not None and planned.member != member:
                continue
            if planned.entry_id is not None and planned.entry_id != entry_id:
                continue
            planned.times -= 1
            if planned.times <= 0:
                self._faults.remove(planned)
            raise planned.fault.error()
        self.calls[member] += 1

    # -- stores and folders -----------------------------------------------------------------
    def _next(self) -> int:
        self._serial += 1
        return self._serial

    def add_store(self, display_name: str) -> StoreData:
        """Open another store (a second mailbox or a .pst) with Calendar and Deleted Items."""
        serial = self._next()
        store = StoreData(
            display_name=display_name,
            store_id="0000000038A1BB1005E5101AA1BB08002B2A56C20000"
            + f"{serial:08X}"
            + display_name.encode().hex().upper(),
        )
        store.root = FolderData(display_name, self._folder_id(store), store, None)
        store.calendar = self.add_folder(store.root, "Calendar", calendar=True)
        store.deleted_items = self.add_folder(store.root, "Deleted Items")
        self.stores.append(store)
        return store

    def _folder_id(self, store: StoreData) -> str:
        return "00000000" + store.store_id[-16:] + f"0100{self._next():028X}"

    def add_folder(self, parent: FolderData, name: str, *, calendar: bool = False) -> FolderData:
        """A subfolder of ``parent`` (a calendar folder if ``calendar``)."""
        data = FolderData(
            name,
            self._folder_id(parent.store),
            parent.store,
            parent,
            default_item_type=1 if calendar else 0,
        )
        parent.children.append(data)
        return data

    def add_calendar(self, name: str, *, store: StoreData | None = None) -> FolderData:
        """Another calendar folder under the store's Calendar (the user's "Team" calendar)."""
        return self.add_folder((store or self.default_store).calendar, name, calendar=True)

    def use_default_store(self, store: StoreData) -> None:
        """Another profile or default mailbox: ``GetDefaultFolder`` now answers from ``store``."""
        self.default_store = store

    def replace_default_calendar(self) -> FolderData:
        """The mailbox's default calendar is a *new* folder (re-created mailbox, new EntryID)."""
        store = self.default_store
        store.calendar = self.add_folder(store.root, "Calendar", calendar=True)
        return store.calendar

    def make_read_only(self, folder: FolderData, read_only: bool = True) -> None:
        """The folder is shared with read rights only (Reviewer): writes are refused."""
        folder.read_only = read_only

    def check_writable(self, folder: FolderData) -> None:
        """Raise what Outlook raises when an item of a read-only folder is written.

        Raises:
            ComError: MAPI_E_NO_ACCESS, "You don't have appropriate permission ...".
        """
        if folder.read_only:
            raise access_denied()

    def folder(self, path: str | None = None) -> FolderData:
        """The folder at ``\\\\Store\\Calendar\\Sub`` (default: the default calendar)."""
        if path is None:
            return self.default_store.calendar
        for store in self.stores:
            for data in walk(store.root):
                if data.path.casefold() == path.casefold():
                    return data
        raise KeyError(path)

    def new_entry_id(self, store: StoreData) -> str:
        """A fresh long-term EntryID in ``store`` (hex, as pywin32 returns it)."""
        return "00000000" + store.store_id[-16:] + f"0700{self._next():044X}"

    def new_global_id(self) -> str:
        """A fresh GlobalAppointmentID (hex of a PidLidGlobalObjectId)."""
        return "040000008200E00074C5B7101A82E00800000000" + f"{self._next():072X}"

    def find_record(
        self, entry_id: str, store_id: str | None = None
    ) -> tuple[FolderData, Record] | None:
        """The folder holding ``entry_id`` and its record (in ``store_id`` if given)."""
        for store in self.stores:
            if store_id is not None and store.store_id != store_id:
                continue
            for data in walk(store.root):
                if entry_id in data.records:
                    return data, data.records[entry_id]
        return None

    def find_folder(self, entry_id: str, store_id: str | None = None) -> FolderData | None:
        """The folder whose EntryID is ``entry_id`` (in ``store_id`` if given)."""
        for store in self.stores:
            if store_id is not None and store.store_id != store_id:
                continue
            for data in walk(store.root):
                if data.entry_id == entry_id:
                    return data
        return None

    def record(self, entry_id: str) -> Record:
        """The stored record (for assertions); KeyError if no such item."""
        return self.located(entry_id)[1]

    def located(self, entry_id: str) -> tuple[FolderData, Record]:
        """The folder and record of ``entry_id``; KeyError if no such item."""
        found = self.find_record(entry_id)
        if found is None:
            raise KeyError(entry_id)
        return found

    # -- what several COM members do alike --------------------------------------------------
    def move_record(self, source: FolderData, entry_id: str, target: FolderData) -> Record:
        """Move an item; it gets a new EntryID in ``target``; events fire on both folders."""
        record = source.records.pop(entry_id, None)
        if record is None:
            raise moved_or_deleted()
        record.entry_id = self.new_entry_id(target.store)
        record.modified = self.clock()
        target.records[record.entry_id] = record
        self.fire(source, "ItemRemove", None)
        self.fire(target, "ItemAdd", record.entry_id)
        return record

    def copy_record(self, folder: FolderData, entry_id: str) -> Record:
        """A saved copy: new EntryID, new global id, every other property carried over;
        a copied meeting is unanswered again, with a "Copy:" subject ([MS-OXOCAL] 3.1.4.3).
        """
        original = folder.records.get(entry_id)
        if original is None:
            raise moved_or_deleted()
        record = original.copy()
        record.entry_id = self.new_entry_id(folder.store)
        record.global_id = self.new_global_id()
        record.created = record.modified = self.clock()
        if record.fields.get("MeetingStatus"):
            record.fields["Subject"] = "Copy: " + record.fields["Subject"]
            record.fields["ResponseStatus"] = OL_RESPONSE_NOT_RESPONDED
        folder.records[record.entry_id] = record
        self.fire(folder, "ItemAdd", record.entry_id)
        return record

    def fire(self, folder: FolderData, event: str, entry_id: str | None) -> None:
        """Deliver ``event`` to the sinks of every live Items object of ``folder``."""
        if not self.running:
            return
        alive: list[tuple[Any, Any]] = []
        for ref, sink in folder.subscribers:
            if ref() is not None:
                alive.append((ref, sink))
        folder.subscribers[:] = alive
        for ref, sink in alive:
            items = ref()
            if items is None or items._session.generation != self.generation:
                continue
            handler = getattr(sink, "On" + event, None)
            if handler is None:
                continue
            try:
                if event == "ItemRemove":
                    handler()
                else:
                    handler(items._event_item(folder.records[entry_id or ""]))
            except Exception as exc:  # COM swallows exceptions raised by event sinks
                self.event_errors.append(exc)
