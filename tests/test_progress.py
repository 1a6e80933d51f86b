"""Progress a user understands, and a first sync that resumes where it stopped.

"12 000 of 20 000, about 8 minutes left" comes from :class:`ProgressEstimate` around the
engine's ``progress(phase, done, total)``; a first sync stopped part-way (cancelled, or
the Graph mailbox budget spent for this window) goes on next time with no duplicate,
and says how far it got.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from outlook_sync import Event, InMemoryCalendar, MemoryStateStore, Synchronizer
from outlook_sync.adapters.graph import GraphCalendar, GraphClient, StaticToken
from outlook_sync.progress import ProgressEstimate, ProgressUpdate, describe
from outlook_sync.testing.graph import run_emulator

STOCKHOLM = dt.timezone(dt.timedelta(hours=1))


def meeting(number: int) -> Event:
    start = dt.datetime(2026, 12, 1, 8, tzinfo=STOCKHOLM) + dt.timedelta(hours=number)
    return Event(subject=f"Kundmöte {number}", start=start, end=start + dt.timedelta(minutes=45))


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_twelve_thousand_of_twenty_after_twelve_minutes_is_eight_minutes_left() -> None:
    clock = FakeClock()
    seen: list[ProgressUpdate] = []
    estimate = ProgressEstimate(listener=seen.append, clock=clock)
    estimate("apply", 0, 20_000)
    clock.now = 12 * 60
    estimate("apply", 12_000, 20_000)
    assert seen[-1].remaining == dt.timedelta(minutes=8)
    assert seen[-1].text == "12\u00a0000 of 20\u00a0000, about 8 minutes left"


def test_no_estimate_in_the_first_seconds_nor_once_done() -> None:
    clock = FakeClock()
    estimate = ProgressEstimate(clock=clock)
    estimate("apply", 0, 1_000)
    clock.now = 0.5
    estimate("apply", 300, 1_000)
    assert estimate.update().remaining is None
    assert estimate.update().text == "300 of 1\u00a0000"
    clock.now = 10
    estimate("apply", 1_000, 1_000)
    assert estimate.update().remaining is None


def test_a_pause_lengthens_the_estimate() -> None:
    # the mailbox budget is spent: nothing moves for nine minutes, the estimate grows
    clock = FakeClock()
    estimate = ProgressEstimate(clock=clock)
    estimate("apply", 0, 20_000)
    clock.now = 60
    estimate("apply", 10_000, 20_000)
    early = estimate.update().remaining
    clock.now = 10 * 60
    later = estimate.update().remaining
    assert early is not None
    assert later is not None
    assert later > early


def test_a_new_phase_starts_its_own_estimate_and_forwards_to_the_host() -> None:
    clock = FakeClock()
    forwarded: list[tuple[str, int, int]] = []
    estimate = ProgressEstimate(forward=lambda *args: forwarded.append(args), clock=clock)
    estimate("list", 0, 2)
    clock.now = 100
    estimate("list", 2, 2)
    estimate("apply", 0, 50)
    clock.now = 110
    estimate("apply", 25, 50)
    assert estimate.update().remaining == dt.timedelta(seconds=10)
    assert forwarded[-1] == ("apply", 25, 50)


def test_a_display_hears_a_few_updates_a_second_not_every_action() -> None:
    clock = FakeClock()
    seen: list[ProgressUpdate] = []
    forwarded: list[int] = []
    estimate = ProgressEstimate(listener=seen.append,
                                forward=lambda _p, done, _t: forwarded.append(done),
                                clock=clock)
    for done in range(1_001):
        clock.now = done * 0.001  # a thousand actions in one second
        estimate("apply", done, 1_000)
    assert len(forwarded) == 1_001
    assert 10 <= len(seen) <= 12  # the start, every 0.1 s, the end
    assert (seen[0].done, seen[-1].done) == (0, 1_000)


def test_durations_read_as_words() -> None:
    assert describe(5, 10, dt.timedelta(seconds=20)) == "5 of 10, less than a minute left"
    assert describe(5, 10, dt.timedelta(minutes=1)) == "5 of 10, about 1 minute left"
    assert describe(5, 10, dt.timedelta(minutes=65)).endswith("about 1 hour 5 minutes left")
    assert describe(5, 10, dt.timedelta(hours=2)).endswith("about 2 hours left")


def test_a_sync_reports_every_phase_through_the_estimate() -> None:
    saljstod = InMemoryCalendar(name="saljstod", id_prefix="S")
    outlook = InMemoryCalendar(name="outlook", id_prefix="O")
    for number in range(30):
        saljstod.add(meeting(number))
    seen: list[ProgressUpdate] = []
    sync = Synchronizer(saljstod=saljstod, outlook=outlook, state=MemoryStateStore(),
                        user="anna")
    report = sync.sync(progress=ProgressEstimate(listener=seen.append))
    assert report.ok
    assert seen[0].phase == "list"
    assert seen[-1].phase == "apply"
    assert (seen[-1].done, seen[-1].total) == (30, 30)
    assert seen[-1].text == "30 of 30"


def test_a_first_sync_stopped_part_way_resumes_with_no_duplicate_and_says_how_far() -> None:
    # The mailbox budget scaled down from 10 000 requests per 10 minutes to 150 per
    # second: the first sync of 500 activities needs several budget windows. The user
    # stops it after the first 200 (closing the laptop would do the same); the next
    # sync writes the other 300 and nothing twice.
    with run_emulator(request_budget=150, budget_window=1.0) as graph:
        client = GraphClient(graph.base_url, StaticToken("t"), mailbox=f"resume-{id(graph)}",
                             budget=150, budget_window=1.0, timeout=5.0)
        saljstod = InMemoryCalendar(name="saljstod", id_prefix="S")
        for number in range(500):
            saljstod.add(meeting(number))
        state = MemoryStateStore()
        sync = Synchronizer(saljstod=saljstod, outlook=GraphCalendar(client), state=state,
                            user="anna")
        estimate = ProgressEstimate()

        def stop() -> bool:
            update = estimate.update()
            return update.phase == "apply" and update.done >= 200

        first = sync.sync(progress=estimate, cancel=stop)
        assert first.cancelled
        assert estimate.update().text.startswith("200 of 500")  # where it stopped
        last_error = sync.last_error
        assert last_error is not None
        assert "cancelled after 200 of 500 changes" in last_error[1]
        assert state.link_count("anna") == 200

        second = sync.sync()
        assert second.ok, second.error
        assert second.writes["outlook"]["create"] == 300
        assert sync.last_error is None
        events = GraphCalendar(client).list_all().items
        keys = Counter(item.partner_key for item in events)
        assert len(events) == 500, len(events)
        assert set(keys.values()) == {1}, "an activity was copied twice"
        assert set(keys) == set(saljstod.items())
        client.close()


def test_the_command_lines_progress_says_how_long_is_left() -> None:
    import io

    from outlook_sync.cli.render import ProgressDisplay

    now = [0.0]
    stream = io.StringIO()
    display = ProgressDisplay(stream, enabled=True, tty=False, clock=lambda: now[0])
    for done in range(0, 20_001, 500):
        display("apply", done, 20_000)
        now[0] += 6.0  # 500 items every 6 s: 12 000 done after 144 s
    lines = stream.getvalue().splitlines()
    assert any("12000/20000, about 2 minutes left" in line for line in lines), lines
