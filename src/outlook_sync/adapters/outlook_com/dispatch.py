"""The thin binding to real desktop Outlook: pywin32, imported only when used, on Windows.

Importing :mod:`outlook_sync` (or this module) never needs pywin32; calling these functions
does (``pip install "outlook_sync[com]"``). Everything else in the adapter talks to the
object model through ``connect()`` and works unchanged against the fake in
:mod:`outlook_sync.testing.outlook_com`.

- ``Dispatch("Outlook.Application")`` attaches to the running Outlook or starts it (COM
  activation); ``GetActiveObject`` only attaches, and fails when Outlook is not running.
- COM must be initialised on the calling thread (``pythoncom.CoInitialize``); the Outlook
  objects, and their events, belong to that thread.
- The regional settings come from ``GetLocaleInfo`` (``LOCALE_SSHORTDATE``,
  ``LOCALE_SSHORTTIME``, ``LOCALE_SLIST``) of the user's default locale.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

from outlook_sync.adapters.outlook_com.calendar import FolderChoice, OutlookComCalendar
from outlook_sync.adapters.outlook_com.regional import WindowsLocale
from outlook_sync.errors import BackendUnavailableError

__all__ = ["open_outlook_calendar", "outlook_application", "windows_locale", "with_events"]

LOCALE_SLIST = 0x0C
LOCALE_SSHORTDATE = 0x1F
LOCALE_SSHORTTIME = 0x79


def _on_windows() -> bool:
    return sys.platform == "win32"


def _module(name: str) -> ModuleType:
    if not _on_windows():
        raise BackendUnavailableError(
            "desktop Outlook over COM needs Windows (use the Graph adapter elsewhere)",
            side="outlook",
        )
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise BackendUnavailableError(
            f'{name} is missing: install pywin32 with pip install "outlook_sync[com]"',
            side="outlook",
        ) from exc


def outlook_application(*, start: bool = True) -> Any:
    """The ``Outlook.Application`` COM object (started if ``start`` and not running).

    COM errors (Outlook not running, cannot start) propagate as ``pywintypes.com_error``;
    the adapter translates them.

    Raises:
        BackendUnavailableError: not on Windows, or pywin32 is not installed.
    """
    pythoncom = _module("pythoncom")
    client = _module("win32com.client")
    pythoncom.CoInitialize()
    if start:
        return client.Dispatch("Outlook.Application")
    return client.GetActiveObject("Outlook.Application")


def with_events(obj: Any, sink_class: type) -> Any:
    """``win32com.client.WithEvents``: bind an event sink class to a COM object."""
    return _module("win32com.client").WithEvents(obj, sink_class)


def windows_locale() -> WindowsLocale:
    """The current user's regional settings, as Outlook's filters read dates.

    Raises:
        BackendUnavailableError: not on Windows, or pywin32 is not installed.
    """
    api = _module("win32api")
    lcid = api.GetUserDefaultLCID()
    return WindowsLocale(
        short_date=str(api.GetLocaleInfo(lcid, LOCALE_SSHORTDATE)),
        short_time=str(api.GetLocaleInfo(lcid, LOCALE_SSHORTTIME)),
        list_separator=str(api.GetLocaleInfo(lcid, LOCALE_SLIST)),
    )


def open_outlook_calendar(
    *, folder: FolderChoice = None, start: bool = True, **options: Any
) -> OutlookComCalendar:
    """The user's Outlook calendar over COM, with Windows' own regional settings.

    Args:
        folder: the default calendar, a folder path, or ``(EntryID, StoreID)``.
        start: start Outlook when it is not running (else fail with
            BackendUnavailableError until the user starts it).
        options: passed on to :class:`OutlookComCalendar` (``clock``, ``safety_margin``...).

    Raises:
        BackendUnavailableError: not on Windows, or pywin32 is not installed.
    """
    return OutlookComCalendar(
        lambda: outlook_application(start=start),
        folder=folder,
        locale=options.pop("locale", None) or windows_locale(),
        with_events=with_events,
        **options,
    )
