"""Conformance: Microsoft's own Python SDK (``msgraph-sdk``) drives the emulator.

The SDK builds its requests from the Graph v1.0 metadata, so a request the emulator
mis-handles here is one our adapter might build differently from what the real service
expects. Each test runs the SDK over loopback HTTP against a fresh emulator, with a
static bearer token. The SDK is asynchronous; each test runs one ``asyncio.run``.

Known SDK defects worked around here, each where it bites:

- once the client has sent a request, ``BatchRequestItem`` built from a request keeps
  the absolute URL, which Graph refuses (a batch item's url is "the relative resource
  URL", https://learn.microsoft.com/en-us/graph/json-batching; msgraph-sdk-python#1015,
  msgraph-sdk-python-core#1116). The emulator refuses it too (a test says so);
  :func:`relative` is the workaround from #1015;
- ``client.batch.post`` drops JSON bodies of batch answers (microsoft/kiota-python#737);
- its ``AsyncGraphTransport`` does not close the transport it wraps (:func:`sdk` does).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
import pytest

from outlook_sync.testing.graph import GraphEmulator, run_emulator

with warnings.catch_warnings():
    # The generated request builders define deprecated classes at import time.
    warnings.simplefilter("ignore", DeprecationWarning)
    from azure.core.credentials import AccessToken, AccessTokenInfo
    from kiota_abstractions.api_error import APIError
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from kiota_abstractions.headers_collection import HeadersCollection
    from kiota_abstractions.request_information import RequestInformation
    from kiota_abstractions.serialization import ParseNodeFactoryRegistry
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
    from msgraph.generated.models.day_of_week import DayOfWeek
    from msgraph.generated.models.event import Event
    from msgraph.generated.models.item_body import ItemBody
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError
    from msgraph.generated.models.patterned_recurrence import PatternedRecurrence
    from msgraph.generated.models.recurrence_pattern import RecurrencePattern
    from msgraph.generated.models.recurrence_pattern_type import RecurrencePatternType
    from msgraph.generated.models.recurrence_range import RecurrenceRange
    from msgraph.generated.models.recurrence_range_type import RecurrenceRangeType
    from msgraph.generated.models.single_value_legacy_extended_property import (
        SingleValueLegacyExtendedProperty,
    )
    from msgraph.generated.users.item.calendar_view.calendar_view_request_builder import (
        CalendarViewRequestBuilder,
    )
    from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import (
        DeltaRequestBuilder,
    )
    from msgraph.generated.users.item.events.item.event_item_request_builder import (
        EventItemRequestBuilder,
    )
    from msgraph.generated.users.item.events.item.instances.instances_request_builder import (
        InstancesRequestBuilder,
    )
    from msgraph.graph_request_adapter import GraphRequestAdapter
    from msgraph.graph_request_adapter import options as sdk_options
    from msgraph.graph_service_client import GraphServiceClient
    from msgraph_core import GraphClientFactory
    from msgraph_core.requests.batch_request_builder import BatchRequestBuilder
    from msgraph_core.requests.batch_request_content import BatchRequestContent
    from msgraph_core.requests.batch_request_item import BatchRequestItem
    from msgraph_core.requests.batch_response_content import BatchResponseContent

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PROP = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name SaljstodId"
ZONE = "W. Europe Standard Time"
START, END = "2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z"
T = TypeVar("T")


class StaticToken:
    """A credential that always hands out the same bearer token (the emulator accepts any)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("static-test-token", int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo("static-test-token", int(time.time()) + 3600)


@pytest.fixture
def graph() -> Iterator[GraphEmulator]:
    with run_emulator() as emulator:
        yield emulator


@asynccontextmanager
async def sdk(graph: GraphEmulator) -> AsyncIterator[GraphServiceClient]:
    """A GraphServiceClient pointed at the emulator's base URL."""
    auth = AzureIdentityAuthenticationProvider(
        StaticToken(), scopes=["https://graph.microsoft.com/.default"], allowed_hosts=["127.0.0.1"]
    )
    # The SDK's own middleware options (``/users/me-token-to-replace`` -> ``/me``).
    inner = httpx.AsyncHTTPTransport()
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(base_url=graph.base_url, transport=inner), options=sdk_options
    )
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = graph.base_url
    try:
        yield GraphServiceClient(request_adapter=adapter)
    finally:
        await http.aclose()
        await inner.aclose()  # msgraph-core's AsyncGraphTransport does not close what it wraps


def run(graph: GraphEmulator, scenario: Callable[[GraphServiceClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with sdk(graph) as client:
            return await scenario(client)

    return asyncio.run(main())


def when(wall: str) -> DateTimeTimeZone:
    return DateTimeTimeZone(date_time=wall, time_zone=ZONE)


def weekly_series(subject: str = "Standup") -> Event:
    return Event(
        subject=subject,
        body=ItemBody(content="Agenda"),
        start=when("2025-03-03T09:00:00"),
        end=when("2025-03-03T09:30:00"),
        recurrence=PatternedRecurrence(
            pattern=RecurrencePattern(
                type=RecurrencePatternType.Weekly,
                interval=1,
                days_of_week=[DayOfWeek.Monday],
                first_day_of_week=DayOfWeek.Monday,
            ),
            range=RecurrenceRange(
                type=RecurrenceRangeType.Numbered,
                start_date=dt.date(2025, 3, 3),
                number_of_occurrences=4,
                recurrence_time_zone=ZONE,
            ),
        ),
        single_value_extended_properties=[
            SingleValueLegacyExtendedProperty(id=PROP, value="saljstod-1")
        ],
    )


def single(subject: str, day: int) -> Event:
    return Event(
        subject=subject,
        start=when(f"2025-03-{day:02d}T13:00:00"),
        end=when(f"2025-03-{day:02d}T14:00:00"),
    )


def expand_config() -> RequestConfiguration[Any]:
    query = EventItemRequestBuilder.EventItemRequestBuilderGetQueryParameters(
        expand=[f"singleValueExtendedProperties($filter=id eq '{PROP}')"]
    )
    config: RequestConfiguration[Any] = RequestConfiguration(query_parameters=query)
    config.headers.add("Prefer", f'outlook.timezone="{ZONE}"')
    return config


def if_match(etag: str) -> RequestConfiguration[Any]:
    config: RequestConfiguration[Any] = RequestConfiguration()
    config.headers = HeadersCollection()
    config.headers.add("If-Match", etag)
    return config


def test_create_with_zone_property_and_recurrence_then_get_with_expand(
    graph: GraphEmulator,
) -> None:
    async def scenario(client: GraphServiceClient) -> tuple[Event, Event]:
        made = await client.me.events.post(weekly_series())
        assert made is not None
        assert made.id is not None
        got = await client.me.events.by_event_id(made.id).get(expand_config())
        assert got is not None
        return made, got

    made, got = run(graph, scenario)
    assert str(made.type) == "EventType.SeriesMaster"
    assert got.subject == "Standup"
    assert got.start is not None
    assert got.start.time_zone == ZONE
    assert str(got.start.date_time).startswith("2025-03-03T09:00")
    assert got.original_start_time_zone == ZONE
    assert got.recurrence is not None
    assert got.recurrence.range is not None
    assert got.recurrence.range.number_of_occurrences == 4
    props = got.single_value_extended_properties or []
    assert [(p.id, p.value) for p in props] == [(PROP, "saljstod-1")]
    assert got.response_status is not None
    assert str(got.response_status.response) == "ResponseType.Organizer"
    assert got.has_attachments is False


def test_update_with_if_match_and_a_stale_update_gives_412_then_delete(
    graph: GraphEmulator,
) -> None:
    async def scenario(client: GraphServiceClient) -> tuple[Event, int | None, bool]:
        made = await client.me.events.post(single("Review", 5))
        assert made is not None
        assert made.id
        item = client.me.events.by_event_id(made.id)
        etag = (made.additional_data or {})["@odata.etag"]
        updated = await item.patch(Event(subject="Review (moved)"), if_match(etag))
        assert updated is not None
        stale: int | None = None
        try:
            await item.patch(Event(subject="Lost edit"), if_match(etag))
        except ODataError as exc:
            stale = exc.response_status_code
        await item.delete()
        try:
            await item.get()
        except ODataError as exc:
            return updated, stale, exc.response_status_code == 404
        return updated, stale, False

    updated, stale, gone = run(graph, scenario)
    assert updated.subject == "Review (moved)"
    assert stale == 412
    assert gone
    assert graph.events() == []


def test_instances_and_calendar_view_of_a_series(graph: GraphEmulator) -> None:
    async def scenario(client: GraphServiceClient) -> tuple[list[Event], list[Event]]:
        made = await client.me.events.post(weekly_series())
        await client.me.events.post(single("Lunch", 12))
        assert made is not None
        assert made.id
        query = InstancesRequestBuilder.InstancesRequestBuilderGetQueryParameters(
            start_date_time=START, end_date_time=END
        )
        instances = await client.me.events.by_event_id(made.id).instances.get(
            RequestConfiguration(query_parameters=query)
        )
        view_query = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
            start_date_time=START, end_date_time=END, top=50
        )
        view = await client.me.calendar_view.get(RequestConfiguration(query_parameters=view_query))
        assert instances is not None
        assert view is not None
        return list(instances.value or []), list(view.value or [])

    instances, view = run(graph, scenario)
    assert len(instances) == 4
    assert {str(e.type) for e in instances} == {"EventType.Occurrence"}
    assert sorted(e.subject or "" for e in view) == ["Lunch"] + ["Standup"] * 4


def test_calendar_view_delta_to_its_delta_link_with_removed(graph: GraphEmulator) -> None:
    async def scenario(client: GraphServiceClient) -> tuple[list[str], list[dict[str, Any]]]:
        first = await client.me.events.post(single("Kept", 10))
        doomed = await client.me.events.post(single("Doomed", 11))
        assert first is not None
        assert doomed is not None
        assert doomed.id
        query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
            start_date_time=START, end_date_time=END
        )
        config: RequestConfiguration[Any] = RequestConfiguration(query_parameters=query)
        config.headers.add("Prefer", "odata.maxpagesize=1")
        page = await client.me.calendar_view.delta.get(config)
        seen: list[str] = []
        while page is not None and page.odata_next_link:
            seen += [e.subject or "" for e in page.value or []]
            page = await client.me.calendar_view.delta.with_url(page.odata_next_link).get()
        assert page is not None
        assert page.odata_delta_link
        seen += [e.subject or "" for e in page.value or []]
        await client.me.events.by_event_id(doomed.id).delete()
        changes = await client.me.calendar_view.delta.with_url(page.odata_delta_link).get()
        assert changes is not None
        removed = [{"id": e.id, **(e.additional_data or {})} for e in changes.value or []]
        return seen, removed

    seen, removed = run(graph, scenario)
    assert sorted(seen) == ["Doomed", "Kept"]
    assert len(removed) == 1
    assert removed[0]["@removed"] == {"reason": "deleted"}


def as_event(answer: dict[str, Any]) -> Event:
    """A batch answer's body as an Event, by the SDK's own parser, picked by the answer's
    ``Content-Type`` header as the SDK does."""
    content_type = answer["headers"]["Content-Type"].split(";")[0]
    node = ParseNodeFactoryRegistry().get_root_parse_node(
        content_type, json.dumps(answer["body"]).encode()
    )
    event = node.get_object_value(Event)
    assert isinstance(event, Event)
    return event


def relative(item: BatchRequestItem, base_url: str) -> BatchRequestItem:
    """The workaround for absolute batch URLs (msgraph-sdk-python#1015)."""
    item.url = item.url.removeprefix(base_url)
    return item


def test_batch_answers_are_read_back_by_id(graph: GraphEmulator) -> None:
    """The SDK's batch, answered in another order than asked (the emulator reverses it).

    ``client.batch.post`` correlates status and headers by id; it drops JSON bodies
    (microsoft/kiota-python#737), so the bodies are read from the same answer, sent by
    the SDK's request adapter, and parsed with the SDK's own parser.
    """

    async def scenario(client: GraphServiceClient) -> dict[str, Any]:
        existing = await client.me.events.post(single("Existing", 7))
        assert existing is not None
        assert existing.id

        def batch(*requests: tuple[str, RequestInformation]) -> BatchRequestContent:
            content = BatchRequestContent()
            for rid, info in requests:
                content.add_request(rid, relative(BatchRequestItem(info, id=rid), graph.base_url))
            return content

        events = client.me.events
        writes = batch(
            ("create", events.to_post_request_information(single("Batched", 8))),
            ("read", events.by_event_id(existing.id).to_get_request_information()),
        )
        info = await BatchRequestBuilder(client.request_adapter).to_post_request_information(writes)
        raw: Any = await client.request_adapter.send_primitive_async(info, "bytes", {})
        answers = {a["id"]: a for a in json.loads(raw)["responses"]}
        reads = await client.batch.post(
            batch(
                ("missing", events.by_event_id("no-such-id").to_get_request_information()),
                ("again", events.by_event_id(existing.id).to_get_request_information()),
            )
        )
        assert isinstance(reads, BatchResponseContent)
        for rid in ("missing", "again"):
            item = reads.get_response_by_id(rid)
            assert item is not None
            answers[rid] = {"status": item.status, "content_type": item.content_type}
        return answers

    answers = run(graph, scenario)
    assert answers["create"]["status"] == 201
    assert as_event(answers["create"]).subject == "Batched"
    assert answers["read"]["status"] == 200
    assert as_event(answers["read"]).subject == "Existing"
    assert answers["missing"]["status"] == 404
    assert answers["again"]["status"] == 200
    assert answers["again"]["content_type"].startswith("application/json")
    assert sorted(e.data["subject"] for e in graph.events()) == ["Batched", "Existing"]


def test_the_sdks_absolute_batch_urls_are_refused_as_graph_refuses_them(
    graph: GraphEmulator,
) -> None:
    async def scenario(client: GraphServiceClient) -> str:
        await client.me.events.post(single("First", 3))  # the SDK now knows its base URL
        batch = BatchRequestContent()
        item = BatchRequestItem(client.me.events.to_get_request_information(), id="1")
        batch.add_request("1", item)
        with pytest.raises(APIError) as refused:
            await client.batch.post(batch)
        assert refused.value.response_status_code == 400
        return str(item.url)

    url = run(graph, scenario)
    assert url.startswith(graph.base_url)
    assert [r.status for r in graph.requests if r.path.endswith("$batch")] == [400]
