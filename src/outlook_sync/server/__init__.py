"""Server mode: every mailbox of an installation, synced by workers on a job queue.

Install with ``pip install 'outlook_sync[server]'`` (Procrastinate, Starlette, uvicorn,
psycopg, httpx, msal). Two kinds of process share one PostgreSQL database:

- ``outlook-sync server worker`` (:mod:`outlook_sync.server.worker`): runs
  ``sync_user`` jobs and the periodic jobs (sweep, subscription renewal, account
  health, stalled-job recovery) — :mod:`outlook_sync.server.queue`;
- ``outlook-sync server web`` (:mod:`outlook_sync.server.web`): the Graph
  change-notification endpoint, the read-only operator page, ``/metrics`` and
  ``/healthz``.

Configuration: the ``[server]`` section (:mod:`outlook_sync.server.config`). The desktop
:class:`~outlook_sync.watch.Watcher` stays the single-user shape. See docs/server.md.
"""

from outlook_sync.server.config import (
    ServerConfig,
    UsersSource,
    load_server_config,
    parse_server_config,
)
from outlook_sync.server.ledger import Account, AccountState, Run

__all__ = [
    "Account",
    "AccountState",
    "Run",
    "ServerConfig",
    "UsersSource",
    "load_server_config",
    "parse_server_config",
]
