"""``outlook-sync server web``: the ASGI application (Starlette, served by uvicorn).

Routes:

``POST /notifications``
    Graph's change and lifecycle notifications (logic: :mod:`outlook_sync.server.notify`).
    Answers at once; the work is a deferred, coalesced ``sync_user`` job.
``GET /`` and ``GET /users/{user}``
    The read-only operator page and a user's detail page.
``GET /metrics``
    Prometheus text.
``GET /healthz``
    200 when the database answers, else 503 (for load balancers; no secrets, no auth).
``GET/POST /login``
    Sign in to the operator page with the operator token (sets a session cookie).

The operator page and ``/metrics`` need the operator token: as ``Authorization: Bearer``,
as the password of HTTP Basic auth, or through ``/login``. Without a configured token
they answer 403: the page is never open by default.

:func:`serve` connects to the databases (the ledger, the state store, the job queue's
pool) *before* uvicorn starts, so that a database that cannot be reached is one
redacted :class:`~outlook_sync.errors.StateError` for the command line, not a traceback
from uvicorn's lifespan handling. uvicorn's own loggers are left unconfigured
(``log_config=None``): their records go through the command's redacting handler.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import hashlib
import hmac
import logging
import threading
import urllib.parse
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from outlook_sync.errors import StateError
from outlook_sync.server.config import ServerConfig
from outlook_sync.server.ledger import Ledger
from outlook_sync.server.notify import Decision, decide
from outlook_sync.server.pages import account_page, login_page, metrics_text, overview_page
from outlook_sync.server.queue import (
    DATABASE_ERRORS,
    build_queue,
    database_error,
    defer_subscribe_async,
    defer_sync_async,
    queue_dsn,
)
from outlook_sync.sql.connect import connect_postgresql
from outlook_sync.state.sql import SqlStateStore

__all__ = ["build_web_app", "serve"]

log = logging.getLogger("outlook_sync.server")

_T = TypeVar("_T")
_COOKIE = "outlook_sync_operator"
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class _Database:
    """The web process's two connections, each used by one thread at a time.

    Raises:
        StateError: a database cannot be reached (the message is redacted).
    """

    def __init__(self, config: ServerConfig, environ: Mapping[str, str]) -> None:
        self._config, self._environ = config, environ
        self._lock = threading.Lock()
        self._connect(create=True)

    def _connect(self, *, create: bool = False) -> None:
        """Open both connections (again, after the database dropped them)."""
        connection, _ = connect_postgresql(queue_dsn(self._config, self._environ),
                                           error=StateError, autocommit=True)
        try:
            ledger = Ledger(connection)
            if create:
                ledger.create()
            dsn = self._config.state.secret("dsn_env", self._environ)
            assert dsn is not None  # required by the configuration schema
            state = SqlStateStore.connect_postgresql(dsn.reveal())
        except BaseException as exc:
            connection.close()
            if isinstance(exc, DATABASE_ERRORS):
                raise database_error(exc, "cannot prepare the server's tables") from None
            raise
        self._ledger_connection, self.ledger, self.state = connection, ledger, state

    def _lost(self) -> bool:
        """Whether the database dropped a connection (a restart, a failover)."""
        return bool(getattr(self._ledger_connection, "closed", False)
                    or getattr(self.state.connection, "closed", False))

    def _again(self) -> None:
        """Reconnect when a connection was dropped (raises StateError if still down)."""
        if self._lost():
            log.warning("the database connection was lost; reconnecting")
            self.close()
            self._connect()

    def current_state(self) -> SqlStateStore:
        """The state store, reconnected first if the database dropped it."""
        with self._lock:
            self._again()
            return self.state

    def read(self, body: Callable[[Ledger], _T]) -> _T:
        with self._lock:
            self._again()
            try:
                return body(self.ledger)
            except DATABASE_ERRORS:
                if not self._lost():
                    raise
                self._again()  # dropped while in use: once more on a new connection
                return body(self.ledger)

    def queue_depth(self) -> dict[str, int]:
        def depth(_ledger: Ledger) -> list[Any]:
            rows: list[Any] = self._ledger_connection.execute(
                "SELECT status::text, COUNT(*) FROM procrastinate_jobs"
                " WHERE task_name = 'outlook_sync.sync_user' AND status IN ('todo', 'doing')"
                " GROUP BY status"
            ).fetchall()
            return rows

        return {str(r[0]): int(r[1]) for r in self.read(depth)}

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._ledger_connection.close()
        with contextlib.suppress(Exception):
            self.state.close()


def _session_value(token: str) -> str:
    return hmac.new(token.encode(), b"outlook_sync operator session", hashlib.sha256).hexdigest()


def _authorised(request: Request, token: str | None) -> bool:
    if token is None:
        return False
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode()):
        return True
    if scheme.lower() == "basic":
        import base64
        import binascii

        with contextlib.suppress(binascii.Error, UnicodeDecodeError):
            _user, _, password = base64.b64decode(value.strip()).decode().partition(":")
            if hmac.compare_digest(password.encode(), token.encode()):
                return True
    cookie = request.cookies.get(_COOKIE, "")
    return hmac.compare_digest(cookie.encode(), _session_value(token).encode())


async def _open_queue(queue: Any, config: ServerConfig) -> None:
    """Open the job queue's pool; a failure is a redacted StateError."""
    try:
        await queue.open_async()
    except DATABASE_ERRORS as exc:
        raise database_error(
            exc, f"cannot connect to the job queue's database ({config.queue_dsn_env})"
        ) from None


def build_web_app(
    config: ServerConfig,
    environ: Mapping[str, str],
    *,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    database: _Database | None = None,
) -> Starlette:
    """The Starlette application for ``config``.

    Args:
        database: the connections, opened by the caller, who then also opens and closes
            the job queue (``app.state.queue``); by default the application's lifespan
            opens and closes both.

    Raises:
        ConfigurationError: the operator token or the DSNs are not in the environment.
    """
    secret = config.operator_token(environ)
    token = secret.reveal() if secret is not None else None
    queue = build_queue(config, environ, pool_size=4)
    counters: collections.Counter[str] = collections.Counter()
    holder: dict[str, _Database] = {}
    if database is not None:
        holder["db"] = database

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if database is not None:  # the caller opened everything and closes it
            yield
            return
        holder["db"] = await run_in_threadpool(_Database, config, environ)
        try:
            await _open_queue(queue, config)
            try:
                yield
            finally:
                await queue.close_async()
        finally:
            await run_in_threadpool(holder["db"].close)

    def db() -> _Database:
        return holder["db"]

    def secured(response: Response) -> Response:
        response.headers.update(_SECURITY_HEADERS)
        return response

    def refuse(request: Request) -> Response:
        if token is None:
            return secured(PlainTextResponse(
                "the operator page is disabled: set server.operator_token_env", status_code=403))
        if request.url.path.endswith("/metrics"):
            return secured(PlainTextResponse("operator token required", status_code=401,
                                             headers={"WWW-Authenticate": "Bearer"}))
        return secured(RedirectResponse(request.url_for("login"), status_code=303))

    async def notifications(request: Request) -> Response:
        body = await request.body()
        decision: Decision = await run_in_threadpool(
            decide, dict(request.query_params), body, db().current_state())
        counters["rejected"] += decision.rejected
        counters["accepted"] += len(decision.sync) + len(decision.resubscribe)
        if decision.rejected:
            log.warning("%d change notification(s) ignored: unknown subscription or wrong "
                        "clientState", decision.rejected)
        for user in sorted(decision.sync):  # after a short delay: a burst is one sync
            await defer_sync_async(queue, user, "notification", config.notification_delay)
        for event in decision.lifecycle:  # what happened goes with the job: a removed
            # subscription is recreated, one to reauthorize renewed, at once
            await defer_subscribe_async(queue, event.user, lifecycle=event.event,
                                        subscription_id=event.subscription_id)
        return Response(decision.reply.body, status_code=decision.reply.status,
                        media_type=decision.reply.content_type)

    async def healthz(_request: Request) -> Response:
        try:
            await run_in_threadpool(db().queue_depth)
        except Exception:  # any failure means "not healthy"; the reason is in the log
            log.warning("health check failed", exc_info=True)
            return PlainTextResponse("database unreachable", status_code=503)
        return PlainTextResponse("ok")

    async def metrics(request: Request) -> Response:
        if not _authorised(request, token):
            return refuse(request)
        totals = await run_in_threadpool(db().read, lambda led: led.totals())
        states = await run_in_threadpool(db().read, lambda led: led.state_counts())
        depth = await run_in_threadpool(db().queue_depth)
        text = metrics_text(totals, states, depth, dict(counters))
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    async def overview(request: Request) -> Response:
        if not _authorised(request, token):
            return refuse(request)
        accounts = await run_in_threadpool(db().read, lambda led: led.accounts())
        return secured(HTMLResponse(overview_page(accounts, clock())))

    async def user_page(request: Request) -> Response:
        if not _authorised(request, token):
            return refuse(request)
        user = urllib.parse.unquote(request.path_params["user"])

        def read(led: Ledger) -> tuple[Any, Any]:
            return led.account(user), led.runs(user)

        account, runs = await run_in_threadpool(db().read, read)
        if account is None:
            return secured(PlainTextResponse("no such user", status_code=404))
        return secured(HTMLResponse(account_page(account, runs)))

    async def login(request: Request) -> Response:
        if token is None:
            return refuse(request)
        if request.method == "GET":
            return secured(HTMLResponse(login_page()))
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0]
        if not hmac.compare_digest(given.encode(), token.encode()):
            return secured(HTMLResponse(login_page(failed=True), status_code=401))
        response = RedirectResponse(request.url_for("overview"), status_code=303)
        response.set_cookie(_COOKIE, _session_value(token), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
        return secured(response)

    routes = [
        Route("/notifications", notifications, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/login", login, methods=["GET", "POST"], name="login"),
        Route("/users/{user:path}", user_page, methods=["GET"]),
        Route("/", overview, methods=["GET"], name="overview"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.queue = queue
    app.state.counters = counters
    return app


def serve(config: ServerConfig, environ: Mapping[str, str]) -> None:
    """Run the web application with uvicorn until interrupted.

    Raises:
        StateError: a database cannot be reached (the message is redacted).
    """
    database = _Database(config, environ)
    try:
        asyncio.run(_serve(config, environ, database))
    finally:
        database.close()


async def _serve(config: ServerConfig, environ: Mapping[str, str], database: _Database) -> None:
    import uvicorn

    app = build_web_app(config, environ, database=database)
    queue = app.state.queue
    await _open_queue(queue, config)
    try:
        server = uvicorn.Server(uvicorn.Config(
            app, host=config.listen_host, port=config.listen_port, log_level="warning",
            log_config=None, proxy_headers=True, server_header=False))
        await server.serve()
    finally:
        await queue.close_async()
