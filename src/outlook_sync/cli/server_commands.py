"""``outlook-sync server worker|web`` and ``outlook-sync init --server``.

Registered into the main parser by :func:`register`; the server package (and its
``outlook_sync[server]`` dependencies) is imported only when a server command runs.

Secrets: every DSN's password is registered (:func:`outlook_sync.sql.connect.register_secret`,
in all the forms libpq may quote) before anything connects; the log handler masks them,
and every environment value the configuration names, in the finished line (tracebacks
included), and it also carries the records of Procrastinate, psycopg and uvicorn. A
database error that escapes the server code is reported as a redacted ``StateError``
(exit code 1), like the single-user commands do.
"""

from __future__ import annotations

import argparse
import json
import logging
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from outlook_sync.cli.context import UsageError
from outlook_sync.cli.exit_codes import ExitCode
from outlook_sync.config import find_config
from outlook_sync.errors import ConfigurationError

__all__ = ["register"]


class _Context(Protocol):
    args: argparse.Namespace
    environ: Mapping[str, str]

    def say(self, text: str = "") -> None: ...

    def warn(self, text: str) -> None: ...


def _server_config(ctx: _Context) -> Any:
    try:
        from outlook_sync.server.config import load_server_config
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ConfigurationError(
            f"server mode needs {exc.name}: pip install 'outlook_sync[server]'", key="server"
        ) from exc
    return load_server_config(find_config(ctx.args.config, ctx.environ))


def _imports(what: str) -> None:
    import importlib

    for module in ("procrastinate", "starlette", "uvicorn", "psycopg", "httpx"):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigurationError(
                f"`outlook-sync server {what}` needs {module}: pip install "
                "'outlook_sync[server]'",
                key="server",
            ) from exc


#: Libraries whose records the server commands' log handler carries (and masks).
_LIBRARY_LOGGERS = ("procrastinate", "psycopg", "uvicorn")


class _Masking(logging.Formatter):
    """Wraps a handler's formatter: masks secrets in the finished line, so that the
    traceback of a logged exception (which the message filter does not see) and the
    JSON-escaped form of a secret are masked too."""

    def __init__(self, inner: logging.Formatter | None, secrets: Iterable[str]) -> None:
        super().__init__()
        self._inner = inner or logging.Formatter()
        self._secrets = frozenset(s for s in secrets if s)

    def format(self, record: logging.LogRecord) -> str:
        from outlook_sync.sql.connect import registered_secrets

        text = self._inner.format(record)
        for secret in sorted(self._secrets | registered_secrets(), key=len, reverse=True):
            text = text.replace(secret, "***")
            escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
            if escaped != secret:
                text = text.replace(escaped, "***")
        return text


def _secrets(config: Any, environ: Mapping[str, str]) -> list[str]:
    """Every secret the configuration names (the values), the DSNs' passwords registered
    in every form libpq may quote."""
    from outlook_sync.sql.connect import dsn_secrets, register_secret

    dsns = (config.queue_dsn_env, config.state.options.get("dsn_env"),
            config.saljstod.options.get("dsn_env"))
    others = (config.operator_token_env, config.outlook.options.get("client_secret_env"),
              config.outlook.options.get("token_env"))
    for name in dsns:
        value = environ.get(str(name or ""))
        if value:
            register_secret(*dsn_secrets(value))
    return [v for v in (environ.get(str(name or "")) for name in (*dsns, *others)) if v]


@contextmanager
def _logging(config: Any, ctx: _Context) -> Iterator[logging.Handler]:
    from outlook_sync.logging_setup import logging_configured

    level = config.logging.level
    verbose = int(getattr(ctx.args, "verbose", 0) or 0)
    if getattr(ctx.args, "quiet", False):
        level = "error"
    elif verbose:
        level = "debug" if verbose > 1 else "info"
    secrets = _secrets(config, ctx.environ)
    with logging_configured(level=level, fmt=config.logging.format,
                            file=config.logging.file, secrets=secrets) as handler:
        handler.setFormatter(_Masking(handler.formatter, secrets))
        libraries = [logging.getLogger(name) for name in _LIBRARY_LOGGERS]
        for logger in libraries:
            logger.addHandler(handler)
        try:
            yield handler
        finally:
            for logger in libraries:
                logger.removeHandler(handler)


@contextmanager
def _database_errors() -> Iterator[None]:
    """A database error the server code did not wrap, as a redacted StateError."""
    from outlook_sync.server.queue import DATABASE_ERRORS, database_error

    try:
        yield
    except DATABASE_ERRORS as exc:
        raise database_error(exc, "database error") from None


def worker(ctx: _Context) -> ExitCode:
    """``outlook-sync server worker [--name NAME]``.

    Raises:
        StateError: a database cannot be reached or failed (redacted message, exit 1).
    """
    _imports("worker")
    config = _server_config(ctx)
    from outlook_sync.server.worker import run_worker

    with _logging(config, ctx), _database_errors():
        run_worker(config, ctx.environ, name=ctx.args.name)
    return ExitCode.OK


def web(ctx: _Context) -> ExitCode:
    """``outlook-sync server web``.

    Raises:
        StateError: a database cannot be reached or failed (redacted message, exit 1).
    """
    _imports("web")
    config = _server_config(ctx)
    import asyncio

    from outlook_sync.server.web import serve
    from outlook_sync.server.worker import prepare_database

    with _logging(config, ctx), _database_errors():
        asyncio.run(prepare_database(config, ctx.environ))
        serve(config, ctx.environ)
    return ExitCode.OK


def check(ctx: _Context) -> ExitCode:
    """``outlook-sync server check``: validate the configuration and say what it runs."""
    config = _server_config(ctx)
    ctx.say(f"configuration {config.path}: ok")
    ctx.say(f"users from {config.users.table} where {config.users.enabled_column}")
    ctx.say(f"notifications: {config.public_url or 'off (sweep only)'}")
    ctx.say(f"workers: {config.concurrency} syncs each, poll every {config.polling_interval:g} s")
    return ExitCode.OK


def init_server(ctx: _Context, fallback: Callable[[Any], ExitCode]) -> ExitCode:
    """``outlook-sync init --server [PATH] [--force]``; without ``--server``: ``fallback``."""
    if not getattr(ctx.args, "server", False):
        return fallback(ctx)
    from outlook_sync.server.config import parse_server_config
    from outlook_sync.server.template import SERVER_EXAMPLE

    path = Path(ctx.args.path) if ctx.args.path else find_config(ctx.args.config, ctx.environ)
    if path.exists() and not ctx.args.force:
        ctx.warn(f"outlook-sync: {path} exists; add --force to overwrite it")
        return ExitCode.ERROR
    if not path.parent.is_dir():  # as `init` does: no folders are created
        raise UsageError(f"the folder {path.parent} does not exist (check the path; `init` "
                         "creates no folders)")
    parse_server_config(tomllib.loads(SERVER_EXAMPLE), path=path.resolve())  # never invalid
    path.write_text(SERVER_EXAMPLE, encoding="utf-8")
    ctx.say(f"Wrote {path}. Edit it, then run `outlook-sync --config {path} server check`.")
    return ExitCode.OK


def register(sub: Any, init: argparse.ArgumentParser) -> None:
    """Add ``server worker|web|check`` to ``sub`` and ``--server`` to the ``init`` parser."""
    server = sub.add_parser(
        "server",
        help="server mode: every mailbox, synced by workers (pip install 'outlook_sync[server]')",
        description="Server mode: workers on a PostgreSQL job queue and a web endpoint "
        "(docs/server.md).",
    )
    server_sub = server.add_subparsers(dest="server_command", metavar="COMMAND", required=True)
    cmd = server_sub.add_parser("worker", help="run a worker process (any number of them)")
    cmd.add_argument("--name", help="the worker's name in logs (default: worker)")
    cmd.set_defaults(handler=worker)
    server_sub.add_parser(
        "web", help="run the notification endpoint, operator page and /metrics"
    ).set_defaults(handler=web)
    server_sub.add_parser(
        "check", help="validate the server configuration"
    ).set_defaults(handler=check)
    init.add_argument("--server", action="store_true",
                      help="write a commented server-mode example instead")
    fallback = init.get_default("handler")
    init.set_defaults(handler=lambda ctx: init_server(ctx, fallback))
