"""The emulator in-process: an ``httpx.MockTransport`` front, with no port and no thread.

For integrators' tests (the httpx way: a transport that answers in-process)::

    from outlook_sync.adapters.graph import GraphCalendar, GraphClient, StaticToken
    from outlook_sync.testing.graph import MockGraph

    graph = MockGraph()
    http = httpx.Client(transport=graph.transport)
    calendar = GraphCalendar(GraphClient(graph.base_url, StaticToken("t"), http=http))
    graph.seed_event("Lunch", start, end)
    ...

The tenant behind it is the same as the HTTP emulator's
(:class:`~outlook_sync.testing.graph.tenant.EmulatedTenant`): the same documented
behaviour, limits, faults and control API. Differences that come from having no network:

- the connection faults become the httpx exceptions a client would see:
  ``drop_connection()`` raises ``httpx.RemoteProtocolError`` (before the request was
  carried out, or after with ``after=True``); ``slow(seconds)`` sleeps and then raises
  ``httpx.ReadTimeout`` when it exceeds the transport's ``read_timeout``;
- change notifications are delivered synchronously after each request or user action,
  through ``poster`` (a function; loopback HTTP by default), so a test sees them at once.

Requires ``httpx`` (the ``graph`` extra); the HTTP front needs only the standard library.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx

from outlook_sync.testing.graph.batching import JSON_CONTENT_TYPE
from outlook_sync.testing.graph.faults import HTTP_KINDS
from outlook_sync.testing.graph.service import Request, Response, dumps, error_response
from outlook_sync.testing.graph.store import GraphError
from outlook_sync.testing.graph.subscriptions import Poster
from outlook_sync.testing.graph.tenant import EmulatedTenant, mailboxes_of

__all__ = ["MockGraph"]

#: Where the in-process tenant pretends to live (never resolved: no request leaves).
MOCK_ROOT = "https://graph.emulator.test"


class MockGraph(EmulatedTenant):
    """An emulated tenant served by :attr:`transport` (an ``httpx.MockTransport``).

    Args:
        poster: how notifications reach the subscriber: ``(url, body, content type,
            timeout) -> (status, answer body)``. Loopback HTTP by default; a test passes
            its webhook handler here to stay in-process.
        read_timeout: a ``slow()`` fault longer than this raises ``httpx.ReadTimeout``.
        max_concurrent, request_budget, budget_window, clock: as for the HTTP emulator.
    """

    def __init__(
        self,
        *,
        poster: Poster | None = None,
        read_timeout: float = 30.0,
        max_concurrent: int = 4,
        request_budget: int = 10_000,
        budget_window: float = 600.0,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        super().__init__(
            max_concurrent=max_concurrent,
            request_budget=request_budget,
            budget_window=budget_window,
            clock=clock,
            poster=poster,
            threaded_notifications=False,
        )
        self.read_timeout = read_timeout
        self.transport = httpx.MockTransport(self.handle)

    @property
    def base_url(self) -> str:
        """The Graph root the transport answers for."""
        return f"{MOCK_ROOT}/v1.0"

    def client(self, token: str = "mock-token", **kwargs: Any) -> httpx.Client:  # noqa: S107
        """An ``httpx.Client`` on :attr:`transport`, with a bearer token and the base URL."""
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return httpx.Client(
            transport=self.transport, base_url=self.base_url, headers=headers, **kwargs
        )

    def _after_change(self) -> None:
        self.subscriptions.flush()

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Serve one request (the ``MockTransport`` handler)."""
        raw_path, _, raw_query = request.url.raw_path.decode("ascii").partition("?")
        try:
            answer = self._serve(request, raw_path, raw_query)
        finally:
            self.subscriptions.flush()
        return answer

    def _serve(self, request: httpx.Request, path: str, query: str) -> httpx.Response:
        raw = request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return _response(error_response(GraphError(400, "BadRequest", "Invalid JSON body.")))
        rule = self.faults.take(request.method, path, inner=False, kinds=HTTP_KINDS)
        if rule is not None and rule.kind == "drop_before":
            raise _dropped(request)
        if rule is not None and rule.kind == "corrupt":
            return httpx.Response(
                200, content=rule.body, headers={"Content-Type": "application/json"}
            )
        boxes = mailboxes_of(path, body)
        refused = self._limits.enter(boxes)
        if refused is not None:
            return _response(error_response(refused))
        try:
            if rule is not None and rule.kind == "delay":
                if rule.delay > self.read_timeout:
                    time.sleep(self.read_timeout)
                    raise httpx.ReadTimeout("The read operation timed out.", request=request)
                time.sleep(rule.delay)
            served = self.service.handle(
                Request(
                    method=request.method,
                    path=path,
                    query=dict(urllib.parse.parse_qsl(query, keep_blank_values=True)),
                    headers=dict(request.headers.items()),
                    body=body,
                    base_url=MOCK_ROOT,
                )
            )
        finally:
            self._limits.leave(boxes)
        if rule is not None and rule.kind == "drop_after":
            raise _dropped(request)
        return _response(served)


def _dropped(request: httpx.Request) -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError("Server disconnected without a response.", request=request)


def _response(resp: Response) -> httpx.Response:
    headers = dict(resp.headers)
    if resp.body is None:
        return httpx.Response(resp.status, headers=headers)
    headers.setdefault("Content-Type", JSON_CONTENT_TYPE)
    return httpx.Response(resp.status, content=dumps(resp.body), headers=headers)
