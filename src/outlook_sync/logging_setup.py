"""Structured logging for outlook_sync, through the standard :mod:`logging` module.

Every component logs to its own logger under ``outlook_sync`` (``outlook_sync.engine``,
``outlook_sync.adapters.graph``, ``outlook_sync.cli``, ...), so a host can tune one
component without the others. Structured fields travel as ``extra`` attributes on the
record, named by :data:`FIELDS`::

    log = component_logger("adapters.graph")
    log.info("created", extra=fields(user="anna", side="outlook", item_id=new_id,
                                     operation="create"))

The library itself never configures handlers (a library must not); a host application
does that, or calls :func:`configure_logging`, which is what ``outlook-sync`` does. The
two formatters render the fields for people (:class:`TextFormatter`) or for log
collectors, one JSON object per line (:class:`JsonFormatter`).

What is never logged: secrets (tokens, passwords, connection strings) and item bodies.
Adapters do not pass them; as a second line of defence :class:`RedactingFilter` replaces
every secret the host registers with ``***`` in messages, arguments and fields.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "FIELDS",
    "JsonFormatter",
    "RedactingFilter",
    "TextFormatter",
    "component_logger",
    "configure_logging",
    "fields",
    "logging_configured",
]

#: The structured fields outlook_sync's log records may carry.
FIELDS = (
    "user", "side", "item_id", "operation", "subject", "phase", "count", "backend"
)

ROOT = "outlook_sync"
_HANDLER_MARK = "_outlook_sync_handler"


def component_logger(component: str) -> logging.Logger:
    """The logger of one component, e.g. ``component_logger("engine")``."""
    return logging.getLogger(f"{ROOT}.{component}" if component else ROOT)


def fields(**values: object) -> dict[str, object]:
    """Structured fields for ``extra=``; ``None`` values are left out.

    Raises:
        ValueError: a name is not one of :data:`FIELDS` (a typo would be lost silently).
    """
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown log fields {sorted(unknown)}; use {FIELDS}")
    return {name: value for name, value in values.items() if value is not None}


def _record_fields(record: logging.LogRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in FIELDS if hasattr(record, name)}


class TextFormatter(logging.Formatter):
    """``2026-11-25T08:00:00+00:00 WARNING outlook_sync.engine: message [user=anna]``."""

    def format(self, record: logging.LogRecord) -> str:
        when = dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="seconds")
        text = f"{when} {record.levelname} {record.name}: {record.getMessage()}"
        extra = _record_fields(record)
        if extra:
            text += " [" + " ".join(f"{k}={v}" for k, v in extra.items()) + "]"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update({k: str(v) for k, v in _record_fields(record).items()})
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


#: Secrets at least this long are masked wherever they occur; shorter ones only where
#: they stand alone (not inside a longer word), so that a one-letter password does not
#: turn "does not exist" into "does not e***ist".
WHOLE_WORD_BELOW = 8


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every known secret value replaced by ``***`` (longest first)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(secret) >= WHOLE_WORD_BELOW:
            text = text.replace(secret, "***")
        else:
            text = re.sub(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", "***", text)
    return text


class RedactingFilter(logging.Filter):
    """Replaces known secret values with ``***`` before a record is formatted.

    Args:
        secrets: the secret strings (empty ones are ignored).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def _clean(self, text: str) -> str:
        return mask_secrets(text, self._secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        record.msg = self._clean(record.getMessage())
        record.args = None
        for name in FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, self._clean(value))
        return True


def configure_logging(
    *,
    level: str | int = "warning",
    fmt: str = "text",
    stream: TextIO | None = None,
    file: Path | None = None,
    secrets: Iterable[str] = (),
) -> logging.Handler:
    """Send outlook_sync's records to ``stream`` (standard error) or ``file``.

    Replaces the handler an earlier call installed (so calling it again, as tests and
    long-running hosts do, never doubles the output); other handlers are left alone.

    Args:
        level: ``"debug"``, ``"info"``, ``"warning"``, ``"error"`` or a number.
        fmt: ``"text"`` or ``"json"``.
        stream: where to write; standard error by default.
        file: a file to append to instead of ``stream``.
        secrets: values to mask with ``***`` wherever they appear.

    Returns:
        The installed handler.

    Raises:
        ValueError: ``fmt`` or ``level`` is unknown.
    """
    if fmt not in ("text", "json"):
        raise ValueError(f"unknown log format {fmt!r}; use text or json")
    numeric = level if isinstance(level, int) else logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    handler: logging.Handler = (
        logging.FileHandler(file, encoding="utf-8")
        if file is not None
        else logging.StreamHandler(stream if stream is not None else sys.stderr)
    )
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactingFilter(secrets))
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger(ROOT)
    for old in list(root.handlers):
        if getattr(old, _HANDLER_MARK, False):
            root.removeHandler(old)
            old.close()
    root.addHandler(handler)
    root.setLevel(numeric)
    return handler


@contextmanager
def logging_configured(
    *,
    level: str | int = "warning",
    fmt: str = "text",
    stream: TextIO | None = None,
    file: Path | None = None,
    secrets: Iterable[str] = (),
) -> Iterator[logging.Handler]:
    """:func:`configure_logging` for a ``with`` block, then put everything back.

    The command line uses this, so that calling ``main()`` in-process (tests, a host
    embedding the CLI) leaves the logging set-up as it found it.
    """
    root = logging.getLogger(ROOT)
    level_before = root.level
    handler = configure_logging(level=level, fmt=fmt, stream=stream, file=file, secrets=secrets)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(level_before)
