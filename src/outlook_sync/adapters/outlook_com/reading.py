"""Reading items by EntryID: the only code that opens AppointmentItems for the listings.

Promise kept here: *an item that cannot be read is not a deleted item.* An item the id table
listed but Outlook says was "moved or deleted" is looked up once more; if it still cannot be
opened the listing fails (``ListingError``: nothing may be concluded from it). An item that
exists but cannot be read is a :class:`BrokenItem` with the reason (quarantined), carrying its
partner key when that much can be read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from outlook_sync.adapters.outlook_com import mapping
from outlook_sync.adapters.outlook_com.connection import Connection
from outlook_sync.errors import ItemNotFoundError, ItemRejectedError, ListingError
from outlook_sync.model import BrokenItem, Item

__all__ = ["Call", "Reader"]

T = TypeVar("T")
SIDE = "outlook"


class Call(Protocol):
    """Runs one COM call with retries and error translation (``ComCaller.call``)."""

    def __call__(self, fn: Callable[[], T], what: str, item_id: str | None = None) -> T: ...


class Reader:
    """Opens and maps the items of the calendar folder.

    Args:
        call: runs COM calls (retries, translation).
        week_start: the first day of the user's week (for series).
    """

    def __init__(self, call: Call, *, week_start: str) -> None:
        self._call = call
        self.week_start = week_start

    def read_many(
        self, conn: Connection, entry_ids: Sequence[str]
    ) -> tuple[list[Item], list[BrokenItem]]:
        items: list[Item] = []
        broken: list[BrokenItem] = []
        for entry_id in entry_ids:
            result = self.read_listed(conn, entry_id)
            if isinstance(result, Item):
                items.append(result)
            else:
                broken.append(result)
        return items, broken

    def read_listed(self, conn: Connection, entry_id: str) -> Item | BrokenItem:
        """Read an item the id table listed; never conclude it is gone."""
        for attempt in (1, 2):
            try:
                return self._call(lambda: self.read(conn, entry_id), "read an item", entry_id)
            except ItemNotFoundError as exc:
                if attempt == 2:
                    raise ListingError(
                        f"Outlook listed item {entry_id} but could not open it twice "
                        "(moved or deleted meanwhile?); the listing is abandoned",
                        side=SIDE,
                        item_id=entry_id,
                    ) from exc
            except ItemRejectedError as exc:
                return BrokenItem(
                    id=entry_id, reason=str(exc), partner_key=self.partner_key_of(conn, entry_id)
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def read(self, conn: Connection, entry_id: str) -> Item | BrokenItem:
        com_item = conn.namespace.GetItemFromID(entry_id, conn.store_id)
        return self.map(conn, com_item)

    def map(self, conn: Connection, com_item: Any) -> Item | BrokenItem:
        return mapping.read_item(com_item, local_zone=conn.local_zone, week_start=self.week_start)

    def partner_key_of(self, conn: Connection, entry_id: str) -> str | None:
        try:
            return self._call(
                lambda: mapping.read_partner_key(
                    conn.namespace.GetItemFromID(entry_id, conn.store_id)
                ),
                "read an item's partner key",
                entry_id,
            )
        except (ItemRejectedError, ItemNotFoundError):
            return None

    def open_in_folder(self, conn: Connection, entry_id: str) -> Any | None:
        """The item if it is in this folder, ``None`` if it is elsewhere."""
        com_item = conn.namespace.GetItemFromID(entry_id, conn.store_id)
        if str(com_item.Parent.EntryID) != conn.folder_entry_id:
            return None
        return com_item
