"""The settings dialog's "from date": a date is local midnight; every bad form is one error."""

from __future__ import annotations

import datetime as dt

import pytest

from outlook_sync import InMemoryCalendar, MemoryStateStore, Synchronizer
from outlook_sync.errors import ConfigurationError
from outlook_sync.occasions import SyncOccasions
from outlook_sync.settings import MemorySettingsStore, OutlookConnection


@pytest.fixture
def connection() -> OutlookConnection:
    sync = Synchronizer(saljstod=InMemoryCalendar(), outlook=InMemoryCalendar(),
                        state=MemoryStateStore(), user="anna")
    return OutlookConnection(sync, store=MemorySettingsStore(),
                             occasions=SyncOccasions(on_settings_saved=False))


def test_a_date_means_local_midnight(connection: OutlookConnection) -> None:
    connection.save(connection.settings, sync_from=dt.date(2026, 1, 15))
    assert connection.last_sync == dt.datetime(2026, 1, 15).astimezone()


@pytest.mark.parametrize(
    "bad",
    [
        dt.datetime(2026, 1, 1),  # naive: which zone?
        dt.datetime.now(dt.UTC) + dt.timedelta(days=400),  # the future
        (dt.datetime.now(dt.UTC) + dt.timedelta(days=400)).date(),
        "2026-01-01",  # not a date
    ],
    ids=["naive", "future", "future-date", "text"],
)
def test_every_bad_form_is_a_configuration_error_and_changes_nothing(
    connection: OutlookConnection, bad: object
) -> None:
    before = connection.last_sync
    with pytest.raises(ConfigurationError) as caught:
        connection.save(connection.settings, sync_from=bad)  # type: ignore[arg-type]
    assert caught.value.key == "sync_from"
    assert connection.last_sync == before
