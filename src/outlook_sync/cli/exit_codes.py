"""The exit codes of ``outlook-sync``, for scripts and schedulers.

When several apply, the first in this order wins: configuration error, sync in
progress, backend unreachable, mass delete refused, items failed, conflicts pending.
"""

from __future__ import annotations

import enum

__all__ = ["ExitCode"]


class ExitCode(enum.IntEnum):
    """What ``outlook-sync`` tells the shell."""

    #: Everything done; nothing needs a person.
    OK = 0
    #: An error not covered below (the state store failed, an id was not found, ...).
    ERROR = 1
    #: The command line itself was wrong (argparse's own code).
    USAGE = 2
    #: The sync ran, but the conflict log holds entries a person should look at
    #: (``outlook-sync conflicts``; clear them with ``outlook-sync conflicts --clear``).
    CONFLICTS_PENDING = 3
    #: The configuration file is missing or invalid, an extra is not installed, or an
    #: environment variable it names is unset. The message names the key.
    CONFIG_ERROR = 4
    #: A calendar could not be reached or listed; nothing was written.
    BACKEND_UNREACHABLE = 5
    #: The plan would delete too much and was not confirmed; nothing was written
    #: (re-run with ``--confirm-mass-delete`` after checking ``outlook-sync plan``).
    MASS_DELETE_REFUSED = 6
    #: Some items failed; the rest was synced and the failed ones are retried next time.
    ITEMS_FAILED = 7
    #: Another sync for this user holds the lock.
    SYNC_IN_PROGRESS = 8
    #: Stopped by Ctrl-C before the end; the rest runs next time.
    INTERRUPTED = 130
