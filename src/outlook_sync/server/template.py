"""The file ``outlook-sync init --server`` writes: a commented server configuration."""

from __future__ import annotations

__all__ = ["SERVER_EXAMPLE"]

SERVER_EXAMPLE = """\
# outlook-sync SERVER configuration (TOML): every mailbox of the installation, synced
# by workers (`outlook-sync server worker`) behind a web endpoint (`outlook-sync server
# web`). Docs: docs/server.md. pip install 'outlook_sync[server]'.
#
# Secrets are never written here: options ending in _env name the ENVIRONMENT
# VARIABLE that holds the secret (export it before starting the processes).

# ---------------------------------------------------------------------------
# The Säljstöd database: activities, and the users (see [server.users]).
[saljstod]
backend = "sql"
database = "postgresql"
dsn_env = "OUTLOOK_SYNC_SALJSTOD_DSN"    # e.g. postgresql://sync@db/crm

# ---------------------------------------------------------------------------
# Exchange Online over Microsoft Graph, app-only: the app registration needs the
# APPLICATION permission Calendars.ReadWrite with admin consent, and an
# application access policy limiting it to the Säljstöd users' mailboxes (docs/server.md).
[outlook]
backend = "graph"
tenant_id = "contoso.onmicrosoft.com"
client_id = "00000000-0000-0000-0000-000000000000"
client_secret_env = "OUTLOOK_SYNC_GRAPH_SECRET"
# Or a certificate instead of the secret: see server.certificate_path below.
# calendar = "AAMkAG..."                 # a calendar id; the main calendar if not set

# ---------------------------------------------------------------------------
# The sync state, shared by every worker (PostgreSQL only in server mode).
[state]
backend = "postgresql"
dsn_env = "OUTLOOK_SYNC_STATE_DSN"

[policy]
conflict = "merge"
lock_ttl_minutes = 2                     # a killed worker's lease runs out after this

# ---------------------------------------------------------------------------
[server]
# The job queue (Procrastinate's tables) and the operator page's data; default: the
# state database.
# queue_dsn_env = "OUTLOOK_SYNC_QUEUE_DSN"
# The HTTPS address Graph posts change notifications to (the web process's
# /notifications behind your reverse proxy). Without it there are no subscriptions
# and the sweep alone picks up changes.
public_url = "https://sync.example.com/notifications"
listen = "127.0.0.1:8080"                # where `outlook-sync server web` listens
# The operator page and /metrics need this token (Bearer, Basic password, or /login).
# Without it they answer 403.
operator_token_env = "OUTLOOK_SYNC_OPERATOR_TOKEN"
concurrency = 4                          # syncs at once per worker process
polling_interval_seconds = 1             # how soon a scheduled or unblocked job starts
sync_interval_minutes = 15               # the sweep syncs users not synced this long
sweep_every_seconds = 60
renew_every_seconds = 3600               # subscription renewal check
health_every_seconds = 3600              # re-check "consent missing" accounts
subscription_minutes = 4320              # subscription lifetime (at most 10080)
notification_delay_seconds = 2           # a burst of notifications becomes one sync
max_retry_after_seconds = 30             # a longer Retry-After ends the job, deferred to then
# certificate_path = "/etc/outlook-sync/app.pem"   # app-only sign-in with a certificate
# certificate_thumbprint = "A1B2..."

# Which users are synced: a table (or view) of the Säljstöd database. A user is synced
# while enabled_column is true; add or remove users there, no restart needed.
[server.users]
table = "saljstod_users"
id_column = "user_id"                    # the user's id on activity_participants
mailbox_column = "mailbox"               # UPN or Entra object id of the mailbox
enabled_column = "outlook_enabled"       # the user's Outlook connection is on

[logging]
level = "info"
format = "json"
"""
