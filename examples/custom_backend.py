"""A custom calendar backend in one file: a JSON file, synced with an in-memory Outlook.

Run it: ``python examples/custom_backend.py``. docs/custom-backend.md walks through it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from outlook_sync import InMemoryCalendar, MemoryStateStore, Synchronizer, errors
from outlook_sync.model import BrokenItem, Cursor, Event, Item, Listing

EMPTY = '{"items": {}, "deleted": {}, "next_id": 1}'


def to_json(event: Event) -> dict[str, Any]:
    data = attrs.asdict(event)
    return {**data, "start": event.start.isoformat(), "end": event.end.isoformat(),
            "show_as": event.show_as.value}  # fmt: skip


def from_json(data: dict[str, Any]) -> Event:
    parse = dt.date.fromisoformat if data["all_day"] else dt.datetime.fromisoformat
    return Event(**{**data, "start": parse(data["start"]), "end": parse(data["end"])})


class JsonFileCalendar:
    """A calendar in one JSON file: ``{"items": {id: row}, "deleted": {id: when}}``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, Any]:
        """The one place where file errors become outlook_sync errors."""
        try:
            text = self.path.read_text("utf-8") if self.path.exists() else EMPTY
            data: dict[str, Any] = json.loads(text)
        except (OSError, ValueError) as exc:
            raise errors.ListingError(f"cannot read {self.path.name}: {exc}") from exc
        return data

    def _save(self, data: dict[str, Any]) -> None:
        temporary = self.path.with_suffix(".tmp")  # write, then rename: never half a file
        temporary.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
        os.replace(temporary, self.path)

    def _item(self, item_id: str, row: dict[str, Any]) -> Item | BrokenItem:
        try:  # changed: the backend's own time of the last change ("newest wins")
            return Item(id=item_id, version=str(row["version"]), event=from_json(row["event"]),
                        partner_key=row["partner_key"],
                        changed=dt.datetime.fromisoformat(row["changed_at"]))
        except (errors.InvalidEventError, KeyError, TypeError, ValueError) as exc:
            return BrokenItem(id=item_id, reason=f"unreadable row: {exc}")  # quarantined

    def _listing(self, since: dt.datetime | None) -> Listing:
        now, data = dt.datetime.now(dt.UTC), self._load()  # the backend's clock

        def changed(when: str) -> bool:
            return since is None or dt.datetime.fromisoformat(when) >= since

        found = [self._item(i, row) for i, row in data["items"].items()
                 if row["partner_key"] is None or changed(row["changed_at"])]  # fmt: skip
        return Listing(
            items=[f for f in found if isinstance(f, Item)],
            broken=[f for f in found if isinstance(f, BrokenItem)],
            deleted=[i for i, when in data["deleted"].items() if since and changed(when)],
            complete=since is None,
            cursor=Cursor(watermark=now),
        )

    # -- the Calendar protocol ----------------------------------------------------------
    def list_all(self) -> Listing:
        return self._listing(None)

    def list_changes(self, cursor: Cursor) -> Listing:
        return self._listing(cursor.watermark)

    def get(self, item_id: str) -> Item | BrokenItem | None:
        row = self._load()["items"].get(item_id)
        return None if row is None else self._item(item_id, row)

    def find_by_partner_key(self, partner_key: str) -> Sequence[Item]:
        rows = self._load()["items"].items()
        found = [self._item(i, row) for i, row in rows if row["partner_key"] == partner_key]
        return [f for f in found if isinstance(f, Item)]

    def create(self, event: Event, *, partner_key: str | None = None) -> Item:
        data = self._load()
        item_id, data["next_id"] = f"J{data['next_id']}", data["next_id"] + 1
        data["items"][item_id] = {"version": 0, "partner_key": partner_key}
        return self._write(data, item_id, event, partner_key)

    def update(self, item_id: str, event: Event, *, expected_version: str,
               partner_key: str | None = None) -> Item:  # fmt: skip
        data = self._load()
        row = self._checked(data, item_id, expected_version)
        return self._write(data, item_id, event, partner_key or row["partner_key"])

    def delete(self, item_id: str, *, expected_version: str) -> None:
        data = self._load()
        self._checked(data, item_id, expected_version)
        del data["items"][item_id]
        data["deleted"][item_id] = dt.datetime.now(dt.UTC).isoformat()
        self._save(data)

    def _checked(self, data: dict[str, Any], item_id: str, expected: str) -> dict[str, Any]:
        row: dict[str, Any] | None = data["items"].get(item_id)
        if row is None:
            raise errors.ItemNotFoundError(f"no item {item_id}", item_id=item_id)
        if str(row["version"]) != expected:  # someone changed it since we read it
            raise errors.VersionConflictError(f"{item_id} changed", item_id=item_id)
        return row

    def _write(self, data: dict[str, Any], item_id: str, event: Event, key: str | None) -> Item:
        if event.recurrence is not None:  # refuse what it cannot keep, as a whole
            raise errors.ItemRejectedError("single appointments only", item_id=item_id)
        row, now = data["items"][item_id], dt.datetime.now(dt.UTC)
        row.update(version=row["version"] + 1, partner_key=key, event=to_json(event),
                   changed_at=now.isoformat())  # fmt: skip
        self._save(data)
        return Item(id=item_id, version=str(row["version"]), event=event, partner_key=key,
                    changed=now)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        crm = JsonFileCalendar(Path(folder) / "crm.json")
        outlook = InMemoryCalendar(name="outlook", id_prefix="O")
        sync = Synchronizer(saljstod=crm, outlook=outlook, state=MemoryStateStore(), user="anna")
        nine, hour = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC), dt.timedelta(hours=1)
        crm.create(Event(subject="Kundmöte Nordbygg", start=nine, end=nine + hour))
        outlook.add(Event(subject="Lunch", start=nine + 3 * hour, end=nine + 4 * hour))
        print("first sync:", sync.sync().total_writes, "writes")
        [o_id] = [i for i, e in outlook.items().items() if e.subject != "Lunch"]
        moved = Event(subject="Kundmöte Nordbygg", start=nine, end=nine + hour, location="Göteborg")
        outlook.update(o_id, moved)  # the user edits the appointment in Outlook
        print("second sync:", sync.sync().total_writes, "writes")
        print("third sync:", sync.sync().total_writes, "writes")
        for item in crm.list_all().items:
            print(f"crm.json {item.id}: {item.event.subject} | {item.event.location or '-'}")


if __name__ == "__main__":
    main()
