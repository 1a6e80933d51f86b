"""The emulator's HTTP front: :class:`GraphEmulator` serves an
:class:`~outlook_sync.testing.graph.tenant.EmulatedTenant` over loopback HTTP.

HTTP/1.1 with keep-alive on :class:`http.server.ThreadingHTTPServer` (standard library
only). The limits, faults and control API live in the tenant module.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from outlook_sync.testing.graph.faults import HTTP_KINDS, FaultRule
from outlook_sync.testing.graph.service import Request, Response, dumps, error_response
from outlook_sync.testing.graph.store import GraphError
from outlook_sync.testing.graph.tenant import EmulatedTenant, mailboxes_of

__all__ = ["GraphEmulator", "run_emulator"]

#: The fields of ``POST /_emulator/faults`` (docs/graph.md, "Fault injection").
_FAULT_KEYS = frozenset({"kind", "times", "method", "path_contains", "status", "retry_after",
                         "delay", "body"})


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
        boxes = mailboxes_of(path, body)
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


class GraphEmulator(EmulatedTenant):
    """A local Microsoft Graph for tests: start it, point the adapter at :attr:`base_url`.

    Use as a context manager (:func:`run_emulator`) or :meth:`start` / :meth:`stop`. The
    control API (user actions, faults, inspection) is :class:`EmulatedTenant`'s.

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
        super().__init__(
            max_concurrent=max_concurrent,
            request_budget=request_budget,
            budget_window=budget_window,
            clock=clock,
        )
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
            if not isinstance(args, dict):
                return Response(400, {"error": "the fault is a JSON object"})
            unknown = sorted(set(args) - _FAULT_KEYS)
            if unknown:
                return Response(400, {"error": f"unknown fault field(s): {', '.join(unknown)}; "
                                               f"known: {', '.join(sorted(_FAULT_KEYS))}"})
            if "kind" not in args:
                return Response(400, {"error": "a fault needs its kind (e.g. \"status\")"})
            kind = str(args["kind"])
            if kind not in (
                "status",
                "unauthorized",
                "drop_before",
                "drop_after",
                "delay",
                "corrupt",
            ):
                return Response(400, {"error": f"unknown fault kind {kind}"})
            wrong = _wrong_fault_fields(args)
            if wrong:
                return Response(400, {"error": f"a fault field has the wrong type: {wrong}"})
            rule = FaultRule(
                kind,
                int(args.get("times", 1)),
                args.get("method"),
                args.get("path_contains"),
                status=int(args.get("status", 429)),
                retry_after=args.get("retry_after"),
                delay=float(args.get("delay", 0)),
                body=str(args.get("body", "")).encode(),
            )
            self.faults.add(rule)
            return Response(204)
        if method == "POST" and name == "reset-counts":
            self.reset_counts()
            return Response(204)
        return Response(404, {"error": "unknown control endpoint"})


def _wrong_fault_fields(args: dict[str, Any]) -> str:
    """What is wrong with a fault's fields, each checked for its own type and range
    (``""``: nothing). Coercing would arm a different fault than the test asked for."""
    def count(value: Any) -> bool:
        return type(value) is int and value >= 1

    def seconds(value: Any) -> bool:
        return type(value) in (int, float) and value >= 0

    checks: dict[str, Callable[[Any], bool]] = {
        "times": count,
        "status": lambda v: type(v) is int and 400 <= v <= 599,
        "delay": seconds,
        "retry_after": lambda v: v is None or seconds(v) or type(v) is str,
        "method": lambda v: v is None or (type(v) is str and v.isalpha()),
        "path_contains": lambda v: v is None or type(v) is str,
        "body": lambda v: type(v) is str,
    }
    wrong = [f"{name}={args[name]!r}" for name, check in checks.items()
             if name in args and not check(args[name])]
    return ", ".join(wrong)


@contextmanager
def run_emulator(**kwargs: Any) -> Iterator[GraphEmulator]:
    """Start a :class:`GraphEmulator` on 127.0.0.1 (free port) for the ``with`` block."""
    emulator = GraphEmulator(**kwargs).start()
    try:
        yield emulator
    finally:
        emulator.stop()
