"""The fixtures every part of the suite shares, and how a listing is read by the tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import pytest

from outlook_sync.model import Item, Listing
from outlook_sync.protocols import Calendar
from outlook_sync.testing.contract.backend import Backend, BackendFactory, Capabilities

__all__ = ["ContractBase", "listed", "reports_gone"]


class ContractBase:
    """Fixtures: ``make_backend`` (abstract, the integrator's), ``backend``, ``calendar``.

    Class attributes a test class sets:

    - ``capabilities``: what the backend can do (:class:`Capabilities`).
    - ``known_failures``: ``{test name: reason}`` for contract tests the backend is known
      to fail today. Each is marked ``xfail(strict=True)``: it must keep failing until
      the bug is fixed, and then the entry must go. A name may carry a parameter id
      (``"test_x[sqlite]"``) to mark one parametrisation only.
    """

    capabilities: ClassVar[Capabilities] = Capabilities()
    known_failures: ClassVar[Mapping[str, str]] = {}

    @pytest.fixture
    def make_backend(self) -> BackendFactory:
        """Return a callable that opens a new, empty calendar of the backend each call.

        Abstract: every test class that runs the suite defines this fixture.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must define the make_backend fixture"
        )

    @pytest.fixture
    def backend(self, make_backend: BackendFactory) -> Backend:
        """A new, empty calendar of the backend under test."""
        return make_backend()

    @pytest.fixture
    def calendar(self, backend: Backend) -> Calendar:
        """The calendar of :meth:`backend`."""
        return backend.calendar

    @pytest.fixture(autouse=True)
    def _known_failure(self, request: pytest.FixtureRequest) -> None:
        node = request.node
        reason = self.known_failures.get(node.name) or self.known_failures.get(
            getattr(node, "originalname", node.name)
        )
        if reason is not None:
            request.applymarker(pytest.mark.xfail(strict=True, reason=reason))

    def test_known_failures_name_tests_of_the_suite(self) -> None:
        """Every ``known_failures`` entry names a test that exists (a typo hides nothing)."""
        names = {name for name in dir(type(self)) if name.startswith("test_")}
        unknown = {key.split("[")[0] for key in self.known_failures} - names
        assert not unknown, f"known_failures names no such test: {sorted(unknown)}"


def listed(listing: Listing, item_id: str) -> Item | None:
    """The item ``item_id`` as ``listing`` reports it, or ``None`` if it is not in it."""
    for item in listing.items:
        if item.id == item_id:
            return item
    return None


def reports_gone(listing: Listing, item_id: str) -> bool:
    """Whether ``listing`` tells that ``item_id`` is deleted.

    A change listing says so in ``deleted``; a complete listing by leaving it out.
    """
    present = listed(listing, item_id) is not None or any(
        broken.id == item_id for broken in listing.broken
    )
    if present:
        return False
    return item_id in listing.deleted or listing.complete
