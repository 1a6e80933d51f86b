"""COM errors as pywin32 raises them, and the faults the fake can inject.

pywin32 raises ``pywintypes.com_error`` with four arguments ``(hresult, strerror, excepinfo,
argerror)``, also readable as attributes. Errors raised *by Outlook itself* arrive as
``DISP_E_EXCEPTION`` with the real code in ``excepinfo[5]`` (the SCODE) and Outlook's message
in ``excepinfo[2]``; errors of the COM transport (the call was rejected, the server went away)
arrive with the code in ``hresult`` and no ``excepinfo``. :class:`ComError` has exactly that
shape, so code that handles ``com_error`` handles it too.

Sources:
- COM transport errors while Outlook is busy starting or blocking (RPC_E_CALL_REJECTED,
  RPC_E_SERVERCALL_RETRYLATER): "Rude Operator",
  https://learn.microsoft.com/en-us/archive/blogs/pcreehan/rude-operator
"""

from __future__ import annotations

import enum

__all__ = [
    "CO_E_CLASSSTRING",
    "CO_E_SERVER_EXEC_FAILURE",
    "DISP_E_EXCEPTION",
    "E_ACCESSDENIED",
    "E_FAIL",
    "E_INVALIDARG",
    "MAPI_E_CORRUPT_DATA",
    "MAPI_E_NETWORK_ERROR",
    "MAPI_E_NOT_FOUND",
    "MAPI_E_OBJECT_DELETED",
    "MK_E_UNAVAILABLE",
    "RPC_E_CALL_REJECTED",
    "RPC_E_DISCONNECTED",
    "RPC_E_SERVERCALL_RETRYLATER",
    "RPC_S_SERVER_UNAVAILABLE",
    "ComError",
    "Fault",
]


def _signed(code: int) -> int:
    """HRESULTs are unsigned in documentation and signed 32-bit ints in pywin32."""
    return code - (1 << 32) if code & 0x80000000 else code


E_FAIL = _signed(0x80004005)
E_INVALIDARG = _signed(0x80070057)
DISP_E_EXCEPTION = _signed(0x80020009)
RPC_E_CALL_REJECTED = _signed(0x80010001)
RPC_E_SERVERCALL_RETRYLATER = _signed(0x8001010A)
RPC_E_DISCONNECTED = _signed(0x80010108)
RPC_S_SERVER_UNAVAILABLE = _signed(0x800706BA)
CO_E_SERVER_EXEC_FAILURE = _signed(0x80080005)
MK_E_UNAVAILABLE = _signed(0x800401E3)
MAPI_E_OBJECT_DELETED = _signed(0x8004010A)
MAPI_E_NOT_FOUND = _signed(0x8004010F)
MAPI_E_NETWORK_ERROR = _signed(0x80040115)
MAPI_E_CORRUPT_DATA = _signed(0x8004011B)
#: E_ACCESSDENIED, which MAPI also uses as MAPI_E_NO_ACCESS.
E_ACCESSDENIED = _signed(0x80070005)
#: "Invalid class string": the ProgID ``Outlook.Application`` is not registered.
CO_E_CLASSSTRING = _signed(0x800401F3)


class ComError(Exception):
    """Shaped like ``pywintypes.com_error``: ``(hresult, strerror, excepinfo, argerror)``."""

    def __init__(
        self,
        hresult: int,
        strerror: str,
        excepinfo: tuple[int, str, str, None, int, int] | None = None,
        argerror: int | None = None,
    ) -> None:
        super().__init__(hresult, strerror, excepinfo, argerror)
        self.hresult = hresult
        self.strerror = strerror
        self.excepinfo = excepinfo
        self.argerror = argerror

    @classmethod
    def from_outlook(cls, scode: int, description: str) -> ComError:
        """An error Outlook raised itself: DISP_E_EXCEPTION carrying ``scode``."""
        return cls(
            DISP_E_EXCEPTION,
            "Exception occurred.",
            (0, "Microsoft Outlook", description, None, 0, scode),
        )


class Fault(enum.Enum):
    """Failures a test can inject into the fake (see ``FakeOutlook.fail_next``)."""

    #: Outlook is busy (a modal dialog, add-ins loading): RPC_E_CALL_REJECTED.
    CALL_REJECTED = "call_rejected"
    #: Outlook asks the caller to retry later: RPC_E_SERVERCALL_RETRYLATER.
    RETRY_LATER = "retry_later"
    #: "Network problems are preventing connection to Microsoft Exchange."
    NETWORK = "network"
    #: A property cannot be read (damaged item): MAPI_E_CORRUPT_DATA.
    UNREADABLE = "unreadable"
    #: "The item has been moved or deleted." although it may well still exist.
    MOVED_OR_DELETED = "moved_or_deleted"

    def error(self) -> ComError:
        """The exception this fault raises."""
        if self is Fault.CALL_REJECTED:
            return ComError(RPC_E_CALL_REJECTED, "Call was rejected by callee.")
        if self is Fault.RETRY_LATER:
            return ComError(
                RPC_E_SERVERCALL_RETRYLATER,
                "The message filter indicated that the application is busy.",
            )
        if self is Fault.NETWORK:
            return ComError.from_outlook(
                MAPI_E_NETWORK_ERROR,
                "Network problems are preventing connection to Microsoft Exchange.",
            )
        if self is Fault.UNREADABLE:
            return ComError.from_outlook(
                MAPI_E_CORRUPT_DATA, "The operation failed. The item could not be read."
            )
        return moved_or_deleted()


def moved_or_deleted() -> ComError:
    """What Outlook raises for a stale item object or an EntryID that is gone."""
    return ComError.from_outlook(MAPI_E_OBJECT_DELETED, "The item has been moved or deleted.")


def not_found() -> ComError:
    """What ``GetItemFromID`` raises for an unknown EntryID."""
    return ComError.from_outlook(
        MAPI_E_NOT_FOUND, "The operation failed. An object could not be found."
    )


def server_unavailable() -> ComError:
    """What every call raises once the Outlook process has gone."""
    return ComError(RPC_S_SERVER_UNAVAILABLE, "The RPC server is unavailable.")


def disconnected() -> ComError:
    """What a proxy raises after Outlook restarted: the old objects are dead."""
    return ComError(RPC_E_DISCONNECTED, "The object invoked has disconnected from its clients.")


def invalid_argument(description: str) -> ComError:
    """Outlook refusing an argument (a filter it cannot parse, an unknown zone)."""
    return ComError.from_outlook(E_INVALIDARG, description)


def access_denied() -> ComError:
    """Outlook refusing a write to a folder the user may only read (see ``_process``)."""
    return ComError.from_outlook(
        E_ACCESSDENIED, "You don't have appropriate permission to perform this operation."
    )


def class_not_registered() -> ComError:
    """What ``Dispatch`` / ``GetActiveObject("Outlook.Application")`` raise on a machine
    without classic Outlook (only the new Outlook for Windows, which has no COM server)."""
    return ComError(CO_E_CLASSSTRING, "Invalid class string")
