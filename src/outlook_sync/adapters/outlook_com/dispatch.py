"""The thin binding to real desktop Outlook: pywin32, imported only when used, on Windows.

Importing :mod:`outlook_sync` (or this module) never needs pywin32; calling these functions
does (``pip install "outlook_sync[com]"``). Everything else in the adapter talks to the
object model through ``connect()`` and works unchanged against the fake in
:mod:`outlook_sync.testing.outlook_com`.

- ``GetActiveObject("Outlook.Application")`` only attaches to a running Outlook and fails
  with MK_E_UNAVAILABLE when the user has closed it: the default, so a closed Outlook stays
  closed and the sync waits until the user opens it again (the direct sync runs "when both
  Säljstöd and Outlook are open"). ``Dispatch("Outlook.Application")`` attaches *or starts*
  Outlook in the background (COM activation): only with the explicit opt-in
  ``start_outlook=True``.
  https://learn.microsoft.com/en-us/office/vba/api/outlook.application ,
  https://learn.microsoft.com/en-us/previous-versions/office/developer/office-2003/aa209962(v=office.11)
- Without classic Outlook (a machine with only the new Outlook for Windows) the ProgID
  ``Outlook.Application`` does not resolve (CO_E_CLASSSTRING): "Outlook's object model is
  not available", a BackendUnavailableError that names the Graph adapter (``errors.py``).
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

from outlook_sync.adapters.outlook_com.errors import NO_OBJECT_MODEL
from outlook_sync.adapters.outlook_com.regional import WindowsLocale
from outlook_sync.errors import BackendUnavailableError

__all__ = ["outlook_application", "windows_locale", "with_events"]

LOCALE_SLIST = 0x0C
LOCALE_SSHORTDATE = 0x1F
LOCALE_SSHORTTIME = 0x79


def _on_windows() -> bool:
    return sys.platform == "win32"


def _module(name: str) -> ModuleType:
    if not _on_windows():
        raise BackendUnavailableError(
            f"{NO_OBJECT_MODEL} (desktop Outlook over COM needs Windows)", side="outlook"
        )
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise BackendUnavailableError(
            f'{name} is missing: install pywin32 with pip install "outlook_sync[com]"',
            side="outlook",
        ) from exc


def outlook_application(*, start: bool = False) -> Any:
    """The running ``Outlook.Application`` COM object (started only if ``start``).

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
