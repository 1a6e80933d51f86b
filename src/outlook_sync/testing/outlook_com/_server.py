"""``FakeOutlook``: the fake Outlook process, its stores, and the test's levers on it.

A test holds one :class:`FakeOutlook` (the installation on the user's machine) and hands
``outlook.dispatch`` to the adapter where production code passes
``win32com.client.Dispatch("Outlook.Application")``. Besides the COM surface it offers:

- the user's own actions in Outlook's window (``add_appointment``, ``edit``, ``delete``,
  ``move``, ``copy``, ``accept_meeting``, ``bulk_add``, ``make_recurring``,
  ``change_occurrence``, ``cancel_occurrence`` ...), which fire the folder events;
- fault injection: ``fail_next`` (busy, network, unreadable, moved-or-deleted),
  ``make_unreadable``, ``quit`` / ``quit_after`` (Outlook closing mid-sync; objects obtained
  before a restart stay dead, RPC_E_DISCONNECTED), ``can_start`` (Outlook cannot be started);
- Exchange cached mode: ``edit_on_server`` applies a change made elsewhere whose
  ``LastModificationTime`` (the server's) is *older* than the moment it reaches this Outlook
  — changes made on the server are synchronised to the local cache afterwards, see "How
  Outlook 2003 synchronizes data in Cached Exchange Mode",
  https://docs.microsoft.com/en-us/archive/blogs/deva/how-outlook-2003-synchronizes-data-in-cached-exchange-mode
- records for assertions: ``sent`` (every ``Send``), ``displayed`` (every ``Display``),
  ``calls`` and ``property_reads`` (counters by member name).

The "Windows" settings are constructor arguments: the local zone (a Windows zone name, default
"W. Europe Standard Time" as in Stockholm), the short date / short time pictures and the list
separator of the user's regional settings (default Swedish: ``yyyy-MM-dd``, ``HH:mm``, ``;``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import weakref
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from outlook_sync.testing.outlook_com._appointment import AppointmentItem
from outlook_sync.testing.outlook_com._errors import (
    CO_E_SERVER_EXEC_FAILURE,
    MK_E_UNAVAILABLE,
    ComError,
    Fault,
    moved_or_deleted,
    server_unavailable,
)
from outlook_sync.testing.outlook_com._objects import (
    Application,
    Items,
    Session,
    blank_record,
)
from outlook_sync.testing.outlook_com._recurrence import (
    normalise,
    occurrence_record,
    occurrences,
)
from outlook_sync.testing.outlook_com._store import (
    ExceptionData,
    FolderData,
    ManualClock,
    PatternData,
    Record,
    StoreData,
)
from outlook_sync.timezones import zone as windows_zone

__all__ = ["BULK_THRESHOLD", "FakeOutlook", "with_events"]

UTC = dt.UTC
#: Adding or deleting this many items at once fires no ItemAdd / ItemRemove events.
BULK_THRESHOLD = 16

T = TypeVar("T")


@dataclasses.dataclass
class _PlannedFault:
    fault: Fault
    times: int
    member: str | None
    entry_id: str | None


class FakeOutlook:
    """The fake Outlook installation (see the module docstring)."""

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
        self.add_store(mailbox)

    # -- the process ------------------------------------------------------------------------
    def dispatch(self) -> Application:
        """``Dispatch("Outlook.Application")``: attaches, starting Outlook if needed."""
        if not self.running:
            if not self.can_start:
                raise ComError(CO_E_SERVER_EXEC_FAILURE, "Server execution failed")
            self.start()
        return Application(Session(self, self.generation))

    def get_active_object(self) -> Application:
        """``GetActiveObject("Outlook.Application")``: attaches only to a running Outlook."""
        if not self.running:
            raise ComError(MK_E_UNAVAILABLE, "Operation unavailable")
        return Application(Session(self, self.generation))

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
        return self.add_folder((store or self.stores[0]).calendar, name, calendar=True)

    def folder(self, path: str | None = None) -> FolderData:
        """The folder at ``\\\\Store\\Calendar\\Sub`` (default: the default calendar)."""
        if path is None:
            return self.stores[0].calendar
        for store in self.stores:
            for data in _walk(store.root):
                if data.path.casefold() == path.casefold():
                    return data
        raise KeyError(path)

    def new_entry_id(self, store: StoreData) -> str:
        """A fresh long-term EntryID in ``store`` (hex, as pywin32 returns it)."""
        return "00000000" + store.store_id[-16:] + f"0700{self._next():044X}"

    def new_global_id(self) -> str:
        """A fresh GlobalAppointmentID (hex of a PidLidGlobalObjectId)."""
        return "040000008200E00074C5B7101A82E00800000000" + f"{self._next():072X}"

    def new_item(self, session: Session, folder: FolderData) -> AppointmentItem:
        """An unsaved appointment object in ``folder`` (``Items.Add`` / ``CreateItem``)."""
        record = blank_record(self, self.new_global_id(), local_zone=self.time_zone)
        return AppointmentItem(session, folder, record, saved=False)

    def find_record(
        self, entry_id: str, store_id: str | None = None
    ) -> tuple[FolderData, Record] | None:
        for store in self.stores:
            if store_id is not None and store.store_id != store_id:
                continue
            for data in _walk(store.root):
                if entry_id in data.records:
                    return data, data.records[entry_id]
        return None

    def find_folder(self, entry_id: str, store_id: str | None = None) -> FolderData | None:
        for store in self.stores:
            if store_id is not None and store.store_id != store_id:
                continue
            for data in _walk(store.root):
                if data.entry_id == entry_id:
                    return data
        return None

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
        """A saved copy: new EntryID, new global id, every other property carried over."""
        original = folder.records.get(entry_id)
        if original is None:
            raise moved_or_deleted()
        record = original.copy()
        record.entry_id = self.new_entry_id(folder.store)
        record.global_id = self.new_global_id()
        record.created = record.modified = self.clock()
        if record.fields.get("MeetingStatus"):
            record.fields["Subject"] = "Copy: " + record.fields["Subject"]
        folder.records[record.entry_id] = record
        self.fire(folder, "ItemAdd", record.entry_id)
        return record

    # -- events -----------------------------------------------------------------------------
    def fire(self, folder: FolderData, event: str, entry_id: str | None) -> None:
        """Deliver ``event`` to the sinks of every live Items object of ``folder``."""
        if not self.running:
            return
        alive: list[tuple[Any, Any]] = []
        for ref, sink in folder.subscribers:
            items = ref()
            if items is None:
                continue
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
                    record = folder.records[entry_id or ""]
                    handler(AppointmentItem(items._session, folder, record, saved=True))
            except Exception as exc:  # COM swallows exceptions raised by event sinks
                self.event_errors.append(exc)

    # -- what the user does in Outlook's window -----------------------------------------------
    def _wall(self, value: dt.datetime | dt.date, zone: str) -> dt.datetime:
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                raise ValueError("use aware datetimes (or dates for all-day items)")
            return value
        midnight = dt.datetime.combine(value, dt.time())
        return midnight.replace(tzinfo=windows_zone(zone))

    def add_appointment(
        self,
        subject: str,
        start: dt.datetime | dt.date,
        end: dt.datetime | dt.date,
        *,
        folder: FolderData | None = None,
        time_zone: str | None = None,
        user_properties: dict[str, str] | None = None,
        events: bool = True,
        **fields: Any,
    ) -> str:
        """The user creates an appointment (dates make an all-day one); returns its EntryID.

        ``fields`` are COM property names (``Location=``, ``BusyStatus=``, ``Body=``...).
        """
        target = folder or self.stores[0].calendar
        zone = time_zone or self.time_zone
        now = self.clock()
        record = Record(
            entry_id=self.new_entry_id(target.store),
            global_id=self.new_global_id(),
            start_utc=self._wall(start, self.time_zone).astimezone(UTC),
            end_utc=self._wall(end, self.time_zone).astimezone(UTC),
            start_tz=zone,
            end_tz=zone,
            created=now,
            modified=now,
        )
        from outlook_sync.testing.outlook_com._store import UserProp, default_fields

        record.fields = default_fields()
        record.fields["Subject"] = subject
        record.fields["AllDayEvent"] = not isinstance(start, dt.datetime)
        if "Body" in fields:
            fields["Body"] = str(fields["Body"]).replace("\r\n", "\n").replace("\n", "\r\n")
        record.fields.update(fields)
        for name, value in (user_properties or {}).items():
            record.user_props[name] = UserProp(type=1, value=value, add_to_folder=False)
        target.records[record.entry_id] = record
        if events:
            self.fire(target, "ItemAdd", record.entry_id)
        return record.entry_id

    def record(self, entry_id: str) -> Record:
        """The stored record (for assertions); KeyError if no such item."""
        found = self.find_record(entry_id)
        if found is None:
            raise KeyError(entry_id)
        return found[1]

    def edit(self, entry_id: str, **fields: Any) -> None:
        """The user edits fields (COM names) and saves; fires ItemChange."""
        folder, record = self._located(entry_id)
        self._apply(record, fields)
        record.modified = self.clock()
        self.fire(folder, "ItemChange", entry_id)

    def edit_on_server(self, entry_id: str, *, modified_at: dt.datetime, **fields: Any) -> None:
        """A change made elsewhere reaches this cached-mode Outlook late.

        Its LastModificationTime is the server's ``modified_at``, earlier than now.
        """
        folder, record = self._located(entry_id)
        self._apply(record, fields)
        record.modified = modified_at.astimezone(UTC)
        self.fire(folder, "ItemChange", entry_id)

    def _apply(self, record: Record, fields: dict[str, Any]) -> None:
        for name, value in fields.items():
            if name in ("Start", "End"):
                instant = self._wall(value, self.time_zone).astimezone(UTC)
                if name == "Start":
                    record.start_utc = instant
                else:
                    record.end_utc = instant
            elif name == "Body":
                record.fields[name] = str(value).replace("\r\n", "\n").replace("\n", "\r\n")
            elif name in record.fields:
                record.fields[name] = value
            else:
                raise KeyError(f"unknown field {name}")

    def delete(self, entry_id: str) -> None:
        """The user deletes the item (it goes to Deleted Items); fires ItemRemove."""
        folder, record = self._located(entry_id)
        self.move_record(folder, record.entry_id, folder.store.deleted_items)

    def move(self, entry_id: str, target: FolderData) -> str:
        """The user moves the item to another folder; returns its new EntryID."""
        folder, _ = self._located(entry_id)
        return self.move_record(folder, entry_id, target).entry_id

    def copy(self, entry_id: str) -> str:
        """The user copies the item (Ctrl+C, Ctrl+V); returns the copy's EntryID."""
        folder, _ = self._located(entry_id)
        return self.copy_record(folder, entry_id).entry_id

    def bulk_add(self, items: Iterable[tuple[str, dt.datetime, dt.datetime]]) -> list[str]:
        """Import many appointments at once; from BULK_THRESHOLD on, no ItemAdd fires."""
        batch = list(items)
        quiet = len(batch) >= BULK_THRESHOLD
        return [self.add_appointment(s, a, b, events=not quiet) for s, a, b in batch]

    def bulk_delete(self, entry_ids: Iterable[str]) -> None:
        """Delete many items at once; from BULK_THRESHOLD on, no ItemRemove fires."""
        ids = list(entry_ids)
        if len(ids) < BULK_THRESHOLD:
            for entry_id in ids:
                self.delete(entry_id)
            return
        for entry_id in ids:
            folder, record = self._located(entry_id)
            del folder.records[entry_id]
            record.entry_id = self.new_entry_id(folder.store)
            folder.store.deleted_items.records[record.entry_id] = record

    def receive_meeting(
        self,
        subject: str,
        start: dt.datetime,
        end: dt.datetime,
        *,
        organizer: str = "boss@example.com",
    ) -> str:
        """A meeting request from someone else lands in the calendar (not yet answered)."""
        return self.add_appointment(
            subject, start, end, MeetingStatus=3, Organizer=organizer, BusyStatus=1
        )

    def accept_meeting(self, entry_id: str, *, tentative: bool = False) -> str:
        """The user accepts (or tentatively accepts) a meeting: the EntryID changes.

        The Global Object ID stays, as the GlobalAppointmentID documentation describes for
        items whose entry ID changes.
        """
        folder, record = self._located(entry_id)
        del folder.records[entry_id]
        record.entry_id = self.new_entry_id(folder.store)
        record.fields["ResponseStatus"] = 2 if tentative else 3
        record.fields["BusyStatus"] = 1 if tentative else 2
        record.modified = self.clock()
        folder.records[record.entry_id] = record
        self.fire(folder, "ItemRemove", None)
        self.fire(folder, "ItemAdd", record.entry_id)
        return record.entry_id

    def make_recurring(
        self,
        entry_id: str,
        *,
        recurrence_type: int = 1,
        interval: int = 1,
        day_of_week_mask: int | None = None,
        day_of_month: int = 0,
        month_of_year: int = 0,
        instance: int = 0,
        end: dt.date | None = None,
        occurrences: int | None = None,
    ) -> None:
        """The user makes the item a series (Outlook's "Recurrence" dialog) and saves it.

        Arguments are the RecurrencePattern's fields (``recurrence_type`` an
        OlRecurrenceType); by default weekly on the day of the item's start, with no end
        (``end`` or ``occurrences`` bound it). The item moves to the first occurrence.

        Raises:
            ComError: the pattern is invalid (as Outlook's Save would).
        """
        folder, record = self._located(entry_id)
        wall = record.start_utc.astimezone(windows_zone(record.start_tz))
        mask = (2, 4, 8, 16, 32, 64, 1)[wall.weekday()]
        candidate = record.copy()
        candidate.pattern = PatternData(
            recurrence_type=recurrence_type,
            interval=interval,
            day_of_week_mask=mask if day_of_week_mask is None else day_of_week_mask,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            instance=instance,
            pattern_start_date=wall.date(),
            pattern_end_date=end,
            occurrences=occurrences,
            no_end_date=end is None and occurrences is None,
        )
        normalise(candidate, None)
        record.start_utc, record.end_utc = candidate.start_utc, candidate.end_utc
        record.pattern = candidate.pattern
        record.modified = self.clock()
        self.fire(folder, "ItemChange", entry_id)

    def cancel_occurrence(self, entry_id: str, original_start: dt.datetime) -> None:
        """The user deletes one occurrence of a series ("Delete this occurrence")."""
        folder, record = self._located(entry_id)
        original = self._occurrence_of(record, original_start)
        assert record.pattern is not None
        record.pattern.exceptions[original] = ExceptionData(deleted=True)
        record.modified = self.clock()
        self.fire(folder, "ItemChange", entry_id)

    def change_occurrence(self, entry_id: str, original_start: dt.datetime, **fields: Any) -> None:
        """The user opens one occurrence, edits fields (COM names) and saves: an exception."""
        folder, record = self._located(entry_id)
        original = self._occurrence_of(record, original_start)
        assert record.pattern is not None
        changed = occurrence_record(record, original)
        self._apply(changed, fields)
        changed.pattern, changed.is_exception = None, True
        record.pattern.exceptions[original] = ExceptionData(deleted=False, record=changed)
        record.modified = self.clock()
        self.fire(folder, "ItemChange", entry_id)

    def _occurrence_of(self, record: Record, original_start: dt.datetime) -> dt.datetime:
        if original_start.tzinfo is None:
            raise ValueError("use an aware original start")
        original = original_start.astimezone(UTC)
        if record.pattern is None:
            raise KeyError(f"{record.entry_id} is not a series")
        for start in occurrences(record):
            if start >= original:
                if start == original:
                    return original
                break
        raise KeyError(f"{original_start} is not an occurrence of {record.entry_id}")

    def _located(self, entry_id: str) -> tuple[FolderData, Record]:
        found = self.find_record(entry_id)
        if found is None:
            raise KeyError(entry_id)
        return found


def _walk(folder: FolderData) -> Iterable[FolderData]:
    yield folder
    for child in folder.children:
        yield from _walk(child)


def with_events(obj: Items, sink_class: type[T]) -> T:
    """The fake's ``win32com.client.WithEvents``: subscribe an event sink to ``obj``.

    ``sink_class`` is instantiated without arguments; its ``OnItemAdd(item)``,
    ``OnItemChange(item)`` and ``OnItemRemove()`` methods are called for the folder's events
    while ``obj`` is alive. The returned sink has a ``close()`` that unsubscribes it.
    """
    if not isinstance(obj, Items):
        raise TypeError("the fake delivers events for Items objects only")

    target = weakref.ref(obj)  # the sink must not keep the Items object alive

    def close(self: Any) -> None:
        items = target()
        if items is not None:
            items._unadvise(self)

    sink_type = type(sink_class.__name__, (sink_class,), {"close": close})
    sink: T = sink_type()
    obj._advise(sink)
    return sink
