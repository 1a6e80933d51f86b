"""Server mode, piece by piece: the subscription job's retry decisions, the web process
(``/healthz``, the operator page's access rules) and what a stopped worker's syncs look
like in the ledger and on the detail page.

The retry decisions need no server; the web process (its lifespan, as ``server web``
runs it, through an ASGI client) and the ``retry_stalled`` job (as a worker runs it) run
in-process over a real PostgreSQL, in a schema of their own.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import tomllib
import types
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_extra

require_extra("server", "procrastinate", "psycopg", "starlette", "httpx")

import httpx  # noqa: E402

from outlook_sync.server.config import ServerConfig, parse_server_config  # noqa: E402
from outlook_sync.server.queue import GraphRetry, RetryLater  # noqa: E402
from outlook_sync.server.runner import Resources  # noqa: E402

NOW = dt.datetime(2026, 12, 5, 8, tzinfo=dt.UTC)


# -- GraphRetry: the subscription job's retry decisions ------------------------------------


def _retry_in(strategy: GraphRetry, exception: BaseException, attempts: int) -> float | None:
    """The wait ``strategy`` decides for a job tried ``attempts`` times, in seconds
    (``None``: it gives up). A stand-in job: the strategy reads only ``attempts``."""
    job: Any = types.SimpleNamespace(attempts=attempts)
    before = dt.datetime.now(dt.UTC)
    decision = strategy.get_retry_decision(exception=exception, job=job)
    after = dt.datetime.now(dt.UTC)
    if decision is None:
        return None
    assert decision.retry_at is not None
    # retry_at = (the moment of the decision) + wait, that moment between before and after
    shortest = (decision.retry_at - after).total_seconds()
    longest = (decision.retry_at - before).total_seconds()
    wait = round(longest)
    assert shortest - 1e-3 <= wait <= longest + 1e-3, (shortest, longest)
    return float(wait)


def test_graph_retry_waits_what_graph_said() -> None:
    strategy = GraphRetry()
    # Retry-After wins over the back-off, whatever the attempt (here 40 s would be due)
    assert _retry_in(strategy, RetryLater("429", retry_after=42), attempts=3) == 42
    assert _retry_in(strategy, RetryLater("429", retry_after=42), attempts=0) == 42
    # and beyond the cap: Graph's word is the rule
    assert _retry_in(strategy, RetryLater("429", retry_after=900), attempts=1) == 900
    # a fraction is rounded, and never below a second
    assert _retry_in(strategy, RetryLater("503", retry_after=7.4), attempts=0) == 7
    assert _retry_in(strategy, RetryLater("503", retry_after=0.2), attempts=0) == 1
    assert _retry_in(strategy, RetryLater("503", retry_after=0), attempts=0) == 1


def test_graph_retry_backs_off_exponentially_up_to_the_cap() -> None:
    strategy = GraphRetry()  # 5 s, doubling, at most 600 s, 8 attempts
    error = RuntimeError("the connection dropped")
    waits = [_retry_in(strategy, error, attempts=n) for n in range(8)]
    assert waits == [5, 10, 20, 40, 80, 160, 320, 600]  # 5 * 2**7 = 640 is capped
    custom = GraphRetry(max_attempts=20, base=2.0, cap=30.0)
    assert [_retry_in(custom, error, attempts=n) for n in (0, 1, 3, 4, 15)] == [2, 4, 16, 30, 30]


def test_graph_retry_gives_up_after_max_attempts() -> None:
    strategy = GraphRetry(max_attempts=3)
    assert _retry_in(strategy, RuntimeError("x"), attempts=2) == 20
    assert _retry_in(strategy, RuntimeError("x"), attempts=3) is None
    assert _retry_in(strategy, RuntimeError("x"), attempts=4) is None
    # a Retry-After does not buy more attempts
    assert _retry_in(strategy, RetryLater("429", retry_after=1), attempts=3) is None
    assert _retry_in(GraphRetry(), RetryLater("429", retry_after=1), attempts=8) is None
    assert _retry_in(GraphRetry(), RetryLater("429", retry_after=1), attempts=7) == 1


# -- over a real PostgreSQL ------------------------------------------------------------------

USER, MAILBOX = "anna", "anna@contoso.test"
TOKEN = "op-token-Zx81"  # the operator token of these tests


def _config(tmp_path: Path, *, operator_token: bool) -> ServerConfig:
    token = 'operator_token_env = "OPERATOR_TOKEN"\n' if operator_token else ""
    text = (f'[saljstod]\nbackend = "sql"\ndatabase = "sqlite"\npath = "{tmp_path / "crm.db"}"\n\n'
            '[outlook]\nbackend = "graph"\nbase_url = "http://127.0.0.1:9/v1.0"\n'
            'token_env = "TEST_TOKEN"\n\n'
            '[state]\nbackend = "postgresql"\ndsn_env = "STATE_DSN"\n\n'
            f'[server]\n{token}')
    return parse_server_config(tomllib.loads(text), path=tmp_path / "outlook-sync.toml")


def _environ(dsn: str) -> dict[str, str]:
    return {"STATE_DSN": dsn, "TEST_TOKEN": "t", "OPERATOR_TOKEN": TOKEN}


def _prepare(config: ServerConfig, dsn: str) -> None:
    """What the first worker does at start: the queue's schema, the ledger, one user."""
    import psycopg

    from outlook_sync.server.ledger import Ledger
    from outlook_sync.server.worker import prepare_database

    asyncio.run(prepare_database(config, _environ(dsn)))
    with psycopg.connect(dsn, autocommit=True) as conn:
        Ledger(conn).reconcile([(USER, MAILBOX)], now=NOW)


def _basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


@contextlib.asynccontextmanager
async def _web(config: ServerConfig, dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    """The web application as ``server web`` runs it (its lifespan connects to the
    databases), and a client; redirects are not followed."""
    from outlook_sync.server.web import build_web_app

    app = build_web_app(config, _environ(dsn))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://web") as client:
        yield client


@pytest.mark.postgres
def test_healthz_reconnects_after_a_dropped_connection_and_says_503_while_it_cannot(
    tmp_path: Path, schema_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    from outlook_sync.errors import StateUnavailableError
    from outlook_sync.server import web

    config = _config(tmp_path, operator_token=False)
    _prepare(config, schema_dsn)
    name = schema_dsn.split("application_name=")[1].split()[0]

    async def drop() -> None:
        """The database drops the web process's connections (restart, failover, admin)."""
        async with await psycopg.AsyncConnection.connect(schema_dsn, autocommit=True) as admin:
            dropped = await (await admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = %s AND pid <> pg_backend_pid()", (name,),
            )).fetchone()
        assert dropped is not None
        assert dropped[0] >= 1

    async def check() -> None:
        async with _web(config, schema_dsn) as client:
            ok = await client.get("/healthz")
            assert (ok.status_code, ok.text) == (200, "ok")
            await drop()
            # the database is still there: the web process reconnects on its own
            again = await client.get("/healthz")
            assert (again.status_code, again.text) == (200, "ok")
            await drop()

            def unreachable(*_args: object, **_kwargs: object) -> None:
                raise StateUnavailableError("cannot connect to PostgreSQL: refused")

            monkeypatch.setattr(web, "connect_postgresql", unreachable)
            down = await client.get("/healthz")
            assert (down.status_code, down.text) == (503, "database unreachable")

    asyncio.run(check())


@pytest.mark.postgres
def test_the_operator_page_is_closed_without_an_operator_token(
    tmp_path: Path, schema_dsn: str
) -> None:
    config = _config(tmp_path, operator_token=False)
    _prepare(config, schema_dsn)

    async def check() -> None:
        async with _web(config, schema_dsn) as client:  # OPERATOR_TOKEN is set, not named
            assert (await client.get("/healthz")).status_code == 200  # the rest works
            for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}, _basic("op", TOKEN),
                            {"Authorization": "Bearer "}, _basic("", "")):
                for path in ("/", f"/users/{USER}", "/metrics", "/login"):
                    answer = await client.get(path, headers=headers)
                    assert answer.status_code == 403, (path, headers, answer.status_code)
                    assert answer.text == (
                        "the operator page is disabled: set server.operator_token_env")
            signed_in = await client.post(
                "/login", content=f"token={TOKEN}",
                headers={"content-type": "application/x-www-form-urlencoded"})
            assert signed_in.status_code == 403
            assert "set-cookie" not in signed_in.headers

    asyncio.run(check())


@pytest.mark.postgres
def test_the_operator_token_works_as_the_password_of_basic_auth(
    tmp_path: Path, schema_dsn: str
) -> None:
    config = _config(tmp_path, operator_token=True)
    _prepare(config, schema_dsn)
    refused = [
        _basic("operator", "wrong"),
        _basic(TOKEN, ""),  # the token as the user name is not the password
        _basic("operator", TOKEN[:-1]),
        _basic("operator", TOKEN + "x"),
        {"Authorization": "Basic %%%not-base64%%%"},
        {"Authorization": "Basic " + base64.b64encode(b"op:\xff\xfe").decode()},
        {"Authorization": "Basic"},
        {"Authorization": f"Digest {TOKEN}"},
    ]

    async def check() -> None:
        async with _web(config, schema_dsn) as client:
            # the token as the password, whatever the user name
            for user in ("operator", "", "prometheus"):
                page = await client.get("/", headers=_basic(user, TOKEN))
                assert page.status_code == 200, user
                assert f"data-user='{USER}'" in page.text
                assert MAILBOX in page.text
                assert page.headers["x-content-type-options"] == "nosniff"
            detail = await client.get(f"/users/{USER}", headers=_basic("operator", TOKEN))
            assert detail.status_code == 200
            assert MAILBOX in detail.text
            metrics = await client.get("/metrics", headers=_basic("prometheus", TOKEN))
            assert metrics.status_code == 200
            assert 'outlook_sync_accounts{state="ok"} 1' in metrics.text

            for headers in refused:
                page = await client.get("/", headers=headers)
                assert page.status_code == 303, headers  # to the sign-in page, not a 500
                assert page.headers["location"].endswith("/login")
                assert MAILBOX not in page.text
                metrics = await client.get("/metrics", headers=headers)
                assert metrics.status_code == 401, headers
                assert metrics.headers["www-authenticate"] == "Bearer"
                assert "outlook_sync_" not in metrics.text
                detail = await client.get(f"/users/{USER}", headers=headers)
                assert detail.status_code == 303, headers

            # Bearer, and the sign-in page's cookie, for completeness
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            assert (await client.get("/", headers=bearer)).status_code == 200
            wrong = {"Authorization": "Bearer wrong"}
            assert (await client.get("/", headers=wrong)).status_code == 303
            form = {"content-type": "application/x-www-form-urlencoded"}
            failed = await client.post("/login", content="token=wrong", headers=form)
            assert failed.status_code == 401
            assert (await client.get("/")).status_code == 303
            signed_in = await client.post("/login", content=f"token={TOKEN}", headers=form)
            assert signed_in.status_code == 303
            assert TOKEN not in signed_in.headers["set-cookie"]
            assert (await client.get("/")).status_code == 200

    asyncio.run(check())


# -- a stopped worker's syncs in the ledger --------------------------------------------------

DEAD, LIVE = "host-a pid 101", "host-b pid 202"  # the ledger's names of two workers


@pytest.fixture
def resources(tmp_path: Path, schema_dsn: str) -> Iterator[Resources]:
    """A worker's resources, over a prepared database with the users anna and bob."""
    config = _config(tmp_path, operator_token=False)
    _prepare(config, schema_dsn)
    found = Resources(config, _environ(schema_dsn), slots=1)
    try:
        found.with_ledger(lambda led: led.reconcile([(USER, MAILBOX), ("bob", "bob@x.test")],
                                                    now=NOW))
        yield found
    finally:
        found.close()


async def _stalled_cluster(res: Resources, dsn: str, *, follow_up: bool) -> dict[str, int]:
    """Jobs as a cluster leaves them when the worker ``DEAD`` is killed mid-sync:
    anna's sync and bob's subscription job held by that worker (no heartbeat for an
    hour), bob's sync on a live worker; with ``follow_up``, a sync of anna waits too.
    Returns the job ids by name."""
    import psycopg

    from outlook_sync.server.queue import build_queue, defer_subscribe_async, defer_sync_async

    app = build_queue(res.config, res.environ, pool_size=1)
    async with app.open_async():
        assert await defer_sync_async(app, USER, "notification")
        assert await defer_sync_async(app, "bob", "sweep")
        await defer_subscribe_async(app, "bob")
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        rows = await (await conn.execute(
            "SELECT task_name || ':' || (args->>'user'), id FROM procrastinate_jobs")).fetchall()
        jobs = {str(name): int(job_id) for name, job_id in rows}
        workers = []
        for age in ("1 hour", "1 second"):  # the killed worker's last heartbeat, a live one's
            row = await (await conn.execute(
                "INSERT INTO procrastinate_workers (last_heartbeat)"
                " VALUES (now() - %s::interval) RETURNING id", (age,))).fetchone()
            assert row is not None
            workers.append(int(row[0]))
        dead, live = workers
        for name, worker in (("outlook_sync.sync_user:anna", dead),
                             ("outlook_sync.subscribe_user:bob", dead),
                             ("outlook_sync.sync_user:bob", live)):
            await conn.execute("UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s"
                               " WHERE id = %s", (worker, jobs[name]))
    if follow_up:
        async with app.open_async():
            assert await defer_sync_async(app, USER, "notification during the sync")
    return jobs


async def _retry_stalled(res: Resources) -> int:
    """Run the ``retry_stalled`` periodic job as a worker does."""
    from outlook_sync.server.queue import build_queue

    app = build_queue(res.config, res.environ, pool_size=1)
    task = app.tasks["outlook_sync.retry_stalled"]
    context = types.SimpleNamespace(additional_context={"resources": res})
    async with app.open_async():
        retried = await task.func(context, timestamp=0)
    assert isinstance(retried, int)
    return retried


def _status(dsn: str, job_id: int) -> str:
    import psycopg

    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT status::text FROM procrastinate_jobs WHERE id = %s",
                           (job_id,)).fetchone()
    assert row is not None
    return str(row[0])


def _record_runs(res: Resources) -> None:
    """anna: one finished sync, then one the worker DEAD started and never ended;
    bob: one running on the worker LIVE."""
    from outlook_sync.server.ledger import AccountState

    def write(led: Any) -> None:
        led.run_started(USER, "earlier", DEAD, "sweep", NOW - dt.timedelta(hours=1))
        led.run_finished(USER, "earlier", now=NOW - dt.timedelta(minutes=59), outcome="ok",
                         summary="nothing to do", state=AccountState.OK, reason=None,
                         error=None, synced=True, next_due=None, conflicts=0, quarantined=0,
                         seconds=1.0, requests=5, throttled=0)
        led.run_started(USER, "cut-short", DEAD, "notification", NOW)
        led.run_started("bob", "in-progress", LIVE, "sweep", NOW)

    res.with_ledger(write)


@pytest.mark.postgres
@pytest.mark.parametrize("follow_up", [False, True], ids=["retried", "superseded"])
def test_a_stopped_workers_sync_is_ended_as_interrupted(
    resources: Resources, schema_dsn: str, follow_up: bool
) -> None:
    from outlook_sync.server.ledger import INTERRUPTED, INTERRUPTED_SUMMARY, AccountState
    from outlook_sync.server.pages import account_page

    _record_runs(resources)
    jobs = asyncio.run(_stalled_cluster(resources, schema_dsn, follow_up=follow_up))
    assert [r.run_id for r in resources.with_ledger(lambda led: led.running(USER))] == [
        "cut-short"]
    started = dt.datetime.now(dt.UTC)

    retried = asyncio.run(_retry_stalled(resources))

    # the jobs: anna's sync retried (or, a follow-up waiting, ended as aborted),
    # bob's subscription job retried, bob's sync on the live worker untouched
    assert retried == (1 if follow_up else 2)
    assert _status(schema_dsn, jobs["outlook_sync.sync_user:anna"]) == (
        "aborted" if follow_up else "todo")
    assert _status(schema_dsn, jobs["outlook_sync.subscribe_user:bob"]) == "todo"
    assert _status(schema_dsn, jobs["outlook_sync.sync_user:bob"]) == "doing"

    # the ledger: anna's cut-short run is ended as interrupted, nothing else changed
    runs = resources.with_ledger(lambda led: led.runs(USER))
    assert [(r.run_id, r.outcome) for r in runs] == [
        ("cut-short", INTERRUPTED), ("earlier", "ok")]
    cut = runs[0]
    assert cut.finished_at is not None
    assert cut.finished_at >= started  # when the stop was noticed
    assert cut.summary == INTERRUPTED_SUMMARY
    assert (cut.worker, cut.reason, cut.started_at) == (DEAD, "notification", NOW)
    assert runs[1].finished_at == NOW - dt.timedelta(minutes=59)
    assert runs[1].summary == "nothing to do"
    assert resources.with_ledger(lambda led: led.running(USER)) == []
    # a stalled subscription job is no sync: bob's run on the live worker still runs
    [bobs] = resources.with_ledger(lambda led: led.running("bob"))
    assert (bobs.run_id, bobs.worker, bobs.outcome) == ("in-progress", LIVE, "running")
    # the account is the next sync's to change
    account = resources.with_ledger(lambda led: led.account(USER))
    assert account is not None
    assert (account.state, account.syncs, account.failures) == (AccountState.OK, 1, 0)

    # and the detail page says so
    page = account_page(account, runs)
    row = page.split("<tbody>")[1].split("</tr>")[0]
    assert "<td>interrupted</td>" in row
    assert "worker stopped (killed, or its machine lost) before the sync ended" in row
    assert DEAD in row

    # a second pass (the job already handed on) changes nothing
    assert asyncio.run(_retry_stalled(resources)) == 0
    assert resources.with_ledger(lambda led: led.runs(USER)) == runs


@pytest.mark.postgres
def test_a_ledger_that_cannot_be_written_does_not_keep_a_stalled_job(
    resources: Resources, schema_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    _record_runs(resources)
    jobs = asyncio.run(_stalled_cluster(resources, schema_dsn, follow_up=False))
    resources.ledger = type(resources.ledger)(_Broken())  # the ledger's connection fails
    with caplog.at_level("WARNING", logger="outlook_sync.server"):
        assert asyncio.run(_retry_stalled(resources)) == 2
    assert _status(schema_dsn, jobs["outlook_sync.sync_user:anna"]) == "todo"
    assert "the run of anna's stalled sync stays open in the ledger" in caplog.text
    assert "cannot write the ledger: OperationalError: the connection is lost" in caplog.text


class _Broken:
    """A ledger connection whose database is gone."""

    def execute(self, *_args: Any, **_kwargs: Any) -> Any:
        import psycopg

        raise psycopg.OperationalError("the connection is lost")
