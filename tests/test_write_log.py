"""What an in-memory calendar records of its writes: the ``write_log`` tests count,
and the change index behind its incremental listings."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from outlook_sync import Cursor, InMemoryBulkCalendar, InMemoryCalendar, Item
from outlook_sync.adapters.memory import WriteLog
from tests.world import ManualClock, meeting


def test_the_write_log_reads_as_a_list_of_operation_and_id_pairs() -> None:
    calendar = InMemoryBulkCalendar(clock=ManualClock(), id_prefix="O")
    assert calendar.write_log == []
    created = calendar.create_many([(meeting("Kundmöte"), "S1"), (meeting("Lunch"), "S2")])
    first, second = created
    assert not isinstance(first, Exception)
    assert not isinstance(second, Exception)
    calendar.update(first.id, meeting("Kundmöte, flyttat"), expected_version=first.version)
    calendar.delete(second.id, expected_version=second.version)
    log = calendar.write_log
    assert log == [("create", "O1"), ("create", "O2"), ("update", "O1"), ("delete", "O2")]
    assert log == (("create", "O1"), ("create", "O2"), ("update", "O1"), ("delete", "O2"))
    assert log != [("create", "O1")]
    assert len(log) == 4
    assert log[2] == ("update", "O1")
    assert log[-1] == ("delete", "O2")
    assert log[1:3] == [("create", "O2"), ("update", "O1")]
    assert [item_id for operation, item_id in log if operation == "create"] == ["O1", "O2"]
    assert ("update", "O1") in log
    assert repr(log).startswith("WriteLog([('create', 'O1')")
    assert log == WriteLog(list(log))
    log.clear()
    assert log == []
    assert len(log) == 0


_OPS = st.lists(st.tuples(st.sampled_from(["add", "bulk_create", "update", "bulk_update",
                                           "delete", "stamp", "list"]),
                          st.integers(min_value=0, max_value=7)), max_size=60)


@given(ops=_OPS, bulk=st.booleans())
@settings(max_examples=300, deadline=None)
def test_an_incremental_listing_finds_exactly_the_items_changed_since_its_watermark(
        ops: list[tuple[str, int]], bulk: bool) -> None:
    """The in-memory calendars keep an index of their writes so that listing the
    changes since a watermark need not scan every item. Whatever writes, deletions and
    re-writes of one item came before, the listing holds exactly the items changed at
    or after the watermark (and every item without a partner key), each once."""
    calendar = (InMemoryBulkCalendar if bulk else InMemoryCalendar)(clock=ManualClock())
    calendar._changes_slack = 0  # compacted as soon as it holds twice the items
    cursors: list[Cursor] = [calendar.list_all().cursor]
    for op, n in ops:
        ids = sorted(calendar.items())
        target = ids[n % len(ids)] if ids else None
        if op == "add":
            calendar.add(meeting(f"Möte {n}"), partner_key=None if n == 0 else f"K{n}")
        elif op == "bulk_create" and isinstance(calendar, InMemoryBulkCalendar):
            calendar.create_many([(meeting(f"Möte {n}.{k}"), f"K{n}.{k}") for k in range(n)])
        elif target is not None and op in ("update", "bulk_update", "stamp", "delete"):
            found = calendar.get(target)
            assert isinstance(found, Item)
            if op == "delete":
                calendar.delete(target, expected_version=found.version)
            elif op == "bulk_update" and isinstance(calendar, InMemoryBulkCalendar):
                calendar.update_many([(target, meeting(f"Ändrat {n}"), found.version, None)])
            else:
                calendar.update(target, meeting(f"Ändrat {n}") if op == "update"
                                else found.event, expected_version=found.version,
                                partner_key=f"P{n}" if op == "stamp" else None)
        else:
            cursors.append(calendar.list_changes(cursors[-1]).cursor)
        for cursor in cursors:
            since = cursor.watermark
            assert since is not None
            listed = [item.id for item in calendar.list_changes(cursor).items]
            expected = {item_id for item_id in calendar.items()
                        if _changed(calendar, item_id) >= since
                        or _key(calendar, item_id) is None}
            assert len(listed) == len(set(listed))
            assert set(listed) == expected


def _changed(calendar: InMemoryCalendar, item_id: str) -> dt.datetime:
    found = calendar.get(item_id)
    assert isinstance(found, Item)
    assert found.changed is not None
    return found.changed


def _key(calendar: InMemoryCalendar, item_id: str) -> str | None:
    found = calendar.get(item_id)
    assert isinstance(found, Item)
    return found.partner_key
