"""The exceptions outlook_sync raises.

Every exception derives from :class:`OutlookSyncError`, so a host application can catch
one type. Errors carry structured fields (``side``, ``item_id``, ``field``) instead of
asking callers to parse messages, and a few also inherit a builtin where that is what
Python code would naturally catch (``ValueError`` for bad input)::

    OutlookSyncError
    ├── InvalidEventError (ValueError)        a value object refused at construction
    ├── ConfigurationError (ValueError)       a bad policy, mapping, setting or config file
    ├── StateError                            the state store cannot be read or written
    │   ├── SyncInProgressError               another sync for this user holds the lock
    │   ├── LeaseLostError                    this sync's lock expired and was taken over
    │   └── SchemaVersionError                a database schema newer than this library
    ├── BackendError                          a calendar backend failed (carries ``side``)
    │   ├── BackendUnavailableError           unreachable, closed, throttled past retries
    │   ├── ItemNotFoundError (KeyError)      the item is gone
    │   ├── VersionConflictError              the item changed since it was read
    │   ├── ItemRejectedError                 the backend refused this one item
    │   │   └── PermissionDeniedError         the user may not write this calendar
    │   └── ListingError                      a listing failed or came back malformed
    ├── BusyError                             a database is held by another transaction;
    │                                         try again shortly (not a broken store)
    ├── MassDeleteRefusedError                raised by callers who want refusal as error
    └── CancelledError                        a sync stopped on request between items

Secrets (tokens, passwords, connection strings) never appear in messages: the code that
raises these errors passes only ids, field names and reasons.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "BusyError",
    "CancelledError",
    "ConfigurationError",
    "InvalidEventError",
    "ItemNotFoundError",
    "ItemRejectedError",
    "LeaseLostError",
    "ListingError",
    "MassDeleteRefusedError",
    "OutlookSyncError",
    "PermissionDeniedError",
    "SchemaVersionError",
    "StateError",
    "StateUnavailableError",
    "SyncInProgressError",
    "VersionConflictError",
]


class OutlookSyncError(Exception):
    """The root of every error raised by outlook_sync."""


class InvalidEventError(OutlookSyncError, ValueError):
    """A value (event, item, watermark) failed validation.

    Attributes:
        field: the offending field's name, when one field is to blame.
        item_id: the item's id, when the value came from a backend item.
    """

    def __init__(self, message: str, *, field: str | None = None, item_id: str | None = None):
        super().__init__(message)
        self.field = field
        self.item_id = item_id


class ConfigurationError(OutlookSyncError, ValueError):
    """A policy, mapping, setting or configuration file is not usable.

    Attributes:
        key: the configuration key or name at fault, if known.
    """

    def __init__(self, message: str, *, key: str | None = None):
        super().__init__(message)
        self.key = key


class StateError(OutlookSyncError):
    """The state store could not be read or written."""


class StateUnavailableError(StateError):
    """The state database cannot be reached (a server down, a wrong host or port)."""


class SyncInProgressError(StateError):
    """Another sync for the same user holds the lock and it has not expired."""

    def __init__(self, message: str, *, user: str):
        super().__init__(message)
        self.user = user


class LeaseLostError(StateError):
    """This sync's lock (lease) expired and another sync may hold it now.

    Raised by a state store's commit (fencing): the sync that lost its lease commits
    nothing more and stops; the sync that holds the lease carries on.
    """

    def __init__(self, message: str, *, user: str):
        super().__init__(message)
        self.user = user


class SchemaVersionError(StateError):
    """The database schema is newer than this version of outlook_sync understands."""


class BackendError(OutlookSyncError):
    """A calendar backend failed.

    Attributes:
        side: ``"saljstod"`` or ``"outlook"`` once the engine knows it, else ``None``.
        item_id: the item the failure concerns, if any.
    """

    def __init__(
        self, message: str, *, side: str | None = None, item_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.side = side
        self.item_id = item_id


class BackendUnavailableError(BackendError):
    """The backend cannot be reached (closed, offline, throttled beyond retries)."""


class ItemNotFoundError(BackendError, KeyError):
    """The item does not exist (any more) on the backend."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "item not found"


class VersionConflictError(BackendError):
    """The item changed on the backend since the version the write expected."""


class ItemRejectedError(BackendError):
    """The backend refused to store this one item; others are unaffected."""


class PermissionDeniedError(ItemRejectedError):
    """The backend refused a write because the user may only read this calendar.

    Raised by adapters for HTTP 403 ``ErrorAccessDenied`` (Graph), ``E_ACCESSDENIED`` /
    "You don't have appropriate permission" (Outlook COM) and a database's permission
    error (SQL). The engine then treats the side as read-only for the rest of that sync
    and reports it once.
    """


class ListingError(BackendError):
    """A listing failed or was malformed; nothing may be concluded from it."""


class BusyError(OutlookSyncError):
    """A database is held by another transaction (a host's write lock); try again.

    Distinct from :class:`StateError`: nothing is broken, the store or the Säljstöd
    database was busy for longer than the configured wait. Schedulers (occasions, the
    server) retry it.

    Attributes:
        retry_after: suggested seconds to wait, when known.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MassDeleteRefusedError(OutlookSyncError):
    """A plan would delete too large a share of one side and was not confirmed."""


class CancelledError(OutlookSyncError):
    """The sync was cancelled by the host between two items."""
