"""Outlook's folder events as change hints, backed by a periodic check.

``Items.ItemAdd(Item)``, ``ItemChange(Item)`` and ``ItemRemove()`` drive direct sync, with
three documented gaps that the periodic :meth:`OutlookSubscription.check` closes:

- ItemAdd "does not run when a large number of items are added to the folder at once"
  (https://learn.microsoft.com/en-us/office/vba/api/outlook.items.itemadd);
- ItemRemove names no item, and does not run "if 16 or more items are deleted at once"
  (https://learn.microsoft.com/en-us/office/vba/api/outlook.items.itemremove);
- events stop when the subscribed ``Items`` object is garbage collected, so the subscription
  keeps a reference to it for as long as it is open.

Events and COM calls belong to the thread that owns the Outlook objects: call ``check()``
from that thread (for example every minute from the loop that pumps its COM messages). Hints
may be duplicated or spurious; the incremental listing decides what really changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["ItemsEventSink", "OutlookSubscription"]

log = logging.getLogger("outlook_sync.adapters.outlook_com")

Notify = Callable[[Sequence[str]], None]


class ItemsEventSink:
    """The event sink ``WithEvents`` instantiates (without arguments) for an Items object."""

    notify: Notify | None = None

    def OnItemAdd(self, Item: Any) -> None:
        self._changed(Item)

    def OnItemChange(self, Item: Any) -> None:
        self._changed(Item)

    def OnItemRemove(self) -> None:
        self._emit([])  # which item went is not said: "something changed, look"

    def _changed(self, item: Any) -> None:
        try:
            ids = [str(item.EntryID)]
        except Exception:  # an event sink must never raise into Outlook
            ids = []
        self._emit(ids)

    def _emit(self, ids: Sequence[str]) -> None:
        if self.notify is None:
            return
        try:
            self.notify(ids)
        except Exception:
            log.exception("the change callback failed")


class OutlookSubscription:
    """An open subscription: events plus :meth:`check`; :meth:`close` ends it.

    Args:
        items: the Items object the sink listens to (kept alive here).
        sink: the sink returned by ``WithEvents``.
        scan: returns the folder's ``EntryID -> LastModificationTime`` table.
        notify: the callback.
    """

    def __init__(
        self, *, items: Any, sink: Any, scan: Callable[[], dict[str, str]], notify: Notify
    ) -> None:
        self._items: Any = items
        self._sink: Any = sink
        self._scan = scan
        self._notify = notify
        self._last = scan()
        self.closed = False

    def check(self) -> bool:
        """Compare the folder's id table with the last check; hint at what differs.

        Returns True if something changed (the callback was called).

        Raises:
            BackendUnavailableError: Outlook is closed or unreachable.
        """
        if self.closed:
            return False
        current = self._scan()
        if current == self._last:
            return False
        changed = sorted(k for k, stamp in current.items() if self._last.get(k) != stamp)
        self._last = current
        self._notify(changed)
        return True

    def close(self) -> None:
        """Stop the events (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self._sink.notify = None
        closer = getattr(self._sink, "close", None)
        if callable(closer):
            try:
                closer()
            except Exception:  # Outlook may already be gone
                log.debug("closing the Outlook event sink failed", exc_info=True)
        self._items = None
        self._sink = None
