"""The ``outlook-sync`` command line (console script ``outlook-sync = outlook_sync.cli:main``).

See ``docs/cli.md`` for the commands and exit codes, and :mod:`outlook_sync.config` for
the configuration file.
"""

from outlook_sync.cli.app import main
from outlook_sync.cli.exit_codes import ExitCode

__all__ = ["ExitCode", "main"]
