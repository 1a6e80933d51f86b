"""One pytest suite that every :class:`~outlook_sync.protocols.Calendar` backend passes.

The built-in adapters (in-memory, SQL on SQLite and PostgreSQL, Microsoft Graph, Outlook
over COM) run it in this project's CI; an integrator runs it against their own backend
the same way. Subclass :class:`CalendarContract`, give it a ``make_backend`` fixture that
returns a factory of :class:`Backend` (each call: a new, empty calendar), and say what
the backend can do in ``capabilities``::

    import pytest
    from outlook_sync.testing.contract import Backend, CalendarContract, Capabilities

    class TestMyCalendar(CalendarContract):
        capabilities = Capabilities(series=False, item_opener=True)

        @pytest.fixture
        def make_backend(self, tmp_path):
            count = iter(range(1000))
            return lambda: Backend(calendar=MyCalendar(tmp_path / f"{next(count)}.db"))

Needs pytest and hypothesis (``pip install 'outlook_sync[test]'``).

What the suite states (vdirsyncer's ``StorageTests`` is the model):

- writes (:mod:`.writes`): a created item reads back equal, with its partner key; every
  valid event survives a round trip or is refused whole; an update or delete at a stale
  version raises :class:`~outlook_sync.errors.VersionConflictError` and writes nothing;
  ``partner_key=None`` keeps the key, a key replaces it; a gone item is ``None`` to
  ``get`` and :class:`~outlook_sync.errors.ItemNotFoundError` to writes;
- listings (:mod:`.listing`): ``list_all`` is complete; a change listing never hides a
  change at or after its inclusive watermark, always includes items without a partner
  key, and reports deletions; two calendars do not see each other's items;
- optional capabilities (:mod:`.optional`): ``BulkWriter``, ``ChangeNotifier``,
  ``ItemOpener``, ``IdentifiedCalendar`` (stable, secret-free), ``ItemRestorer``.

A test the backend is known to fail today goes in ``known_failures`` with the reason;
it is marked ``xfail(strict=True)``, so the entry must go once the bug is fixed.
"""

from outlook_sync.testing.contract.backend import Backend, BackendFactory, Capabilities
from outlook_sync.testing.contract.calendar import CalendarContract
from outlook_sync.testing.contract.listing import ListingContract
from outlook_sync.testing.contract.optional import CapabilityContract
from outlook_sync.testing.contract.samples import contract_events, meeting, weekly_series
from outlook_sync.testing.contract.writes import WriteContract

__all__ = [
    "Backend",
    "BackendFactory",
    "CalendarContract",
    "Capabilities",
    "CapabilityContract",
    "ListingContract",
    "WriteContract",
    "contract_events",
    "meeting",
    "weekly_series",
]
