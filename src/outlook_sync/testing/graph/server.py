"""The emulator's HTTP server and its public, in-process control API.

HTTP/1.1 with keep-alive on :class:`http.server.ThreadingHTTPServer` (standard library
only). Per-mailbox limits follow the Outlook service limits in
https://learn.microsoft.com/en-us/graph/throttling-limits ("Outlook service limits"):
at most 4 concurrent requests per app per mailbox and 10 000 requests per 10 minutes;
past either, the answer is 429 with ``Retry-After``. Requests inside a ``$batch`` count
one by one against the budget (https://learn.microsoft.com/en-us/graph/throttling,
"Throttling and batching").
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from outlook_sync.testing.graph.faults import HTTP_KINDS, FaultRule, Faults
from outlook_sync.testing.graph.service import (
    GraphService,
    Request,
    RequestRecord,
    Response,
    dumps,
    error_response,
)
from outlook_sync.testing.graph.store import (
    DEFAULT_USER,
    GraphError,
    GraphStore,
    SentMail,
    StoredEvent,
    format_graph_datetime,
    norm_prop,
)
from outlook_sync.testing.graph.subscriptions import Subscriptions

__all__ = ["GraphEmulator", "run_emulator"]


def _mailbox_of(path: str) -> str | None:
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] in ("v1.0", "beta"):
        parts = parts[1:]
    if parts[:1] == ["me"]:
        return DEFAULT_USER
    if len(parts) >= 2 and parts[0] == "users":
        return urllib.parse.unquote(parts[1]).casefold()
    return None


class _Limits:
    """In-flight requests and the rolling request budget, per mailbox."""

    def __init__(self, max_concurrent: int, budget: int, window: float) -> None:
        self.max_concurrent = max_concurrent
        self.budget = budget
        self.window = window
        self._lock = threading.Lock()
        self._in_flight: collections.Counter[str] = collections.Counter()
        self._stamps: dict[str, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )
        self.peak: collections.Counter[str] = collections.Counter()

    def enter(self, boxes: dict[str, int]) -> GraphError | None:
        now = time.monotonic()
        with self._lock:
            for box, count in boxes.items():
                stamps = self._stamps[box]
                while stamps and stamps[0] <= now - self.window:
                    stamps.popleft()
                if len(stamps) + count > self.budget:
                    wait = max(1.0, stamps[0] + self.window - now) if stamps else 1.0
                    return GraphError(
                        429,
                        "ApplicationThrottled",
                        "Application is over its MailboxConcurrency limit.",
                        {"Retry-After": str(round(wait))},
                    )
                if self._in_flight[box] >= self.max_concurrent:
                    return GraphError(
                        429,
                        "ApplicationThrottled",
                        "Application is over its MailboxConcurrency limit.",
                        {"Retry-After": "1"},
                    )
            for box, count in boxes.items():
                self._in_flight[box] += 1
                self.peak[box] = max(self.peak[box], self._in_flight[box])
                self._stamps[box].extend([now] * count)
        return None

    def leave(self, boxes: dict[str, int]) -> None:
        with self._lock:
            for box in boxes:
                self._in_flight[box] -= 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per answer, no Nagle: keep-alive answers without the 40 ms delayed-ACK stall.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        emulator = self.server.emulator
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        split = urllib.parse.urlsplit(self.path)
        path = split.path
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        base = f"http://{host}"
        if path.startswith("/_emulator/"):
            self._send(emulator._control(self.command, path, raw))
            return
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._send(error_response(GraphError(400, "BadRequest", "Invalid JSON body.")))
            return
        rule = emulator.faults.take(self.command, path, inner=False, kinds=HTTP_KINDS)
        if rule is not None and rule.kind == "drop_before":
            self.close_connection = True
            return
        if rule is not None and rule.kind == "corrupt":
            self._send_raw(200, rule.body)
            return
        boxes = self._boxes(path, body)
        refused = emulator._limits.enter(boxes)
        if refused is not None:
            self._send(error_response(refused))
            return
        try:
            if rule is not None and rule.kind == "delay":
                time.sleep(rule.delay)
            req = Request(
                method=self.command,
                path=path,
                query=dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True)),
                headers=dict(self.headers.items()),
                body=body,
                base_url=base,
            )
            resp = emulator.service.handle(req)
        finally:
            emulator._limits.leave(boxes)
        if rule is not None and rule.kind == "drop_after":
            self.close_connection = True
            return
        self._send(resp)

    @staticmethod
    def _boxes(path: str, body: Any) -> dict[str, int]:
        boxes: collections.Counter[str] = collections.Counter()
        if path.rstrip("/").endswith("$batch") and isinstance(body, dict):
            for item in body.get("requests") or []:
                if isinstance(item, dict):
                    box = _mailbox_of("/" + str(item.get("url", "")).lstrip("/"))
                    if box:
                        boxes[box] += 1
        else:
            box = _mailbox_of(path)
            if box:
                boxes[box] += 1
        return dict(boxes)

    def _send(self, resp: Response) -> None:
        payload = b"" if resp.body is None else dumps(resp.body)
        self.send_response(resp.status)
        for key, value in resp.headers.items():
            self.send_header(key, value)
        if resp.body is not None:
            self.send_header("Content-Type", "application/json; odata.metadata=minimal")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _send_raw(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: GraphEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)


def _time(value: dt.datetime | dt.date) -> dict[str, str]:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("emulator seed times must be aware datetimes or dates")
        return {"dateTime": format_graph_datetime(value.astimezone(dt.UTC)), "timeZone": "UTC"}
    wall = dt.datetime(value.year, value.month, value.day)  # noqa: DTZ001 - floating date
    return {"dateTime": format_graph_datetime(wall), "timeZone": "UTC"}


class GraphEmulator:
    """A local Microsoft Graph for tests: start it, point the adapter at :attr:`base_url`.

    Use as a context manager (:func:`run_emulator`) or :meth:`start` / :meth:`stop`.
    Besides serving HTTP, it offers a control API for tests: *user actions* that change
    the mailbox without going through HTTP (they send no mail and are not counted), and
    *faults* to arm (see :mod:`outlook_sync.testing.graph.faults`).

    Args:
        host: must be a loopback address.
        port: 0 picks a free port.
        max_concurrent: concurrent requests per mailbox before 429 (documented: 4).
        request_budget: requests per mailbox per ``budget_window`` seconds (10 000 / 600).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_concurrent: int = 4,
        request_budget: int = 10_000,
        budget_window: float = 600.0,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("the Graph emulator serves the loopback interface only")
        self.store = GraphStore(clock)
        self.faults = Faults()
        self.subscriptions = Subscriptions(self.store)
        self.service = GraphService(self.store, self.faults, self.subscriptions)
        self._limits = _Limits(max_concurrent, request_budget, budget_window)
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The Graph root, e.g. ``http://127.0.0.1:PORT/v1.0``."""
        return f"http://127.0.0.1:{self.port}/v1.0"

    def start(self) -> GraphEmulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="graph-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.subscriptions.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        """Serve in the calling thread (the ``python -m`` entry point)."""
        self._server.serve_forever()

    def __enter__(self) -> GraphEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- inspection --------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request served, batch items included (``inner=True``)."""
        return list(self.service.log)

    def request_count(
        self,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        inner: bool | None = False,
    ) -> int:
        """How many HTTP requests (or, with ``inner=True``, batch items) were served."""
        return sum(
            1
            for r in self.service.log
            if (inner is None or r.inner == inner)
            and (method is None or r.method == method)
            and (path_contains is None or path_contains in r.path)
        )

    def reset_counts(self) -> None:
        self.service.log.clear()

    @property
    def sent_mail(self) -> list[SentMail]:
        """Meeting requests, updates and cancellations the service would have e-mailed."""
        return list(self.store.sent_mail)

    @property
    def peak_concurrency(self) -> int:
        return max(self._limits.peak.values(), default=0)

    def events(self, user: str = "me", calendar_id: str | None = None) -> list[StoredEvent]:
        """The events of a calendar (default calendar when ``calendar_id`` is None)."""
        with self.store.lock:
            box = self.store.mailbox(user)
            cal = box.calendar(calendar_id)
            return list(box.iter_calendar(cal.id))

    def event(self, event_id: str, user: str = "me") -> StoredEvent:
        with self.store.lock:
            return self.store.mailbox(user).find(event_id)

    def extended_value(self, event_id: str, prop_id: str, user: str = "me") -> str | None:
        return self.event(event_id, user).extended.get(norm_prop(prop_id))

    # -- user actions ------------------------------------------------------------------

    def add_calendar(self, name: str, user: str = "me") -> str:
        with self.store.lock:
            return self.store.mailbox(user).add_calendar(name).id

    def default_calendar_id(self, user: str = "me") -> str:
        return self.store.mailbox(user).default_calendar_id

    def seed_event(
        self,
        subject: str,
        start: dt.datetime | dt.date,
        end: dt.datetime | dt.date,
        *,
        user: str = "me",
        calendar_id: str | None = None,
        extended: dict[str, str] | None = None,
        **fields: Any,
    ) -> str:
        """Create an event as the user would (no mail, not counted); return its immutable id.

        ``fields`` are Graph JSON properties (``body``, ``showAs``, ``attendees``, …).
        """
        body: dict[str, Any] = {
            "subject": subject,
            "start": _time(start),
            "end": _time(end),
            "isAllDay": not isinstance(start, dt.datetime),
            **fields,
        }
        if extended:
            body["singleValueExtendedProperties"] = [
                {"id": k, "value": v} for k, v in extended.items()
            ]
        with self.store.lock:
            box = self.store.mailbox(user)
            event = box.create(box.calendar(calendar_id).id, body)
            self.subscriptions.changed(box, event, "created")
            return event.immutable_id

    def user_edit(self, event_id: str, user: str = "me", **fields: Any) -> None:
        """Change an event as the user would in Outlook (Graph JSON property names).

        ``start``/``end`` may be given as datetimes or dates.
        """
        body = {k: _time(v) if isinstance(v, dt.date) else v for k, v in fields.items()}
        with self.store.lock:
            box = self.store.mailbox(user)
            event = box.find(event_id)
            box.update(event, body)
            self.subscriptions.changed(box, event, "updated")

    def user_delete(self, event_id: str, user: str = "me") -> None:
        with self.store.lock:
            box = self.store.mailbox(user)
            box.delete(box.find(event_id))
            self.subscriptions.changed(box, box.tombstones[-1], "deleted")

    def user_move(self, event_id: str, calendar_id: str, user: str = "me") -> None:
        """Move an event to another calendar (its regular id changes, not its immutable id)."""
        with self.store.lock:
            box = self.store.mailbox(user)
            box.move(box.find(event_id), calendar_id)

    # -- faults ------------------------------------------------------------------------

    def throttle(
        self,
        times: int = 1,
        *,
        retry_after: float | None = 1,
        status: int = 429,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> FaultRule:
        """Answer the next ``times`` matching requests with ``status`` (429/503/504)."""
        return self.faults.add(
            FaultRule(
                "status", times, method, path_contains, status=status, retry_after=retry_after
            )
        )

    def unavailable(
        self,
        times: int = 1,
        *,
        status: int = 503,
        retry_after: float | None = None,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> FaultRule:
        return self.throttle(
            times,
            retry_after=retry_after,
            status=status,
            method=method,
            path_contains=path_contains,
        )

    def drop_connection(
        self,
        times: int = 1,
        *,
        after: bool = False,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> FaultRule:
        """Close the connection unanswered; with ``after=True`` the request was carried out."""
        kind = "drop_after" if after else "drop_before"
        return self.faults.add(FaultRule(kind, times, method, path_contains))

    def slow(
        self,
        seconds: float,
        times: int = 1,
        *,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> FaultRule:
        return self.faults.add(FaultRule("delay", times, method, path_contains, delay=seconds))

    def corrupt(
        self,
        body: bytes,
        times: int = 1,
        *,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> FaultRule:
        """Answer 200 with ``body`` as raw bytes (malformed or truncated JSON)."""
        return self.faults.add(FaultRule("corrupt", times, method, path_contains, body=body))

    def unauthorized(self, times: int = 1) -> FaultRule:
        """Answer 401 (access token expired) to the next ``times`` requests."""
        return self.faults.add(FaultRule("unauthorized", times))

    def before_next(
        self,
        action: Callable[[], None],
        *,
        method: str | None = None,
        path_contains: str | None = None,
        times: int = 1,
    ) -> FaultRule:
        """Run ``action`` (a user action) just before the next matching request is served."""
        return self.faults.add(FaultRule("callback", times, method, path_contains, callback=action))

    def expire_delta_tokens(self) -> None:
        """Forget every delta/skip token: the next use answers 410 ``syncStateNotFound``."""
        with self.store.lock:
            self.store.expire_sync_states()

    def revoke_token(self, token: str) -> None:
        """Refuse this access token from now on (401)."""
        self.service.revoked_tokens.add(token)

    def flush_notifications(self, timeout: float = 5.0) -> None:
        self.subscriptions.flush(timeout)

    # -- control over HTTP (for the command-line emulator) ------------------------------

    def _control(self, method: str, path: str, raw: bytes) -> Response:
        try:
            args = json.loads(raw) if raw else {}
        except ValueError:
            return Response(400, {"error": "invalid JSON"})
        name = path.removeprefix("/_emulator/").strip("/")
        if method == "GET" and name == "requests":
            return Response(200, {"value": [r.__dict__ for r in self.service.log]})
        if method == "GET" and name == "sent-mail":
            return Response(200, {"value": [m.__dict__ for m in self.store.sent_mail]})
        if method == "POST" and name == "expire-delta-tokens":
            self.expire_delta_tokens()
            return Response(204)
        if method == "POST" and name == "faults":
            kind = str(args.get("kind", "status"))
            if kind not in (
                "status",
                "unauthorized",
                "drop_before",
                "drop_after",
                "delay",
                "corrupt",
            ):
                return Response(400, {"error": f"unknown fault kind {kind}"})
            self.faults.add(
                FaultRule(
                    kind,
                    int(args.get("times", 1)),
                    args.get("method"),
                    args.get("path_contains"),
                    status=int(args.get("status", 429)),
                    retry_after=args.get("retry_after"),
                    delay=float(args.get("delay", 0)),
                    body=str(args.get("body", "")).encode(),
                )
            )
            return Response(204)
        if method == "POST" and name == "reset-counts":
            self.reset_counts()
            return Response(204)
        return Response(404, {"error": "unknown control endpoint"})


@contextmanager
def run_emulator(**kwargs: Any) -> Iterator[GraphEmulator]:
    """Start a :class:`GraphEmulator` on 127.0.0.1 (free port) for the ``with`` block."""
    emulator = GraphEmulator(**kwargs).start()
    try:
        yield emulator
    finally:
        emulator.stop()
