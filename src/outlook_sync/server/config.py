"""The ``[server]`` section of the configuration file, validated like the rest of it.

Server mode reads the same TOML file as the single-user commands: ``[saljstod]`` (the
SQL Säljstöd database), ``[outlook]`` (Graph, with app-only credentials), ``[state]``
(PostgreSQL), ``[policy]`` and ``[logging]``, plus ``[server]`` and ``[server.users]``.
The top-level ``user`` key is not used: the users come from the Säljstöd database.

Every problem is a :class:`~outlook_sync.errors.ConfigurationError` whose ``key`` names
the entry in dotted form (``"server.concurrency"``), with the same wording as
:mod:`outlook_sync.config` (whose validators this module reuses). Secrets are named by
environment variable (``*_env``), never written in the file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from outlook_sync import config as base
from outlook_sync.config import BackendConfig, LoggingConfig, Secret
from outlook_sync.errors import ConfigurationError
from outlook_sync.policy import SyncPolicy
from outlook_sync.sql.dialect import validate_identifier

__all__ = ["ServerConfig", "UsersSource", "load_server_config", "parse_server_config"]


@attrs.frozen(kw_only=True)
class UsersSource:
    """Where the users come from: a table of the Säljstöd database (``[server.users]``).

    A user is synced while ``enabled_column`` is true (the user's Outlook connection is
    on). The query is built from validated identifiers only.
    """

    table: str = "saljstod_users"
    id_column: str = "user_id"
    mailbox_column: str = "mailbox"
    enabled_column: str = "outlook_enabled"

    def query(self) -> str:
        """The SELECT that lists ``(user id, mailbox)`` of every enabled user."""
        return (
            f'SELECT "{self.id_column}", "{self.mailbox_column}" FROM "{self.table}"'
            f' WHERE "{self.enabled_column}" ORDER BY 1'
        )


@attrs.frozen(kw_only=True)
class ServerConfig:
    """A validated server configuration.

    Attributes:
        path: the file it was read from.
        saljstod, outlook, state: the backends (``sql``, ``graph``, ``postgresql``).
        policy, logging: as for the single-user commands.
        queue_dsn_env: environment variable with the job queue's PostgreSQL DSN.
        public_url: the HTTPS URL Graph posts change notifications to (``None``: no
            subscriptions; the sweep alone finds changes).
        listen_host, listen_port: where ``outlook-sync server web`` listens.
        operator_token_env: environment variable with the operator page's token;
            without it the operator page and ``/metrics`` answer 403.
        concurrency: syncs one worker process runs at once.
        polling_interval: seconds between a worker's job polls (jobs unblocked by a
            lock or a scheduled retry wait for the next poll).
        sync_interval: seconds; the sweep syncs every user not synced this long.
        sweep_seconds, renew_seconds, health_seconds, stalled_seconds: how often the
            periodic jobs run.
        subscription_minutes: lifetime asked for a subscription (<= 10 080).
        heartbeat_seconds, stalled_worker_seconds: worker heartbeat, and how long a
            silent worker lives before its jobs are given to others.
        notification_delay: seconds a sync waits after the first notification, so that
            a burst of notifications is one sync.
        max_retry_after: longest ``Retry-After`` a sync waits for inside a worker; a
            longer one ends the job and defers it to that time.
        certificate_path, certificate_thumbprint: app-only sign-in with a certificate
            instead of ``[outlook] client_secret_env``.
        users: where the users come from.
    """

    path: Path | None
    saljstod: BackendConfig
    outlook: BackendConfig
    state: BackendConfig
    policy: SyncPolicy
    logging: LoggingConfig
    queue_dsn_env: str
    public_url: str | None = None
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    operator_token_env: str | None = None
    concurrency: int = 4
    polling_interval: float = 1.0
    sync_interval: float = 900.0
    sweep_seconds: int = 60
    renew_seconds: int = 3600
    health_seconds: int = 3600
    stalled_seconds: int = 30
    subscription_minutes: int = 4320
    heartbeat_seconds: float = 10.0
    stalled_worker_seconds: float = 30.0
    max_retry_after: float = 30.0
    notification_delay: float = 2.0
    certificate_path: Path | None = None
    certificate_thumbprint: str | None = None
    users: UsersSource = attrs.field(factory=UsersSource)

    def queue_dsn(self, environ: Mapping[str, str] | None = None) -> Secret:
        """The job queue's DSN (from the environment).

        Raises:
            ConfigurationError: the variable is unset.
        """
        env = os.environ if environ is None else environ
        value = env.get(self.queue_dsn_env, "")
        if not value:
            raise ConfigurationError(
                f"server.queue_dsn_env names the environment variable {self.queue_dsn_env}, "
                "which is not set",
                key="server.queue_dsn_env",
            )
        return Secret(value, source=self.queue_dsn_env)

    def operator_token(self, environ: Mapping[str, str] | None = None) -> Secret | None:
        """The operator token, or ``None`` when none is configured (page closed)."""
        if self.operator_token_env is None:
            return None
        env = os.environ if environ is None else environ
        value = env.get(self.operator_token_env, "")
        if not value:
            raise ConfigurationError(
                f"server.operator_token_env names the environment variable "
                f"{self.operator_token_env}, which is not set",
                key="server.operator_token_env",
            )
        return Secret(value, source=self.operator_token_env)


# (key, kind, attribute); kinds as in outlook_sync.config plus "seconds>0", "port"
_SERVER_KEYS: dict[str, tuple[str, str]] = {
    "queue_dsn_env": ("env", "queue_dsn_env"),
    "public_url": ("str", "public_url"),
    "listen": ("str", "listen"),
    "operator_token_env": ("env", "operator_token_env"),
    "concurrency": ("int", "concurrency"),
    "polling_interval_seconds": ("float", "polling_interval"),
    "sync_interval_minutes": ("float", "sync_interval"),
    "sweep_every_seconds": ("int", "sweep_seconds"),
    "renew_every_seconds": ("int", "renew_seconds"),
    "health_every_seconds": ("int", "health_seconds"),
    "stalled_every_seconds": ("int", "stalled_seconds"),
    "subscription_minutes": ("int", "subscription_minutes"),
    "heartbeat_seconds": ("float", "heartbeat_seconds"),
    "stalled_worker_seconds": ("float", "stalled_worker_seconds"),
    "max_retry_after_seconds": ("float", "max_retry_after"),
    "notification_delay_seconds": ("float", "notification_delay"),
    "certificate_path": ("path", "certificate_path"),
    "certificate_thumbprint": ("str", "certificate_thumbprint"),
}
_USERS_KEYS = ("table", "id_column", "mailbox_column", "enabled_column")


def _positive(key: str, value: float, *, at_most: float | None = None) -> None:
    if value <= 0:
        raise ConfigurationError(f"{key} must be > 0", key=key)
    if at_most is not None and value > at_most:
        raise ConfigurationError(f"{key} must be at most {at_most:g}", key=key)


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(
            f'server.listen = {value!r}; use "host:port", e.g. "127.0.0.1:8080"',
            key="server.listen",
        )
    return host.strip("[]"), int(port)


def _users(table: Mapping[str, Any]) -> UsersSource:
    values: dict[str, str] = {}
    for key, value in table.items():
        if key not in _USERS_KEYS:
            raise base._unknown(f"server.users.{key}", list(_USERS_KEYS))
        values[key] = validate_identifier(value, key=f"server.users.{key}")
    return UsersSource(**values)


def _server(table: Mapping[str, Any], state: BackendConfig, path: Path | None) -> dict[str, Any]:
    folder = path.parent if path is not None else None
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key == "users":
            if not isinstance(value, dict):
                raise ConfigurationError("server.users must be a table ([server.users])",
                                         key="server.users")
            out["users"] = _users(value)
            continue
        if key not in _SERVER_KEYS:
            raise base._unknown(f"server.{key}", [*_SERVER_KEYS, "users"])
        kind, attr = _SERVER_KEYS[key]
        typed = base._typed(f"server.{key}", kind, value, folder)
        out[attr] = typed
    if "listen" in out:
        out["listen_host"], out["listen_port"] = _listen(out.pop("listen"))
    for attr, key, limit in (
        ("concurrency", "server.concurrency", 64),
        ("polling_interval", "server.polling_interval_seconds", 60),
        ("sync_interval", "server.sync_interval_minutes", None),
        ("sweep_seconds", "server.sweep_every_seconds", None),
        ("renew_seconds", "server.renew_every_seconds", None),
        ("health_seconds", "server.health_every_seconds", None),
        ("stalled_seconds", "server.stalled_every_seconds", None),
        ("subscription_minutes", "server.subscription_minutes", 10_080),
        ("heartbeat_seconds", "server.heartbeat_seconds", None),
        ("stalled_worker_seconds", "server.stalled_worker_seconds", None),
        ("max_retry_after", "server.max_retry_after_seconds", None),
        ("notification_delay", "server.notification_delay_seconds", 600),
    ):
        if attr in out:
            _positive(key, out[attr], at_most=limit)
    if "sync_interval" in out:
        out["sync_interval"] = out["sync_interval"] * 60.0
    url = out.get("public_url")
    if url is not None and not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise ConfigurationError(
            "server.public_url must be an https:// URL (Graph only notifies HTTPS endpoints)",
            key="server.public_url",
        )
    if "queue_dsn_env" not in out:
        out["queue_dsn_env"] = state.options.get("dsn_env")
    if bool(out.get("certificate_path")) != bool(out.get("certificate_thumbprint")):
        raise ConfigurationError(
            "server.certificate_path and server.certificate_thumbprint go together",
            key="server.certificate_thumbprint",
        )
    return out


def _policy(data: Mapping[str, Any]) -> SyncPolicy:
    policy = base._policy(data)
    with_scope = getattr(base, "_with_scope", None)  # [filter] / [directions], when known
    return policy if with_scope is None else with_scope(policy, data)


def parse_server_config(data: Mapping[str, Any], *, path: Path | None = None) -> ServerConfig:
    """Validate a parsed TOML document for server mode.

    Raises:
        ConfigurationError: a key is unknown, missing or of the wrong kind (``key``
            names it), or a backend is not one server mode can use.
    """
    top = [*getattr(base, "TOP_LEVEL", ("user", "saljstod", "outlook", "state", "policy",
                                        "watch", "logging")), "server"]
    for key in data:
        if key not in top:
            raise base._unknown(key, top)
    folder = path.parent if path is not None else None
    if "server" not in data:
        raise ConfigurationError(
            "the [server] section is missing; `outlook-sync init --server` writes an example",
            key="server",
        )
    table = base._table(data, "server", required=True)
    saljstod = base._backend(data, "saljstod", "calendar", folder)
    outlook = base._backend(data, "outlook", "calendar", folder)
    if "state" not in data:
        raise ConfigurationError(
            'server mode needs [state] backend = "postgresql" (shared by every worker)',
            key="state",
        )
    state = base._backend(data, "state", "state", folder)
    if saljstod.name != "sql":
        raise ConfigurationError(
            f'saljstod.backend = {saljstod.name!r}; server mode reads users and activities '
            'from the Säljstöd database: use backend = "sql"',
            key="saljstod.backend",
        )
    if outlook.name != "graph":
        raise ConfigurationError(
            f'outlook.backend = {outlook.name!r}; server mode reaches every mailbox through '
            'Microsoft Graph: use backend = "graph"',
            key="outlook.backend",
        )
    if state.name != "postgresql":
        raise ConfigurationError(
            f'state.backend = {state.name!r}; every worker shares the state: use '
            'backend = "postgresql"',
            key="state.backend",
        )
    if outlook.options.get("mailbox"):
        raise ConfigurationError(
            "outlook.mailbox names one mailbox; in server mode the mailboxes come from "
            "[server.users]: remove it",
            key="outlook.mailbox",
        )
    fields = _server(table, state, path)
    return ServerConfig(
        path=path,
        saljstod=saljstod,
        outlook=outlook,
        state=state,
        policy=_policy(data),
        logging=base._logging(data, folder),
        **fields,
    )


def load_server_config(path: str | os.PathLike[str]) -> ServerConfig:
    """Read and validate the configuration file at ``path`` for server mode.

    Raises:
        ConfigurationError: missing file, invalid TOML (with the line) or invalid content.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            f"no configuration file at {file}; create one with `outlook-sync init --server`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the configuration file {file}: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{file} is not valid TOML: {exc}") from exc
    return parse_server_config(data, path=file.resolve())
