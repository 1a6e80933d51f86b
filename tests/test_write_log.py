"""An in-memory calendar's ``write_log`` reads as the list of its writes."""

from __future__ import annotations

from outlook_sync import InMemoryBulkCalendar
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
