"""One worker process's resources, and one user's sync from start to ledger entry.

A worker runs up to ``concurrency`` syncs at once, each in a thread of the event loop's
executor. Each running sync borrows a :class:`Slot` (its own state store connection and
Säljstöd connection: a :class:`~outlook_sync.state.sql.SqlStateStore` serialises its
calls, so sharing one between concurrent syncs would serialise them). The token
provider and the HTTP connection pool to Graph are shared by every sync of the process.

Every Graph request of one sync carries the sync's run id in ``client-request-id``
(https://learn.microsoft.com/en-us/graph/best-practices-concept, "client-request-id"),
so Microsoft support, a proxy log or the emulator can group a sync's requests. An
``httpx`` response hook counts each sync's requests and 429 answers (and the last
``Retry-After``) in a thread-local tally, for the ledger and for the retry decision.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import httpx

from outlook_sync.adapters.graph import (
    GraphCalendar,
    GraphClient,
    RetryPolicy,
    StaticToken,
    TokenProvider,
    client_credentials_provider,
)
from outlook_sync.adapters.sql import SqlCalendar
from outlook_sync.config import sql_calendar_options
from outlook_sync.engine import Synchronizer
from outlook_sync.errors import (
    BusyError,
    ConfigurationError,
    LeaseLostError,
    OutlookSyncError,
    StateError,
    SyncInProgressError,
)
from outlook_sync.report import SyncReport
from outlook_sync.server.config import ServerConfig
from outlook_sync.server.health import Verdict, probe_mailbox
from outlook_sync.server.ledger import AccountState, Ledger
from outlook_sync.sql.connect import connect_postgresql, redact
from outlook_sync.state.sql import SqlStateStore

__all__ = ["Outcome", "Resources", "Slot", "Tally", "summarize"]

log = logging.getLogger("outlook_sync.server")

_current = threading.local()


@attrs.define
class Tally:
    """What one sync asked of Graph."""

    run_id: str
    requests: int = 0
    throttled: int = 0
    retry_after: float | None = None
    denied: int = 0


def _on_request(request: httpx.Request) -> None:
    tally: Tally | None = getattr(_current, "tally", None)
    if tally is not None:
        request.headers["client-request-id"] = tally.run_id


def _on_response(response: httpx.Response) -> None:
    tally: Tally | None = getattr(_current, "tally", None)
    if tally is None:
        return
    tally.requests += 1
    if response.status_code == 429:
        tally.throttled += 1
        raw = response.headers.get("retry-after")
        with contextlib.suppress(TypeError, ValueError):
            tally.retry_after = float(raw) if raw is not None else tally.retry_after
    elif response.status_code in (401, 403, 404):
        tally.denied += 1


@contextlib.contextmanager
def tallied(run_id: str) -> Iterator[Tally]:
    """Count this thread's Graph requests into a fresh :class:`Tally`."""
    tally = Tally(run_id=run_id)
    _current.tally = tally
    try:
        yield tally
    finally:
        _current.tally = None


@attrs.frozen(kw_only=True)
class Outcome:
    """The end of one sync job: what the ledger got, and whether to run again soon.

    Attributes:
        state: the account's state now.
        outcome: a word for the detail page (``ok``, ``failed``, ``throttled``, ...).
        again_in: defer another sync in this many seconds (``None``: the sweep's turn).
        report: the sync report, when the sync ran.
    """

    state: AccountState
    outcome: str
    again_in: float | None = None
    report: SyncReport | None = None


@attrs.define
class Slot:
    """The connections one running sync uses.

    When the Säljstöd database and the state store are the same PostgreSQL database
    (the same DSN), they share one connection: the activity writes then commit together
    with their links (``SqlCalendar(commit=False)``, see docs/sql.md), and a running
    sync holds one connection instead of two.
    """

    state: SqlStateStore
    saljstod: Any
    dialect: str
    shared: bool = False


def summarize(report: SyncReport) -> str:
    """One line for the detail page: what a sync did."""
    if report.error:
        return f"could not run: {report.error}"
    if report.refused:
        return f"refused: {report.refused}"
    parts = []
    for side, ops in sorted(report.writes.items()):
        done = ", ".join(f"{n} {op}" for op, n in sorted(ops.items()) if n)
        if done:
            parts.append(f"{side}: {done}")
    if report.linked:
        parts.append(f"{report.linked} linked")
    if report.conflicts:
        parts.append(f"{len(report.conflicts)} conflict(s)")
    if report.quarantined:
        parts.append(f"{len(report.quarantined)} quarantined")
    if report.failures:
        first = report.failures[0]
        parts.append(f"{len(report.failures)} failed (first: {first.operation} {first.side} "
                     f"{first.item_id}: {first.error})")
    return "; ".join(parts) or "nothing to do"


def token_provider(config: ServerConfig, environ: Mapping[str, str]) -> TokenProvider:
    """App-only tokens: a client secret or a certificate; a static token for tests.

    Raises:
        ConfigurationError: the credentials are incomplete.
    """
    outlook = config.outlook
    token = outlook.secret("token_env", environ)
    if token is not None:
        return StaticToken(token.reveal())
    base_url = str(outlook.get("base_url") or "")
    client_id = outlook.get("client_id")
    tenant = outlook.get("tenant_id")
    if config.certificate_path is not None:
        try:
            key = Path(config.certificate_path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"server.certificate_path: cannot read it: {exc}",
                                     key="server.certificate_path") from exc
        credential: str | dict[str, Any] = {
            "private_key": key, "thumbprint": config.certificate_thumbprint,
        }
    else:
        secret = outlook.secret("client_secret_env", environ)
        if secret is None:
            if base_url.startswith(("http://127.0.0.1", "http://localhost")):
                return StaticToken("emulator")  # the local emulator takes any token
            raise ConfigurationError(
                "server mode signs in app-only: set outlook.client_secret_env, or "
                "server.certificate_path and server.certificate_thumbprint",
                key="outlook.client_secret_env",
            )
        credential = secret.reveal()
    if not client_id or not tenant:
        raise ConfigurationError("outlook.client_id and outlook.tenant_id are required for "
                                 "app-only access", key="outlook.client_id")
    return client_credentials_provider(str(client_id), credential, tenant=str(tenant))


class _Throttled(Exception):
    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Resources:
    """A worker process's connections, token provider and Graph connection pool.

    Args:
        config: the server configuration.
        environ: where secrets are read.
        slots: how many syncs may run at once (one set of connections each).
    """

    def __init__(self, config: ServerConfig, environ: Mapping[str, str], slots: int) -> None:
        self.config = config
        self.environ = environ
        self.worker = f"{socket.gethostname()} pid {os.getpid()}"
        self.tokens = token_provider(config, environ)
        self.base_url = str(config.outlook.get("base_url") or "https://graph.microsoft.com/v1.0")
        self.http = httpx.Client(
            timeout=httpx.Timeout(30.0, connect=10.0),
            limits=httpx.Limits(max_connections=4 * slots + 4, max_keepalive_connections=2 * slots),
            event_hooks={"request": [_on_request], "response": [_on_response]},
        )
        self.retry = RetryPolicy(attempts=4, max_retry_after=config.max_retry_after)
        self._slots: queue.Queue[Slot] = queue.Queue()
        self._opened: list[Slot] = []
        self._size = slots
        self._lock = threading.Lock()
        queue_dsn = config.queue_dsn(environ).reveal()
        connection, _label = connect_postgresql(queue_dsn, error=StateError, autocommit=True)
        self._ledger_connection = connection
        self.ledger = Ledger(connection)
        self.ledger_lock = threading.Lock()

    def close(self) -> None:
        for slot in self._opened:
            with contextlib.suppress(Exception):
                slot.state.close()
            if not slot.shared:
                with contextlib.suppress(Exception):
                    slot.saljstod.close()
        self._opened.clear()
        self.http.close()
        with contextlib.suppress(Exception):
            self._ledger_connection.close()

    def _open_slot(self) -> Slot:
        state_dsn = self.config.state.secret("dsn_env", self.environ)
        if state_dsn is None:  # pragma: no cover - required by the configuration schema
            raise ConfigurationError("state.dsn_env is required", key="state.dsn_env")
        store = SqlStateStore.connect_postgresql(state_dsn.reveal())
        cfg = self.config.saljstod
        crm_dsn = cfg.secret("dsn_env", self.environ) if cfg.get("dsn_env") else None
        if cfg.get("database") != "sqlite" and crm_dsn is not None and (
                crm_dsn.reveal() == state_dsn.reveal()):
            return Slot(state=store, saljstod=store.connection, dialect="postgresql",
                        shared=True)
        connection, dialect = self.saljstod_connection()
        return Slot(state=store, saljstod=connection, dialect=dialect)

    def saljstod_connection(self) -> tuple[Any, str]:
        """A new connection to the Säljstöd database: ``(connection, dialect)``.

        Raises:
            ConfigurationError: ``path`` or ``dsn_env`` missing.
            StateError: the database cannot be opened.
        """
        cfg = self.config.saljstod
        if cfg.get("database") == "sqlite":
            import sqlite3

            path = cfg.require("path", 'database = "sqlite" reads a file')
            return sqlite3.connect(str(path), timeout=30, check_same_thread=False), "sqlite"
        secret = cfg.secret("dsn_env", self.environ)
        if secret is None:
            cfg.require("dsn_env", 'database = "postgresql" reads the DSN from it')
            raise AssertionError("unreachable")  # pragma: no cover
        connection, _label = connect_postgresql(secret.reveal(), error=StateError)
        return connection, "postgresql"

    @contextlib.contextmanager
    def slot(self) -> Iterator[Slot]:
        """Borrow a set of connections for one sync (opened on first need)."""
        try:
            slot = self._slots.get_nowait()
        except queue.Empty:
            with self._lock:
                grow = len(self._opened) < self._size
            if grow:
                slot = self._open_slot()
                with self._lock:
                    self._opened.append(slot)
            else:
                slot = self._slots.get()
        try:
            yield slot
        finally:
            # end any read transaction left open: no "idle in transaction" between syncs
            with contextlib.suppress(Exception):
                slot.saljstod.rollback()
            self._slots.put(slot)

    def graph_client(self, mailbox: str) -> GraphClient:
        return GraphClient(self.base_url, self.tokens, mailbox=mailbox, http=self.http,
                           retry=self.retry)

    def probe(self, mailbox: str) -> Verdict:
        return probe_mailbox(self.graph_client(mailbox), mailbox)

    def with_ledger(self, body: Callable[[Ledger], Any]) -> Any:
        with self.ledger_lock:
            return body(self.ledger)

    # -- one sync ---------------------------------------------------------------------

    def sync_user(self, user: str, reason: str) -> Outcome:
        """Sync one user and record the outcome in the ledger.

        Never raises for a sync that ran (its trouble is in the outcome); raises only
        when the ledger itself cannot be written.
        """
        account = self.with_ledger(lambda led: led.account(user))
        if account is None:
            return Outcome(state=AccountState.PAUSED, outcome="unknown user")
        if account.state in (AccountState.PAUSED, AccountState.CONSENT_MISSING):
            return Outcome(state=account.state, outcome="skipped")
        run_id = str(uuid.uuid4())
        now = dt.datetime.now(dt.UTC)
        self.with_ledger(lambda led: led.run_started(user, run_id, self.worker, reason, now))
        started = time.monotonic()
        report: SyncReport | None = None
        error: str | None = None
        again: float | None = None
        with self.slot() as slot, tallied(run_id) as tally:
            try:
                sync = Synchronizer(
                    saljstod=SqlCalendar(slot.saljstod, user=user, dialect=slot.dialect,
                                         commit=not slot.shared,
                                         **sql_calendar_options(self.config.saljstod)),
                    outlook=GraphCalendar(self.graph_client(account.mailbox),
                                          user=account.mailbox,
                                          calendar_id=self.config.outlook.get("calendar")),
                    state=slot.state,
                    user=user,
                    policy=self.config.policy,
                )
                report = sync.sync()
                conflicts = len(slot.state.conflicts(user))
                quarantined = len(slot.state.quarantine(user))
            except SyncInProgressError as exc:
                error, again = f"{exc}; tried again shortly", 5.0
            except LeaseLostError as exc:
                error, again = f"{exc}; tried again shortly", 1.0
            except BusyError as exc:
                error, again = f"{exc}; tried again shortly", exc.retry_after or 5.0
            except OutlookSyncError as exc:
                error, again = str(exc), None
            if report is None:
                conflicts = account.conflicts
                quarantined = account.quarantined
            verdict: Verdict | None = None
            if report is not None and report.error and not tally.throttled:
                verdict = self.probe(account.mailbox)
            elif report is not None and not report.error:
                self._subscribe(user, account.mailbox, slot)
        return self._finish(user, run_id, account.state, report, error, again, verdict,
                            tally, time.monotonic() - started, conflicts, quarantined)

    def _subscribe(self, user: str, mailbox: str, slot: Slot) -> None:
        """Create the user's subscription after a sync, if there is none yet."""
        from outlook_sync.server.subscriptions import needs_subscription, subscribe

        try:
            if needs_subscription(self, user, slot.state):
                subscribe(self, user, mailbox, slot.state, _Throttled)
        except (OutlookSyncError, _Throttled, ValueError) as exc:  # renewal job retries
            log.warning("could not subscribe to %s's changes: %s", user, exc)

    def _finish(
        self,
        user: str,
        run_id: str,
        previous: AccountState,
        report: SyncReport | None,
        error: str | None,
        again: float | None,
        verdict: Verdict | None,
        tally: Tally,
        seconds: float,
        conflicts: int,
        quarantined: int,
    ) -> Outcome:
        interval = self.config.sync_interval
        now = dt.datetime.now(dt.UTC)
        reason: str | None = None
        synced = False
        if report is None:
            state = AccountState.ATTENTION if again is None else previous
            outcome = "failed" if again is None else "postponed"
            summary = error or ""
            if again is None:
                again = min(interval, 60.0)
        elif report.error and tally.throttled:
            state, outcome = previous, "throttled"
            wait = tally.retry_after if tally.retry_after is not None else 5.0
            again = max(wait, 1.0)
            summary = f"throttled by Graph ({tally.throttled} x 429); again in {again:g} s"
            error = report.error
        elif report.error:
            summary = summarize(report)
            error = report.error
            if verdict is not None and verdict.state is AccountState.CONSENT_MISSING:
                state, outcome, reason = AccountState.CONSENT_MISSING, "consent missing", (
                    verdict.reason)
                error = verdict.reason
            else:
                state, outcome, again = AccountState.ATTENTION, "failed", min(interval, 60.0)
        else:
            summary = summarize(report)
            synced = not report.cancelled
            if report.ok:
                state, outcome, error = AccountState.OK, "ok", None
            else:
                state, outcome = AccountState.ATTENTION, "needs attention"
                error = summary
        next_due = None if again is not None else now + dt.timedelta(seconds=interval)
        if again is not None:
            next_due = now + dt.timedelta(seconds=again)
        self.with_ledger(lambda led: led.run_finished(
            user, run_id, now=now, outcome=outcome, summary=summary, state=state,
            reason=reason, error=error, synced=synced, next_due=next_due,
            conflicts=conflicts, quarantined=quarantined, seconds=seconds,
            requests=tally.requests, throttled=tally.throttled,
        ))
        log.info("sync of %s: %s (%s)", user, outcome, summary)
        if state is AccountState.CONSENT_MISSING:
            again = None
        return Outcome(state=state, outcome=outcome, again_in=again, report=report)

    # -- the directory ------------------------------------------------------------------

    def directory(self) -> list[tuple[str, str]]:
        """Every enabled user of the Säljstöd database: ``(user id, mailbox)``.

        Raises:
            StateError: the table cannot be read (the message names it).
        """
        source = self.config.users
        with self.slot() as slot:
            try:
                rows = slot.saljstod.execute(source.query()).fetchall()
            except Exception as exc:  # the driver's error: name the table, hide the rest
                raise StateError(
                    f"cannot read the users from {source.table} ([server.users]): "
                    f"{type(exc).__name__}: {redact(str(exc))}"
                ) from exc
        return [(str(r[0]), str(r[1])) for r in rows if r[0] is not None and r[1]]
