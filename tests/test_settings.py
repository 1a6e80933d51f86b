"""The *Outlook connection* settings: what the dialog reads, saves and causes.

Scenarios as a user meets them: the last sync date shown and changed, *Full sync now*,
switching the connection off, the policies, and switching to another Outlook calendar
(which must neither delete nor duplicate anything).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from outlook_sync import (
    BackendUnavailableError,
    ConfigurationError,
    ConflictPolicy,
    DeletePolicy,
    Event,
    InMemoryCalendar,
    MemoryStateStore,
    Synchronizer,
    SyncInProgressError,
)
from outlook_sync.model import Cursor, Listing
from outlook_sync.occasions import SyncOccasions
from outlook_sync.scope import Direction, SyncFilter
from outlook_sync.settings import (
    ConnectionSettings,
    JsonSettingsFiles,
    MemorySettingsStore,
    OutlookConnection,
    load_settings,
)
from outlook_sync.status import StatusBoard
from outlook_sync.watch import Watcher

START = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
WAIT = 20.0


def meeting(subject: str, hour: int = 9, day: int = 2) -> Event:
    start = START.replace(day=day, hour=hour)
    return Event(subject=subject, start=start, end=start + dt.timedelta(hours=1))


def subjects(calendar: InMemoryCalendar) -> list[str]:
    return sorted(event.subject for event in calendar.items().values())


class RecordingCalendar(InMemoryCalendar):
    """Remembers the cursors it was asked to list from."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.listed_from: list[Cursor | None] = []

    def list_all(self) -> Listing:
        self.listed_from.append(None)
        return super().list_all()

    def list_changes(self, cursor: Cursor) -> Listing:
        if cursor.watermark is not None:
            self.listed_from.append(cursor)
        return super().list_changes(cursor)


@attrs.define
class Desk:
    """One user's host: Säljstöd, two Outlook calendars, the settings store."""

    saljstod: RecordingCalendar
    calendars: dict[str | None, InMemoryCalendar]
    state: MemoryStateStore
    store: MemorySettingsStore
    sync: Synchronizer

    def open_outlook(self, calendar_id: str | None) -> InMemoryCalendar:
        return self.calendars[calendar_id]

    def connection(self, **options: Any) -> OutlookConnection:
        return OutlookConnection(
            self.sync, store=self.store, open_outlook=self.open_outlook, **options
        )

    @property
    def a(self) -> InMemoryCalendar:
        return self.calendars[None]

    @property
    def b(self) -> InMemoryCalendar:
        return self.calendars["B"]


def make_desk() -> Desk:
    saljstod = RecordingCalendar(name="saljstod", id_prefix="S")
    a = InMemoryCalendar(name="calendar A", id_prefix="A")
    b = InMemoryCalendar(name="calendar B", id_prefix="B")
    state = MemoryStateStore()
    sync = Synchronizer(saljstod=saljstod, outlook=a, state=state, user="anna")
    return Desk(
        saljstod=saljstod,
        calendars={None: a, "A": a, "B": b},
        state=state,
        store=MemorySettingsStore(),
        sync=sync,
    )


@pytest.fixture
def desk() -> Desk:
    return make_desk()


# -- the saved value ------------------------------------------------------------------------


def test_defaults_are_the_engines_defaults() -> None:
    settings = ConnectionSettings()
    assert settings.enabled
    assert settings.outlook_calendar is None
    assert settings.conflict is ConflictPolicy.MERGE
    assert settings.saljstod_deletions is DeletePolicy.DELETE


filters = st.builds(
    SyncFilter,
    categories=st.frozensets(st.sampled_from(["Kund", "Möte", "Privat"])),
    exclude_categories=st.frozensets(st.sampled_from(["Semester", "Intern"])),
    include_private=st.booleans(),
    start_from=st.none() | st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 1, 1)),
    start_until=st.none()
    | st.datetimes(
        min_value=dt.datetime(2020, 1, 1),
        max_value=dt.datetime(2030, 1, 1),
        timezones=st.just(dt.UTC),
    ),
)

all_settings = st.builds(
    ConnectionSettings,
    enabled=st.booleans(),
    outlook_calendar=st.none() | st.text(min_size=1, max_size=20),
    conflict=st.sampled_from(ConflictPolicy),
    merge_fallback=st.sampled_from(
        [ConflictPolicy.SALJSTOD_WINS, ConflictPolicy.OUTLOOK_WINS, ConflictPolicy.NEWEST_WINS]
    ),
    saljstod_deletions=st.sampled_from(DeletePolicy),
    outlook_deletions=st.sampled_from(DeletePolicy),
    filter=filters,
    directions=st.dictionaries(
        st.sampled_from(["body", "show_as", "subject"]), st.sampled_from(Direction)
    ),
)


@given(all_settings)
def test_settings_survive_a_round_trip_through_json(settings: ConnectionSettings) -> None:
    text = json.dumps(settings.to_dict())
    assert ConnectionSettings.from_dict(json.loads(text)) == settings


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"enabled": "yes"}, "enabled"),
        ({"conflict": "whoever_shouts"}, "conflict"),
        ({"merge_fallback": "merge"}, "merge_fallback"),
        ({"outlook_calendar": ""}, "outlook_calendar"),
        ({"filter": {"start_from": "2026-13-01"}}, "filter.start_from"),
        ({"filter": {"start_until": "2026-01-01T10:00:00"}}, "filter.start_until"),
        ({"filter": {"categories": "Kund"}}, "filter.categories"),
        ({"directions": {"colour": "both"}}, "directions.colour"),
    ],
)
def test_bad_stored_settings_are_refused_naming_the_key(data: Mapping[str, Any], key: str) -> None:
    with pytest.raises((ConfigurationError, ValueError)) as error:
        ConnectionSettings.from_dict(data)
    assert getattr(error.value, "key", None) == key or getattr(error.value, "field", None) == key


def test_unknown_stored_keys_are_ignored() -> None:
    assert ConnectionSettings.from_dict({"colour": "blue"}) == ConnectionSettings()


def test_settings_files_are_per_user_atomic_and_safe_for_any_name(tmp_path: Path) -> None:
    files = JsonSettingsFiles(tmp_path / "settings")
    assert files.load("anna") is None
    for user in ("anna", "Anna", "../etc/passwd", "bo\\sk:ola"):
        files.save(user, {"format": 1, "settings": {"enabled": user == "anna"}})
    assert files.load("anna") == {"format": 1, "settings": {"enabled": True}}
    assert files.load("Anna") == {"format": 1, "settings": {"enabled": False}}
    names = sorted(p.name for p in (tmp_path / "settings").iterdir())
    assert len(names) == 4  # no temporary file left, no two users share a file
    assert all(p.parent == tmp_path / "settings" for p in (tmp_path / "settings").iterdir())
    files.path("anna").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigurationError):
        files.load("anna")


def test_settings_are_kept_per_user_across_restarts(tmp_path: Path, desk: Desk) -> None:
    files = JsonSettingsFiles(tmp_path)
    conn = OutlookConnection(desk.sync, store=files)
    chosen = attrs.evolve(
        conn.settings,
        conflict=ConflictPolicy.OUTLOOK_WINS,
        outlook_deletions=DeletePolicy.UNLINK,
        directions={"body": "to_outlook"},
    )
    conn.save(chosen)
    assert load_settings(files, "anna") == chosen
    assert load_settings(files, "bertil") == ConnectionSettings()
    restarted = Synchronizer(saljstod=desk.saljstod, outlook=desk.a, state=desk.state, user="anna")
    OutlookConnection(restarted, store=files)
    assert restarted.policy.conflict is ConflictPolicy.OUTLOOK_WINS
    assert restarted.policy.outlook_deletions is DeletePolicy.UNLINK
    assert dict(restarted.policy.directions) == {"body": Direction.TO_OUTLOOK}


# -- the dialog -------------------------------------------------------------------------------


def test_saving_syncs_immediately_and_shows_the_new_last_sync(desk: Desk) -> None:
    conn = desk.connection()
    assert conn.last_sync is None  # never synced: the first sync is a full one
    desk.saljstod.add(meeting("Kundmöte"))
    report = conn.save(conn.settings)
    assert report is not None
    assert report.ok
    assert report.full == {"saljstod": True, "outlook": True}
    assert subjects(desk.a) == ["Kundmöte"]
    assert conn.last_sync == report.last_sync is not None


def test_another_date_makes_the_next_sync_start_from_and_including_it(desk: Desk) -> None:
    conn = desk.connection(occasions=SyncOccasions(on_settings_saved=False))
    desk.sync.sync()
    chosen = dt.datetime(2026, 1, 1, 8, 30, tzinfo=dt.UTC)
    assert conn.save(conn.settings, sync_from=chosen) is None  # this host does not sync
    assert conn.last_sync == chosen
    desk.sync.sync()
    assert desk.saljstod.listed_from[-1] == Cursor(watermark=chosen)


def test_full_sync_now_clears_the_date_and_lists_everything(desk: Desk) -> None:
    conn = desk.connection()
    desk.saljstod.add(meeting("Kundmöte"))
    conn.save(conn.settings)
    report = conn.full_sync_now()
    assert report is not None
    assert report.full == {"saljstod": True, "outlook": True}
    assert report.total_writes == 0  # a full sync re-links, it does not copy again
    assert len(desk.a.items()) == 1


def test_a_naive_date_is_refused(desk: Desk) -> None:
    conn = desk.connection()
    with pytest.raises(ValueError, match="naive"):
        conn.save(conn.settings, sync_from=dt.datetime(2026, 1, 1))


def test_a_date_in_the_future_is_refused_and_the_old_date_kept(desk: Desk) -> None:
    conn = desk.connection(occasions=SyncOccasions(on_settings_saved=False))
    desk.sync.sync()
    before = conn.last_sync
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=3 * 365)
    with pytest.raises(ValueError, match="future"):
        conn.save(conn.settings, sync_from=future)
    assert conn.last_sync == before


def test_a_changed_filter_makes_the_next_sync_a_full_one(desk: Desk) -> None:
    conn = desk.connection()
    conn.save(conn.settings)
    report = conn.save(attrs.evolve(conn.settings, filter=SyncFilter(include_private=False)))
    assert report is not None
    assert report.full == {"saljstod": True, "outlook": True}


def test_a_disabled_connection_does_not_sync_until_enabled(desk: Desk) -> None:
    conn = desk.connection()
    assert conn.set_enabled(False) is None
    desk.saljstod.add(meeting("Medan det var av"))
    assert desk.a.items() == {}
    again = OutlookConnection(desk.sync, store=desk.store)  # kept across restarts
    assert not again.enabled
    report = again.set_enabled(True)
    assert report is not None
    assert subjects(desk.a) == ["Medan det var av"]


def test_the_syncs_it_runs_are_recorded_on_the_status_board(desk: Desk) -> None:
    board = StatusBoard(desk.sync)
    conn = desk.connection(status=board)
    report = conn.save(conn.settings)
    assert board.status().last_report is report


def test_saving_waits_for_a_running_sync_then_gives_up(desk: Desk) -> None:
    conn = desk.connection(lock_wait=0.1)
    with desk.state.lock("anna", ttl=dt.timedelta(minutes=1)), pytest.raises(SyncInProgressError):
        conn.full_sync_now()
    assert conn.full_sync_now() is not None


# -- switching the Outlook calendar ---------------------------------------------------------


def settle_on_a(desk: Desk, activities: int = 30) -> OutlookConnection:
    for n in range(activities):
        desk.saljstod.add(meeting(f"Aktivitet {n}", hour=8 + n % 9, day=2 + n // 9))
    desk.a.add(meeting("Bokad i Outlook A", hour=7))
    conn = desk.connection()
    report = conn.save(conn.settings)
    assert report is not None
    assert report.ok
    return conn


def duplicates(calendar: InMemoryCalendar) -> list[str]:
    return [s for s, n in Counter(subjects(calendar)).items() if n > 1]


def test_switching_calendars_keeps_saljstod_fills_b_and_leaves_a_alone(desk: Desk) -> None:
    conn = settle_on_a(desk)
    desk.b.add(meeting("Aktivitet 4", hour=12))  # already in B: must be linked, not copied
    desk.b.add(meeting("Bara i B", hour=18))
    saljstod_before = dict(desk.saljstod.items())
    a_before, a_writes = dict(desk.a.items()), list(desk.a.write_log)
    report = conn.save(attrs.evolve(conn.settings, outlook_calendar="B"))
    assert report is not None
    assert report.ok, report
    assert report.writes["saljstod"]["delete"] == 0
    assert report.linked == 1
    # Säljstöd keeps every activity (and gains B's own item), nothing was deleted
    assert saljstod_before.items() <= desk.saljstod.items().items()
    assert subjects(desk.saljstod) == sorted([*subjects_of(saljstod_before), "Bara i B"])
    # B holds exactly what Säljstöd holds, once
    assert subjects(desk.b) == subjects(desk.saljstod)
    assert duplicates(desk.b) == duplicates(desk.saljstod) == []
    # A was not touched at all
    assert desk.a.items() == a_before
    assert desk.a.write_log == a_writes
    assert desk.sync.outlook is desk.b
    assert load_settings(desk.store, "anna").outlook_calendar == "B"
    again = desk.sync.sync()
    assert again.total_writes == 0


def subjects_of(events: Mapping[str, Event]) -> list[str]:
    return sorted(event.subject for event in events.values())


def test_switching_back_relinks_the_old_calendar_without_duplicates(desk: Desk) -> None:
    conn = settle_on_a(desk)
    conn.save(attrs.evolve(conn.settings, outlook_calendar="B"))
    desk.saljstod.add(meeting("Ny medan B användes", hour=20))
    report = conn.save(attrs.evolve(conn.settings, outlook_calendar="A"))
    assert report is not None
    assert report.ok
    assert report.writes["outlook"]["create"] == 1  # only the new activity
    assert report.writes["saljstod"]["create"] == 0
    assert report.writes["saljstod"]["delete"] == report.writes["outlook"]["delete"] == 0
    assert subjects(desk.a) == subjects(desk.saljstod)
    assert duplicates(desk.a) == []


def test_switching_needs_a_way_to_open_calendars_and_changes_nothing_without(
    desk: Desk,
) -> None:
    conn = OutlookConnection(desk.sync, store=desk.store)
    conn.save(conn.settings)
    with pytest.raises(ConfigurationError):
        conn.save(attrs.evolve(conn.settings, outlook_calendar="B"))
    assert load_settings(desk.store, "anna").outlook_calendar is None


def test_a_calendar_that_cannot_be_opened_changes_nothing(desk: Desk) -> None:
    conn = settle_on_a(desk)

    def unavailable(_calendar_id: str | None) -> InMemoryCalendar:
        raise BackendUnavailableError("no such calendar", side="outlook")

    conn.open_outlook = unavailable
    links = desk.state.link_count("anna")
    with pytest.raises(BackendUnavailableError):
        conn.save(attrs.evolve(conn.settings, outlook_calendar="B"))
    assert desk.state.link_count("anna") == links
    assert load_settings(desk.store, "anna").outlook_calendar is None
    assert desk.sync.outlook is desk.a


class CrashingStore(MemorySettingsStore):
    """Saves ``good`` times, then the process 'dies' on the next save."""

    def __init__(self, good: int) -> None:
        super().__init__()
        self.good = good

    def save(self, user: str, record: Mapping[str, Any]) -> None:
        if self.good == 0:
            raise KeyboardInterrupt("the host was killed")
        self.good -= 1
        super().save(user, record)


@pytest.mark.parametrize("crash_at", ["before forgetting", "after forgetting"])
def test_a_switch_interrupted_by_a_crash_is_finished_on_restart(crash_at: str) -> None:
    desk = make_desk()
    desk.store = CrashingStore(good=1)  # the first save (no switch) succeeds
    conn = settle_on_a(desk, activities=12)
    desk.store.good = 1 if crash_at == "after forgetting" else 0
    if crash_at == "before forgetting":
        # the choice was stored, then the host died before the links were dropped
        record = dict(desk.store.load("anna") or {})
        record["settings"] = {**record["settings"], "outlook_calendar": "B"}
        MemorySettingsStore.save(desk.store, "anna", record)
    else:
        with pytest.raises(KeyboardInterrupt):
            conn.save(attrs.evolve(conn.settings, outlook_calendar="B"))
    desk.store.good = 100
    # restart: the host opens the calendar the settings name
    chosen = load_settings(desk.store, "anna").outlook_calendar
    assert chosen == "B"
    restarted = Synchronizer(
        saljstod=desk.saljstod, outlook=desk.open_outlook(chosen), state=desk.state, user="anna"
    )
    before = subjects(desk.saljstod)
    OutlookConnection(restarted, store=desk.store, open_outlook=desk.open_outlook)
    report = restarted.sync()
    assert report.ok, report
    assert subjects(desk.saljstod) == before
    assert subjects(desk.b) == before
    assert report.writes["saljstod"]["delete"] == 0


# -- with a watcher ---------------------------------------------------------------------------


@pytest.fixture
def watched(desk: Desk) -> Iterator[tuple[Desk, Watcher]]:
    watcher = Watcher(desk.sync, occasions=SyncOccasions(debounce=dt.timedelta(milliseconds=10)))
    yield desk, watcher
    watcher.stop()


def test_with_a_watcher_saving_asks_it_for_the_sync(watched: tuple[Desk, Watcher]) -> None:
    desk, watcher = watched
    conn = desk.connection(watcher=watcher)
    watcher.start()
    desk.saljstod.add(meeting("Kundmöte"))
    report = conn.save(attrs.evolve(conn.settings, conflict="outlook_wins"))
    assert report is not None
    assert report.ok
    assert subjects(desk.a) == ["Kundmöte"]


def test_with_a_watcher_a_switch_moves_direct_sync_to_the_new_calendar(
    watched: tuple[Desk, Watcher],
) -> None:
    desk, watcher = watched
    desk.saljstod.add(meeting("Kundmöte"))
    conn = desk.connection(watcher=watcher)
    watcher.start()
    assert watcher.wait_idle(WAIT)
    conn.save(attrs.evolve(conn.settings, outlook_calendar="B"))
    assert subjects(desk.b) == ["Kundmöte"]
    desk.b.add(meeting("Direkt i B", hour=15))
    desk.a.add(meeting("I gamla A", hour=16))
    assert watcher.wait_idle(WAIT)
    assert subjects(desk.saljstod) == ["Direkt i B", "Kundmöte"]


def test_a_disabled_connection_pauses_the_watcher(watched: tuple[Desk, Watcher]) -> None:
    desk, watcher = watched
    desk.store.save("anna", {"format": 1, "settings": {"enabled": False}})
    desk.connection(watcher=watcher)
    watcher.start()
    desk.saljstod.add(meeting("Kundmöte"))
    assert watcher.wait_idle(WAIT)
    assert watcher.paused
    assert desk.a.items() == {}


def test_the_example_in_the_docs_runs() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "settings.md").read_text("utf-8")
    [block] = re.findall(r"```python\n(.*?)```", page, re.S)
    exec(compile(block, "settings.md", "exec"), {"__name__": "docs"})
    [record] = re.findall(r"```json\n(.*?)```", page, re.S)
    assert ConnectionSettings.from_dict(json.loads(record)["settings"]) == ConnectionSettings()
