"""The contract of the optional capabilities a backend declares in its :class:`Capabilities`.

``BulkWriter`` and ``BulkDeleter``: one result per request, in order, one refused item
never failing the others. ``ChangeNotifier``: a change is heard, and ``close()`` may be
called twice. ``ItemOpener``: an item opens, a gone one is
:class:`~outlook_sync.errors.ItemNotFoundError`. ``IdentifiedCalendar``: a short, stable,
secret-free identity that tells two calendars apart. ``ItemRestorer``: a deleted item
comes back with its content and partner key.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from outlook_sync.errors import ItemNotFoundError, VersionConflictError
from outlook_sync.model import Item
from outlook_sync.protocols import (
    BulkDeleter,
    BulkWriter,
    Calendar,
    ChangeNotifier,
    IdentifiedCalendar,
    ItemOpener,
    ItemRestorer,
)
from outlook_sync.testing.contract.backend import Backend, BackendFactory
from outlook_sync.testing.contract.base import ContractBase
from outlook_sync.testing.contract.samples import meeting

__all__ = ["CapabilityContract"]

#: The longest identity accepted: it is shown in status output and stored per link set.
MAX_IDENTITY_CHARS = 300
_PROTOCOLS = {
    "bulk_writer": BulkWriter,
    "bulk_deleter": BulkDeleter,
    "change_notifier": ChangeNotifier,
    "item_opener": ItemOpener,
    "identified": IdentifiedCalendar,
    "item_restorer": ItemRestorer,
}


class CapabilityContract(ContractBase):
    """Tests of the optional protocols; each is skipped unless the backend declares it."""

    def _declared(self, name: str) -> None:
        if not getattr(self.capabilities, name):
            pytest.skip(f"the backend does not declare {name}")

    def test_it_is_a_calendar_with_the_capabilities_it_declares(
        self, calendar: Calendar
    ) -> None:
        assert isinstance(calendar, Calendar)
        missing = [
            name
            for name, protocol in _PROTOCOLS.items()
            if getattr(self.capabilities, name) and not isinstance(calendar, protocol)
        ]
        assert not missing, f"declared but not implemented: {missing}"

    # -- BulkWriter ---------------------------------------------------------------------

    def test_bulk_writes_settle_each_request_on_its_own(self, calendar: Calendar) -> None:
        self._declared("bulk_writer")
        assert isinstance(calendar, BulkWriter)
        created = calendar.create_many([(meeting("Ett"), "P-1"), (meeting("Två", hour=11), "P-2"),
                                        (meeting("Tre", hour=13), "P-3")])  # fmt: skip
        assert [type(result).__name__ for result in created] == ["Item"] * 3
        one, two, three = (result for result in created if isinstance(result, Item))
        assert [one.partner_key, two.partner_key, three.partner_key] == ["P-1", "P-2", "P-3"]
        assert [one.event.subject, two.event.subject] == ["Ett", "Två"]
        calendar.update(two.id, meeting("Ändrad av någon"), expected_version=two.version)
        calendar.delete(three.id, expected_version=three.version)
        results = calendar.update_many([
            (one.id, meeting("Ett flyttad", hour=15), one.version, None),
            (two.id, meeting("Två från synken"), two.version, "P-22"),  # stale
            (three.id, meeting("Tre finns inte"), three.version, None),  # gone
        ])  # fmt: skip
        assert [type(result) for result in results][1:] == [
            VersionConflictError, ItemNotFoundError]  # fmt: skip
        assert isinstance(results[0], Item)
        assert results[0].event == meeting("Ett flyttad", hour=15)
        assert results[0].partner_key == "P-1"
        current = calendar.get(two.id)
        assert isinstance(current, Item)
        assert (current.event.subject, current.partner_key) == ("Ändrad av någon", "P-2")

    # -- BulkDeleter ---------------------------------------------------------------------

    def test_bulk_deletes_settle_each_request_on_its_own(self, calendar: Calendar) -> None:
        self._declared("bulk_deleter")
        assert isinstance(calendar, BulkDeleter)
        one = calendar.create(meeting("Ett"), partner_key="P-1")
        two = calendar.create(meeting("Två", hour=11), partner_key="P-2")
        gone = calendar.create(meeting("Tre", hour=13), partner_key="P-3")
        edited = calendar.update(two.id, meeting("Ändrad av någon", hour=11),
                                 expected_version=two.version)  # fmt: skip
        calendar.delete(gone.id, expected_version=gone.version)
        results = calendar.delete_many([(one.id, one.version), (two.id, two.version),
                                        (gone.id, gone.version)])  # fmt: skip
        assert results[0] is None
        assert [type(result) for result in results[1:]] == [
            VersionConflictError, ItemNotFoundError]  # fmt: skip
        assert calendar.get(one.id) is None
        assert calendar.get(two.id) == edited  # the stale delete wrote nothing

    # -- ChangeNotifier -----------------------------------------------------------------

    def test_a_change_is_heard_and_a_subscription_closes_twice(
        self, backend: Backend, calendar: Calendar
    ) -> None:
        self._declared("change_notifier")
        assert isinstance(calendar, ChangeNotifier)
        heard = threading.Event()
        hints: list[Sequence[str]] = []

        def hear(ids: Sequence[str]) -> None:
            hints.append(list(ids))
            heard.set()

        subscription = calendar.subscribe(hear)
        try:
            if backend.deliver is not None:
                backend.deliver(subscription)  # settle: nothing pending before the change
            heard.clear()
            calendar.create(meeting("Ny"), partner_key="P-1")
            if backend.deliver is not None:
                backend.deliver(subscription)
            assert heard.wait(backend.notification_timeout), "no notification after a change"
        finally:
            subscription.close()
        subscription.close()  # idempotent
        assert all(isinstance(item_id, str) for ids in hints for item_id in ids)

    # -- ItemOpener ---------------------------------------------------------------------

    def test_an_item_opens_and_a_gone_one_is_not_found(self, calendar: Calendar) -> None:
        self._declared("item_opener")
        assert isinstance(calendar, ItemOpener)
        item = calendar.create(meeting(), partner_key="P-1")
        url = calendar.open_item(item.id)
        assert url is None or (isinstance(url, str) and url)
        calendar.delete(item.id, expected_version=item.version)
        with pytest.raises(ItemNotFoundError):
            calendar.open_item(item.id)

    # -- IdentifiedCalendar -------------------------------------------------------------

    def test_the_calendar_identity_is_short_stable_and_secret_free(
        self, backend: Backend, calendar: Calendar, make_backend: BackendFactory
    ) -> None:
        self._declared("identified")
        assert isinstance(calendar, IdentifiedCalendar)
        identity = calendar.calendar_identity()
        assert isinstance(identity, str)
        assert 0 < len(identity) <= MAX_IDENTITY_CHARS
        assert identity.isprintable()
        calendar.create(meeting(), partner_key="P-1")  # writes do not change which calendar
        assert calendar.calendar_identity() == identity
        for secret in backend.secrets:
            assert secret not in identity, "the calendar identity holds a secret"
        other = make_backend().calendar
        assert isinstance(other, IdentifiedCalendar)
        assert other.calendar_identity() != identity, "two calendars share one identity"

    # -- ItemRestorer -------------------------------------------------------------------

    def test_a_deleted_item_is_restored_with_its_content_and_partner_key(
        self, calendar: Calendar
    ) -> None:
        self._declared("item_restorer")
        assert isinstance(calendar, ItemRestorer)
        item = calendar.create(meeting("Raderad av misstag"), partner_key="P-1")
        calendar.delete(item.id, expected_version=item.version)
        restored, lost = calendar.restore(item.id, item.event, partner_key="P-1")
        assert restored.event == item.event
        assert restored.partner_key == "P-1"
        assert all(isinstance(name, str) for name in lost)
        assert calendar.get(restored.id) == restored
        assert [found.id for found in calendar.find_by_partner_key("P-1")] == [restored.id]
