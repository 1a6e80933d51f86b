"""``outlook-sync server worker``: one worker process of the cluster.

Start as many as the load needs, on any number of machines, all pointing at the same
PostgreSQL. Each runs up to ``[server] concurrency`` syncs at once.

Two Procrastinate traps are handled here:

- A blocking task runs in the event loop's *default executor*, which Python sizes
  ``min(32, cpu + 4)`` (6 threads on 2 cores), shared with everything else that uses
  ``asyncio.to_thread``. The worker installs its own executor of ``concurrency + 2``
  threads, so ``concurrency`` syncs really run at once and the periodic jobs still find
  a thread.
- A job unblocked by a lock, or scheduled for later (a sync after ``Retry-After``),
  gets no PostgreSQL notification: it starts at the next poll. The polling interval
  defaults to 1 second (Procrastinate's default is 5).

Errors: a database that cannot be reached or used, at start or later, ends the worker
with a :class:`~outlook_sync.errors.StateError` whose message is redacted (libpq quotes
the part of a DSN it cannot parse, password included): see
:func:`outlook_sync.server.queue.database_error`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping

from outlook_sync.server.config import ServerConfig
from outlook_sync.server.queue import DATABASE_ERRORS, build_queue, database_error, queue_dsn
from outlook_sync.server.runner import Resources

__all__ = ["prepare_database", "run_worker"]

log = logging.getLogger("outlook_sync.server")


def _migrate_state(config: ServerConfig, environ: Mapping[str, str]) -> None:
    """Create or upgrade the state store's tables (one process at a time)."""
    from outlook_sync.state.sql import SqlStateStore

    dsn = config.state.secret("dsn_env", environ)
    if dsn is not None:
        SqlStateStore.connect_postgresql(dsn.reveal()).close()


async def prepare_database(config: ServerConfig, environ: Mapping[str, str]) -> None:
    """Create Procrastinate's schema, the server's tables and the state store's tables
    when they are missing (under an advisory lock: workers may start together).

    Raises:
        ConfigurationError: a DSN's environment variable is unset.
        StateError: a database cannot be reached or prepared (the message is redacted).
    """
    try:
        await _prepare_database(config, environ)
    except DATABASE_ERRORS as exc:
        raise database_error(
            exc, f"cannot prepare the job queue's database ({config.queue_dsn_env})"
        ) from None


async def _prepare_database(config: ServerConfig, environ: Mapping[str, str]) -> None:
    import psycopg

    dsn = queue_dsn(config, environ)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        # one process at a time creates the schema (several workers may start together)
        await conn.execute("SELECT pg_advisory_lock(874211)")
        try:
            found = await (await conn.execute(
                "SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).fetchone()
            if not (found and found[0]):
                app = build_queue(config, environ, pool_size=1)
                async with app.open_async():
                    await app.schema_manager.apply_schema_async()
            from outlook_sync.server.ledger import SCHEMA

            for statement in SCHEMA:
                await conn.execute(statement)
            await asyncio.to_thread(_migrate_state, config, environ)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(874211)")


async def run_worker_async(
    config: ServerConfig, environ: Mapping[str, str], *, name: str | None = None
) -> None:
    """Run a worker until it is stopped (SIGINT/SIGTERM finish the running syncs)."""
    loop = asyncio.get_running_loop()
    executor = concurrent.futures.ThreadPoolExecutor(
        max_workers=config.concurrency + 2, thread_name_prefix="outlook-sync-sync"
    )
    loop.set_default_executor(executor)
    await prepare_database(config, environ)
    resources = await asyncio.to_thread(Resources, config, environ, config.concurrency)
    # fetching, finishing and deferring jobs are short: three connections serve any
    # concurrency (each running sync has its own state store connection besides)
    app = build_queue(config, environ, pool_size=3)
    try:
        async with _database_errors(config), app.open_async():
            await app.run_worker_async(
                name=name or "worker",
                concurrency=config.concurrency,
                fetch_job_polling_interval=config.polling_interval,
                abort_job_polling_interval=max(config.polling_interval, 5.0),
                update_heartbeat_interval=config.heartbeat_seconds,
                stalled_worker_timeout=config.stalled_worker_seconds,
                additional_context={"resources": resources},
                install_signal_handlers=True,
                delete_jobs="successful",
            )
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(resources.close)
        executor.shutdown(wait=False)


@contextlib.asynccontextmanager
async def _database_errors(config: ServerConfig) -> AsyncIterator[None]:
    """The job queue's database failing (at open or later) as a redacted StateError."""
    try:
        yield
    except DATABASE_ERRORS as exc:
        raise database_error(
            exc, f"the job queue's database ({config.queue_dsn_env}) failed"
        ) from None


def run_worker(config: ServerConfig, environ: Mapping[str, str], *,
               name: str | None = None) -> None:
    """Blocking :func:`run_worker_async`."""
    asyncio.run(run_worker_async(config, environ, name=name))
