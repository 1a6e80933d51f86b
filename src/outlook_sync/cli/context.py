"""What every ``outlook-sync`` command gets: :class:`Context`, and the usage error.

Kept apart from :mod:`outlook_sync.cli.app` (the parser and ``main``) so that the
command modules import this one and nothing imports back: ``app`` → ``commands`` /
``maintenance`` → ``context``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TextIO

import attrs

from outlook_sync.cli.exit_codes import ExitCode
from outlook_sync.cli.registry import Wiring, known_backends, wired
from outlook_sync.config import Config, find_config, load_config
from outlook_sync.errors import OutlookSyncError
from outlook_sync.i18n import Translator, translator

__all__ = ["Command", "Context", "UsageError"]


class UsageError(OutlookSyncError, ValueError):
    """The command line itself was wrong (a bad DATE, a refused value): exit code 2."""


@attrs.define
class Context:
    """What a command gets: its arguments, the environment, and where to write."""

    args: argparse.Namespace
    environ: Mapping[str, str]
    out: TextIO
    err: TextIO
    _config: Config | None = None
    _config_path: Path | None = None
    _translator: Translator | None = None

    @property
    def json(self) -> bool:
        """``--json`` was given."""
        return bool(getattr(self.args, "json", False))

    @property
    def verbosity(self) -> int:
        """How many ``-v`` were given."""
        return int(getattr(self.args, "verbose", 0) or 0)

    @property
    def loaded_config(self) -> Config | None:
        """The configuration if it has been loaded already (for messages)."""
        return self._config

    @property
    def config_path(self) -> Path | None:
        """The configuration file loaded, or being loaded when it failed (absolute;
        ``None`` before the first attempt): ``--config``, ``$OUTLOOK_SYNC_CONFIG`` or the
        default. Messages name it even when the file could not be read or is invalid."""
        if self._config is not None and self._config.path is not None:
            return self._config.path
        return self._config_path

    @property
    def config(self) -> Config:
        """The configuration (loaded on first use).

        Raises:
            ConfigurationError: the file is missing or invalid.
        """
        if self._config is None:
            path = find_config(self.args.config, self.environ)
            self._config_path = _absolute(path)  # before loading: an error names it too
            self._config = load_config(path, backends=known_backends())
        return self._config

    @property
    def t(self) -> Translator:
        """The user's language for messages (``--lang``, else the environment)."""
        if self._translator is None:
            self._translator = translator(getattr(self.args, "lang", None), self.environ)
        return self._translator

    def wired(
        self, *, calendars: bool = True, writes: bool = True
    ) -> AbstractContextManager[Wiring]:
        """The calendars, state store and synchronizer the configuration names.

        Args:
            calendars: open the calendars (else placeholders: state-only commands).
            writes: the command may write the state; a read-only command never creates
                a state database that does not exist yet.
        """
        return wired(self.config, self.environ, calendars=calendars, writes=writes)

    def say(self, text: str = "") -> None:
        """Write a line of results."""
        self.out.write(text + "\n")

    def warn(self, text: str) -> None:
        """Write a line for the person at the terminal (standard error)."""
        self.err.write(text + "\n")
        self.err.flush()


def _absolute(path: Path) -> Path:
    """``path`` resolved as the loaded configuration names it; merely absolute when it
    cannot be resolved (a symlink loop: reading it then says what is wrong)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


#: A command: takes the context, returns the exit code.
Command = Callable[[Context], ExitCode]
