"""From an exception to one line for the user and a documented exit code.

No Python traceback reaches a user: every exception a command raises is described in
one line on standard error (and in the JSON document with ``--json``) and mapped to an
:class:`~outlook_sync.cli.exit_codes.ExitCode`. ``--debug`` adds the traceback.

Exceptions that are not ours are sorted by what they mean to the user: a network or
socket error (``OSError``, httpx's and requests' transport errors — an unreachable
sign-in server raises those from inside msal) is "backend unreachable"; anything else
is an unexpected error, exit code 1.
"""

from __future__ import annotations

import socket
import sqlite3

from outlook_sync.cli.context import Context, UsageError
from outlook_sync.cli.exit_codes import ExitCode
from outlook_sync.config import find_config
from outlook_sync.errors import (
    BackendError,
    BackendUnavailableError,
    BusyError,
    ConfigurationError,
    InvalidEventError,
    ItemNotFoundError,
    ItemRejectedError,
    MassDeleteRefusedError,
    OutlookSyncError,
    StateError,
    StateUnavailableError,
    SyncInProgressError,
    VersionConflictError,
)

__all__ = ["describe", "exit_code", "is_busy", "is_network_error", "one_line"]

#: Modules whose exceptions mean "could not talk to the server".
_NETWORK_MODULES = ("httpx", "httpcore", "requests", "urllib3", "ssl")
_MAX_LINE = 400


def is_network_error(exc: BaseException) -> bool:
    """A transport failure: the server could not be reached or did not answer."""
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror | socket.herror):
        return True
    return any(
        kind.__module__.split(".", 1)[0] in _NETWORK_MODULES
        and kind.__name__.endswith(("ConnectionError", "ConnectError", "Timeout",
                                    "TimeoutException", "TransportError", "NetworkError",
                                    "ProxyError", "SSLError"))
        for kind in type(exc).__mro__
    )


def is_busy(exc: BaseException) -> bool:
    """Another run holds the state database: a lock, or SQLite's "database is locked"
    (two runs started together on a new state file race to create its tables)."""
    if isinstance(exc, SyncInProgressError | BusyError):
        return True
    seen: BaseException | None = exc
    while seen is not None:  # the store may wrap the driver's error
        if isinstance(seen, sqlite3.OperationalError | StateError) and any(
            text in str(seen).lower() for text in ("database is locked", "database is busy")
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def exit_code(exc: BaseException) -> ExitCode:
    """The exit code for an exception a command raised."""
    if isinstance(exc, UsageError):
        return ExitCode.USAGE
    if isinstance(exc, ConfigurationError):
        return ExitCode.CONFIG_ERROR
    if is_busy(exc):
        return ExitCode.SYNC_IN_PROGRESS
    if isinstance(exc, BackendUnavailableError | StateUnavailableError):
        return ExitCode.BACKEND_UNREACHABLE
    if isinstance(exc, MassDeleteRefusedError):
        return ExitCode.MASS_DELETE_REFUSED
    if isinstance(exc, ItemNotFoundError | VersionConflictError | ItemRejectedError):
        return ExitCode.ERROR
    if isinstance(exc, BackendError):
        return ExitCode.BACKEND_UNREACHABLE
    if isinstance(exc, OutlookSyncError):
        return ExitCode.ERROR
    if is_network_error(exc):
        return ExitCode.BACKEND_UNREACHABLE
    return ExitCode.ERROR


def one_line(text: str) -> str:
    """``text`` on one line, cut to a readable length."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_LINE else flat[: _MAX_LINE - 1] + "…"


def _where(exc: ConfigurationError, ctx: Context) -> str:
    """`` (/path/outlook-sync.toml)``: the configuration file a configuration error is
    about — the file loaded, or the one the command tried to load when reading it failed
    (``--config``, ``$OUTLOOK_SYNC_CONFIG`` or the default) — unless the message names
    it already (``no configuration file at …``); empty before any file was tried."""
    path = ctx.config_path
    if path is None:
        return ""
    message = str(exc)
    given = find_config(getattr(ctx.args, "config", None), ctx.environ)
    if str(path) in message or str(given) in message:
        return ""
    return f" ({path})"


def describe(exc: BaseException, ctx: Context) -> str:
    """One line for the user: what went wrong and, where there is one, what to do."""
    t = ctx.t
    if isinstance(exc, UsageError):
        return t("usage error: {message}", message=exc)
    if isinstance(exc, ConfigurationError):
        return t("configuration error{where}: {message}", where=_where(exc, ctx), message=exc)
    if isinstance(exc, SyncInProgressError | BusyError):
        return t("{message} (try again when it has finished)", message=exc)
    if is_busy(exc):
        return t(
            "the state database is busy: another outlook-sync run is using it (try again "
            "when it has finished)"
        )
    if isinstance(exc, ItemNotFoundError):
        return t("no such item: {message}", message=exc)
    if isinstance(exc, BackendError):
        side = f"{exc.side}: " if exc.side else ""
        text = t("backend error: {side}{message}", side=side, message=exc)
        if any(word in str(exc) for word in ("no such table", "does not exist")):
            text += t(" (a new database? run `outlook-sync db upgrade` first)")
        return text
    if isinstance(exc, StateError):
        return t("state store error: {message}", message=exc)
    if isinstance(exc, InvalidEventError | OutlookSyncError):
        return str(exc)
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if is_network_error(exc):
        return t(
            "cannot reach the server: {detail} (check the network and the address; "
            "nothing was written)",
            detail=detail,
        )
    return t(
        "unexpected error: {detail} (run again with --debug for the details)", detail=detail
    )
