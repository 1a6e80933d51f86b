"""Writing appointments: create, update, delete, with the expected version checked first.

Promises kept here:

- *Writes never notify attendees.* Items are saved; ``Send`` is never called.
- Writes carry the expected version (a digest of the mapped content); a mismatch raises
  :class:`VersionConflictError` and writes nothing.
- A series the object model cannot express is refused with :class:`ItemRejectedError`
  before anything is written, never approximated (``series.py``).
- A calendar the user may only read refuses the write with :class:`PermissionDeniedError`
  (translated in ``errors.py``); nothing else changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import attrs

from outlook_sync.adapters.outlook_com import mapping, series
from outlook_sync.adapters.outlook_com.connection import Connection
from outlook_sync.adapters.outlook_com.reading import Call, Reader
from outlook_sync.adapters.outlook_com.regional import WindowsLocale
from outlook_sync.errors import (
    InvalidEventError,
    ItemNotFoundError,
    ItemRejectedError,
    VersionConflictError,
)
from outlook_sync.model import BrokenItem, Event, Item
from outlook_sync.recurrence import ComRecurrencePattern
from outlook_sync.timezones import UnknownTimeZoneError, iana_to_windows

__all__ = ["Writer"]

SIDE = "outlook"
OL_APPOINTMENT_ITEM = 1


class Writer:
    """Creates, changes and deletes the calendar folder's appointments.

    Args:
        call: runs COM calls (retries, translation).
        reader: reads items back.
        connection: the current connection (attaching if needed).
        locale: the user's regional settings (list separator of ``Categories``).
        week_start: the first day of the user's week (for series).
        created: the set of ids created here (shared with the listings).
    """

    def __init__(
        self,
        *,
        call: Call,
        reader: Reader,
        connection: Callable[[], Connection],
        locale: WindowsLocale,
        week_start: str,
        created: set[str],
    ) -> None:
        self._call = call
        self._reader = reader
        self._connection = connection
        self.locale = locale
        self.week_start = week_start
        self._created = created

    def create(self, event: Event, *, partner_key: str) -> Item:
        """Save a new appointment carrying ``partner_key``; nothing is sent to anyone.

        Raises:
            ItemRejectedError: Outlook refused the item.
            BackendUnavailableError: Outlook is closed, busy or offline.
        """
        pattern = self._pattern_of(event)
        conn = self._connection()
        com_item = self._call(
            lambda: conn.folder.Items.Add(OL_APPOINTMENT_ITEM), "create an appointment"
        )
        self._call(
            lambda: self._fill(conn, com_item, event, partner_key), "fill in the new appointment"
        )
        if pattern is not None:
            self._call(
                lambda: series.write_pattern(com_item, pattern, clear=False),
                "write the recurrence pattern",
            )
        self._call(com_item.Save, "save the new appointment")
        entry_id = self._call(lambda: str(com_item.EntryID), "read the new EntryID")
        self._created.add(entry_id)
        if not self._call(lambda: mapping.anchored(com_item), "check the partner key", entry_id):
            # The global id was not known before the first save: record it now.
            self._call(
                lambda: mapping.write_partner_key(com_item, partner_key),
                "store the partner key",
                entry_id,
            )
            self._call(com_item.Save, "save the new appointment", entry_id)
        if event.recurrence is not None:
            self._apply_exceptions(conn, entry_id, event, None)
        return self._written(conn, entry_id)

    def _fill(
        self, conn: Connection, com_item: Any, event: Event, key: str | None, *, times: bool = True
    ) -> None:
        recurrence = event.recurrence
        if recurrence is not None:
            series.write_hint(
                com_item, recurrence, series.com_pattern(recurrence, week_start=self.week_start)
            )
        if recurrence is not None and not event.all_day:
            # the master's zone is the series' zone (StartTimeZone is what reads it back)
            tz = recurrence.zone_info
            assert isinstance(event.start, dt.datetime)
            assert isinstance(event.end, dt.datetime)
            event = attrs.evolve(
                event, start=event.start.astimezone(tz), end=event.end.astimezone(tz)
            )
        self._write_event(conn, com_item, event, times=times)
        if key is not None:
            mapping.write_partner_key(com_item, key)

    def _write_event(
        self, conn: Connection, com_item: Any, event: Event, *, times: bool = True
    ) -> None:
        mapping.write_event(
            com_item,
            event,
            time_zones=conn.time_zones,
            local_name=conn.local_name,
            list_separator=self.locale.list_separator,
            times=times,
        )

    def _pattern_of(self, event: Event, item_id: str | None = None) -> ComRecurrencePattern | None:
        """The pattern to write, checked before anything is written.

        Raises:
            ItemRejectedError: the object model cannot express the series (reported, never
                approximated), or its zone has no Windows name.
        """
        recurrence = event.recurrence
        if recurrence is None:
            return None
        try:
            if not recurrence.all_day:
                iana_to_windows(recurrence.time_zone)
            return series.com_pattern(recurrence, week_start=self.week_start)
        except UnknownTimeZoneError as exc:
            raise ItemRejectedError(
                f"Outlook cannot hold this series: its zone {recurrence.time_zone} has no "
                "Windows name",
                side=SIDE,
                item_id=item_id,
            ) from exc
        except InvalidEventError as exc:  # UnsupportedRecurrenceError and kin
            raise ItemRejectedError(str(exc), side=SIDE, item_id=item_id) from exc

    def _apply_exceptions(
        self, conn: Connection, entry_id: str, event: Event, current: Event | None
    ) -> None:
        """Cancel and change occurrences through a fresh object of the saved master."""
        recurrence = event.recurrence
        assert recurrence is not None
        held = None if current is None else current.recurrence
        if held is None and not recurrence.cancelled and not recurrence.changed:
            return
        master = self._call(
            lambda: conn.namespace.GetItemFromID(entry_id, conn.store_id),
            "open the series",
            entry_id,
        )
        self._call(
            lambda: series.apply_exceptions(
                master,
                recurrence,
                held,
                local_zone=conn.local_zone,
                write_event=lambda occurrence, content: self._write_event(
                    conn, occurrence, content
                ),
            ),
            "change occurrences of the series",
            entry_id,
        )

    def _written(self, conn: Connection, entry_id: str) -> Item:
        result = self._call(
            lambda: self._reader.read(conn, entry_id), "read back the item", entry_id
        )
        if isinstance(result, BrokenItem):
            raise ItemRejectedError(
                f"Outlook stored the item but it reads back broken: {result.reason}",
                side=SIDE,
                item_id=entry_id,
            )
        return result

    def _current(self, conn: Connection, item_id: str, expected_version: str) -> tuple[Any, Item]:
        com_item = self._call(
            lambda: self._reader.open_in_folder(conn, item_id), "open an item", item_id
        )
        if com_item is None:
            raise ItemNotFoundError(
                f"item {item_id} is no longer in the calendar folder", side=SIDE, item_id=item_id
            )
        current = self._call(lambda: self._reader.map(conn, com_item), "read an item", item_id)
        if isinstance(current, BrokenItem):
            raise ItemRejectedError(
                f"item {item_id} is read-only here: {current.reason}", side=SIDE, item_id=item_id
            )
        if current.version != expected_version:
            raise VersionConflictError(
                f"item {item_id} changed in Outlook since it was read",
                side=SIDE,
                item_id=item_id,
            )
        return com_item, current

    def update(
        self,
        item_id: str,
        event: Event,
        *,
        expected_version: str,
        partner_key: str | None = None,
    ) -> Item:
        """Replace the item's content (and partner key) if it is still at the version.

        Raises:
            VersionConflictError: the item changed since ``expected_version``.
            ItemNotFoundError: the item is gone (or no longer in this folder).
            ItemRejectedError: an unreadable item (read-only), a series the object model
                cannot express, or Outlook refused the values.
        """
        pattern = self._pattern_of(event, item_id)
        conn = self._connection()
        com_item, current = self._current(conn, item_id, expected_version)
        if current.event == event and partner_key in (None, current.partner_key):
            return current
        rewrite = pattern is not None and series.needs_rewrite(current.event, event)
        # a series that keeps its pattern keeps its time: only its other fields are written
        times = pattern is None or rewrite
        self._call(
            lambda: self._fill(conn, com_item, event, partner_key, times=times),
            "change the appointment",
            item_id,
        )
        if pattern is not None and rewrite:
            clear = current.event.recurrence is not None
            self._call(
                lambda: series.write_pattern(com_item, pattern, clear=clear),
                "write the recurrence pattern",
                item_id,
            )
        elif pattern is None and current.event.recurrence is not None:
            self._call(com_item.ClearRecurrencePattern, "end the series", item_id)
        self._call(com_item.Save, "save the appointment", item_id)
        if event.recurrence is not None:
            self._apply_exceptions(conn, item_id, event, None if rewrite else current.event)
        return self._written(conn, item_id)

    def delete(self, item_id: str, *, expected_version: str) -> None:
        """Delete the item (to Deleted Items) if it is still at ``expected_version``.

        Raises:
            VersionConflictError: the item changed since ``expected_version``.
            ItemNotFoundError: the item is already gone.
            ItemRejectedError: an unreadable item (never deleted here).
        """
        conn = self._connection()
        com_item, _ = self._current(conn, item_id, expected_version)
        self._call(com_item.Delete, "delete the appointment", item_id)
