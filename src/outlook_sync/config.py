"""The ``outlook-sync`` configuration file: TOML, validated, with secrets kept out of it.

Theory of operation
-------------------
:func:`load_config` reads a TOML file (``tomllib``) and turns it into a frozen
:class:`Config`, or raises :class:`~outlook_sync.errors.ConfigurationError` whose ``key``
names the offending entry in dotted form (``"outlook.tenant_id"``,
``"policy.mass_delete_share"``), so the message can point at the line to fix.

Each side (``[saljstod]``, ``[outlook]``) and the state store (``[state]``) name a
*backend*; what options a backend accepts is described here as data
(:data:`BACKENDS`), and the command line builds the backends from it through its
registry (``outlook_sync.cli.registry``). Describing the options here, without importing
any adapter, means a configuration can be validated on a machine that lacks an optional
extra: the error then says which ``pip install`` is missing.

Secrets never live in the file. An option that holds a secret is configured by naming
the *environment variable* that holds it (``client_secret_env = "OUTLOOK_SYNC_GRAPH_SECRET"``);
a secret-looking key with a literal value (``client_secret = "..."``) is refused. The
value is read only when a backend is built, wrapped in :class:`Secret`, whose ``repr``
and ``str`` never show it.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from outlook_sync.errors import ConfigurationError
from outlook_sync.model import Side
from outlook_sync.policy import SyncPolicy
from outlook_sync.scope import FIELD_UNITS, Direction, SyncFilter

__all__ = [
    "BACKENDS",
    "DEFAULT_CONFIG_NAME",
    "FILTER_KEYS",
    "POLICY_KEYS",
    "TOP_LEVEL",
    "BackendConfig",
    "BackendSpec",
    "Config",
    "LoggingConfig",
    "Option",
    "Secret",
    "load_config",
    "parse_config",
    "sql_calendar_options",
]

#: The file ``outlook-sync`` reads when ``--config`` is not given.
DEFAULT_CONFIG_NAME = "outlook-sync.toml"
#: The environment variable that may name the configuration file.
CONFIG_ENV = "OUTLOOK_SYNC_CONFIG"
#: The state database used when the file has no ``[state]`` section (beside the file).
DEFAULT_STATE_NAME = "outlook-sync-state.db"

#: Key fragments that mark a value as secret: such keys are refused with a literal value.
_SECRET_WORDS = ("secret", "password", "passwd", "token", "dsn", "credential", "api_key")


class Secret:
    """A secret value read from the environment; never shown by ``repr`` or ``str``.

    Args:
        value: the secret.
        source: where it came from (the environment variable's name), for messages.
    """

    __slots__ = ("_value", "source")

    def __init__(self, value: str, *, source: str) -> None:
        self._value = value
        self.source = source

    def reveal(self) -> str:
        """The secret itself, for the one call that needs it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret(source={self.source!r})"

    def __str__(self) -> str:
        return "***"


@attrs.frozen(kw_only=True)
class Option:
    """One option a backend accepts.

    Attributes:
        name: the key in the backend's section.
        kind: ``"str"``, ``"int"``, ``"float"``, ``"bool"``, ``"path"`` (relative to the
            configuration file's folder) or ``"env"`` (the name of an environment
            variable holding a secret).
        required: the option must be given.
        default: the value when not given (``None``: absent).
        help: one line for error messages and the example file.
    """

    name: str
    kind: str
    required: bool = False
    default: Any = None
    help: str = ""


@attrs.frozen(kw_only=True)
class BackendSpec:
    """What a backend is called in the configuration and what it accepts.

    Attributes:
        name: the value of ``backend = "..."``.
        roles: where it may be used: ``"calendar"`` (either side) and/or ``"state"``.
        options: the options its section accepts besides ``backend``.
        extra: the ``pip install outlook_sync[extra]`` it needs, if any.
        summary: one line for ``--help`` and error messages.
    """

    name: str
    roles: frozenset[str]
    options: tuple[Option, ...] = ()
    extra: str | None = None
    summary: str = ""

    def option(self, name: str) -> Option | None:
        """The option called ``name``, or ``None``."""
        return next((o for o in self.options if o.name == name), None)


_SQL_OPTIONS = (
    Option(
        name="database",
        kind="str",
        default="sqlite",
        help='"sqlite" (a file) or "postgresql" (a DSN from the environment)',
    ),
    Option(name="path", kind="path", help='the SQLite file (database = "sqlite")'),
    Option(
        name="dsn_env",
        kind="env",
        help='environment variable holding the PostgreSQL DSN (database = "postgresql")',
    ),
)

#: The ``sql`` backend's sub-table naming the host's own tables (``docs/sql.md``).
SQL_MAPPING_KEY = "mapping"

#: Every backend the configuration file can name.
BACKENDS: tuple[BackendSpec, ...] = (
    BackendSpec(
        name="memory",
        roles=frozenset({"calendar", "state"}),
        options=(
            Option(
                name="name",
                kind="str",
                help="calendars with the same name are one calendar within a process",
            ),
            Option(
                name="demo", kind="bool", default=False, help="start with a few sample appointments"
            ),
        ),
        summary="held in this process's memory (demos and tests)",
    ),
    BackendSpec(
        name="sql",
        roles=frozenset({"calendar"}),
        options=(
            *_SQL_OPTIONS,
            Option(
                name="user_id",
                kind="str",
                help="the user's id in the Säljstöd database (default: user)",
            ),
            Option(
                name="busy_timeout_seconds",
                kind="float",
                help="how long a write waits for a host transaction's lock (default 5)",
            ),
        ),
        summary="the Säljstöd SQL database (SQLite or PostgreSQL)",
    ),
    BackendSpec(
        name="sqlite",
        roles=frozenset({"state"}),
        options=(Option(name="path", kind="path", required=True, help="the state database file"),),
        summary="sync state in a SQLite file",
    ),
    BackendSpec(
        name="postgresql",
        roles=frozenset({"state"}),
        options=(
            Option(
                name="dsn_env",
                kind="env",
                required=True,
                help="environment variable holding the PostgreSQL DSN",
            ),
        ),
        extra="postgres",
        summary="sync state in PostgreSQL",
    ),
    BackendSpec(
        name="graph",
        roles=frozenset({"calendar"}),
        options=(
            Option(name="tenant_id", kind="str", help="the Microsoft Entra tenant (id or domain)"),
            Option(name="client_id", kind="str", help="the app registration's client id"),
            Option(
                name="client_secret_env",
                kind="env",
                help="environment variable holding the client secret (app-only access)",
            ),
            Option(
                name="token_env",
                kind="env",
                help="environment variable holding a ready bearer token",
            ),
            Option(
                name="mailbox",
                kind="str",
                help="the user's mailbox (UPN or id); required for app-only access",
            ),
            Option(name="calendar", kind="str", help="calendar id (default: the main calendar)"),
            Option(
                name="base_url",
                kind="str",
                help="Graph endpoint, e.g. the emulator's http://127.0.0.1:8765/v1.0",
            ),
        ),
        extra="graph",
        summary="Exchange / Outlook 365 over Microsoft Graph",
    ),
    BackendSpec(
        name="com",
        roles=frozenset({"calendar"}),
        options=(
            Option(
                name="calendar",
                kind="str",
                help="folder path of the calendar (default: the default calendar)",
            ),
        ),
        extra="com",
        summary="desktop Outlook on this Windows machine, over COM",
    ),
)

_BACKENDS_BY_NAME = {spec.name: spec for spec in BACKENDS}


@attrs.frozen(kw_only=True)
class BackendConfig:
    """One configured backend: its spec and its validated options.

    ``options`` holds plain values; ``"env"`` options hold the *name* of the environment
    variable. :meth:`secret` reads the variable when the backend is built.
    """

    section: str
    spec: BackendSpec
    options: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def name(self) -> str:
        """The backend's name (``"sql"``, ``"graph"``, ...)."""
        return self.spec.name

    def get(self, name: str, default: Any = None) -> Any:
        """An option's value, else its default, else ``default``."""
        if name in self.options:
            return self.options[name]
        option = self.spec.option(name)
        if option is not None and option.default is not None:
            return option.default
        return default

    def require(self, name: str, why: str = "") -> Any:
        """An option that this configuration needs.

        Raises:
            ConfigurationError: the option is not set (``key`` = ``section.name``).
        """
        value = self.get(name)
        if value is None or value == "":
            reason = f" ({why})" if why else ""
            raise ConfigurationError(
                f"{self.section}.{name} is required for backend {self.name!r}{reason}",
                key=f"{self.section}.{name}",
            )
        return value

    def secret(self, name: str, environ: Mapping[str, str] | None = None) -> Secret | None:
        """The secret held by the environment variable that option ``name`` names.

        Returns ``None`` when the option is not set.

        Raises:
            ConfigurationError: the option names a variable that is unset or empty.
        """
        variable = self.get(name)
        if variable is None:
            return None
        env = os.environ if environ is None else environ
        value = env.get(variable, "")
        if not value:
            raise ConfigurationError(
                f"{self.section}.{name} names the environment variable {variable}, "
                "which is not set",
                key=f"{self.section}.{name}",
            )
        return Secret(value, source=variable)


@attrs.frozen(kw_only=True)
class LoggingConfig:
    """The ``[logging]`` section.

    Attributes:
        level: ``debug``, ``info``, ``warning`` or ``error``.
        format: ``text`` (for people) or ``json`` (one object per line, for collectors).
        file: a file to append to instead of standard error.
    """

    level: str = "warning"
    format: str = "text"
    file: Path | None = None


@attrs.frozen(kw_only=True)
class Config:
    """A validated configuration.

    Attributes:
        path: the file it was read from (``None`` when parsed from text).
        user: whose calendars are synced (the state store's key).
        saljstod, outlook: the backends of the two sides.
        state: where the sync keeps links, cursors and logs (default: the SQLite file
            ``outlook-sync-state.db`` beside the configuration file).
        policy: conflict, deletion and guard settings.
        watch_interval: seconds between syncs in ``outlook-sync watch``.
        logging: the ``[logging]`` section.
    """

    path: Path | None
    user: str
    saljstod: BackendConfig
    outlook: BackendConfig
    state: BackendConfig
    policy: SyncPolicy = attrs.field(factory=SyncPolicy)
    watch_interval: float = 60.0
    logging: LoggingConfig = attrs.field(factory=LoggingConfig)


# -- parsing ------------------------------------------------------------------------


def _unknown(key: str, known: list[str]) -> ConfigurationError:
    leaf = key.rsplit(".", 1)[-1]
    if any(word in leaf.lower() for word in _SECRET_WORDS) and not leaf.endswith("_env"):
        where = f"name it with {leaf}_env" if f"{leaf}_env" in known else "see the *_env options"
        return ConfigurationError(
            f"{key}: secrets are not read from the configuration file; put the value in an "
            f"environment variable and {where}",
            key=key,
        )
    close = difflib.get_close_matches(leaf, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
    return ConfigurationError(f"unknown key {key}{hint}", key=key)


def _table(data: Mapping[str, Any], key: str, *, required: bool) -> Mapping[str, Any]:
    value = data.get(key)
    if value is None:
        if required:
            raise ConfigurationError(f"the [{key}] section is missing", key=key)
        return {}
    if not isinstance(value, dict):
        raise ConfigurationError(f"{key} must be a table ([{key}])", key=key)
    return value


def _typed(key: str, kind: str, value: Any, base: Path | None) -> Any:
    expected = {"str": str, "path": str, "env": str, "bool": bool}.get(kind)
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        ok = expected is not None and isinstance(value, expected)
    if not ok:
        shown = {
            "path": "a string (a file path)",
            "env": "a string (an environment variable name)",
            "str": "a string",
            "bool": "true or false",
            "int": "an integer",
            "float": "a number",
        }[kind]
        raise ConfigurationError(
            f"{key} must be {shown}, not {type(value).__name__} {value!r}"
            if kind != "env"
            else f"{key} must be {shown}",
            key=key,
        )
    if kind == "path":
        path = Path(value).expanduser()
        return path if path.is_absolute() or base is None else base / path
    if kind == "env" and not value.replace("_", "").isalnum():
        raise ConfigurationError(
            f"{key} must name an environment variable (letters, digits, _), not a value",
            key=key,
        )
    if kind == "float":
        return float(value)
    return value


def _backend(
    data: Mapping[str, Any],
    section: str,
    role: str,
    base: Path | None,
    backends: Sequence[BackendSpec] = BACKENDS,
) -> BackendConfig:
    table = _table(data, section, required=True)
    name = table.get("backend")
    allowed = sorted(s.name for s in backends if role in s.roles)
    if name is None:
        raise ConfigurationError(
            f"{section}.backend is missing; choose one of {', '.join(allowed)}",
            key=f"{section}.backend",
        )
    by_name = {spec.name: spec for spec in backends}
    spec = by_name.get(name) if isinstance(name, str) else None
    if spec is None or role not in spec.roles:
        raise ConfigurationError(
            f"{section}.backend = {name!r} is not a {role} backend; choose one of "
            f"{', '.join(allowed)}",
            key=f"{section}.backend",
        )
    known = [o.name for o in spec.options]
    options: dict[str, Any] = {}
    for key, value in table.items():
        if key == "backend":
            continue
        if key == SQL_MAPPING_KEY and spec.name == "sql":
            # [saljstod.mapping]: the host's own tables; SqlMapping.from_config checks it
            if not isinstance(value, dict):
                raise ConfigurationError(f"{section}.{key} must be a table", key=f"{section}.{key}")
            options[key] = value
            continue
        option = spec.option(key)
        if option is None:
            raise _unknown(f"{section}.{key}", known)
        options[key] = _typed(f"{section}.{key}", option.kind, value, base)
    for option in spec.options:
        if option.required and option.name not in options:
            raise ConfigurationError(
                f"{section}.{option.name} is required for backend {name!r}: {option.help}",
                key=f"{section}.{option.name}",
            )
    return BackendConfig(section=section, spec=spec, options=options)


#: ``[policy]`` keys: (SyncPolicy attribute, kind).
POLICY_KEYS: dict[str, tuple[str, str]] = {
    # config key: (SyncPolicy attribute, kind)
    "conflict": ("conflict", "str"),
    "merge_fallback": ("merge_fallback", "str"),
    "saljstod_deletions": ("saljstod_deletions", "str"),
    "outlook_deletions": ("outlook_deletions", "str"),
    "mass_delete_share": ("mass_delete_share", "float"),
    "mass_delete_min": ("mass_delete_min", "int"),
    "keep_deleted_days": ("keep_deleted", "days"),
    "lock_ttl_minutes": ("lock_ttl", "minutes"),
    "read_only": ("read_only", "sides"),
}


def _policy(data: Mapping[str, Any]) -> SyncPolicy:
    table = _table(data, "policy", required=False)
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        if key not in POLICY_KEYS:
            raise _unknown(f"policy.{key}", list(POLICY_KEYS))
        attr, kind = POLICY_KEYS[key]
        if kind in ("days", "minutes"):
            number = _typed(f"policy.{key}", "float", value, None)
            if number < 0:
                raise ConfigurationError(f"policy.{key} must be >= 0", key=f"policy.{key}")
            kwargs[attr] = dt.timedelta(**{kind: number})
        elif kind == "sides":
            kwargs[attr] = _sides(f"policy.{key}", value)
        else:
            kwargs[attr] = _typed(f"policy.{key}", kind, value, None)
    for attr, value in kwargs.items():  # one at a time, so an error names its key
        _policy_value(attr, {attr: value})
    return _policy_value(None, kwargs)


def _sides(key: str, value: Any) -> frozenset[Side]:
    """``read_only = ["outlook"]``: a list of side names."""
    allowed = " or ".join(f'"{side.value}"' for side in Side)
    example = 'e.g. read_only = ["outlook"]'
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ConfigurationError(
            f"{key} must be a list of sides ({allowed}), not {type(value).__name__} "
            f"{value!r}; {example}",
            key=key,
        )
    sides = {side.value: side for side in Side}
    for name in value:
        if name not in sides:
            raise ConfigurationError(
                f"{key}: {name!r} is not a side; use {allowed} ({example})", key=key
            )
    return frozenset(sides[name] for name in value)


def _policy_value(attr: str | None, kwargs: dict[str, Any]) -> SyncPolicy:
    try:
        return SyncPolicy(**kwargs)
    except ConfigurationError as exc:
        name = attr or exc.key or ""
        key = next((k for k, (a, _) in POLICY_KEYS.items() if a == name), name)
        raise ConfigurationError(f"policy.{key}: {exc}", key=f"policy.{key}") from exc


def _logging(data: Mapping[str, Any], base: Path | None) -> LoggingConfig:
    table = _table(data, "logging", required=False)
    known = ["level", "format", "file"]
    for key in table:
        if key not in known:
            raise _unknown(f"logging.{key}", known)
    level = _typed("logging.level", "str", table.get("level", "warning"), None).lower()
    if level not in ("debug", "info", "warning", "error"):
        raise ConfigurationError(
            f"logging.level = {level!r}; use debug, info, warning or error", key="logging.level"
        )
    fmt = _typed("logging.format", "str", table.get("format", "text"), None)
    if fmt not in ("text", "json"):
        raise ConfigurationError(
            f"logging.format = {fmt!r}; use text or json", key="logging.format"
        )
    file = table.get("file")
    path = _typed("logging.file", "path", file, base) if file else None
    return LoggingConfig(level=level, format=fmt, file=path)


#: The top-level keys and sections of the file.
TOP_LEVEL = (
    "user", "saljstod", "outlook", "state", "policy", "filter", "directions", "watch", "logging",
    "server",  # server mode's own section, read by outlook_sync.server.config
)

#: ``[filter]`` keys: (SyncFilter attribute, kind).
FILTER_KEYS: dict[str, str] = {
    "categories": "names",
    "exclude_categories": "names",
    "include_private": "bool",
    "start_from": "when",
    "start_until": "when",
}

#: ``[directions]``: ``default`` sets every field unit; a unit's own key overrides it.
DIRECTION_DEFAULT_KEY = "default"


def _when(key: str, value: Any) -> dt.datetime | dt.date:
    """A TOML date (kept a date), or date-time (local time when it has no offset)."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.astimezone()
    if isinstance(value, dt.date):
        return value
    raise ConfigurationError(
        f"{key} must be a TOML date (2026-01-01) or date-time (2026-01-01T08:00:00+01:00), "
        f"not {type(value).__name__} {value!r}",
        key=key,
    )


def _filter(data: Mapping[str, Any]) -> SyncFilter | None:
    table = _table(data, "filter", required=False)
    if not table:
        return None
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        kind = FILTER_KEYS.get(key)
        name = f"filter.{key}"
        if kind is None:
            raise _unknown(name, list(FILTER_KEYS))
        if kind == "names":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigurationError(
                    f'{name} must be a list of strings, e.g. ["Kund"]', key=name
                )
            kwargs[key] = frozenset(value)
        elif kind == "bool":
            kwargs[key] = _typed(name, "bool", value, None)
        else:
            kwargs[key] = _when(name, value)
    try:
        made = SyncFilter(**kwargs)
    except ConfigurationError as exc:
        raise ConfigurationError(f"filter.{exc.key}: {exc}", key=f"filter.{exc.key}") from exc
    lower, upper = made.start_from, made.start_until
    if lower is not None and upper is not None and _instant(upper) <= _instant(lower):
        raise ConfigurationError(
            "filter.start_until must be after filter.start_from", key="filter.start_until"
        )
    return made


def _instant(value: dt.datetime | dt.date) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)


def _directions(data: Mapping[str, Any]) -> tuple[tuple[str, Direction], ...] | None:
    table = _table(data, "directions", required=False)
    if not table:
        return None
    known = [DIRECTION_DEFAULT_KEY, *FIELD_UNITS]
    choices = ", ".join(d.value for d in Direction)
    chosen: dict[str, Direction] = {}
    for key, value in table.items():
        name = f"directions.{key}"
        if key not in known:
            raise _unknown(name, known)
        try:
            chosen[key] = Direction(value)
        except ValueError:
            raise ConfigurationError(f"{name} = {value!r}; use {choices}", key=name) from None
    default = chosen.pop(DIRECTION_DEFAULT_KEY, Direction.BOTH)
    units = {unit: chosen.get(unit, default) for unit in FIELD_UNITS}
    return tuple(sorted((u, d) for u, d in units.items() if d is not Direction.BOTH))


def _with_scope(policy: SyncPolicy, data: Mapping[str, Any]) -> SyncPolicy:
    """The policy with the ``[filter]`` and ``[directions]`` sections applied."""
    changes: dict[str, Any] = {}
    chosen_filter = _filter(data)
    if chosen_filter is not None:
        changes["filter"] = chosen_filter
    directions = _directions(data)
    if directions is not None:
        changes["directions"] = directions
    return attrs.evolve(policy, **changes) if changes else policy


def parse_config(
    data: Mapping[str, Any],
    *,
    path: Path | None = None,
    backends: Sequence[BackendSpec] = BACKENDS,
) -> Config:
    """Validate an already-parsed TOML document.

    Args:
        data: the document, as ``tomllib`` returns it.
        path: the file it came from; relative paths in it are relative to its folder.
        backends: the backends it may name (default: the built-in ones; the command
            line adds the installed third-party ones).

    Raises:
        ConfigurationError: a key is unknown, missing or of the wrong kind (``key``
            names it).
    """
    base = path.parent if path is not None else None
    top = list(TOP_LEVEL)
    for key in data:
        if key not in top:
            raise _unknown(key, top)
    user = data.get("user")
    if not isinstance(user, str) or not user.strip():
        raise ConfigurationError(
            "user must be set to the user whose calendars are synced (a non-empty string)",
            key="user",
        )
    watch = _table(data, "watch", required=False)
    for key in watch:
        if key != "interval_seconds":
            raise _unknown(f"watch.{key}", ["interval_seconds"])
    interval = _typed("watch.interval_seconds", "float", watch.get("interval_seconds", 60), None)
    if interval <= 0:
        raise ConfigurationError("watch.interval_seconds must be > 0", key="watch.interval_seconds")
    if "state" in data:
        state = _backend(data, "state", "state", base, backends)
    elif base is not None:  # the default: a SQLite file beside the configuration file
        state = BackendConfig(
            section="state",
            spec=_BACKENDS_BY_NAME["sqlite"],
            options={"path": base / DEFAULT_STATE_NAME},
        )
    else:
        state = BackendConfig(section="state", spec=_BACKENDS_BY_NAME["memory"])
    return Config(
        path=path,
        user=user.strip(),
        saljstod=_backend(data, "saljstod", "calendar", base, backends),
        outlook=_backend(data, "outlook", "calendar", base, backends),
        state=state,
        policy=_with_scope(_policy(data), data),
        watch_interval=interval,
        logging=_logging(data, base),
    )


def find_config(
    explicit: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """Where the configuration file is: ``explicit``, else ``$OUTLOOK_SYNC_CONFIG``, else
    ``./outlook-sync.toml``."""
    env = os.environ if environ is None else environ
    if explicit is not None:
        return Path(explicit)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    return Path(DEFAULT_CONFIG_NAME)


def load_config(
    path: str | os.PathLike[str], *, backends: Sequence[BackendSpec] = BACKENDS
) -> Config:
    """Read and validate the configuration file at ``path``.

    ``backends``: see :func:`parse_config`.

    Raises:
        ConfigurationError: the file is missing, is not valid TOML (the message gives
            the line), or fails validation (``key`` names the entry).
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            f"no configuration file at {file}; create one with `outlook-sync init`",
            key=None,
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the configuration file {file}: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{file} is not valid TOML: {exc}") from exc
    return parse_config(data, path=file.resolve(), backends=backends)


def sql_calendar_options(config: BackendConfig) -> dict[str, Any]:
    """The ``SqlCalendar`` keyword options a ``[saljstod]`` SQL section sets: the host's
    table mapping (``[saljstod.mapping]``) and the bounded wait for a busy database
    (``busy_timeout_seconds``). The single-user commands and server mode build their
    calendars with the same options."""
    options: dict[str, Any] = {}
    if config.get("mapping") is not None:
        options["mapping"] = config.get("mapping")
    if config.get("busy_timeout_seconds") is not None:
        options["busy_timeout"] = dt.timedelta(seconds=float(config.get("busy_timeout_seconds")))
    return options
