"""The one place where COM errors become outlook_sync errors (and busy calls are retried).

pywin32 raises ``pywintypes.com_error(hresult, strerror, excepinfo, argerror)``. Errors of the
COM transport carry their code in ``hresult``; errors Outlook raises itself arrive as
``DISP_E_EXCEPTION`` with the real code (SCODE) in ``excepinfo[5]`` and Outlook's message in
``excepinfo[2]``. Any exception with an integer ``hresult`` is treated as a COM error, so the
fake object model (``outlook_sync.testing.outlook_com``) is handled by the same code.

How each kind of failure is translated, and why:

=================================  ============================  ==============================
COM failure                        becomes                       because
=================================  ============================  ==============================
RPC_E_CALL_REJECTED, RPC_E_SERVER  retried with backoff, then    Outlook is busy (a dialog is
CALL_RETRYLATER                    BackendUnavailableError       open, add-ins are loading)
RPC_S_SERVER_UNAVAILABLE, RPC_E_   BackendUnavailableError       Outlook closed or restarted;
DISCONNECTED, MK_E_UNAVAILABLE,    (the connection is dropped    the next call attaches again
CO_E_SERVER_EXEC_FAILURE           and made again next time)
MAPI_E_NETWORK_ERROR and other     BackendUnavailableError       Exchange cannot be reached;
network codes                                                    nothing may be concluded
MAPI_E_NOT_FOUND, MAPI_E_OBJECT_   ItemNotFoundError             callers re-look the item up
DELETED ("moved or deleted")                                     before believing it is gone
CO_E_CLASSSTRING, REGDB_E_CLASS   BackendUnavailableError       no classic Outlook here (only
NOTREG (no Outlook.Application)    naming the Graph adapter      the new Outlook, which has no
                                                                 COM server): use Graph
E_ACCESSDENIED / MAPI_E_NO_ACCESS  PermissionDeniedError (an     a calendar shared read-only:
("You don't have appropriate       ItemRejectedError: a read     the write is refused, nothing
permission ...")                   quarantines the item)         else is wrong
MAPI_E_CORRUPT_DATA, E_FAIL while  ItemRejectedError             the item exists but cannot be
reading                                                          read: it is quarantined
anything else                      ItemRejectedError (an item)   one item's trouble stays its
                                   or BackendError               own
=================================  ============================  ==============================

Busy errors: "Rude Operator",
https://learn.microsoft.com/en-us/archive/blogs/pcreehan/rude-operator
No object model: "COM and VSTO add-ins aren't supported in the new Outlook on Windows",
https://learn.microsoft.com/en-us/office/dev/add-ins/outlook/outlook-add-ins-overview
Permissions: "For a message, its folder determines access permissions",
https://learn.microsoft.com/en-us/office/client-developer/outlook/mapi/permissions-for-mapi-objects-and-properties
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from typing import TypeVar

import attrs

from outlook_sync.errors import (
    BackendError,
    BackendUnavailableError,
    ItemNotFoundError,
    ItemRejectedError,
    PermissionDeniedError,
)

__all__ = [
    "NO_OBJECT_MODEL",
    "ComCaller",
    "ComFailure",
    "RetryPolicy",
    "classify",
    "com_code",
    "is_com_error",
]

#: What the sync says when there is no Outlook object model to talk to.
NO_OBJECT_MODEL = (
    "Outlook's object model is not available on this machine: the COM adapter needs "
    "classic Outlook for Windows (the new Outlook for Windows and Outlook on the web run no "
    "COM automation). Use the Graph adapter instead (outlook_sync.adapters.graph, "
    'backend = "graph"); see docs/outlook-com.md, "Moving a user to Graph"'
)

log = logging.getLogger("outlook_sync.adapters.outlook_com")

T = TypeVar("T")
SIDE = "outlook"


def _signed(code: int) -> int:
    return code - (1 << 32) if code & 0x80000000 else code


DISP_E_EXCEPTION = _signed(0x80020009)
_BUSY = {_signed(0x80010001), _signed(0x8001010A)}  # RPC_E_CALL_REJECTED, ..._RETRYLATER
_GONE = {
    _signed(0x800706BA),  # RPC_S_SERVER_UNAVAILABLE
    _signed(0x800706BE),  # RPC_S_CALL_FAILED
    _signed(0x80010108),  # RPC_E_DISCONNECTED
    _signed(0x800401E3),  # MK_E_UNAVAILABLE (GetActiveObject: not running)
    _signed(0x80080005),  # CO_E_SERVER_EXEC_FAILURE (cannot start)
}
_MK_E_UNAVAILABLE = _signed(0x800401E3)
_NO_OBJECT_MODEL = {
    _signed(0x800401F3),  # CO_E_CLASSSTRING: the ProgID Outlook.Application is unknown
    _signed(0x80040154),  # REGDB_E_CLASSNOTREG
    _signed(0x800401E4),  # MK_E_SYNTAX (GetObject with an unknown ProgID)
}
_DENIED = {_signed(0x80070005)}  # E_ACCESSDENIED, also MAPI_E_NO_ACCESS
_NETWORK = {
    _signed(0x80040115),  # MAPI_E_NETWORK_ERROR
    _signed(0x80040401),  # MAPI_E_TIMEOUT
    _signed(0x8004011D),  # MAPI_E_FAILONEPROVIDER
    _signed(0x80040111),  # MAPI_E_LOGON_FAILED
}
_NOT_FOUND = {
    _signed(0x8004010F),  # MAPI_E_NOT_FOUND
    _signed(0x8004010A),  # MAPI_E_OBJECT_DELETED
}
_UNREADABLE = {
    _signed(0x8004011B),  # MAPI_E_CORRUPT_DATA
    _signed(0x80004005),  # E_FAIL
    _signed(0x80040102),  # MAPI_E_NO_SUPPORT
}


class ComFailure(enum.Enum):
    """What a COM error means for the sync."""

    BUSY = "busy"
    GONE = "gone"
    NO_OBJECT_MODEL = "no_object_model"
    DENIED = "denied"
    NETWORK = "network"
    NOT_FOUND = "not_found"
    UNREADABLE = "unreadable"
    OTHER = "other"


def is_com_error(exc: BaseException) -> bool:
    """True for ``pywintypes.com_error`` and anything shaped like it."""
    return isinstance(getattr(exc, "hresult", None), int)


def com_code(exc: BaseException) -> int:
    """The meaningful code: the SCODE inside DISP_E_EXCEPTION, else the HRESULT."""
    hresult = int(getattr(exc, "hresult", 0))
    info = getattr(exc, "excepinfo", None)
    if hresult == DISP_E_EXCEPTION and isinstance(info, tuple) and len(info) > 5:
        scode = info[5]
        if isinstance(scode, int) and scode:
            return scode
    return hresult


def _description(exc: BaseException) -> str:
    info = getattr(exc, "excepinfo", None)
    if isinstance(info, tuple) and len(info) > 2 and info[2]:
        return str(info[2])
    return str(getattr(exc, "strerror", "") or exc)


def classify(exc: BaseException) -> ComFailure:
    """Sort a COM error into a :class:`ComFailure` (codes first, Outlook's words second)."""
    code = com_code(exc)
    if code in _BUSY or int(getattr(exc, "hresult", 0)) in _BUSY:
        return ComFailure.BUSY
    if code in _GONE or int(getattr(exc, "hresult", 0)) in _GONE:
        return ComFailure.GONE
    if code in _NO_OBJECT_MODEL:
        return ComFailure.NO_OBJECT_MODEL
    if code in _DENIED:
        return ComFailure.DENIED
    if code in _NETWORK:
        return ComFailure.NETWORK
    if code in _NOT_FOUND:
        return ComFailure.NOT_FOUND
    text = _description(exc).casefold()
    if "network problems" in text or "connection to microsoft exchange" in text:
        return ComFailure.NETWORK
    if "moved or deleted" in text or "could not be found" in text:
        return ComFailure.NOT_FOUND
    if "appropriate permission" in text:
        return ComFailure.DENIED
    if code in _UNREADABLE:
        return ComFailure.UNREADABLE
    return ComFailure.OTHER


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How long to keep asking a busy Outlook: ``attempts`` tries, doubling delays."""

    attempts: int = 8
    first_delay: float = 0.1
    max_delay: float = 3.2

    def delays(self) -> list[float]:
        """The pauses between attempts (one fewer than ``attempts``)."""
        out, delay = [], self.first_delay
        for _ in range(max(self.attempts - 1, 0)):
            out.append(delay)
            delay = min(delay * 2, self.max_delay)
        return out


class ComCaller:
    """Runs COM calls: retries busy ones, translates failures, reports lost connections.

    Args:
        retry: the busy-retry policy.
        sleep: how to wait between retries (injectable, so tests do not sleep).
        on_gone: called when Outlook went away, so the adapter drops its stale objects.
    """

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_gone: Callable[[], None] | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._on_gone = on_gone

    def call(self, fn: Callable[[], T], *, what: str, item_id: str | None = None) -> T:
        """Run ``fn`` (one COM call, or an idempotent group of reads) and translate errors.

        Raises:
            BackendUnavailableError: Outlook is busy beyond the retries, closed, or cut off
                from Exchange.
            ItemNotFoundError: Outlook says the item is gone ("moved or deleted").
            PermissionDeniedError: the calendar may only be read (an ItemRejectedError).
            ItemRejectedError: the item cannot be read or written.
            BackendError: any other COM failure not tied to an item.
        """
        delays = self.retry.delays()
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as exc:
                if not is_com_error(exc):
                    raise
                kind = classify(exc)
                if kind is ComFailure.BUSY and attempt < len(delays):
                    log.debug("Outlook busy during %s; retrying in %.2fs", what, delays[attempt])
                    self._sleep(delays[attempt])
                    attempt += 1
                    continue
                raise self.translate(exc, kind, what=what, item_id=item_id) from exc

    def translate(
        self, exc: BaseException, kind: ComFailure, *, what: str, item_id: str | None
    ) -> BackendError:
        """The outlook_sync error for a classified COM error (no secrets: codes and words)."""
        detail = f"{_description(exc)} (0x{com_code(exc) & 0xFFFFFFFF:08X})"
        if kind is ComFailure.BUSY:
            return BackendUnavailableError(
                f"Outlook stayed busy during {what} after {self.retry.attempts} attempts: {detail}",
                side=SIDE,
                item_id=item_id,
            )
        if kind is ComFailure.GONE:
            if self._on_gone is not None:
                self._on_gone()
            if com_code(exc) == _MK_E_UNAVAILABLE:
                return BackendUnavailableError(
                    "Outlook is not running: the sync waits until the user opens (classic) "
                    "Outlook; a user who moved to the new Outlook for Windows needs the Graph "
                    f"adapter (during {what}: {detail})",
                    side=SIDE,
                    item_id=item_id,
                )
            return BackendUnavailableError(
                f"Outlook is not running or was closed during {what}: {detail}",
                side=SIDE,
                item_id=item_id,
            )
        if kind is ComFailure.NO_OBJECT_MODEL:
            return BackendUnavailableError(f"{NO_OBJECT_MODEL} ({detail})", side=SIDE)
        if kind is ComFailure.DENIED:
            return PermissionDeniedError(
                f"Outlook refused to {what}: this calendar may only be read here: {detail}",
                side=SIDE,
                item_id=item_id,
            )
        if kind is ComFailure.NETWORK:
            return BackendUnavailableError(
                f"Outlook cannot reach Exchange during {what}: {detail}",
                side=SIDE,
                item_id=item_id,
            )
        if kind is ComFailure.NOT_FOUND:
            return ItemNotFoundError(
                f"Outlook says the item is gone during {what}: {detail}",
                side=SIDE,
                item_id=item_id,
            )
        if kind is ComFailure.UNREADABLE or item_id is not None:
            return ItemRejectedError(
                f"Outlook could not {what}: {detail}", side=SIDE, item_id=item_id
            )
        return BackendError(f"Outlook failed during {what}: {detail}", side=SIDE)
