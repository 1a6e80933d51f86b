"""``outlook-sync server worker|web`` and ``outlook-sync init --server``.

Registered into the main parser by :func:`register`; the server package (and its
``outlook_sync[server]`` dependencies) is imported only when a server command runs.
"""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

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


def _logging(config: Any, ctx: _Context) -> Any:
    from outlook_sync.logging_setup import logging_configured

    level = config.logging.level
    verbose = int(getattr(ctx.args, "verbose", 0) or 0)
    if getattr(ctx.args, "quiet", False):
        level = "error"
    elif verbose:
        level = "debug" if verbose > 1 else "info"
    secrets = [
        v for v in (ctx.environ.get(str(name or "")) for name in (
            config.queue_dsn_env, config.operator_token_env,
            config.state.options.get("dsn_env"), config.saljstod.options.get("dsn_env"),
            config.outlook.options.get("client_secret_env"),
            config.outlook.options.get("token_env"),
        )) if v
    ]
    return logging_configured(level=level, fmt=config.logging.format,
                              file=config.logging.file, secrets=secrets)


def worker(ctx: _Context) -> ExitCode:
    """``outlook-sync server worker [--name NAME]``."""
    _imports("worker")
    config = _server_config(ctx)
    from outlook_sync.server.worker import run_worker

    with _logging(config, ctx):
        run_worker(config, ctx.environ, name=ctx.args.name)
    return ExitCode.OK


def web(ctx: _Context) -> ExitCode:
    """``outlook-sync server web``."""
    _imports("web")
    config = _server_config(ctx)
    import asyncio

    from outlook_sync.server.web import serve
    from outlook_sync.server.worker import prepare_database

    with _logging(config, ctx):
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
    parse_server_config(tomllib.loads(SERVER_EXAMPLE), path=path.resolve())  # never invalid
    path.parent.mkdir(parents=True, exist_ok=True)
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
