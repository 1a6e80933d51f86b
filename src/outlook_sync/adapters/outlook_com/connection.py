"""Attaching to Outlook and opening the calendar folder the adapter uses *now*.

The adapter keeps its COM objects (``NameSpace``, ``Folder``, ``TimeZones``) in one
:class:`Connection` and drops it when Outlook goes away; the next call attaches again
(``connect()`` is ``GetActiveObject`` by default: a closed Outlook stays closed, see
``dispatch.py``).

Which folder is "the calendar" can change between syncs without Outlook closing: the
default calendar (``GetDefaultFolder(olFolderCalendar)``) is the default store's, and a new
profile or another default mailbox changes it
(https://learn.microsoft.com/en-us/office/vba/api/outlook.namespace.getdefaultfolder).
:meth:`Attachment.refresh` resolves the folder choice again and, if it now names another
folder, switches to it; the identity ``com:<StoreID>/<folder EntryID>`` then changes, which
the engine reads as a switched calendar (forget links, re-link, delete nothing).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from outlook_sync.adapters.outlook_com.errors import ComCaller
from outlook_sync.errors import BackendError, BackendUnavailableError, ItemNotFoundError
from outlook_sync.timezones import UnknownTimeZoneError, zone

__all__ = ["OL_FOLDER_CALENDAR", "Attachment", "Connection", "FolderChoice"]

T = TypeVar("T")
SIDE = "outlook"
OL_FOLDER_CALENDAR = 9

#: Which folder to sync: ``None`` (the default calendar), a folder path such as
#: ``"\\\\anna@example.com\\Calendar\\Team"``, or ``(folder EntryID, StoreID)``.
FolderChoice = str | tuple[str, str] | None


@attrs.define
class Connection:
    """The live COM objects of one attachment to Outlook, and the folder in use."""

    namespace: Any
    folder: Any
    folder_entry_id: str
    store_id: str
    time_zones: Any
    local_name: str
    local_zone: zoneinfo.ZoneInfo
    format_proven: bool = False

    @property
    def key(self) -> str:
        """The folder's key in cursor tokens."""
        return f"{self.store_id}/{self.folder_entry_id}"

    @property
    def identity(self) -> str:
        """``com:<StoreID>/<folder EntryID>`` (the IdentifiedCalendar capability)."""
        return f"com:{self.key}"


class Attachment:
    """Attaches to Outlook on demand and knows which folder the choice names now.

    Args:
        connect: returns the ``Outlook.Application`` object.
        choice: the folder choice (see :data:`FolderChoice`).
        com: runs the COM calls (retries, error translation).
    """

    def __init__(self, connect: Callable[[], Any], choice: FolderChoice, com: ComCaller) -> None:
        self._connect = connect
        self.choice = choice
        self._com = com
        self._current: Connection | None = None

    def _call(self, fn: Callable[[], T], what: str) -> T:
        return self._com.call(fn, what=what)

    def drop(self) -> None:
        """Forget the COM objects (Outlook went away); the next call attaches again."""
        self._current = None

    def current(self) -> Connection:
        """The connection, attaching to Outlook first if there is none.

        Raises:
            BackendUnavailableError: Outlook is not running, has no object model here, or
                the chosen folder does not exist.
            BackendError: Windows' zone is unknown.
        """
        if self._current is None:
            self._current = self._open()
        return self._current

    def refresh(self) -> tuple[Connection, bool]:
        """Resolve the folder choice again; switch to the folder it names now.

        Returns the connection and whether the folder changed.
        """
        conn = self.current()
        folder, entry_id, store_id = self._folder(conn.namespace)
        if (entry_id, store_id) == (conn.folder_entry_id, conn.store_id):
            return conn, False
        self._current = attrs.evolve(
            conn, folder=folder, folder_entry_id=entry_id, store_id=store_id, format_proven=False
        )
        return self._current, True

    def _open(self) -> Connection:
        app = self._call(self._connect, "attach to Outlook")
        namespace = self._call(lambda: app.GetNamespace("MAPI"), "open the MAPI namespace")
        folder, entry_id, store_id = self._folder(namespace)
        time_zones = self._call(lambda: app.TimeZones, "read Outlook's time zones")
        local_name = self._call(lambda: str(time_zones.CurrentTimeZone.ID), "read the zone")
        try:
            local_zone = zone(local_name)
        except UnknownTimeZoneError as exc:
            raise BackendError(
                f"Windows' time zone {local_name!r} is not in the CLDR mapping", side=SIDE
            ) from exc
        return Connection(
            namespace=namespace,
            folder=folder,
            folder_entry_id=entry_id,
            store_id=store_id,
            time_zones=time_zones,
            local_name=local_name,
            local_zone=local_zone,
        )

    def _folder(self, namespace: Any) -> tuple[Any, str, str]:
        try:
            folder = self._call(lambda: self._resolve(namespace), "open the calendar folder")
        except ItemNotFoundError as exc:
            raise BackendUnavailableError(
                f"the Outlook calendar folder {self.choice!r} was not found", side=SIDE
            ) from exc
        entry_id, store_id = self._call(
            lambda: (str(folder.EntryID), str(folder.StoreID)), "identify the calendar folder"
        )
        return folder, entry_id, store_id

    def _resolve(self, namespace: Any) -> Any:
        choice = self.choice
        if choice is None:
            return namespace.GetDefaultFolder(OL_FOLDER_CALENDAR)
        if isinstance(choice, tuple):
            return namespace.GetFolderFromID(choice[0], choice[1])
        parts = [part for part in choice.split("\\") if part]
        if not parts:
            return namespace.GetDefaultFolder(OL_FOLDER_CALENDAR)
        folder = namespace.Folders.Item(parts[0])
        for part in parts[1:]:
            folder = folder.Folders.Item(part)
        return folder
