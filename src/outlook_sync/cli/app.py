"""``outlook-sync``: the argument parser, the command context and the error-to-exit-code map.

Each command is a function in :mod:`outlook_sync.cli.commands` taking a
:class:`Context` and returning an :class:`~outlook_sync.cli.exit_codes.ExitCode`.
Results go to standard output (a table for people, JSON with ``--json``); progress,
log records and error messages go to standard error.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from importlib.metadata import PackageNotFoundError, version

from outlook_sync.cli import commands, server_commands
from outlook_sync.cli.context import Command, Context
from outlook_sync.cli.exit_codes import ExitCode
from outlook_sync.cli.failures import describe, exit_code, one_line
from outlook_sync.cli.render import dump_json
from outlook_sync.config import Config
from outlook_sync.errors import ConfigurationError
from outlook_sync.logging_setup import component_logger, logging_configured, mask_secrets

__all__ = ["Context", "build_parser", "main"]

log = component_logger("cli")


def _version() -> str:
    try:
        return version("outlook_sync")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _secrets(config: Config, environ: Mapping[str, str]) -> list[str]:
    """The values of every environment variable the configuration names (for redaction)."""
    found: list[str] = []
    for backend in (config.saljstod, config.outlook, config.state):
        for option in backend.spec.options:
            if option.kind == "env" and option.name in backend.options:
                value = environ.get(str(backend.options[option.name]), "")
                if value:
                    found.append(value)
    return found


def build_parser() -> argparse.ArgumentParser:
    """The ``outlook-sync`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="outlook-sync",
        description="Two-way sync of the Säljstöd CRM calendar and Outlook.",
        epilog="Exit codes: 0 ok, 1 error, 2 usage, 3 conflicts pending, 4 configuration "
        "error, 5 backend unreachable, 6 mass delete refused, 7 items failed, 8 sync in "
        "progress, 130 interrupted.",
    )
    parser.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="configuration file (default: $OUTLOOK_SYNC_CONFIG or ./outlook-sync.toml)",
    )
    parser.add_argument(
        "--verbose", "-v", action="count", default=0, help="log more (-v info, -vv debug)"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="log errors only")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an unexpected error"
    )
    parser.add_argument(
        "--lang",
        metavar="LANG",
        help="language of the messages: en or sv (default: from LANGUAGE, LC_ALL, LANG)",
    )
    parser.add_argument("--version", action="version", version=f"outlook-sync {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="machine-readable output")
    progress = argparse.ArgumentParser(add_help=False)
    progress.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show progress on standard error (default: on a terminal)",
    )
    confirm = argparse.ArgumentParser(add_help=False)
    confirm.add_argument(
        "--confirm-mass-delete",
        action="store_true",
        help="apply a plan even if it deletes more than the policy allows",
    )

    def add(
        name: str, handler: Command, help_text: str, parents: Sequence[argparse.ArgumentParser] = ()
    ) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text, parents=list(parents))
        command.set_defaults(handler=handler)
        return command

    cmd = add(
        "sync",
        commands.sync,
        "sync now (the first run is a full sync)",
        [as_json, progress, confirm],
    )
    cmd.add_argument(
        "--full",
        action="store_true",
        help="Full sync now: clear the last sync date/time and list everything",
    )
    add(
        "plan",
        commands.plan,
        "show what the next sync would do; writes nothing",
        [as_json, confirm],
    )
    cmd = add(
        "status",
        commands.status,
        "last sync, pending conflicts, quarantined items; or one activity's status",
        [as_json],
    )
    cmd.add_argument(
        "activity",
        nargs="?",
        metavar="ACTIVITY_ID",
        help="show the sync status of this Säljstöd activity",
    )
    cmd = add(
        "set-last-sync",
        commands.set_last_sync,
        "make the next sync process changes from and including DATE",
        [as_json],
    )
    cmd.add_argument(
        "date",
        metavar="DATE",
        help="ISO date or date-time, e.g. 2026-11-01 or 2026-11-01T08:00+01:00 "
        "(local time if no offset)",
    )
    cmd = add(
        "watch",
        commands.watch,
        "direct sync: sync on every change until Ctrl-C",
        [as_json],
    )
    cmd.add_argument(
        "--interval",
        type=float,
        metavar="SECONDS",
        help="sync at least this often (default: [watch] interval_seconds)",
    )
    cmd.add_argument("--max-syncs", type=int, metavar="N", help="stop after N syncs")
    cmd = add(
        "open", commands.open_item, "open the Outlook item linked to a Säljstöd activity", [as_json]
    )
    cmd.add_argument("activity", metavar="ACTIVITY_ID")
    cmd = add(
        "conflicts", commands.conflicts, "list the conflict log; --clear resolves it", [as_json]
    )
    cmd.add_argument(
        "--clear", action="store_true", help="mark every listed conflict as seen (empties the log)"
    )
    cmd = add(
        "quarantine",
        commands.quarantine,
        "list items set aside as unreadable; --clear re-examines them",
        [as_json],
    )
    cmd.add_argument(
        "--clear",
        nargs="*",
        metavar="ITEM_ID",
        help="clear these entries (all when no id is given)",
    )
    cmd = add(
        "restore", commands.restore, "list items the sync deleted, or bring one back", [as_json]
    )
    cmd.add_argument("item", nargs="?", metavar="ITEM_ID", help="the deleted item to restore")
    cmd.add_argument(
        "--side",
        choices=["saljstod", "outlook"],
        help="where the item was deleted (when the id is ambiguous)",
    )
    cmd = add(
        "duplicates",
        commands.duplicates,
        "find duplicate appointments in one calendar; --merge --yes removes them",
        [as_json],
    )
    cmd.add_argument("--side", choices=["saljstod", "outlook", "both"], default="both")
    cmd.add_argument("--merge", action="store_true", help="keep one item of each group")
    cmd.add_argument("--yes", action="store_true", help="confirm --merge")
    db = sub.add_parser("db", help="database schemas", description="database schemas")
    db_sub = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    upgrade = db_sub.add_parser(
        "upgrade", help="create or upgrade the SQL schemas", parents=[as_json]
    )
    upgrade.set_defaults(handler=commands.db_upgrade)
    cmd = add("init", commands.init, "write a commented example configuration file")
    cmd.add_argument(
        "path", nargs="?", help="where to write (default: --config or ./outlook-sync.toml)"
    )
    cmd.add_argument(
        "--demo",
        action="store_true",
        help="a self-contained demo: sample calendars and state in SQLite files beside it",
    )
    cmd.add_argument("--force", action="store_true", help="overwrite an existing file")
    server_commands.register(sub, cmd)  # `server worker|web|check` and `init --server`
    add("schema", commands.schema, "print the JSON Schema of the configuration file")
    return parser


@contextmanager
def _logging_for(ctx: Context) -> Iterator[None]:
    args = ctx.args
    try:
        config: Config | None = ctx.config if args.command not in ("init", "schema") else None
    except ConfigurationError:
        config = None  # reported by the command itself, with its exit code
    level: str = config.logging.level if config else "warning"
    if args.quiet:
        level = "error"
    elif args.verbose:
        level = "debug" if args.verbose > 1 else "info"
    with ExitStack() as stack:
        try:
            stack.enter_context(
                logging_configured(
                    level=level,
                    fmt=config.logging.format if config else "text",
                    stream=ctx.err,
                    file=config.logging.file if config else None,
                    secrets=_secrets(config, ctx.environ) if config else (),
                )
            )
        except OSError as exc:  # the log file cannot be opened
            where = exc.filename or "the log file"
            raise ConfigurationError(
                f"logging.file: cannot write to {where}: {exc.strerror}", key="logging.file"
            ) from exc
        yield


def _report(ctx: Context, exc: BaseException) -> ExitCode:
    """Tell the user about ``exc`` in one line (JSON too with ``--json``)."""
    code = exit_code(exc)
    message = one_line(describe(exc, ctx))
    config = ctx.loaded_config
    if config is not None:
        message = mask_secrets(message, _secrets(config, ctx.environ))
    log.debug("command %s failed", ctx.args.command, exc_info=True)
    ctx.warn(f"outlook-sync: {message}")
    if ctx.args.debug:
        ctx.warn("".join(traceback.format_exception(exc)).rstrip())
    if ctx.json:  # scripts read one JSON document on standard output, errors too
        key = exc.key if isinstance(exc, ConfigurationError) else None
        dump_json({"error": message, "key": key, "exit_code": int(code)}, ctx.out)
    return code


def _quiet_broken_pipe(ctx: Context) -> ExitCode:
    """The reader went away (``outlook-sync status | head``): stop quietly.

    Standard output is pointed at ``os.devnull`` so that the interpreter's final flush
    does not fail again on the closed pipe.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, ctx.out.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests)
        pass
    return ExitCode.OK


def main(argv: Sequence[str] | None = None, *, environ: Mapping[str, str] | None = None) -> int:
    """Run ``outlook-sync`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    Never raises (``SystemExit`` aside) and never shows a traceback unless ``--debug``.

    Args:
        argv: the arguments, without the program name.
        environ: where secrets, ``OUTLOOK_SYNC_CONFIG`` and the language are read
            (default: the process environment).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse reported
        return int(exc.code) if isinstance(exc.code, int) else ExitCode.USAGE
    ctx = Context(
        args=args,
        environ=os.environ if environ is None else environ,
        out=sys.stdout,
        err=sys.stderr,
    )
    handler: Command = args.handler
    try:
        with _logging_for(ctx):
            code = int(handler(ctx))
            ctx.out.flush()
            return code
    except KeyboardInterrupt:
        ctx.warn("outlook-sync: " + ctx.t("interrupted"))
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        return _quiet_broken_pipe(ctx)
    except Exception as exc:  # every error: one line and an exit code, never a traceback
        try:
            return _report(ctx, exc)
        except BrokenPipeError:
            return _quiet_broken_pipe(ctx)
