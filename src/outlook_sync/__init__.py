"""outlook_sync: two-way sync between the Säljstöd CRM calendar and Microsoft Outlook.

The host application uses :class:`Synchronizer` with two :class:`Calendar` adapters
(Säljstöd and Outlook) and a :class:`StateStore`; see ``docs/`` for the concepts.
"""

from outlook_sync._core.actions import (
    Create,
    Delete,
    LinkPair,
    SyncPlan,
    Unlink,
    Update,
    Write,
)
from outlook_sync._core.plan import plan
from outlook_sync.adapters.memory import InMemoryBulkCalendar, InMemoryCalendar
from outlook_sync.engine import Synchronizer
from outlook_sync.errors import (
    BackendError,
    BackendUnavailableError,
    BusyError,
    CancelledError,
    ConfigurationError,
    InvalidEventError,
    ItemNotFoundError,
    ItemRejectedError,
    LeaseLostError,
    ListingError,
    MassDeleteRefusedError,
    OutlookSyncError,
    PermissionDeniedError,
    SchemaVersionError,
    StateError,
    StateUnavailableError,
    SyncInProgressError,
    VersionConflictError,
)
from outlook_sync.model import BrokenItem, Cursor, Event, Item, Link, Listing, ShowAs, Side
from outlook_sync.policy import ConflictPolicy, DeletePolicy, SyncPolicy
from outlook_sync.protocols import (
    BulkWriter,
    Calendar,
    ChangeNotifier,
    IdentifiedCalendar,
    ItemOpener,
    StateChange,
    StateStore,
    Subscription,
    SyncObserver,
)
from outlook_sync.records import Conflict, DeletedItem, Failure, Quarantined, Restored
from outlook_sync.report import SyncReport
from outlook_sync.scope import Direction, SyncFilter
from outlook_sync.settings import ConnectionSettings, OutlookConnection
from outlook_sync.state.memory import MemoryStateStore
from outlook_sync.state.sqlite import SqliteStateStore
from outlook_sync.status import StatusBoard
from outlook_sync.watch import Watcher

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "BrokenItem",
    "BulkWriter",
    "BusyError",
    "Calendar",
    "CancelledError",
    "ChangeNotifier",
    "ConfigurationError",
    "Conflict",
    "ConflictPolicy",
    "ConnectionSettings",
    "Create",
    "Cursor",
    "Delete",
    "DeletePolicy",
    "DeletedItem",
    "Direction",
    "Event",
    "Failure",
    "IdentifiedCalendar",
    "InMemoryBulkCalendar",
    "InMemoryCalendar",
    "InvalidEventError",
    "Item",
    "ItemNotFoundError",
    "ItemOpener",
    "ItemRejectedError",
    "LeaseLostError",
    "Link",
    "LinkPair",
    "Listing",
    "ListingError",
    "MassDeleteRefusedError",
    "MemoryStateStore",
    "OutlookConnection",
    "OutlookSyncError",
    "PermissionDeniedError",
    "Quarantined",
    "Restored",
    "SchemaVersionError",
    "ShowAs",
    "Side",
    "SqliteStateStore",
    "StateChange",
    "StateError",
    "StateStore",
    "StateUnavailableError",
    "StatusBoard",
    "Subscription",
    "SyncFilter",
    "SyncInProgressError",
    "SyncObserver",
    "SyncPlan",
    "SyncPolicy",
    "SyncReport",
    "Synchronizer",
    "Unlink",
    "Update",
    "VersionConflictError",
    "Watcher",
    "Write",
    "plan",
]
