"""The files ``outlook-sync init`` writes: a commented example, and a self-contained demo."""

from __future__ import annotations

__all__ = ["DEMO", "DEMO_OUTLOOK", "DEMO_SALJSTOD", "DEMO_STATE", "EXAMPLE"]

EXAMPLE = """\
# outlook-sync configuration (TOML). `outlook-sync --help` lists the commands;
# docs: getting-started.md and operations.md.
#
# Secrets are never written here: options ending in _env name the ENVIRONMENT
# VARIABLE that holds the secret (export it before running outlook-sync).

# Whose calendars are synced. The state store keeps one set of links per user.
user = "anna"

# ---------------------------------------------------------------------------
# The Säljstöd side: the CRM's SQL database.
[saljstod]
backend = "sql"
database = "sqlite"              # "sqlite" or "postgresql"
path = "saljstod.db"             # relative to this file
# user_id = "anna"               # the user's id in Säljstöd, if not the same as user
#
# PostgreSQL instead (pip install 'outlook_sync[postgres]'):
# database = "postgresql"
# dsn_env = "OUTLOOK_SYNC_SALJSTOD_DSN"   # e.g. postgresql://sync@db/crm

# ---------------------------------------------------------------------------
# The Outlook side: Exchange Online / Outlook 365 over Microsoft Graph
# (pip install 'outlook_sync[graph]').
[outlook]
backend = "graph"
tenant_id = "contoso.onmicrosoft.com"
client_id = "00000000-0000-0000-0000-000000000000"
# App-only access (a server syncing many mailboxes): the client secret comes from
# this environment variable, and mailbox names the user's mailbox.
client_secret_env = "OUTLOOK_SYNC_GRAPH_SECRET"
mailbox = "anna@contoso.com"
# calendar = "AAMkAG..."          # a calendar id; the main calendar if not set
#
# Without client_secret_env the user signs in with a device code once per run.
# token_env = "OUTLOOK_SYNC_GRAPH_TOKEN"   # or: a ready bearer token
# base_url = "http://127.0.0.1:8765/v1.0" # the local Graph emulator, for trying things
#
# Desktop Outlook on this Windows machine instead (pip install 'outlook_sync[com]'):
# backend = "com"
# calendar = '\\\\anna@contoso.com\\Calendar'  # an Outlook folder path

# ---------------------------------------------------------------------------
# Where the sync keeps its links, cursors and logs (default: this file's folder).
[state]
backend = "sqlite"
path = "outlook-sync-state.db"
# backend = "postgresql"
# dsn_env = "OUTLOOK_SYNC_STATE_DSN"

# ---------------------------------------------------------------------------
[policy]
conflict = "merge"               # merge | newest_wins | saljstod_wins | outlook_wins | keep_both
# merge_fallback: who wins a field changed on both sides (newest_wins | saljstod_wins |
# outlook_wins)
merge_fallback = "newest_wins"
saljstod_deletions = "delete"    # deleted in Outlook -> delete in Säljstöd (or "unlink")
outlook_deletions = "delete"     # deleted in Säljstöd -> delete in Outlook (or "unlink")
mass_delete_share = 0.2          # refuse a sync that deletes more than this share...
mass_delete_min = 10             # ...and more than this many items, unless confirmed
keep_deleted_days = 30           # how long `outlook-sync restore` can bring items back

[watch]
interval_seconds = 60            # `outlook-sync watch`: a sync at least this often

[logging]
level = "warning"                # debug | info | warning | error
format = "text"                  # text | json (one object per line)
# file = "outlook-sync.log"      # instead of standard error
"""

#: The files ``init --demo`` creates beside the configuration (names relative to it).
DEMO_SALJSTOD = "demo-saljstod.db"
DEMO_OUTLOOK = "demo-outlook.db"
DEMO_STATE = "outlook-sync-state.db"

DEMO = f"""\
# A self-contained demo that keeps everything on disk beside this file, so each command
# sees what the one before did. Two SQLite files stand in for the calendars:
# {DEMO_SALJSTOD} starts with a few sample activities, {DEMO_OUTLOOK} plays the
# Outlook calendar. Try:
#   outlook-sync plan     outlook-sync sync     outlook-sync status
# `outlook-sync init` (without --demo) writes a configuration for real calendars.
user = "demo"

[saljstod]
backend = "sql"
database = "sqlite"
path = "{DEMO_SALJSTOD}"

[outlook]
backend = "sql"                  # a stand-in; real Outlook is backend = "graph" or "com"
database = "sqlite"
path = "{DEMO_OUTLOOK}"

[state]
backend = "sqlite"
path = "{DEMO_STATE}"
"""
