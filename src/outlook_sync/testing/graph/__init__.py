"""A local Microsoft Graph emulator for tests (standard library only).

It serves the subset of Graph v1.0 that calendar sync uses — events CRUD on default and
named calendars of ``/me`` and ``/users/{id}``, calendarView delta with paging and
``@removed``, immutable ids, ``changeKey`` / ``If-Match`` / 412, single-value extended
properties with ``$filter``, ``$batch``, webhook subscriptions — and injects the faults a
real tenant produces (throttling, 503/504, expired delta tokens, dropped connections,
slow answers, edits "by the user" between two requests).

In a test::

    from outlook_sync.testing.graph import run_emulator

    with run_emulator() as graph:
        graph.seed_event("Lunch", start, end)
        ...  # point the adapter at graph.base_url
        assert graph.sent_mail == []

From a shell: ``python -m outlook_sync.testing.graph --port 8765``.

In-process, without a port or a thread (needs ``httpx``)::

    from outlook_sync.testing.graph import MockGraph

    graph = MockGraph()
    http = httpx.Client(transport=graph.transport)  # base URL: graph.base_url

Each module's docstring names the Microsoft documentation page behind each behaviour.
"""

from typing import TYPE_CHECKING, Any

from outlook_sync.testing.graph.faults import FaultRule
from outlook_sync.testing.graph.server import GraphEmulator, run_emulator
from outlook_sync.testing.graph.service import RequestRecord
from outlook_sync.testing.graph.store import DEFAULT_USER, SentMail, StoredEvent
from outlook_sync.testing.graph.tenant import EmulatedTenant

if TYPE_CHECKING:
    from outlook_sync.testing.graph.mock import MockGraph

__all__ = [
    "DEFAULT_USER",
    "EmulatedTenant",
    "FaultRule",
    "GraphEmulator",
    "MockGraph",
    "RequestRecord",
    "SentMail",
    "StoredEvent",
    "run_emulator",
]


def __getattr__(name: str) -> Any:
    # MockGraph needs httpx; the HTTP emulator runs on the standard library alone.
    if name == "MockGraph":
        from outlook_sync.testing.graph.mock import MockGraph

        return MockGraph
    raise AttributeError(name)
