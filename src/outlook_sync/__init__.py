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
from outlook_sync.adapters.memory import InMemoryCalendar
from outlook_sync.engine import Synchronizer
from outlook_sync.errors import (
    BackendError,
    BackendUnavailableError,
    CancelledError,
    ConfigurationError,
    InvalidEventError,
    ItemNotFoundError,
    ItemRejectedError,
    ListingError,
    MassDeleteRefusedError,
    OutlookSyncError,
    SchemaVersionError,
    StateError,
    SyncInProgressError,
    VersionConflictError,
)
from outlook_sync.model import BrokenItem, Cursor, Event, Item, Link, Listing, ShowAs, Side
from outlook_sync.policy import ConflictPolicy, DeletePolicy, SyncPolicy
from outlook_sync.protocols import (
    Calendar,
    ChangeNotifier,
    ItemOpener,
    StateChange,
    StateStore,
    Subscription,
)
from outlook_sync.records import Conflict, DeletedItem, Failure, Quarantined
from outlook_sync.report import SyncReport
from outlook_sync.state.memory import MemoryStateStore
from outlook_sync.state.sqlite import SqliteStateStore

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "BrokenItem",
    "Calendar",
    "CancelledError",
    "ChangeNotifier",
    "ConfigurationError",
    "Conflict",
    "ConflictPolicy",
    "Create",
    "Cursor",
    "Delete",
    "DeletePolicy",
    "DeletedItem",
    "Event",
    "Failure",
    "InMemoryCalendar",
    "InvalidEventError",
    "Item",
    "ItemNotFoundError",
    "ItemOpener",
    "ItemRejectedError",
    "Link",
    "LinkPair",
    "Listing",
    "ListingError",
    "MassDeleteRefusedError",
    "MemoryStateStore",
    "OutlookSyncError",
    "Quarantined",
    "SchemaVersionError",
    "ShowAs",
    "Side",
    "SqliteStateStore",
    "StateChange",
    "StateError",
    "StateStore",
    "Subscription",
    "SyncInProgressError",
    "SyncPlan",
    "SyncPolicy",
    "SyncReport",
    "Synchronizer",
    "Unlink",
    "Update",
    "VersionConflictError",
    "Write",
    "plan",
]
