"""The result of one sync, for people (``str(report)``) and programs (``to_json``)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import attrs

from outlook_sync.model import Side
from outlook_sync.records import Conflict, Failure, Quarantined

__all__ = ["SyncReport"]

_OPS = ("create", "update", "delete", "stamp")


def _zero() -> dict[str, dict[str, int]]:
    return {side.value: dict.fromkeys(_OPS, 0) for side in Side}


@attrs.frozen(kw_only=True)
class SyncReport:
    """What a sync did.

    Attributes:
        user: whose calendars were synced.
        full: per side (``"saljstod"``/``"outlook"``), whether the listing was complete.
        writes: per side, the number of creates, updates, deletes and partner-key
            stamps (a write that only stores the partner's id) that succeeded: every
            backend write, for hosts that budget requests by it.
        linked: pairs linked without copying (first sync, crash recovery).
        unlinked: links dropped (deleted on both sides, keep-both splits, ...).
        conflicts: conflicts resolved by this sync (also in the conflict log).
        quarantined: items set aside, with the reason.
        failures: operations that failed; they are retried on the next sync.
        refused: why the plan was refused (mass-delete guard), or ``None``.
        switched: sides whose calendar changed since the links were made.
        read_only: sides found read-only during this sync (a permission refusal).
        read_only_skips: writes left out because their side is read-only.
        cancelled: the host cancelled the sync between two items.
        error: why the sync could not run at all (a listing failed), or ``None``.
        last_sync: the date and time of the last sync after this one.
        started_at, finished_at: the sync host's clock.
    """

    user: str
    full: dict[str, bool] = attrs.field(factory=dict)
    writes: dict[str, dict[str, int]] = attrs.field(factory=_zero)
    linked: int = 0
    unlinked: int = 0
    conflicts: tuple[Conflict, ...] = ()
    quarantined: tuple[Quarantined, ...] = ()
    failures: tuple[Failure, ...] = ()
    #: items someone changed while the sync was writing them: the write was refused,
    #: the new version re-read and merged in the same sync.
    concurrent_edits: int = 0
    refused: str | None = None
    cancelled: bool = False
    error: str | None = None
    #: sides whose calendar changed since the links were made: links forgotten,
    #: items re-linked by key and match, nothing deleted.
    switched: tuple[str, ...] = ()
    #: sides that refused a write for lack of permission during this sync: treated
    #: as read-only for the rest of it (declare them in ``SyncPolicy.read_only``).
    read_only: tuple[str, ...] = ()
    #: writes left out because their side is read-only.
    read_only_skips: int = 0
    last_sync: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        """True when everything planned was done (quarantined items aside)."""
        return not (self.failures or self.refused or self.cancelled or self.error
                    or self.read_only)

    def count(self, operation: str, side: Side | str) -> int:
        """How many ``operation`` (create/update/delete/stamp) writes succeeded on ``side``."""
        key = side.value if isinstance(side, Side) else side
        return self.writes[key][operation]

    @property
    def total_writes(self) -> int:
        """All successful backend writes, both sides."""
        return sum(sum(ops.values()) for ops in self.writes.values())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (datetimes as ISO 8601 strings)."""

        def iso(value: dt.datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "user": self.user,
            "ok": self.ok,
            "full": self.full,
            "writes": self.writes,
            "linked": self.linked,
            "unlinked": self.unlinked,
            "conflicts": [
                {
                    "saljstod_id": c.saljstod_id,
                    "outlook_id": c.outlook_id,
                    "kind": c.kind,
                    "resolution": c.resolution,
                    "fields": list(c.fields),
                    "overridden": c.overridden.value if c.overridden else None,
                    "detail": c.detail,
                }
                for c in self.conflicts
            ],
            "quarantined": [
                {"side": q.side.value, "item_id": q.item_id, "reason": q.reason}
                for q in self.quarantined
            ],
            "failures": [
                {"side": f.side.value, "item_id": f.item_id, "operation": f.operation,
                 "error": f.error}
                for f in self.failures
            ],
            "concurrent_edits": self.concurrent_edits,
            "refused": self.refused,
            "switched": list(self.switched),
            "read_only": list(self.read_only),
            "read_only_skips": self.read_only_skips,
            "cancelled": self.cancelled,
            "error": self.error,
            "last_sync": iso(self.last_sync),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
        }

    def to_json(self) -> str:
        """The report as one line of JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    def __str__(self) -> str:
        lines = [f"Sync for {self.user}: " + ("ok" if self.ok else "needs attention")]
        if self.error:
            lines.append(f"  error: {self.error}")
        if self.refused:
            lines.append(f"  refused: {self.refused}")
        if self.cancelled:
            lines.append("  cancelled before the end; the rest runs next time")
        for switched in self.switched:
            label = "Säljstöd" if switched == Side.SALJSTOD.value else "Outlook"
            lines.append(f"  the {label} calendar changed: items re-linked by key and "
                         "match, nothing deleted")
        for refused in self.read_only:
            label = "Säljstöd" if refused == Side.SALJSTOD.value else "Outlook"
            lines.append(f"  the {label} calendar refused writes (read-only?): nothing more "
                         "was written to it in this sync; declare it read-only in the policy")
        for side, label in ((Side.SALJSTOD, "Säljstöd"), (Side.OUTLOOK, "Outlook")):
            ops = self.writes[side.value]
            kind = "full" if self.full.get(side.value) else "incremental"
            stamped = f", stamped {ops['stamp']}" if ops["stamp"] else ""
            lines.append(
                f"  {label:<9} {kind:<11} created {ops['create']}, updated {ops['update']}, "
                f"deleted {ops['delete']}{stamped}"
            )
        lines.append(f"  paired {self.linked} existing, stopped syncing {self.unlinked} pair(s)")
        for c in self.conflicts:
            fields = f" ({', '.join(c.fields)})" if c.fields else ""
            lines.append(
                f"  conflict {c.kind}{fields}: {c.resolution} "
                f"[Säljstöd {c.saljstod_id}, Outlook {c.outlook_id}]"
            )
        for q in self.quarantined:
            lines.append(f"  quarantined {q.side} {q.item_id}: {q.reason}")
        if self.concurrent_edits:
            lines.append(f"  {self.concurrent_edits} items changed during the sync: re-read "
                         "and merged")
        for f in self.failures:
            lines.append(f"  failed {f.operation} {f.side} {f.item_id}: {f.error}")
        if self.last_sync is not None:
            lines.append(f"  last sync: {self.last_sync.isoformat(timespec='seconds')}")
        return "\n".join(lines)
