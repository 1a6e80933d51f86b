"""The whole Calendar contract in one class, for a test class to inherit."""

from __future__ import annotations

from outlook_sync.testing.contract.listing import ListingContract
from outlook_sync.testing.contract.optional import CapabilityContract
from outlook_sync.testing.contract.writes import WriteContract

__all__ = ["CalendarContract"]


class CalendarContract(ListingContract, WriteContract, CapabilityContract):
    """Every contract test of :class:`~outlook_sync.protocols.Calendar` and its capabilities.

    Subclass it as ``Test<YourBackend>``, define the ``make_backend`` fixture, and set
    ``capabilities`` (and, while a bug is being fixed, ``known_failures``).
    """
