"""The backend registry: from a validated configuration to live calendars and a state store.

Theory of operation
-------------------
:mod:`outlook_sync.config` describes, as data, which backends a configuration may name and
what options they take. This module maps each name to a *factory* that builds the object.
Adapters with optional dependencies (Graph: httpx and msal; PostgreSQL: psycopg; COM:
pywin32) are imported only inside their factory, so a machine without an extra can still
run every other backend. When the import fails, the factory raises
:class:`~outlook_sync.errors.ConfigurationError` naming the missing extra
(``pip install 'outlook_sync[graph]'``) and the configuration key that chose it.

Third-party backends plug in by ``pip install``: a distribution declares an entry point
in the group ``outlook_sync.backends`` (:data:`ENTRY_POINT_GROUP`) whose object is a
:class:`BackendPlugin` — the backend's :class:`~outlook_sync.config.BackendSpec` (its
name and options, validated like the built-in ones) and its factories. The
configuration then names it like any other backend; nothing here needs an edit.

``memory`` calendars and state stores are kept per process by name, so that calling
``outlook-sync`` several times in one process (tests, a demo in a notebook) sees the same
calendars. They are gone when the process ends.
"""

from __future__ import annotations

import datetime as dt
import importlib
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs

from outlook_sync.adapters.memory import InMemoryCalendar
from outlook_sync.cli.itemlog import Journal, JournalObserver, Written
from outlook_sync.config import (
    BACKENDS,
    BackendConfig,
    BackendSpec,
    Config,
    sql_calendar_options,
)
from outlook_sync.engine import Synchronizer
from outlook_sync.errors import BackendUnavailableError, ConfigurationError
from outlook_sync.model import Event, Side
from outlook_sync.protocols import Calendar, StateStore
from outlook_sync.state.memory import MemoryStateStore

__all__ = [
    "CALENDAR_FACTORIES",
    "ENTRY_POINT_GROUP",
    "STATE_FACTORIES",
    "BackendPlugin",
    "Wiring",
    "build_calendar",
    "build_state",
    "demo_events",
    "forget_memory",
    "known_backends",
    "load_plugins",
    "memory_calendar",
    "memory_state",
    "sql_connection",
    "wired",
]

#: Third-party modules whose absence means "install the extra".
_EXTRA_MODULES = frozenset(
    {"httpx", "msal", "psycopg", "psycopg_binary", "win32com", "pythoncom", "pywintypes"}
)

#: ``factory(config, side, user, environ, resources)``: build a calendar; register what
#: must be closed afterwards with ``resources.callback(...)``.
CalendarFactory = Callable[[BackendConfig, Side, str, Mapping[str, str], ExitStack], Calendar]
#: ``factory(config, environ, resources)``: build a state store.
StateFactory = Callable[[BackendConfig, Mapping[str, str], ExitStack], StateStore]

_memory_calendars: dict[str, InMemoryCalendar] = {}
_memory_states: dict[str, MemoryStateStore] = {}


def memory_calendar(name: str, *, side: Side | None = None, demo: bool = False) -> InMemoryCalendar:
    """The process-wide in-memory calendar called ``name`` (made on first use).

    Args:
        name: the calendar's name (``[saljstod] name = ...``; default: the side's name).
        side: gives new calendars readable id prefixes (``S1``, ``O1``).
        demo: seed a new calendar with a few sample appointments.
    """
    calendar = _memory_calendars.get(name)
    if calendar is None:
        prefix = {Side.SALJSTOD: "S", Side.OUTLOOK: "O"}.get(side, "item-") if side else "item-"
        calendar = InMemoryCalendar(name=name, id_prefix=prefix)
        if demo:
            for event in demo_events():
                calendar.add(event)
        _memory_calendars[name] = calendar
    return calendar


def memory_state(name: str = "default") -> MemoryStateStore:
    """The process-wide in-memory state store called ``name``."""
    return _memory_states.setdefault(name, MemoryStateStore())


def forget_memory() -> None:
    """Drop every process-wide memory calendar and state store (tests start afresh)."""
    _memory_calendars.clear()
    _memory_states.clear()


def demo_events() -> list[Event]:
    """A few sample Säljstöd activities in the coming week (local time)."""
    today = dt.datetime.now(dt.UTC).astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    day = dt.timedelta(days=1)
    hour = dt.timedelta(hours=1)
    return [
        Event(
            subject="Kundmöte Nordbygg AB",
            start=today + day + 9 * hour,
            end=today + day + 10 * hour,
            location="Stockholm",
            categories=("Kund",),
        ),
        Event(
            subject="Uppföljning offert",
            start=today + 2 * day + 13 * hour,
            end=today + 2 * day + 13.5 * hour,
        ),
        Event(
            subject="Mässa",
            start=(today + 7 * day).date(),
            end=(today + 9 * day).date(),
            all_day=True,
            show_as="out_of_office",
        ),
    ]


def _import(config: BackendConfig, module: str) -> ModuleType:
    """Import an adapter module; a missing optional dependency names the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = (exc.name or "").split(".")[0]
        key = f"{config.section}.backend"
        if missing in _EXTRA_MODULES and config.spec.extra:
            hint = f"pip install 'outlook_sync[{config.spec.extra}]'"
            where = " (desktop Outlook on Windows)" if config.spec.extra == "com" else ""
            raise ConfigurationError(
                f"{key} = {config.name!r} needs the {missing} package{where}: {hint}", key=key
            ) from exc
        raise ConfigurationError(
            f"{key} = {config.name!r} is not available in this installation: {exc}", key=key
        ) from exc


# -- calendars ------------------------------------------------------------------------


def _memory(
    config: BackendConfig, side: Side, _user: str, _env: Mapping[str, str], _res: ExitStack
) -> Calendar:
    return memory_calendar(
        config.get("name") or side.value, side=side, demo=bool(config.get("demo"))
    )


def sql_connection(
    config: BackendConfig, env: Mapping[str, str], *, create: bool = False
) -> tuple[Any, str]:
    """Open the connection a ``sql`` backend names: ``(connection, dialect name)``.

    A SQLite file must exist: a mistyped path is an error, never a new empty database.
    Only ``create=True`` (``outlook-sync db upgrade``, ``init --demo``) makes one.

    Raises:
        ConfigurationError: ``path``/``dsn_env`` missing, or psycopg not installed.
        BackendUnavailableError: the database cannot be opened (message redacted).
    """
    database = config.get("database")
    if database == "sqlite":
        import sqlite3

        path = Path(config.require("path", 'database = "sqlite" reads a file'))
        if not create and not path.is_file():
            raise ConfigurationError(
                f"{config.section}.path: there is no SQLite database at {path} (check the "
                "path; `outlook-sync db upgrade` creates a new one)",
                key=f"{config.section}.path",
            )
        if create and not path.parent.is_dir():
            raise ConfigurationError(
                f"{config.section}.path: the folder {path.parent} does not exist",
                key=f"{config.section}.path",
            )
        try:
            connection = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        except sqlite3.Error as exc:
            raise BackendUnavailableError(
                f"cannot open {path}: {exc}", side=config.section
            ) from exc
        return connection, "sqlite"
    if database in ("postgresql", "postgres"):
        secret = config.secret("dsn_env", env)
        if secret is None:
            config.require("dsn_env", 'database = "postgresql" reads the DSN from it')
            raise AssertionError("unreachable")  # pragma: no cover
        connect = _import(config, "outlook_sync.adapters.sql.connect")
        connection, _label = connect.connect_postgresql(
            secret.reveal(), error=BackendUnavailableError
        )
        return connection, "postgresql"
    raise ConfigurationError(
        f'{config.section}.database = {database!r}; use "sqlite" or "postgresql"',
        key=f"{config.section}.database",
    )


def _sql(
    config: BackendConfig, side: Side, user: str, env: Mapping[str, str], res: ExitStack
) -> Calendar:
    module = _import(config, "outlook_sync.adapters.sql")
    connection, dialect = sql_connection(config, env)
    res.callback(connection.close)
    calendar: Calendar = module.SqlCalendar(
        connection, user=config.get("user_id") or user, dialect=dialect, side=side.value,
        **sql_calendar_options(config),  # [saljstod.mapping]: the host's tables
    )
    return calendar


def _graph(
    config: BackendConfig, side: Side, user: str, env: Mapping[str, str], res: ExitStack
) -> Calendar:
    graph = _import(config, "outlook_sync.adapters.graph")
    base_url = config.get("base_url") or "https://graph.microsoft.com/v1.0"
    token = config.secret("token_env", env)
    secret = None if _is_loopback(base_url) else config.secret("client_secret_env", env)
    mailbox = config.get("mailbox")
    if token is not None:
        tokens = graph.StaticToken(token.reveal())
    elif _is_loopback(base_url):
        # the local emulator takes any token: the example file's client_secret_env
        # must not send the emulator recipe to a sign-in server
        tokens = graph.StaticToken("emulator")
    elif secret is not None:
        tokens = graph.client_credentials_provider(
            config.require("client_id", "app-only access"),
            secret.reveal(),
            tenant=config.require("tenant_id", "app-only access"),
        )
        mailbox = config.require("mailbox", "app-only access reads a named mailbox")
    else:
        tokens = graph.device_code_provider(
            config.require("client_id", "sign-in needs the app registration"),
            tenant=config.get("tenant_id") or "organizations",
            show=lambda text: print(text, file=sys.stderr, flush=True),
        )
    client = graph.GraphClient(base_url, tokens, mailbox=mailbox or "me")
    res.callback(client.close)
    calendar: Calendar = graph.GraphCalendar(
        client, user=mailbox, calendar_id=config.get("calendar")
    )
    return calendar


def _is_loopback(url: str) -> bool:
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


def _on_windows() -> bool:
    return sys.platform == "win32"


def _com(
    config: BackendConfig, side: Side, user: str, env: Mapping[str, str], res: ExitStack
) -> Calendar:
    if not _on_windows():
        raise ConfigurationError(
            f"{config.section}.backend = 'com' needs desktop Outlook on Windows "
            "(pip install 'outlook_sync[com]' there); use 'graph' on this machine",
            key=f"{config.section}.backend",
        )
    module = _import(config, "outlook_sync.adapters.outlook_com")
    calendar: Calendar = module.OutlookComCalendar.connect(calendar=config.get("calendar"))
    return calendar


#: Calendar factories by backend name; a host may add its own before calling ``main``.
CALENDAR_FACTORIES: dict[str, CalendarFactory] = {
    "memory": _memory,
    "sql": _sql,
    "graph": _graph,
    "com": _com,
}


# -- state stores ---------------------------------------------------------------------


def _memory_store(config: BackendConfig, _env: Mapping[str, str], _res: ExitStack) -> StateStore:
    return memory_state(config.get("name") or "default")


def _sqlite_store(config: BackendConfig, _env: Mapping[str, str], res: ExitStack) -> StateStore:
    module = _import(config, "outlook_sync.state.sqlite")
    store = module.SqliteStateStore(config.require("path"))
    res.callback(store.close)
    return store  # type: ignore[no-any-return]


def _postgresql_store(config: BackendConfig, env: Mapping[str, str], res: ExitStack) -> StateStore:
    secret = config.secret("dsn_env", env)
    if secret is None:  # pragma: no cover - dsn_env is required by the config schema
        config.require("dsn_env")
        raise AssertionError("unreachable")
    _import(config, "psycopg")
    module = _import(config, "outlook_sync.state.sql")
    store = module.SqlStateStore.connect_postgresql(secret.reveal())
    res.callback(store.close)
    return store  # type: ignore[no-any-return]


#: State store factories by backend name.
STATE_FACTORIES: dict[str, StateFactory] = {
    "memory": _memory_store,
    "sqlite": _sqlite_store,
    "postgresql": _postgresql_store,
}


# -- third-party backends ---------------------------------------------------------------

#: The entry-point group third-party backends register in.
ENTRY_POINT_GROUP = "outlook_sync.backends"


@attrs.frozen(kw_only=True)
class BackendPlugin:
    """What a third-party backend's entry point names.

    A package declares, for example in its ``pyproject.toml``::

        [project.entry-points."outlook_sync.backends"]
        caldav = "outlook_sync_caldav:PLUGIN"

    where ``PLUGIN = BackendPlugin(spec=BackendSpec(name="caldav", roles=frozenset({"calendar"}),
    options=(...)), calendar=make_calendar)``. The entry point's name must be the spec's.

    Attributes:
        spec: the backend's name, roles and options (validated by the configuration).
        calendar: builds a calendar (roles include ``"calendar"``).
        state: builds a state store (roles include ``"state"``).
    """

    spec: BackendSpec
    calendar: CalendarFactory | None = None
    state: StateFactory | None = None


_plugins: dict[str, BackendPlugin] | None = None
_plugin_errors: dict[str, str] = {}


def load_plugins(*, reload: bool = False) -> dict[str, BackendPlugin]:
    """The backends installed packages register (entry points, read once per process).

    A plugin that fails to load, or names a built-in backend, is left out; the error is
    shown when a configuration names it.
    """
    global _plugins
    if _plugins is not None and not reload:
        return _plugins
    found: dict[str, BackendPlugin] = {}
    _plugin_errors.clear()
    builtin = {spec.name for spec in BACKENDS}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        where = f"entry point {point.name} = {point.value}"
        try:
            plugin = point.load()
            if callable(plugin) and not isinstance(plugin, BackendPlugin):
                plugin = plugin()
        except Exception as exc:  # a broken plugin must not break the others
            _plugin_errors[point.name] = f"{where} failed to load: {type(exc).__name__}: {exc}"
            continue
        problem = None
        if not isinstance(plugin, BackendPlugin):
            problem = "is not an outlook_sync.cli.registry.BackendPlugin"
        elif plugin.spec.name != point.name:
            problem = f"names the backend {plugin.spec.name!r}, not {point.name!r}"
        elif point.name in builtin:
            problem = "replaces a built-in backend, which is not allowed"
        elif ("calendar" in plugin.spec.roles) != (plugin.calendar is not None) or (
            "state" in plugin.spec.roles
        ) != (plugin.state is not None):
            problem = "has no factory for one of its roles"
        if problem is not None:
            _plugin_errors[point.name] = f"{where} {problem}"
            continue
        assert isinstance(plugin, BackendPlugin)
        found[point.name] = plugin
    _plugins = found
    return found


def known_backends() -> tuple[BackendSpec, ...]:
    """Every backend a configuration may name: the built-in ones and the installed ones."""
    return BACKENDS + tuple(plugin.spec for plugin in load_plugins().values())


def plugin_error(name: object) -> str | None:
    """Why the installed backend ``name`` could not be loaded, if it could not."""
    load_plugins()
    return _plugin_errors.get(name) if isinstance(name, str) else None


def build_calendar(
    config: BackendConfig,
    side: Side,
    user: str,
    environ: Mapping[str, str],
    resources: ExitStack,
) -> Calendar:
    """Build one side's calendar.

    Raises:
        ConfigurationError: an option is missing, an extra is not installed, or an
            environment variable named by the configuration is unset.
        BackendError: the backend refused to open (unreachable, bad credentials).
    """
    factory = CALENDAR_FACTORIES.get(config.name)
    plugin = load_plugins().get(config.name)
    if factory is None and plugin is not None:
        factory = plugin.calendar
    if factory is None:
        raise ConfigurationError(
            f"no factory for calendar backend {config.name!r}", key=f"{config.section}.backend"
        )
    return factory(config, side, user, environ, resources)


def build_state(
    config: BackendConfig, environ: Mapping[str, str], resources: ExitStack
) -> StateStore:
    """Build the state store.

    Raises:
        ConfigurationError: see :func:`build_calendar`.
        StateError: the store cannot be opened (a corrupt or newer database).
    """
    factory = STATE_FACTORIES.get(config.name)
    plugin = load_plugins().get(config.name)
    if factory is None and plugin is not None:
        factory = plugin.state
    if factory is None:
        raise ConfigurationError(
            f"no factory for state backend {config.name!r}", key=f"{config.section}.backend"
        )
    return factory(config, environ, resources)


@attrs.define
class Wiring:
    """What a command works with: the configuration, the two calendars, the state."""

    config: Config
    saljstod: Calendar
    outlook: Calendar
    state: StateStore
    sync: Synchronizer
    #: the items the sync wrote, in order (see :mod:`outlook_sync.cli.itemlog`).
    written: list[Written] = attrs.Factory(list)

    def calendar(self, side: Side) -> Calendar:
        """The calendar of ``side``."""
        return self.saljstod if side is Side.SALJSTOD else self.outlook


def _state_for(
    config: BackendConfig, environ: Mapping[str, str], resources: ExitStack, *, writes: bool
) -> StateStore:
    """The state store; a read-only command never creates a database file."""
    if config.name == "sqlite":
        path = Path(config.require("path"))
        if not path.parent.is_dir():
            raise ConfigurationError(
                f"state.path: the folder {path.parent} does not exist (check the path)",
                key="state.path",
            )
        if not writes and not path.exists():
            return MemoryStateStore()  # nothing synced yet: an empty state, no new file
    return build_state(config, environ, resources)


@contextmanager
def wired(
    config: Config,
    environ: Mapping[str, str],
    *,
    calendars: bool = True,
    writes: bool = True,
) -> Iterator[Wiring]:
    """Build everything ``config`` names; close what was opened afterwards.

    The calendars are opened before the state store, so a run that fails to open a
    calendar leaves no new state database behind.

    Args:
        config: the validated configuration.
        environ: where secrets are read from.
        calendars: build the calendars too (commands that only read the state store
            pass ``False`` and get placeholder in-memory calendars, so they work while
            a backend is unreachable).
        writes: the command may write the state (``False``: a missing SQLite state file
            reads as "never synced" and is not created).

    Raises:
        ConfigurationError, BackendError, StateError: see the builders.
    """
    journal = Journal()
    with ExitStack() as resources:
        if calendars:
            saljstod = build_calendar(
                config.saljstod, Side.SALJSTOD, config.user, environ, resources
            )
            outlook = build_calendar(config.outlook, Side.OUTLOOK, config.user, environ, resources)
        else:
            saljstod = InMemoryCalendar(name="(not opened)")
            outlook = InMemoryCalendar(name="(not opened)")
        state = _state_for(config.state, environ, resources, writes=writes)
        sync = Synchronizer(
            saljstod=saljstod, outlook=outlook, state=state, user=config.user, policy=config.policy
        )
        sync.add_observer(JournalObserver(journal))
        yield Wiring(
            config=config,
            saljstod=saljstod,
            outlook=outlook,
            state=state,
            sync=sync,
            written=journal.written,
        )


def _check_registry() -> None:
    """Every backend the configuration may name has a factory (import-time check)."""
    for spec in BACKENDS:
        if "calendar" in spec.roles and spec.name not in CALENDAR_FACTORIES:
            raise RuntimeError(f"calendar backend {spec.name!r} has no factory")
        if "state" in spec.roles and spec.name not in STATE_FACTORIES:
            raise RuntimeError(f"state backend {spec.name!r} has no factory")


_check_registry()
