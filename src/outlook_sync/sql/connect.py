"""Opening a PostgreSQL connection from a DSN without leaking its password.

Theory of operation
-------------------
A DSN holds a password, and libpq quotes the part of a DSN it could not parse in its
error messages (``invalid percent-encoded token: "Pct%zzSecret55"``, ``failed to
resolve host "ssSecretAt77@db"`` when an ``@`` in the password was not encoded). So:

1. :func:`dsn_secrets` reads the password out of the DSN *with our own parser* (both
   the ``key=value`` form and the ``postgresql://`` URI form, ``?password=`` included),
   never echoing the text, and returns every form of it that may show up in a message:
   as written, percent-decoded, and its pieces around ``@ : / % ? # & =`` (a mangled
   parse quotes a piece). Pieces shorter than 4 characters are not masked (they would
   blank ordinary words).
2. :func:`register_secret` adds them to a process-wide set; :func:`redact` masks every
   registered secret, plus ``password=…`` and ``user:password@`` patterns, plus the
   tokens libpq quotes from a DSN, with ``***``. Every error message the SQL code builds
   goes through :func:`redact`; :func:`registered_secrets` hands the set to a log filter.
3. :func:`connect_postgresql` registers the DSN's secrets *before* connecting, hands the
   DSN to psycopg and drops it: it is never stored on an object, and a failure is
   re-raised with a redacted message and no chained driver exception.
"""

from __future__ import annotations

import re
import threading
import urllib.parse
from typing import Any

from outlook_sync.errors import (
    ConfigurationError,
    OutlookSyncError,
    StateError,
    StateUnavailableError,
)

__all__ = [
    "connect_postgresql",
    "describe",
    "dsn_secrets",
    "redact",
    "register_secret",
    "registered_secrets",
]

_PATTERNS = (
    # key=value DSNs and messages quoting them
    (re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE), r"\1***"),
    # URIs: scheme://user:password@host
    (re.compile(r"(://[^:/@\s]*:)([^\s\"']*)(@)"), r"\1***\3"),
    # libpq quotes the token it could not decode
    (re.compile(r"(percent-encoded token:\s*)([\"'])[^\"']*\2", re.IGNORECASE), r"\1\2***\2"),
    # ...and a host name that swallowed part of the user info (an unencoded "@")
    (re.compile(r"([\"'])[^\"'\s]*@([^\"'\s]*\1)"), r"\1***@\2"),
)
_MIN_PIECE = 4
_SPLIT = re.compile(r"[@:/%?#&=\s]+")

_lock = threading.Lock()
_secrets: set[str] = set()


def _forms(password: str) -> set[str]:
    forms = {password, urllib.parse.unquote(password)}
    for form in list(forms):
        forms.update(piece for piece in _SPLIT.split(form) if len(piece) >= _MIN_PIECE)
    return {form for form in forms if form}


def _keyword_password(dsn: str) -> str | None:
    """``password`` of a ``key=value`` DSN (libpq's quoting rules), or ``None``."""
    found: str | None = None
    i, n = 0, len(dsn)
    while i < n:
        while i < n and dsn[i].isspace():
            i += 1
        start = i
        while i < n and dsn[i] not in "= \t\n":
            i += 1
        key = dsn[start:i]
        while i < n and dsn[i].isspace():
            i += 1
        if i >= n or dsn[i] != "=":
            return found  # malformed: stop, keep what was found
        i += 1
        while i < n and dsn[i].isspace():
            i += 1
        value: list[str] = []
        if i < n and dsn[i] == "'":
            i += 1
            while i < n and dsn[i] != "'":
                if dsn[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(dsn[i])
                i += 1
            i += 1
        else:
            while i < n and not dsn[i].isspace():
                if dsn[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(dsn[i])
                i += 1
        if key == "password":
            found = "".join(value)
    return found


def dsn_secrets(dsn: str) -> set[str]:
    """The forms of the password in ``dsn`` that an error message might quote.

    Handles the ``key=value`` form and the ``postgresql://``/``postgres://`` URI form
    (password in the user info, unencoded ``@`` in it included, or in ``?password=``).
    Never raises and never echoes ``dsn``.
    """
    found: set[str] = set()
    text = dsn.strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("postgresql", "postgres"):
        rest = text.split("://", 1)[1]
        authority, _sep, tail = rest.partition("/")
        if "?" in authority:  # no path: the query follows the authority directly
            authority, _q, query = authority.partition("?")
            tail = "?" + query
        if "@" in authority:
            userinfo = authority.rsplit("@", 1)[0]
            if ":" in userinfo:
                found |= _forms(userinfo.split(":", 1)[1])
            if "@" in userinfo:  # libpq splits at the first "@": all of it may be quoted
                found |= _forms(userinfo)
        query = tail.partition("?")[2].partition("#")[0]
        for pair in query.split("&"):
            key, _eq, value = pair.partition("=")
            if urllib.parse.unquote(key) == "password" and value:
                found |= _forms(value)
    else:
        password = _keyword_password(text)
        if password:
            found |= _forms(password)
    return found


def register_secret(*values: str) -> None:
    """Mask ``values`` (ignoring empty ones) in everything :func:`redact` cleans, process-wide."""
    with _lock:
        _secrets.update(v for v in values if v)


def registered_secrets() -> frozenset[str]:
    """Every secret registered so far (for a logging filter)."""
    with _lock:
        return frozenset(_secrets)


def redact(text: str) -> str:
    """``text`` with registered secrets and DSN/URL passwords replaced by ``***``."""
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, "***")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def describe(connection: Any) -> str:
    """``"dbname on host:port"`` for a psycopg connection (no user, no password)."""
    info = connection.info
    return f"{info.dbname} on {info.host}:{info.port}"


def connect_postgresql(
    dsn: str, *, error: type[OutlookSyncError], **kwargs: Any
) -> tuple[Any, str]:
    """Connect with psycopg 3; return ``(connection, label for reprs)``.

    The DSN's password is registered as a secret first (see :func:`register_secret`).

    Raises:
        ConfigurationError: psycopg is not installed.
        OutlookSyncError: of type ``error``, when the connection fails (redacted message).
    """
    register_secret(*dsn_secrets(dsn))
    try:
        import psycopg
    except ImportError as exc:
        raise ConfigurationError(
            "PostgreSQL needs psycopg 3: pip install 'outlook_sync[postgres]'", key="dialect"
        ) from exc
    try:
        connection = psycopg.connect(dsn, **kwargs)
    except psycopg.Error as exc:
        message = redact(f"{type(exc).__name__}: {exc}")
        if issubclass(error, StateError) and isinstance(exc, psycopg.OperationalError):
            error = StateUnavailableError  # not reached: the operator's "unreachable"
    else:
        return connection, describe(connection)
    raise error(f"cannot connect to PostgreSQL: {message}") from None
