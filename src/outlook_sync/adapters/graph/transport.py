"""HTTP to Microsoft Graph: retries, pacing, authentication and error translation.

Theory of operation
-------------------
Every request goes through :meth:`GraphClient.request` (or :meth:`GraphClient.batch`):

1. **Pacing.** A per-mailbox semaphore keeps at most 4 requests in flight and a rolling
   window keeps under the per-mailbox budget (10 000 requests per 10 minutes; a ``$batch``
   counts once per item) — the Outlook limits in
   https://learn.microsoft.com/en-us/graph/throttling-limits. The adapter waits instead of
   running into 429 during a full sync.
2. **Retries.** 429, 503 and 504 are retried after ``Retry-After`` when the answer has one
   (https://learn.microsoft.com/en-us/graph/throttling), otherwise after an exponential,
   jittered and capped back-off. A connection that could not be opened is retried.
   A lost *answer* (timeout or connection closed after sending) is retried only for
   requests that are safe to repeat; for the others :class:`AnswerLostError` tells the
   caller that the write may have happened.
3. **Authentication.** A 401 refreshes the token once (``token(refresh=True)``) and
   repeats the request; a second 401 is an error.
4. **Translation.** Failed exchanges (:class:`~outlook_sync.adapters.graph.sender.SendFailed`)
   and Graph error answers become :mod:`outlook_sync.errors` here and nowhere else
   (:func:`_transport_error`, :func:`error_for`). Messages carry the status, Graph's
   error code and message, the method and the path — never the query string (delta
   tokens) or the bearer token.

``sleep`` and ``random`` are injected so tests run without waiting.
"""

from __future__ import annotations

import collections
import random as _random
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import attrs
import httpx

from outlook_sync.adapters.graph.auth import TokenProvider
from outlook_sync.adapters.graph.sender import (
    DirectSender,
    HttpxSender,
    Sender,
    SendFailed,
    dumps,
    loads,
    proxied,
)
from outlook_sync.errors import (
    BackendError,
    BackendUnavailableError,
    ItemNotFoundError,
    ItemRejectedError,
    ListingError,
    PermissionDeniedError,
    VersionConflictError,
)

__all__ = [
    "AnswerLostError",
    "BatchItem",
    "GraphClient",
    "GraphResponse",
    "MalformedResponseError",
    "RetryPolicy",
    "error_for",
]

_RETRY_STATUS = frozenset({429, 503, 504})
_DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class AnswerLostError(BackendUnavailableError):
    """The request was sent but its answer was lost: a write may have happened."""


class MalformedResponseError(ValueError):
    """A Graph answer that is not the JSON it should be."""


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How often and how long to retry throttled or failed requests.

    Attributes:
        attempts: tries per request, the first included.
        base_delay: first back-off step in seconds (doubles each retry).
        max_delay: cap of one back-off wait without ``Retry-After``.
        max_retry_after: cap of one wait that honours ``Retry-After``.
    """

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def backoff(self, attempt: int, rnd: float) -> float:
        """Wait before retry number ``attempt`` (0-based): half fixed, half jitter."""
        step = min(self.max_delay, self.base_delay * float(2**attempt))
        return step / 2 + step / 2 * rnd

    def honour(self, retry_after: float, rnd: float) -> float:
        """Wait for a ``Retry-After`` of ``retry_after`` seconds, capped, plus jitter."""
        return min(self.max_retry_after, max(0.0, retry_after)) + self.base_delay * rnd


@attrs.frozen(kw_only=True)
class GraphResponse:
    """A Graph answer: status, headers (lower-case names) and raw body."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict)
    content: bytes = b""
    #: the body already decoded (an answer inside a ``$batch``, whose body arrives as
    #: JSON within the batch's JSON): used instead of decoding ``content``
    decoded: Any = attrs.field(default=None, eq=False, repr=False)

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object.

        Raises:
            MalformedResponseError: not JSON, or not an object.
        """
        if self.decoded is not None:
            value = self.decoded
        else:
            try:
                value = loads(self.content) if self.content else None
            except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
                raise MalformedResponseError(f"invalid JSON ({exc})") from None
        if not isinstance(value, dict):
            raise MalformedResponseError("the answer is not a JSON object")
        return value

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@attrs.frozen(kw_only=True)
class BatchItem:
    """One request inside a ``$batch`` (URL relative to the Graph root)."""

    id: str
    method: str
    url: str
    body: Any = None
    headers: Mapping[str, str] = attrs.field(factory=dict)


def _graph_error(resp: GraphResponse) -> tuple[str, str]:
    try:
        err = resp.json_object().get("error") or {}
    except MalformedResponseError:
        return "", ""
    if not isinstance(err, dict):
        return "", ""
    return str(err.get("code") or ""), str(err.get("message") or "")[:300]


def error_for(
    resp: GraphResponse,
    *,
    what: str,
    item_id: str | None = None,
    listing: bool = False,
) -> BackendError:
    """The :mod:`outlook_sync.errors` exception for a Graph error answer.

    ``what`` names the operation for the message ("PATCH /me/events/{id}"); ``listing``
    makes every failure a :class:`ListingError`, since nothing may be concluded from a
    listing that failed.
    """
    code, message = _graph_error(resp)
    text = f"{what}: HTTP {resp.status}" + (f" {code}" if code else "")
    if message:
        text += f": {message}"
    status = resp.status
    if status == 403 and code.casefold() == "erroraccessdenied" and not listing:
        # A calendar shared read-only: "canEdit: false"
        # (https://learn.microsoft.com/en-us/graph/api/resources/calendar).
        return PermissionDeniedError(
            f"{text} (the calendar is read-only for this user)", side="outlook", item_id=item_id
        )
    if status in (401, 403):
        return BackendUnavailableError(f"{text} (not authorised)", item_id=item_id)
    if status in _RETRY_STATUS or status >= 500:
        return BackendUnavailableError(text, item_id=item_id)
    if listing:
        return ListingError(text, item_id=item_id)
    if status == 404 or code == "ErrorItemNotFound":
        return ItemNotFoundError(text, item_id=item_id)
    if status in (409, 412) or code == "ErrorIrresolvableConflict":
        return VersionConflictError(text, item_id=item_id)
    return ItemRejectedError(text, item_id=item_id)


def _transport_error(exc: SendFailed, what: str) -> BackendUnavailableError:
    """The one place a failed exchange becomes ours."""
    if exc.sent:
        return AnswerLostError(f"{what}: the answer was lost ({exc.kind})")
    return BackendUnavailableError(f"{what}: Graph is unreachable ({exc.kind})")


class _Pacer:
    """Per-mailbox concurrency and request budget, shared by every client of a mailbox."""

    _registry: ClassVar[dict[str, _Pacer]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, concurrency: int, budget: int, window: float) -> None:
        self.slots = threading.BoundedSemaphore(concurrency)
        self.budget = budget
        self.window = window
        self._lock = threading.Lock()
        self._stamps: collections.deque[float] = collections.deque()

    @classmethod
    def for_mailbox(cls, key: str, concurrency: int, budget: int, window: float) -> _Pacer:
        with cls._registry_lock:
            pacer = cls._registry.get(key)
            if pacer is None:
                pacer = cls._registry[key] = cls(concurrency, budget, window)
            return pacer

    def spend(self, count: int, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        """Wait until ``count`` more requests fit in the rolling budget, then record them."""
        count = min(count, self.budget)
        while True:
            with self._lock:
                now = clock()
                while self._stamps and self._stamps[0] <= now - self.window:
                    self._stamps.popleft()
                if len(self._stamps) + count <= self.budget:
                    self._stamps.extend([now] * count)
                    return
                wait = self._stamps[0] + self.window - now
            sleep(max(wait, 0.01))


class GraphClient:
    """Sends requests to one mailbox's Graph endpoints.

    Args:
        base_url: the Graph root, e.g. ``https://graph.microsoft.com/v1.0``.
        tokens: where bearer tokens come from.
        mailbox: a key naming the mailbox (for the shared per-mailbox limits).
        http: an ``httpx.Client`` to send through (a shared pool, a test transport).
            Without it the client opens its own keep-alive connections with the
            standard library (:class:`~outlook_sync.adapters.graph.sender.DirectSender`),
            or through httpx when the environment sets a proxy for the Graph host.
        timeout: per-request timeout (seconds or ``httpx.Timeout``).
        retry: retry policy.
        sleep, random, clock: injected for tests.
        concurrency, budget, budget_window: the per-mailbox limits.
    """

    def __init__(
        self,
        base_url: str,
        tokens: TokenProvider,
        *,
        mailbox: str = "me",
        http: httpx.Client | None = None,
        timeout: float | httpx.Timeout = _DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        clock: Callable[[], float] = time.monotonic,
        concurrency: int = 4,
        budget: int = 10_000,
        budget_window: float = 600.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._tokens = tokens
        self._sender: Sender
        if http is not None:
            self._sender = HttpxSender(http, timeout, own=False)
        elif proxied(self.base_url):
            client = httpx.Client(timeout=timeout, follow_redirects=False)
            self._sender = HttpxSender(client, timeout, own=True)
        else:
            self._sender = DirectSender(timeout)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._random = random
        self._clock = clock
        self._pacer = _Pacer.for_mailbox(
            f"{self.base_url}|{mailbox.casefold()}", concurrency, budget, budget_window
        )
        self.requests_sent = 0
        self.retries = 0
        self._count_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"GraphClient({self.base_url!r})"

    def close(self) -> None:
        """Close the connections (when the client opened them)."""
        self._sender.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    @staticmethod
    def describe(method: str, url: str) -> str:
        """``METHOD /path`` without the query (which may hold delta tokens)."""
        return f"{method} {urllib.parse.urlsplit(url).path}"

    # -- one request -------------------------------------------------------------------

    def _send_once(
        self, method: str, url: str, headers: Mapping[str, str], body: Any, count: int
    ) -> GraphResponse:
        self._pacer.spend(count, self._clock, self._sleep)
        with self._pacer.slots:
            with self._count_lock:
                self.requests_sent += 1
            status, lowered, content = self._sender.send(
                method, url, headers, None if body is None else dumps(body)
            )
        return GraphResponse(status=status, headers=lowered, content=content)

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        safe_to_retry: bool = True,
        count: int = 1,
    ) -> GraphResponse:
        """Send one request with pacing, retries and token refresh; return the final answer.

        The answer may still be an error status (the caller translates it with
        :func:`error_for`, knowing the context); statuses worth retrying are retried here.

        Raises:
            BackendUnavailableError: unreachable, or throttled past the retry budget.
            AnswerLostError: the answer to a request not safe to repeat was lost.
        """
        url = self.url(path_or_url)
        what = self.describe(method, url)
        refreshed = False
        attempt = 0
        while True:
            all_headers = {"Authorization": f"Bearer {self._tokens.token(refresh=refreshed)}"}
            if body is not None:
                all_headers["Content-Type"] = "application/json"
            all_headers.update(headers or {})
            try:
                resp = self._send_once(method, url, all_headers, body, count)
            except SendFailed as exc:
                if (safe_to_retry or not exc.sent) and attempt + 1 < self.retry.attempts:
                    self._wait(self.retry.backoff(attempt, self._random()))
                    attempt += 1
                    continue
                raise _transport_error(exc, what) from exc
            if resp.status == 401 and not refreshed:
                refreshed = True
                continue
            retryable = resp.status in _RETRY_STATUS and (safe_to_retry or resp.status != 504)
            if retryable and attempt + 1 < self.retry.attempts:
                self._wait(self._delay(resp, attempt))
                attempt += 1
                continue
            if resp.status == 504 and not safe_to_retry:
                raise AnswerLostError(f"{what}: HTTP 504 (the write may have happened)")
            return resp

    def _wait(self, seconds: float) -> None:
        with self._count_lock:
            self.retries += 1
        self._sleep(seconds)

    def _delay(self, resp: GraphResponse, attempt: int) -> float:
        raw = resp.headers.get("retry-after")
        if raw is not None:
            try:
                return self.retry.honour(float(raw), self._random())
            except ValueError:
                pass
        return self.retry.backoff(attempt, self._random())

    # -- $batch ------------------------------------------------------------------------

    def batch(
        self,
        items: Sequence[BatchItem],
        *,
        headers: Mapping[str, str] | None = None,
        safe_to_retry: bool = True,
    ) -> dict[str, GraphResponse]:
        """Send up to 20 requests in one ``$batch``; return each item's answer by id.

        Items answered 429/503/504 are sent again (after the longest ``Retry-After``) in
        a smaller batch, within the retry budget; the rest keep their answers.
        https://learn.microsoft.com/en-us/graph/json-batching

        Raises:
            BackendUnavailableError: the batch request itself failed.
            AnswerLostError: its answer was lost (items may have been carried out).
        """
        if not 0 < len(items) <= 20:
            raise ValueError("a $batch holds 1 to 20 requests")
        pending = {item.id: item for item in items}
        results: dict[str, GraphResponse] = {}
        attempt = 0
        common = dict(headers or {})
        with_body = {"Content-Type": "application/json", **common}
        while pending:
            entries: list[dict[str, Any]] = []
            for item in pending.values():
                entry: dict[str, Any] = {"id": item.id, "method": item.method, "url": item.url}
                shared = common if item.body is None else with_body
                entry["headers"] = {**shared, **item.headers} if item.headers else shared
                if item.body is not None:
                    entry["body"] = item.body
                entries.append(entry)
            payload = {"requests": entries}
            resp = self.request(
                "POST", "$batch", body=payload, safe_to_retry=safe_to_retry, count=len(pending)
            )
            if not resp.ok:
                raise error_for(resp, what="POST /$batch")
            try:
                answers = resp.json_object().get("responses")
                if not isinstance(answers, list):
                    raise MalformedResponseError("no responses in the $batch answer")
                parsed = {str(a["id"]): self._batch_answer(a) for a in answers}
            except (MalformedResponseError, KeyError, TypeError) as exc:
                raise BackendUnavailableError(f"POST /$batch: malformed answer ({exc})") from None
            throttled: list[GraphResponse] = []
            for item_id in list(pending):
                answer = parsed.get(item_id)
                if answer is None:
                    results[item_id] = GraphResponse(status=502, content=b"")
                    del pending[item_id]
                elif answer.status in _RETRY_STATUS and attempt + 1 < self.retry.attempts:
                    throttled.append(answer)
                else:
                    results[item_id] = answer
                    del pending[item_id]
            if pending:
                self._wait(max(self._delay(a, attempt) for a in throttled))
                attempt += 1
        return results

    @staticmethod
    def _batch_answer(answer: Mapping[str, Any]) -> GraphResponse:
        body = answer.get("body")
        headers = {str(k).lower(): str(v) for k, v in (answer.get("headers") or {}).items()}
        status = int(answer["status"])
        if isinstance(body, dict):  # decoded once, with the batch: no encode and decode again
            return GraphResponse(status=status, headers=headers, decoded=body)
        content = b"" if body is None else dumps(body)
        return GraphResponse(status=status, headers=headers, content=content)
