"""The Microsoft Graph adapter runs the Calendar contract suite against the Graph emulator,
over loopback HTTP.

Each calendar of the factory is another calendar of one mailbox (the default one first);
an item "made by the user" is an event seeded as Outlook would store it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from outlook_sync.adapters.graph import GraphCalendar, GraphClient, StaticToken
from outlook_sync.adapters.graph.notifications import DeltaPoller
from outlook_sync.model import Event
from outlook_sync.protocols import Subscription
from outlook_sync.testing.contract import Backend, BackendFactory, CalendarContract, Capabilities
from outlook_sync.testing.graph import GraphEmulator, run_emulator

TOKEN = "contract-token-5f1c"  # a test token, checked to stay out of identities

def _no_sleep(_seconds: float) -> None:
    return None


def deliver(subscription: Subscription) -> None:
    """One poll of the delta poller now, instead of waiting for its interval."""
    assert isinstance(subscription, DeltaPoller)
    subscription.poll()


class TestGraphCalendar(CalendarContract):
    capabilities = Capabilities(series=True, bulk_writer=True, bulk_deleter=True,
                                change_notifier=True, item_opener=True, identified=True,
                                item_restorer=False)  # fmt: skip

    @pytest.fixture
    def graph(self) -> Iterator[GraphEmulator]:
        with run_emulator() as emulator:
            yield emulator

    @pytest.fixture
    def make_backend(self, graph: GraphEmulator) -> Iterator[BackendFactory]:
        clients: list[GraphClient] = []
        numbers = itertools.count(1)

        def make() -> Backend:
            number = next(numbers)
            calendar_id = None if number == 1 else graph.add_calendar(f"Kalender {number}")
            client = GraphClient(graph.base_url, StaticToken(TOKEN), mailbox="contract",
                                 sleep=_no_sleep, timeout=5.0)  # fmt: skip
            clients.append(client)

            def add_unlinked(event: Event) -> str:
                return graph.seed_event(event.subject, event.start, event.end,
                                        calendar_id=calendar_id)  # fmt: skip

            return Backend(
                calendar=GraphCalendar(client, calendar_id=calendar_id),
                add_unlinked=add_unlinked,
                deliver=deliver,
                secrets=(TOKEN,),
                unknown_id="AAMkAGI2TG93AAA=",
            )

        yield make
        for client in clients:
            client.close()
