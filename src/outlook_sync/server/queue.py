"""The job queue: Procrastinate tasks on PostgreSQL, and how they are deferred.

Theory of operation
-------------------
``sync_user(user, reason)`` is deferred with two Procrastinate locks:

- ``lock="user:<id>"``: jobs with the same lock run one after the other across every
  worker on every machine: one sync per mailbox in the cluster (the state store's
  lease is the second, independent guard).
- ``queueing_lock="sync:<id>"``: at most one *waiting* job per user. A burst of change
  notifications therefore collapses into the running sync plus one waiting follow-up;
  further deferrals raise ``AlreadyEnqueued``, which means "already covered".

A sync job that must run again later (Graph answered 429 with ``Retry-After``, the
database was busy, the listing failed) does not use Procrastinate's retry: retrying
moves the job back to ``todo``, and if a follow-up is already waiting under the same
queueing lock, PostgreSQL's unique index refuses the retry and the job stays in
``doing`` for good. Instead the job ends and defers a new job scheduled after the wait
under the same queueing lock; ``AlreadyEnqueued`` then means a follow-up exists and
will do it. Tasks without a queueing lock (``subscribe_user``) use the custom retry
decision :class:`GraphRetry`, which honours the ``Retry-After`` Graph sent.

Periodic tasks (deferred once per period by whichever worker is up, thanks to
Procrastinate's periodic-job deduplication):

- ``sweep``: reconcile the accounts with the Säljstöd directory (new users appear,
  removed ones are paused) and defer a sync for every user whose next sync is due
  (the safety net for lost notifications and expired subscriptions);
- ``renew_subscriptions``: defer ``subscribe_user`` for every active user (create or
  renew the Graph subscription). The web process defers ``subscribe_user`` too, for a
  lifecycle notification, with the event and the subscription's id: a removed
  subscription is recreated and one that needs reauthorization renewed at once;
- ``account_health``: probe every "consent missing" account; a reachable one returns
  to ok and is synced;
- ``retry_stalled``: jobs of a worker that stopped sending heartbeats (killed, machine
  lost) are retried by another worker, or, when a follow-up already waits under the
  same queueing lock (a retry would collide with it), ended as ``aborted``: the
  follow-up does their work. First, the ledger's run of a stalled sync, left
  ``running`` by the dead worker, is ended as ``interrupted``
  (:meth:`~outlook_sync.server.ledger.Ledger.interrupt_runs`).

Blocking work runs in the event loop's default executor, which the worker sizes to its
concurrency (:mod:`outlook_sync.server.worker`).

Secrets: libpq quotes the part of a DSN it cannot parse in its errors, and Procrastinate
and psycopg's pool pass those on. :func:`queue_dsn` registers the password's forms
(:func:`outlook_sync.sql.connect.register_secret`) before anything connects, and
:func:`database_error` turns a driver's or Procrastinate's error into a
:class:`~outlook_sync.errors.StateError` whose message is redacted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Mapping
from typing import Any

import procrastinate
import psycopg
from procrastinate import exceptions as pexc
from procrastinate.jobs import Job, Status
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from outlook_sync.errors import StateError
from outlook_sync.server.config import ServerConfig
from outlook_sync.server.ledger import AccountState
from outlook_sync.server.runner import Resources
from outlook_sync.server.subscriptions import ensure_subscription
from outlook_sync.sql.connect import dsn_secrets, redact, register_secret

__all__ = [
    "DATABASE_ERRORS",
    "SYNC_TASK",
    "GraphRetry",
    "RetryLater",
    "build_queue",
    "cron_every",
    "database_error",
    "defer_subscribe_async",
    "defer_sync",
    "defer_sync_async",
    "interrupt_stalled_runs",
    "queue_dsn",
]

log = logging.getLogger("outlook_sync.server")

SYNC_TASK = "outlook_sync.sync_user"
SUBSCRIBE_TASK = "outlook_sync.subscribe_user"

#: What the database side raises when it cannot be reached or used: psycopg's errors
#: (``psycopg_pool.PoolTimeout`` is one) and Procrastinate's wrapper of them.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (psycopg.Error, pexc.ConnectorException)


def queue_dsn(config: ServerConfig, environ: Mapping[str, str]) -> str:
    """The job queue's DSN, its password registered as a secret first.

    Raises:
        ConfigurationError: the environment variable is unset.
    """
    dsn = config.queue_dsn(environ).reveal()
    register_secret(*dsn_secrets(dsn))
    return dsn


def database_error(exc: BaseException, what: str) -> StateError:
    """``exc`` (one of :data:`DATABASE_ERRORS`) as a :class:`StateError` saying ``what``
    could not be done, the driver's reason redacted (no password, no DSN text).

    Raise it ``from None``: the driver's exception may quote the DSN.
    """
    cause = exc
    if isinstance(exc, pexc.ConnectorException) and exc.__cause__ is not None:
        cause = exc.__cause__  # Procrastinate's message is generic; the driver's says why
    reason = " ".join(str(cause).split())  # libpq's messages span lines
    detail = f"{type(cause).__name__}: {reason}" if reason else type(cause).__name__
    return StateError(f"{what}: {redact(detail)}")


class RetryLater(Exception):
    """Raised by a task to be retried after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class GraphRetry(BaseRetryStrategy):
    """Retry after the ``Retry-After`` Graph gave, else exponentially, a few times."""

    def __init__(self, max_attempts: int = 8, base: float = 5.0, cap: float = 600.0) -> None:
        self.max_attempts = max_attempts
        self.base = base
        self.cap = cap

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if job.attempts >= self.max_attempts:
            return None
        if isinstance(exception, RetryLater):
            wait = exception.retry_after
        else:
            wait = min(self.cap, self.base * 2.0 ** job.attempts)
        return RetryDecision(retry_in={"seconds": max(1, round(wait))})


def cron_every(seconds: int) -> str:
    """A Procrastinate cron string for "every ``seconds``" (6th column: seconds)."""
    if seconds < 60:
        return f"* * * * * */{seconds}"
    minutes = max(1, seconds // 60)
    if minutes < 60:
        return f"*/{minutes} * * * *"
    return f"0 */{max(1, minutes // 60)} * * *"


def sync_options(user: str, schedule_in: float | None = None) -> dict[str, Any]:
    options: dict[str, Any] = {"lock": f"user:{user}", "queueing_lock": f"sync:{user}"}
    if schedule_in:
        options["schedule_in"] = {"seconds": max(1, round(schedule_in))}
    return options


async def defer_sync_async(
    app: procrastinate.App, user: str, reason: str, schedule_in: float | None = None
) -> bool:
    """Defer a sync of ``user``; ``False`` if one was already waiting (coalesced)."""
    try:
        await app.configure_task(SYNC_TASK, **sync_options(user, schedule_in)).defer_async(
            user=user, reason=reason
        )
    except pexc.AlreadyEnqueued:
        return False
    return True


def defer_sync(app: procrastinate.App, user: str, reason: str) -> bool:
    """Synchronous :func:`defer_sync_async` (scripts, the command line)."""
    try:
        app.configure_task(SYNC_TASK, **sync_options(user)).defer(user=user, reason=reason)
    except pexc.AlreadyEnqueued:
        return False
    return True


async def defer_subscribe_async(
    app: procrastinate.App, user: str, *, lifecycle: str = "", subscription_id: str = ""
) -> None:
    """Defer ``subscribe_user`` for ``user`` (one at a time per user, in the
    ``maintenance`` queue); ``lifecycle`` and ``subscription_id`` name the lifecycle
    notification that asked for it (empty for the periodic renewal)."""
    args: dict[str, str] = {"user": user}
    if lifecycle:
        args.update(lifecycle=lifecycle, subscription_id=subscription_id)
    await app.configure_task(SUBSCRIBE_TASK, lock=f"subscribe:{user}",
                             queue="maintenance").defer_async(**args)


def _set_ok(res: Resources, user: str) -> None:
    res.with_ledger(lambda led: led.set_state(user, AccountState.OK, None))


def interrupt_stalled_runs(res: Resources, job: Job) -> int:
    """End the ledger's ``running`` runs of a stalled ``sync_user`` job's user as
    ``interrupted``; returns how many (0 for other tasks).

    Call it while the job is still ``doing`` (before it is retried or aborted): its
    ``user:<id>`` lock then keeps any other sync of the user from running. The ledger is
    a report: when it cannot be written the job is handed on all the same (logged).
    """
    user = job.task_kwargs.get("user")
    if job.task_name != SYNC_TASK or not isinstance(user, str):
        return 0
    now = dt.datetime.now(dt.UTC)
    try:
        closed: int = res.with_ledger(lambda led: led.interrupt_runs(user, now))
    except DATABASE_ERRORS as exc:
        log.warning("the run of %s's stalled sync stays open in the ledger: %s", user,
                    database_error(exc, "cannot write the ledger"))
        return 0
    return closed


def build_queue(
    config: ServerConfig, environ: Mapping[str, str], *, pool_size: int = 4
) -> procrastinate.App:
    """The Procrastinate app with every task registered.

    The worker passes a :class:`~outlook_sync.server.runner.Resources` as
    ``additional_context={"resources": ...}``; the web process only defers.
    """
    connector = procrastinate.PsycopgConnector(
        conninfo=queue_dsn(config, environ), min_size=1, max_size=pool_size
    )
    app = procrastinate.App(connector=connector)

    def resources(context: procrastinate.JobContext) -> Resources:
        found = context.additional_context.get("resources")
        if not isinstance(found, Resources):
            raise RuntimeError("the worker was started without its resources")
        return found

    @app.task(name=SYNC_TASK, pass_context=True)
    async def sync_user(context: procrastinate.JobContext, user: str, reason: str) -> str:
        res = resources(context)
        outcome = await asyncio.to_thread(res.sync_user, user, reason)
        if outcome.again_in is not None:
            await defer_sync_async(app, user, f"again after {outcome.outcome}", outcome.again_in)
        return outcome.outcome

    @app.task(name=SUBSCRIBE_TASK, pass_context=True, retry=GraphRetry(),
              queue="maintenance")
    async def subscribe_user(context: procrastinate.JobContext, user: str,
                             lifecycle: str = "", subscription_id: str = "") -> str:
        res = resources(context)
        if not config.public_url:
            return "no public_url"
        return await asyncio.to_thread(functools.partial(
            ensure_subscription, res, user, RetryLater, lifecycle=lifecycle,
            subscription_id=subscription_id))

    @app.periodic(cron=cron_every(config.sweep_seconds), periodic_id="sweep")
    @app.task(name="outlook_sync.sweep", pass_context=True, queue="maintenance")
    async def sweep(context: procrastinate.JobContext, timestamp: int) -> int:
        res = resources(context)
        users = await asyncio.to_thread(res.directory)
        now = dt.datetime.now(dt.UTC)
        due = await asyncio.to_thread(res.with_ledger, lambda led: led.reconcile(users, now))
        deferred = 0
        for user in due:
            deferred += await defer_sync_async(app, user, "sweep")
        return deferred

    @app.periodic(cron=cron_every(config.renew_seconds), periodic_id="renew")
    @app.task(name="outlook_sync.renew_subscriptions", pass_context=True, queue="maintenance")
    async def renew_subscriptions(context: procrastinate.JobContext, timestamp: int) -> int:
        if not config.public_url:
            return 0
        res = resources(context)
        active = await asyncio.to_thread(
            res.with_ledger,
            lambda led: led.users_in([AccountState.OK, AccountState.ATTENTION]),
        )
        for user, _mailbox in active:
            await defer_subscribe_async(app, user)
        return len(active)

    @app.periodic(cron=cron_every(config.health_seconds), periodic_id="health")
    @app.task(name="outlook_sync.account_health", pass_context=True, queue="maintenance")
    async def account_health(context: procrastinate.JobContext, timestamp: int) -> int:
        res = resources(context)
        missing = await asyncio.to_thread(
            res.with_ledger, lambda led: led.users_in([AccountState.CONSENT_MISSING])
        )
        back = 0
        for user, mailbox in missing:
            verdict = await asyncio.to_thread(res.probe, mailbox)
            if verdict.state is AccountState.OK:
                await asyncio.to_thread(_set_ok, res, user)
                await defer_sync_async(app, user, "mailbox reachable again")
                back += 1
        return back

    @app.periodic(cron=cron_every(config.stalled_seconds), periodic_id="stalled")
    @app.task(name="outlook_sync.retry_stalled", pass_context=True, queue="maintenance")
    async def retry_stalled(context: procrastinate.JobContext, timestamp: int) -> int:
        res = resources(context)
        stalled = await app.job_manager.get_stalled_jobs(
            seconds_since_heartbeat=config.stalled_worker_seconds
        )
        retried = 0
        for job in stalled:
            # first, while the job still holds the user's lock: its run was left open
            await asyncio.to_thread(interrupt_stalled_runs, res, job)
            waiting = False
            if job.queueing_lock:
                waiting = bool(await app.job_manager.list_jobs_async(
                    queueing_lock=job.queueing_lock, status=Status.TODO.value
                ))
            if waiting:  # superseded: the waiting follow-up does this job's work
                await app.job_manager.finish_job(job, status=Status.ABORTED, delete_job=False)
            else:
                await app.job_manager.retry_job(job)
                retried += 1
            log.warning("job %s (%s) of a stopped worker %s", job.id, job.task_name,
                        "dropped: a follow-up waits" if waiting else "retried")
        return retried

    del sync_user, subscribe_user, sweep, renew_subscriptions, account_health, retry_stalled
    return app
