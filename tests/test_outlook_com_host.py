"""Desktop Outlook on the user's machine: which calendar, whether Outlook is there, and rights.

- A closed Outlook stays closed: ``OutlookComCalendar.connect()`` attaches with
  ``GetActiveObject`` and waits for the user to open Outlook again; only
  ``start_outlook=True`` starts it (through the real ``dispatch.py`` binding, with pywin32
  replaced by the fake's ``Dispatch`` / ``GetActiveObject``).
- Without classic Outlook (only the new Outlook for Windows) the adapter says "Outlook's object
  model is not available" and names the Graph adapter.
- ``calendar_identity()`` names the folder in use *now*: it changes when the default calendar
  changes (another profile, another default mailbox, a re-created calendar) and stays the same
  otherwise.
- A calendar shared read-only refuses writes with PermissionDeniedError; reads go on.
"""

from __future__ import annotations

import datetime as dt
import sys
import types
from zoneinfo import ZoneInfo

import attrs
import pytest

from outlook_sync import Event
from outlook_sync.adapters.outlook_com import SWEDISH, OutlookComCalendar, dispatch
from outlook_sync.errors import BackendUnavailableError, ItemRejectedError, PermissionDeniedError
from outlook_sync.model import Cursor, Item
from outlook_sync.protocols import IdentifiedCalendar
from outlook_sync.testing.outlook_com import FakeOutlook, ManualClock, with_events

STOCKHOLM = ZoneInfo("Europe/Stockholm")
UTC = dt.UTC


def meeting(subject: str = "Kundmöte", day: int = 4) -> Event:
    start = dt.datetime(2026, 3, day, 9, tzinfo=STOCKHOLM)
    return Event(subject=subject, start=start, end=start + dt.timedelta(hours=1))


@attrs.define
class Machine:
    """A Windows machine with (fake) Outlook and (fake) pywin32 installed."""

    outlook: FakeOutlook
    clock: ManualClock
    progids: list[str] = attrs.field(factory=list)

    def connect(self, *, start_outlook: bool = False) -> OutlookComCalendar:
        return OutlookComCalendar.connect(
            start_outlook=start_outlook, clock=self.clock, sleep=lambda _s: None
        )


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Machine:
    clock = ManualClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    found = Machine(outlook=FakeOutlook(clock=clock), clock=clock)
    install_pywin32(monkeypatch, found)
    return found


def install_pywin32(monkeypatch: pytest.MonkeyPatch, machine: Machine) -> None:
    """pywin32's modules, answering from the fake Outlook (the real binding is exercised)."""

    def dispatch_(progid: str) -> object:
        machine.progids.append(f"Dispatch {progid}")
        return machine.outlook.dispatch()

    def get_active_object(progid: str) -> object:
        machine.progids.append(f"GetActiveObject {progid}")
        return machine.outlook.get_active_object()

    client = types.ModuleType("win32com.client")
    client.Dispatch = dispatch_  # type: ignore[attr-defined]
    client.GetActiveObject = get_active_object  # type: ignore[attr-defined]
    client.WithEvents = with_events  # type: ignore[attr-defined]
    package = types.ModuleType("win32com")
    package.client = client  # type: ignore[attr-defined]
    pythoncom = types.ModuleType("pythoncom")
    pythoncom.CoInitialize = lambda: None  # type: ignore[attr-defined]
    win32api = types.ModuleType("win32api")
    win32api.GetUserDefaultLCID = lambda: 1053  # type: ignore[attr-defined]  # sv-SE
    pictures = {dispatch.LOCALE_SSHORTDATE: "yyyy-MM-dd", dispatch.LOCALE_SSHORTTIME: "HH:mm"}
    win32api.GetLocaleInfo = lambda _lcid, what: pictures.get(what, ";")  # type: ignore[attr-defined]
    for name, module in (
        ("win32com", package),
        ("win32com.client", client),
        ("pythoncom", pythoncom),
        ("win32api", win32api),
    ):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(dispatch, "_on_windows", lambda: True)


# -- a closed Outlook stays closed ------------------------------------------------------------


def test_a_closed_outlook_stays_closed_until_the_user_opens_it(machine: Machine) -> None:
    outlook = machine.connect()
    machine.outlook.add_appointment("Kundmöte", meeting().start, meeting().end)
    assert len(outlook.list_all().items) == 1
    assert outlook.locale == SWEDISH  # read from Windows' regional settings

    machine.outlook.quit()  # the user closes Outlook
    for attempt in (outlook.list_all, lambda: outlook.create(meeting(), partner_key="S-1")):
        with pytest.raises(BackendUnavailableError, match="not running"):
            attempt()
        assert machine.outlook.running is False, "the sync started Outlook behind the user"
    assert all(call.startswith("GetActiveObject") for call in machine.progids)

    machine.outlook.start()  # the user opens Outlook again: the next sync runs
    assert [item.event.subject for item in outlook.list_all().items] == ["Kundmöte"]


def test_an_outlook_not_yet_open_at_startup_is_waited_for(machine: Machine) -> None:
    machine.outlook.quit()
    outlook = machine.connect()  # attaching happens on the first call, not here
    with pytest.raises(BackendUnavailableError, match="waits until the user opens"):
        outlook.list_all()
    assert machine.outlook.running is False
    machine.outlook.start()
    assert outlook.list_all().complete


def test_starting_outlook_is_an_explicit_opt_in(machine: Machine) -> None:
    outlook = machine.connect(start_outlook=True)
    outlook.list_all()
    machine.outlook.quit()
    assert outlook.list_all().items == ()
    assert machine.outlook.running is True  # started again, as asked
    assert machine.progids[-1] == "Dispatch Outlook.Application"


# -- where COM ends ----------------------------------------------------------------------------


def test_without_classic_outlook_the_error_names_the_graph_adapter(machine: Machine) -> None:
    machine.outlook = FakeOutlook(clock=machine.clock, classic=False)  # only the new Outlook
    for start_outlook in (False, True):
        outlook = machine.connect(start_outlook=start_outlook)
        with pytest.raises(BackendUnavailableError) as caught:
            outlook.list_all()
        message = str(caught.value)
        assert "object model is not available" in message
        assert "Graph adapter" in message
        assert caught.value.side == "outlook"


def test_off_windows_the_error_names_the_graph_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dispatch, "_on_windows", lambda: False)
    with pytest.raises(BackendUnavailableError, match="Graph adapter"):
        OutlookComCalendar.connect()


# -- which calendar: calendar_identity ----------------------------------------------------------


@pytest.fixture
def fake() -> FakeOutlook:
    return FakeOutlook(clock=ManualClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)))


def adapter(fake: FakeOutlook, *, folder: str | None = None) -> OutlookComCalendar:
    return OutlookComCalendar(
        fake.dispatch, folder=folder, locale=SWEDISH, sleep=lambda _s: None, with_events=with_events
    )


def test_the_identity_names_store_and_folder_and_stays_while_nothing_changes(
    fake: FakeOutlook,
) -> None:
    outlook = adapter(fake)
    assert isinstance(outlook, IdentifiedCalendar)
    store = fake.default_store
    identity = outlook.calendar_identity()
    assert identity == f"com:{store.store_id}/{store.calendar.entry_id}"
    created = outlook.create(meeting(), partner_key="S-1")
    outlook.update(
        created.id, meeting("Flyttat"), expected_version=created.version, partner_key="S-1"
    )
    outlook.list_all()
    fake.quit()
    fake.start()  # Outlook restarted: same calendar
    assert outlook.calendar_identity() == identity
    assert adapter(fake).calendar_identity() == identity  # and the next run of the app


def test_another_default_mailbox_is_another_calendar(fake: FakeOutlook) -> None:
    outlook = adapter(fake)
    fake.add_appointment("I Annas kalender", meeting().start, meeting().end)
    before = outlook.calendar_identity()
    listed = outlook.list_all()

    other = fake.add_store("bo@example.com")
    fake.add_appointment("I Bos kalender", meeting().start, meeting().end, folder=other.calendar)
    fake.use_default_store(other)  # a new profile: Bo's mailbox is the default

    after = outlook.calendar_identity()
    assert after != before
    assert after == f"com:{other.store_id}/{other.calendar.entry_id}"
    # the adapter now reads Bo's calendar, and the old folder's cursor lists it completely
    changes = outlook.list_changes(listed.cursor)
    assert changes.complete
    assert [item.event.subject for item in changes.items] == ["I Bos kalender"]
    assert outlook.calendar_identity() == after  # stable again


def test_a_recreated_default_calendar_is_another_calendar(fake: FakeOutlook) -> None:
    outlook = adapter(fake)
    before = outlook.calendar_identity()
    fresh = fake.replace_default_calendar()
    after = outlook.calendar_identity()
    assert after != before
    assert after.endswith("/" + fresh.entry_id)
    created = outlook.create(meeting(), partner_key="S-1")
    assert created.id in fresh.records


def test_a_calendar_chosen_by_path_keeps_its_identity_when_the_default_changes(
    fake: FakeOutlook,
) -> None:
    team = fake.add_calendar("Team")
    outlook = adapter(fake, folder=team.path)
    identity = outlook.calendar_identity()
    assert identity.endswith("/" + team.entry_id)
    fake.use_default_store(fake.add_store("bo@example.com"))
    assert outlook.calendar_identity() == identity


def test_the_identity_cannot_be_told_while_outlook_is_closed(fake: FakeOutlook) -> None:
    outlook = OutlookComCalendar(fake.get_active_object, locale=SWEDISH, sleep=lambda _s: None)
    fake.quit()
    with pytest.raises(BackendUnavailableError):
        outlook.calendar_identity()


# -- a calendar shared read-only --------------------------------------------------------------


def test_a_read_only_calendar_refuses_writes_and_still_reads(fake: FakeOutlook) -> None:
    outlook = adapter(fake)
    created = outlook.create(meeting(), partner_key="S-1")
    fake.make_read_only(fake.folder())  # the owner now shares it with Reviewer rights
    before = dict(fake.folder().records)

    with pytest.raises(PermissionDeniedError) as caught:
        outlook.create(meeting("Nytt"), partner_key="S-2")
    assert caught.value.side == "outlook"
    assert "may only be read" in str(caught.value)
    for write in (
        lambda: outlook.update(
            created.id, meeting("Ändrat"), expected_version=created.version, partner_key="S-1"
        ),
        lambda: outlook.delete(created.id, expected_version=created.version),
    ):
        with pytest.raises(PermissionDeniedError) as caught:
            write()
        assert isinstance(caught.value, ItemRejectedError)  # one item's trouble only
        assert (caught.value.side, caught.value.item_id) == ("outlook", created.id)

    assert fake.folder().records == before  # nothing was written
    listed = outlook.list_all()
    assert [item.id for item in listed.items] == [created.id]
    assert outlook.list_changes(listed.cursor).items == ()
    assert isinstance(outlook.get(created.id), Item)
    assert isinstance(listed.cursor, Cursor)
