"""``FakeOutlook``: the fake Outlook process, its stores, and the test's levers on it.

A test holds one :class:`FakeOutlook` (the installation on the user's machine) and hands
``outlook.dispatch`` to the adapter where production code passes
``win32com.client.Dispatch("Outlook.Application")``. Besides the COM surface it offers:

- the user's own actions in Outlook's window (``add_appointment``, ``edit``, ``delete``,
  ``move``, ``copy``, ``accept_meeting``, ``bulk_add``, ``make_recurring``,
  ``change_occurrence``, ``cancel_occurrence`` ...), which fire the folder events;
- fault injection: ``fail_next`` (busy, network, unreadable, moved-or-deleted),
  ``make_unreadable``, ``quit`` / ``quit_after`` (Outlook closing mid-sync; objects obtained
  before a restart stay dead, RPC_E_DISCONNECTED), ``can_start`` (Outlook cannot be started),
  ``FakeOutlook(classic=False)`` (only the new Outlook for Windows: no object model at all);
- profiles and permissions: ``use_default_store`` / ``replace_default_calendar`` (another
  default calendar behind ``GetDefaultFolder``), ``make_read_only`` (a shared calendar with
  read rights only); see ``_process``;
- Exchange cached mode: ``edit_on_server`` applies a change made elsewhere whose
  ``LastModificationTime`` (the server's) is *older* than the moment it reaches this Outlook
  — changes made on the server are synchronised to the local cache afterwards, see "How
  Outlook 2003 synchronizes data in Cached Exchange Mode",
  https://docs.microsoft.com/en-us/archive/blogs/deva/how-outlook-2003-synchronizes-data-in-cached-exchange-mode
- ``dispatch`` starts a closed Outlook (COM activation), ``get_active_object`` only attaches
  to a running one and fails with MK_E_UNAVAILABLE otherwise
  (https://learn.microsoft.com/en-us/office/vba/api/outlook.application ,
  https://learn.microsoft.com/en-us/previous-versions/office/developer/office-2003/aa209962(v=office.11));
- records for assertions: ``sent`` (every ``Send``), ``displayed`` (every ``Display``),
  ``calls`` and ``property_reads`` (counters by member name).

The "Windows" settings are constructor arguments: the local zone (a Windows zone name, default
"W. Europe Standard Time" as in Stockholm), the short date / short time pictures and the list
separator of the user's regional settings (default Swedish: ``yyyy-MM-dd``, ``HH:mm``, ``;``).
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from outlook_sync.testing.outlook_com._errors import (
    CO_E_SERVER_EXEC_FAILURE,
    MK_E_UNAVAILABLE,
    ComError,
    class_not_registered,
)
from outlook_sync.testing.outlook_com._items import Items
from outlook_sync.testing.outlook_com._objects import Application, Folder
from outlook_sync.testing.outlook_com._process import OL_RESPONSE_NOT_RESPONDED, Process
from outlook_sync.testing.outlook_com._recurrence import (
    normalise,
    occurrence_record,
    occurrences,
)
from outlook_sync.testing.outlook_com._session import Session
from outlook_sync.testing.outlook_com._store import (
    ExceptionData,
    FolderData,
    PatternData,
    Record,
    UserProp,
    default_fields,
)
from outlook_sync.timezones import zone as windows_zone

__all__ = ["BULK_THRESHOLD", "FakeOutlook", "with_events"]

UTC = dt.UTC
#: Adding or deleting this many items at once fires no ItemAdd / ItemRemove events.
BULK_THRESHOLD = 16

T = TypeVar("T")


class FakeOutlook(Process):
    """The fake Outlook installation (see the module docstring).

    Args:
        classic: classic Outlook (with its COM server) is installed; ``False`` stands for a
            machine with only the new Outlook for Windows, where ``dispatch`` and
            ``get_active_object`` fail with CO_E_CLASSSTRING.
        options: the Windows settings and the mailbox (see :class:`Process`).
    """

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
        classic: bool = True,
    ) -> None:
        super().__init__(
            clock=clock,
            time_zone=time_zone,
            short_date=short_date,
            short_time=short_time,
            list_separator=list_separator,
            mailbox=mailbox,
            running=running and classic,
        )
        self.classic = classic

    # -- the process ------------------------------------------------------------------------
    def dispatch(self) -> Application:
        """``Dispatch("Outlook.Application")``: attaches, starting Outlook if needed."""
        if not self.classic:
            raise class_not_registered()
        if not self.running:
            if not self.can_start:
                raise ComError(CO_E_SERVER_EXEC_FAILURE, "Server execution failed")
            self.start()
        return Application(Session(self, self.generation))

    def get_active_object(self) -> Application:
        """``GetActiveObject("Outlook.Application")``: attaches only to a running Outlook."""
        if not self.classic:
            raise class_not_registered()
        if not self.running:
            raise ComError(MK_E_UNAVAILABLE, "Operation unavailable")
        return Application(Session(self, self.generation))

    def folder_object(self, session: Any, data: FolderData) -> Folder:
        """The COM ``Folder`` of ``data`` (``AppointmentItem.Parent``)."""
        return Folder(session, data)

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
        ``ResponseStatus`` follows ``MeetingStatus`` unless given: 0 for a plain appointment,
        1 (olResponseOrganized) for a meeting you organise, 5 (olResponseNotResponded) for a
        meeting request received.
        """
        target = folder or self.default_store.calendar
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
        record.fields = default_fields()
        record.fields["Subject"] = subject
        record.fields["AllDayEvent"] = not isinstance(start, dt.datetime)
        if "Body" in fields:
            fields["Body"] = str(fields["Body"]).replace("\r\n", "\n").replace("\n", "\r\n")
        record.fields.update(fields)
        if "ResponseStatus" not in fields:  # OlResponseStatus to match the meeting status
            meeting = record.fields["MeetingStatus"]
            record.fields["ResponseStatus"] = {1: 1, 3: OL_RESPONSE_NOT_RESPONDED}.get(meeting, 0)
        for name, value in (user_properties or {}).items():
            record.user_props[name] = UserProp(type=1, value=value, add_to_folder=False)
        target.records[record.entry_id] = record
        if events:
            self.fire(target, "ItemAdd", record.entry_id)
        return record.entry_id

    def edit(self, entry_id: str, **fields: Any) -> None:
        """The user edits fields (COM names) and saves; fires ItemChange."""
        folder, record = self.located(entry_id)
        self._apply(record, fields)
        record.modified = self.clock()
        self.fire(folder, "ItemChange", entry_id)

    def edit_on_server(self, entry_id: str, *, modified_at: dt.datetime, **fields: Any) -> None:
        """A change made elsewhere reaches this cached-mode Outlook late.

        Its LastModificationTime is the server's ``modified_at``, earlier than now.
        """
        folder, record = self.located(entry_id)
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
        folder, record = self.located(entry_id)
        self.move_record(folder, record.entry_id, folder.store.deleted_items)

    def move(self, entry_id: str, target: FolderData) -> str:
        """The user moves the item to another folder; returns its new EntryID."""
        folder, _ = self.located(entry_id)
        return self.move_record(folder, entry_id, target).entry_id

    def copy(self, entry_id: str) -> str:
        """The user copies the item (Ctrl+C, Ctrl+V); returns the copy's EntryID."""
        folder, _ = self.located(entry_id)
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
            folder, record = self.located(entry_id)
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
            subject,
            start,
            end,
            MeetingStatus=3,
            ResponseStatus=OL_RESPONSE_NOT_RESPONDED,
            Organizer=organizer,
            BusyStatus=1,
        )

    def accept_meeting(self, entry_id: str, *, tentative: bool = False) -> str:
        """The user accepts (or tentatively accepts) a meeting: the EntryID changes.

        The Global Object ID stays, as the GlobalAppointmentID documentation describes for
        items whose entry ID changes.
        """
        folder, record = self.located(entry_id)
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
        folder, record = self.located(entry_id)
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
        folder, record = self.located(entry_id)
        original = self._occurrence_of(record, original_start)
        assert record.pattern is not None
        record.pattern.exceptions[original] = ExceptionData(deleted=True)
        record.modified = self.clock()
        self.fire(folder, "ItemChange", entry_id)

    def change_occurrence(self, entry_id: str, original_start: dt.datetime, **fields: Any) -> None:
        """The user opens one occurrence, edits fields (COM names) and saves: an exception."""
        folder, record = self.located(entry_id)
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
