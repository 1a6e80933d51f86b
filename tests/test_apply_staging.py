"""Grouped state commits never keep the Säljstöd database locked while Outlook is slow.

The engine commits the state changes of completed actions in groups. With the SQL
Säljstöd adapter sharing the state store's connection (``SqlCalendar(commit=False)``,
as docs/sql.md recommends), the adapter's writes — partner-key stamps — stay in the open
transaction until the group is committed. A run of Outlook writes can take long (a
Graph mailbox waits up to ten minutes for its next request budget), so the group is
committed before such a run: the Säljstöd application can write meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from outlook_sync import Event, InMemoryCalendar, Link, MemoryStateStore, Synchronizer
from outlook_sync.adapters.sql import SqlCalendar
from outlook_sync.apply_state import STAGE_SECONDS, StagedCommits
from outlook_sync.errors import BackendError
from outlook_sync.model import Item
from outlook_sync.protocols import BulkWriter
from outlook_sync.state.sql import SqlStateStore
from tests.conftest import HOUR, MONDAY_9, Host


class SlowBulkOutlook(InMemoryCalendar):
    """An Outlook that writes in bulk (as Graph's $batch); before each run it lets the
    test act as the Säljstöd application does, meanwhile."""

    def __init__(self, meanwhile: Callable[[], None]) -> None:
        super().__init__(name="outlook", id_prefix="O")
        self.meanwhile = meanwhile

    def create_many(self, requests: Sequence[tuple[Event, str]]) -> list[Item | BackendError]:
        self.meanwhile()
        return [self.create(event, partner_key=key) for event, key in requests]

    def update_many(
        self, requests: Sequence[tuple[str, Event, str, str | None]]
    ) -> list[Item | BackendError]:
        self.meanwhile()
        return [self.update(i, e, expected_version=v, partner_key=k) for i, e, v, k in requests]


def test_the_host_application_writes_while_outlook_takes_a_run_of_creates(host: Host) -> None:
    first = host.book("Kundmöte Åkerlund")
    for number in range(250):
        host.book(f"Uppföljning {number}", start=MONDAY_9 + number * HOUR,
                  end=MONDAY_9 + (number + 1) * HOUR)
    # the host gives up at once instead of waiting for a lock
    if host.db.name == "sqlite":
        host.run("PRAGMA busy_timeout = 0")
    else:
        host.run("SET lock_timeout = '200ms'")
    outcomes: list[str] = []

    def host_writes() -> None:
        try:  # the row the sync stamped first (the pair it adopted) and the database
            host.run("UPDATE activity_participants SET user_id = user_id"
                     " WHERE activity_id = ?", (int(first),))
            host.edit(first, location="Rum Aurora")
            outcomes.append("written")
        except Exception as exc:  # what the host application would meet
            outcomes.append(f"blocked: {exc}")

    outlook = SlowBulkOutlook(host_writes)
    assert isinstance(outlook, BulkWriter)
    # the same meeting already in Outlook: the first sync adopts the pair and stamps
    # the activity's partner key (a write in the shared transaction), then creates
    outlook.add(Event(subject="Kundmöte Åkerlund", start=MONDAY_9, end=MONDAY_9 + HOUR))
    connection = host.db.connect()
    sync = Synchronizer(saljstod=SqlCalendar(connection, user="anna", commit=False),
                        outlook=outlook, state=SqlStateStore(connection), user="anna")
    report = sync.sync()
    assert report.ok, str(report)
    assert report.writes["outlook"]["create"] == 250
    assert outcomes, "the creates went in runs"
    assert set(outcomes) == {"written"}, outcomes


def test_completed_actions_wait_at_most_a_second_for_their_commit() -> None:
    now = [0.0]
    state = MemoryStateStore()
    staged = StagedCommits(state, "anna", clock=lambda: now[0])
    base = Event(subject="Kundmöte", start=MONDAY_9, end=MONDAY_9 + HOUR)
    staged.put(Link(saljstod_id="S1", outlook_id="O1", base=base))
    staged.flush_if_older(STAGE_SECONDS)
    assert state.link_count("anna") == 0  # grouped with what follows
    now[0] = STAGE_SECONDS
    staged.flush_if_older(STAGE_SECONDS)
    assert state.link_count("anna") == 1
