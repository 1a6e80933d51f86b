"""How the adapter finds what changed: the folder's id table, the watermark filter, the token.

Theory of operation
-------------------
A change listing combines three cheap sources and reads in full only the items they name:

1. **The id table.** ``Folder.GetTable()`` lists every item's ``EntryID`` and
   ``LastModificationTime`` without opening the items (``Items.SetColumns`` cannot cache
   ``EntryID``; the Table is Outlook's fast path:
   https://learn.microsoft.com/en-us/office/vba/outlook/how-to/search-and-filter/default-properties-displayed-in-a-table-object).
   The previous listing's table travels in the cursor's opaque token (compressed). Comparing
   the two gives the *deleted* ids (listed before, absent now — ``ItemRemove`` does not say
   which item went, and does not fire at all for 16 or more deletions), the *new* ids (whatever
   their time stamp: items imported, moved in, or synchronised late) and the items whose
   ``LastModificationTime`` moved (even when Exchange cached mode delivers a change stamped
   long before it arrived).
2. **The watermark.** ``Items.Restrict("[LastModificationTime] >= '<watermark>'")``, as the
   product describes: every item from *and including* the last sync time. The date is written
   with the user's regional pictures (``regional.py``), to the minute (Outlook ignores
   seconds), minus a safety margin for cached-mode lag, and minus the hour the clocks went
   back if they did since then (local wall times repeat). It over-reports by design; items
   seen again unchanged plan nothing.
3. **The format check.** A filter date in the wrong format matches nothing, silently. Before
   the watermark filter is trusted, a filter far in the past (13th of January 1990, 13:13:
   no day/month or 12/24-hour confusion can parse it) must match every item of the folder;
   if it does not, the listing fails loudly instead of missing changes.

A cursor without a token (the first sync, "Full sync now", "process from this date") makes
the adapter list everything: deletions cannot be known without the previous table.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import zlib
import zoneinfo
from collections.abc import Mapping
from typing import Any

import attrs

from outlook_sync.adapters.outlook_com.mapping import com_datetime
from outlook_sync.adapters.outlook_com.regional import WindowsLocale
from outlook_sync.errors import InvalidEventError, ListingError

__all__ = [
    "PROBE",
    "Snapshot",
    "check_filter_format",
    "decode",
    "encode",
    "modified_since",
    "scan",
    "series_ids",
    "watermark_filter",
]

_CURSOR_PREFIX = "com1:"
#: The probe date of the format check (see the module docstring).
PROBE = dt.datetime(1990, 1, 13, 13, 13)  # noqa: DTZ001 - a local wall-clock time


@attrs.frozen(kw_only=True)
class Snapshot:
    """The folder's id table at one listing: ``EntryID -> LastModificationTime`` (as read)."""

    folder: str
    stamps: Mapping[str, str]


def encode(snapshot: Snapshot) -> str:
    """The cursor token for ``snapshot`` (compressed JSON, URL-safe base64)."""
    payload = json.dumps(
        {"folder": snapshot.folder, "stamps": sorted(snapshot.stamps.items())},
        separators=(",", ":"),
    ).encode("utf-8")
    return _CURSOR_PREFIX + base64.urlsafe_b64encode(zlib.compress(payload, 9)).decode("ascii")


def decode(token: str | None, *, folder: str) -> Snapshot | None:
    """The snapshot in ``token``, or ``None`` if there is none for this folder.

    A token from another folder (the user switched calendars), another adapter or an
    older format is not an error: the adapter then lists everything.
    """
    if not token or not token.startswith(_CURSOR_PREFIX):
        return None
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(token[len(_CURSOR_PREFIX) :]))
        data = json.loads(raw)
        stamps = {str(entry_id): str(stamp) for entry_id, stamp in data["stamps"]}
        owner = str(data["folder"])
    except (binascii.Error, zlib.error, ValueError, KeyError, TypeError):
        return None
    if owner != folder:
        return None
    return Snapshot(folder=owner, stamps=stamps)


def scan(folder: Any) -> dict[str, str]:
    """Every item's EntryID and LastModificationTime, from the folder's Table (ids only).

    Raises:
        ListingError: a row has no EntryID or no date (nothing may be concluded).
    """
    table = folder.GetTable()
    stamps: dict[str, str] = {}
    while not table.EndOfTable:
        row = table.GetNextRow()
        if row is None:
            break
        entry_id = row.Item("EntryID")
        if not entry_id:
            raise ListingError("Outlook listed an item without an EntryID", side="outlook")
        try:
            stamp = com_datetime(row.Item("LastModificationTime"), "LastModificationTime")
        except InvalidEventError as exc:
            raise ListingError(
                f"Outlook listed item {entry_id} without a modification time",
                side="outlook",
                item_id=str(entry_id),
            ) from exc
        stamps[str(entry_id)] = stamp.isoformat()
    return stamps


def series_ids(folder: Any) -> list[str]:
    """The EntryIDs of the folder's series masters, from its table (ids only)."""
    table = folder.GetTable("[IsRecurring] = True")
    found: list[str] = []
    while not table.EndOfTable:
        row = table.GetNextRow()
        if row is None:
            break
        entry_id = row.Item("EntryID")
        if entry_id:
            found.append(str(entry_id))
    return found


def watermark_filter(
    watermark: dt.datetime,
    *,
    margin: dt.timedelta,
    now: dt.datetime,
    local_zone: zoneinfo.ZoneInfo,
    locale: WindowsLocale,
) -> str:
    """The ``Restrict`` filter for "changed from and including ``watermark``".

    Local wall-clock time (built-in properties compare as local times), cut to the minute,
    minus ``margin``, minus the length of any backward clock change between then and ``now``.
    """
    since = (watermark - margin).astimezone(local_zone)
    later = now.astimezone(local_zone)
    shift = max(
        dt.timedelta(0),
        (since.utcoffset() or dt.timedelta(0)) - (later.utcoffset() or dt.timedelta(0)),
    )
    wall = (since.replace(tzinfo=None) - shift).replace(second=0, microsecond=0)
    return f"[LastModificationTime] >= '{locale.filter_datetime(wall)}'"


def modified_since(folder: Any, criteria: str) -> set[str]:
    """The EntryIDs ``Items.Restrict(criteria)`` returns (only their ids are read)."""
    restricted = folder.Items.Restrict(criteria)
    found: set[str] = set()
    item = restricted.GetFirst()
    while item is not None:
        found.add(str(item.EntryID))
        item = restricted.GetNext()
    return found


def check_filter_format(folder: Any, locale: WindowsLocale) -> bool:
    """Prove Outlook reads our filter dates: a far-past filter must match every item.

    Returns ``False`` when the folder is empty (nothing to prove yet), ``True`` when proven.

    Raises:
        ListingError: the filter matched fewer items than the folder holds — the configured
            date format is not the user's Windows format.
    """
    items = folder.Items
    total = int(items.Count)
    if total == 0:
        return False
    criteria = f"[LastModificationTime] >= '{locale.filter_datetime(PROBE)}'"
    matched = int(items.Restrict(criteria).Count)
    if matched != total:
        raise ListingError(
            f"Outlook does not read the filter date format {locale.short_date!r} "
            f"{locale.short_time!r}: a filter that must match all {total} items matched "
            f"{matched}. Set the adapter's WindowsLocale to the user's regional settings.",
            side="outlook",
        )
    return True
