"""A whole server cluster on one machine, for tests and benchmarks.

:class:`Testbed` starts real components: a throwaway PostgreSQL
(:class:`~outlook_sync.testing.postgres.PostgresCluster`) holding the Säljstöd database,
the state store and the job queue; the Graph emulator
(:mod:`outlook_sync.testing.graph`) serving one mailbox per user and posting change
notifications; the web process; and any number of worker processes
(``python -m outlook_sync.cli server …``), each a separate OS process.

The emulator's service is wrapped by :class:`ObservedGraph`, which records, for every
request, its mailbox, its ``client-request-id`` (the sync's run id, set by the
workers), and when it started and ended, by the test process's clock: whether two syncs
of one mailbox overlapped is read from this log, not from the workers' bookkeeping.
It also plays the tenant administrator: :meth:`ObservedGraph.deny` makes Graph refuse
a mailbox the way it refuses one outside the app's consent or application access
policy (403 ``ErrorAccessDenied``,
https://learn.microsoft.com/en-us/graph/auth-limit-mailbox-access), and
:meth:`ObservedGraph.remove` the way it answers for a deleted mailbox (404
``ErrorInvalidUser``, https://learn.microsoft.com/en-us/graph/errors). Batch items are
not refused (a sync first lists the mailbox directly, which is refused).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from outlook_sync.testing.graph import GraphEmulator
from outlook_sync.testing.graph.service import Request, Response
from outlook_sync.testing.postgres import PostgresCluster

__all__ = ["Hit", "ObservedGraph", "Testbed"]


@attrs.frozen
class Hit:
    """One request the emulator served."""

    mailbox: str | None
    run_id: str | None
    method: str
    path: str
    status: int
    started: float
    ended: float


def _mailbox_of(path: str) -> str | None:
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] in ("v1.0", "beta"):
        parts = parts[1:]
    if len(parts) >= 2 and parts[0] == "users":
        return urllib.parse.unquote(parts[1]).casefold()
    return None


class ObservedGraph:
    """Wraps the emulator's service: a timing log, and mailboxes the tenant refuses."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.hits: list[Hit] = []
        self._refused: dict[str, tuple[int, str, str]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def deny(self, mailbox: str) -> None:
        """Refuse the mailbox: admin consent revoked / outside the access policy."""
        self._refused[mailbox.casefold()] = (
            403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")

    def remove(self, mailbox: str) -> None:
        """Answer as for a deleted mailbox."""
        self._refused[mailbox.casefold()] = (
            404, "ErrorInvalidUser", f"The requested user '{mailbox}' is invalid.")

    def allow(self, mailbox: str) -> None:
        self._refused.pop(mailbox.casefold(), None)

    def handle(self, req: Request) -> Response:
        box = _mailbox_of(req.path)
        started = time.monotonic()
        refused = self._refused.get(box or "") if not req.inner else None
        if refused is not None:
            status, code, message = refused
            resp = Response(status, {"error": {"code": code, "message": message}})
        else:
            resp = self._inner.handle(req)
        if not req.inner:
            hit = Hit(box, req.header("client-request-id"), req.method, req.path,
                      resp.status, started, time.monotonic())
            with self._lock:
                self.hits.append(hit)
        return resp

    def snapshot(self) -> list[Hit]:
        with self._lock:
            return list(self.hits)


def overlapping_runs(hits: list[Hit]) -> list[tuple[str, str, str]]:
    """``(mailbox, run a, run b)`` for every two runs of one mailbox whose requests overlap
    in time (a run spans from its first request's start to its last request's end)."""
    spans: dict[tuple[str, str], list[float]] = {}
    for hit in hits:
        if hit.mailbox is None or not hit.run_id:
            continue
        span = spans.setdefault((hit.mailbox, hit.run_id), [hit.started, hit.ended])
        span[0] = min(span[0], hit.started)
        span[1] = max(span[1], hit.ended)
    by_box: dict[str, list[tuple[float, float, str]]] = {}
    for (box, run), (start, end) in spans.items():
        by_box.setdefault(box, []).append((start, end, run))
    found = []
    for box, runs in by_box.items():
        runs.sort()
        for (_s1, e1, r1), (s2, _e2, r2) in itertools.pairwise(runs):
            if s2 < e1:
                found.append((box, r1, r2))
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@attrs.define
class Testbed:
    """Start with :meth:`start` (or ``with``); every process stops with :meth:`stop`.

    Attributes:
        users: how many users (and mailboxes).
        saljstod_events, outlook_events: per user, activities and Outlook events seeded.
        workers: worker processes.
        concurrency: syncs per worker.
        settings: extra ``[server]`` keys (e.g. ``{"sweep_every_seconds": 2}``).
    """

    __test__ = False  # a helper, not a pytest test class

    users: int = 20
    saljstod_events: int = 2
    outlook_events: int = 2
    workers: int = 2
    concurrency: int = 2
    settings: dict[str, Any] = attrs.field(factory=dict)
    policy: dict[str, Any] = attrs.field(factory=lambda: {"lock_ttl_minutes": 0.1})
    directory: Path = attrs.field(factory=lambda: Path(tempfile.mkdtemp(prefix="osync-srv-")))
    postgres: PostgresCluster | None = None
    token: str = attrs.field(factory=lambda: secrets.token_urlsafe(16))
    emulator: GraphEmulator | None = None
    graph: ObservedGraph | None = None
    web_port: int = 0
    _own_postgres: bool = attrs.field(default=False, init=False)
    _web: subprocess.Popen[bytes] | None = attrs.field(default=None, init=False)
    _procs: list[subprocess.Popen[bytes]] = attrs.field(factory=list, init=False)
    _env: dict[str, str] = attrs.field(factory=dict, init=False)

    # -- lifecycle ----------------------------------------------------------------------

    def mailbox(self, index: int) -> str:
        return f"user{index:04d}@contoso.test"

    def user(self, index: int) -> str:
        return f"u{index:04d}"

    def start(self) -> Testbed:
        if self.postgres is None:
            self.postgres = PostgresCluster().start()
            self._own_postgres = True
        self.emulator = GraphEmulator().start()
        self.graph = ObservedGraph(self.emulator.service)
        self.emulator.service = self.graph  # type: ignore[assignment]
        self.web_port = _free_port()
        self._env = {**os.environ, "OSYNC_TEST_DSN": self.postgres.dsn,
                     "OSYNC_TEST_TOKEN": self.token, "PYTHONUNBUFFERED": "1"}
        self._prepare_database()
        self._write_config()
        self._start_web()
        for _ in range(self.workers):
            self.start_worker()
        return self

    def __enter__(self) -> Testbed:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        for proc in [*self._procs, *([self._web] if self._web else [])]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*self._procs, *([self._web] if self._web else [])]:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()
        self._web = None
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None
        if self._own_postgres and self.postgres is not None:
            self.postgres.stop()
            self.postgres = None

    @property
    def config_path(self) -> Path:
        return self.directory / "outlook-sync.toml"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def _write_config(self) -> None:
        assert self.emulator is not None
        server = {
            "public_url": f"{self.base_url}/notifications",
            "listen": f"127.0.0.1:{self.web_port}",
            "operator_token_env": "OSYNC_TEST_TOKEN",
            "concurrency": self.concurrency,
            "polling_interval_seconds": 0.5,
            "sync_interval_minutes": 60,
            "sweep_every_seconds": 2,
            "health_every_seconds": 3,
            "stalled_every_seconds": 2,
            "heartbeat_seconds": 1,
            "stalled_worker_seconds": 4,
            "max_retry_after_seconds": 5,
            **self.settings,
        }

        def toml(value: Any) -> str:
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, str):
                return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            return repr(value)

        lines = [
            "[saljstod]", 'backend = "sql"', 'database = "postgresql"',
            'dsn_env = "OSYNC_TEST_DSN"', "",
            "[outlook]", 'backend = "graph"', f"base_url = {toml(self.emulator.base_url)}", "",
            "[state]", 'backend = "postgresql"', 'dsn_env = "OSYNC_TEST_DSN"', "",
            "[policy]", *(f"{k} = {toml(v)}" for k, v in self.policy.items()), "",
            "[server]", *(f"{k} = {toml(v)}" for k, v in server.items()), "",
            "[logging]", 'level = "info"', "",
        ]
        self.config_path.write_text("\n".join(lines), encoding="utf-8")

    def _prepare_database(self) -> None:
        import psycopg

        from outlook_sync.adapters.sql import upgrade

        assert self.postgres is not None
        assert self.emulator is not None
        with psycopg.connect(self.postgres.dsn) as conn:
            upgrade(conn, dialect="postgresql")
            conn.execute("CREATE TABLE IF NOT EXISTS saljstod_users"
                         " (user_id TEXT PRIMARY KEY, mailbox TEXT NOT NULL,"
                         " outlook_enabled BOOLEAN NOT NULL DEFAULT true)")
            conn.commit()
        self.add_users(range(self.users))

    def add_users(self, indexes: range | list[int]) -> None:
        """Create users (Säljstöd rows, activities, and their mailboxes' events)."""
        import psycopg

        assert self.postgres is not None
        assert self.emulator is not None
        base = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)
        with psycopg.connect(self.postgres.dsn) as conn:
            for i in indexes:
                user, box = self.user(i), self.mailbox(i)
                conn.execute("INSERT INTO saljstod_users (user_id, mailbox) VALUES (%s, %s)"
                             " ON CONFLICT (user_id) DO UPDATE SET outlook_enabled = true",
                             (user, box))
                subjects = [f"Kundbesök {k} ({user})" for k in range(self.saljstod_events)]
                starts = [base + dt.timedelta(days=k, hours=i % 8)
                          for k in range(self.saljstod_events)]
                conn.execute(
                    "WITH new AS (INSERT INTO activities (subject, starts_at, ends_at, time_zone)"
                    " SELECT s, st, st + interval '1 hour', 'UTC'"
                    " FROM unnest(%s::text[], %s::timestamptz[]) AS t(s, st)"
                    " RETURNING id) INSERT INTO activity_participants (activity_id, user_id)"
                    " SELECT id, %s FROM new",
                    (subjects, starts, user),
                )
                for k in range(self.outlook_events):
                    start = base + dt.timedelta(days=k, hours=12 + i % 4)
                    self.emulator.seed_event(f"Outlook {k} ({user})", start,
                                             start + dt.timedelta(minutes=30), user=box)
            conn.commit()

    def _spawn(self, *args: str, log_name: str) -> subprocess.Popen[bytes]:
        with (self.directory / log_name).open("ab") as log:  # the child keeps its copy
            return subprocess.Popen(  # noqa: S603 - our own module, no shell
                [sys.executable, "-m", "outlook_sync.cli", "--config",
                 str(self.config_path), "server", *args],
                env=self._env, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory,
            )

    def _start_web(self) -> None:
        self._web = self._spawn("web", log_name="web.log")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._web.poll() is not None:
                raise RuntimeError(f"the web process ended: {self.log('web.log')[-2000:]}")
            with contextlib.suppress(OSError), urllib.request.urlopen(  # noqa: S310
                f"{self.base_url}/healthz", timeout=2
            ) as answer:
                if answer.status == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError("the web process did not become healthy")

    def start_worker(self) -> subprocess.Popen[bytes]:
        number = len(self._procs)
        proc = self._spawn("worker", "--name", f"w{number}", log_name=f"worker{number}.log")
        self._procs.append(proc)
        return proc

    @property
    def worker_processes(self) -> list[subprocess.Popen[bytes]]:
        return list(self._procs)

    def log(self, name: str) -> str:
        path = self.directory / name
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    # -- inspection ---------------------------------------------------------------------

    @contextlib.contextmanager
    def sql(self) -> Iterator[Any]:
        import psycopg

        assert self.postgres is not None
        with psycopg.connect(self.postgres.dsn, autocommit=True) as conn:
            yield conn

    def converged_users(self, indexes: range | list[int]) -> list[int]:
        """Users whose two calendars hold the same number of items, all linked."""
        assert self.emulator is not None
        with self.sql() as conn:
            rows = conn.execute(
                "SELECT user_id, COUNT(*), COUNT(outlook_id) FROM activity_participants"
                " GROUP BY user_id").fetchall()
        activities = {r[0]: (int(r[1]), int(r[2])) for r in rows}
        done = []
        for i in indexes:
            total, linked = activities.get(self.user(i), (0, 0))
            events = len(self.emulator.events(user=self.mailbox(i)))
            if total == linked == events and total > 0:
                done.append(i)
        return done

    def wait_until(self, condition: Callable[[], bool], timeout: float,
                   what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")

    def jobs(self, status: str, task: str = "outlook_sync.sync_user") -> int:
        with self.sql() as conn:
            row = conn.execute("SELECT COUNT(*) FROM procrastinate_jobs WHERE task_name = %s"
                               " AND status = %s", (task, status)).fetchone()
        return int(row[0]) if row else 0

    def account_state(self, index: int) -> str | None:
        with self.sql() as conn:
            row = conn.execute("SELECT state FROM outlook_sync_server_accounts"
                               " WHERE user_name = %s", (self.user(index),)).fetchone()
        return None if row is None else str(row[0])

    def defer_unqueued(self, indexes: list[int], copies: int) -> None:
        """Defer ``copies`` syncs of each user at once, with the cluster-wide ``lock``
        but without the queueing lock: several jobs of one user wait together, and only
        the lock keeps two workers from running them at the same time."""
        from outlook_sync.server.config import load_server_config
        from outlook_sync.server.queue import SYNC_TASK, build_queue

        app = build_queue(load_server_config(self.config_path), self._env, pool_size=1)
        with app.open():
            for _ in range(copies):
                for i in indexes:
                    app.configure_task(SYNC_TASK, lock=f"user:{self.user(i)}").defer(
                        user=self.user(i), reason="pressure")

    def defer_sync(self, index: int, reason: str = "test") -> bool:
        """Defer a sync the way the web endpoint does (same locks)."""
        from outlook_sync.server.config import load_server_config
        from outlook_sync.server.queue import build_queue, defer_sync

        app = build_queue(load_server_config(self.config_path), self._env, pool_size=1)
        with app.open():
            return defer_sync(app, self.user(index), reason)
