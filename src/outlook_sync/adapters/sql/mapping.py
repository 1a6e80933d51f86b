"""Where the activities live in the host's database: :class:`SqlMapping` and its parts.

:class:`SqlMapping` names the tables and columns (the defaults are the shipped reference
schema); every name is checked to be a plain identifier and is always double-quoted,
so a mapping read from a configuration file cannot inject SQL
(:class:`~outlook_sync.errors.ConfigurationError` otherwise). :meth:`SqlMapping.from_config`
builds one from the ``[saljstod.mapping]`` table of the TOML file.

Layouts beyond the reference schema (``docs/sql.md``, "Existing host schemas"):

- **date and time in separate columns**: ``starts_at``/``ends_at`` hold the dates and
  ``start_time``/``end_time`` the local wall times (read in ``naive_time_zone``, which is
  then required). Without an ``all_day`` column a NULL start time means all-day.
- **naive timestamps** (no offset): read and written as wall times in ``naive_time_zone``,
  ``changed_at`` included.
- **flags stored as integers or characters**: a :class:`Flag` codec names the two values;
  integer columns are detected and written as ``1``/``0`` by themselves.
- **the user as a column of the activity row**: ``participants=None`` and
  ``activities.owner`` / ``activities.partner_key`` name the columns.
- **per-column codecs**: ``codecs={"notes": MyCodec()}`` -- any object with
  ``decode(raw) -> value`` and ``encode(value) -> raw`` (:class:`ColumnCodec`) converts
  between the database value and the value the adapter expects for that field.

Whether the columns' database types fit the mapping is checked when the
:class:`~outlook_sync.adapters.sql.SqlCalendar` is built (``columns.py``).
"""

from __future__ import annotations

import importlib
import zoneinfo
from collections.abc import Mapping
from typing import Any, Literal, Protocol, runtime_checkable

import attrs

from outlook_sync.errors import ConfigurationError
from outlook_sync.model import ShowAs
from outlook_sync.sql.dialect import quote, validate_identifier

__all__ = [
    "CONTENT_FIELDS",
    "ActivityColumns",
    "ColumnCodec",
    "DeletionLog",
    "Flag",
    "ParticipantColumns",
    "SoftDelete",
    "SqlMapping",
]

#: The model fields a mapping may give a column (and a codec), in selection order.
CONTENT_FIELDS = (
    "subject",
    "starts_at",
    "ends_at",
    "start_time",
    "end_time",
    "all_day",
    "time_zone",
    "location",
    "notes",
    "categories",
    "show_as",
    "private",
    "reminder_minutes",
)


def _names(cls: type, values: Mapping[str, object], *, prefix: str) -> None:
    for field in attrs.fields(cls):
        value = values[field.name]
        if value is not None:
            validate_identifier(value, key=f"{prefix}.{field.name}")


@attrs.frozen(kw_only=True)
class ActivityColumns:
    """The activities table. ``None`` for an optional column the host does not have."""

    table: str = "activities"
    id: str = "id"
    subject: str = "subject"
    #: The start: a timestamp, or the start *date* when ``start_time`` is set.
    starts_at: str = "starts_at"
    #: The end: a timestamp, or the end *date* when ``end_time`` is set.
    ends_at: str = "ends_at"
    #: The local start time (``TIME`` or ``'HH:MM[:SS]'`` text) beside a date column.
    start_time: str | None = None
    end_time: str | None = None
    all_day: str | None = "all_day"
    time_zone: str | None = "time_zone"
    location: str | None = "location"
    notes: str | None = "notes"
    categories: str | None = "categories"
    show_as: str | None = "show_as"
    private: str | None = "private"
    reminder_minutes: str | None = "reminder_minutes"
    created_by: str | None = "created_by"
    #: The user whose activity it is, when there is no participants table.
    owner: str | None = None
    #: That user's Outlook appointment id (partner key), when there is no participants table.
    partner_key: str | None = None
    #: Incremented on every change (by the host application or a trigger).
    version: str = "version"
    #: Set by the database server on every insert and update (trigger or default).
    changed_at: str = "changed_at"

    def __attrs_post_init__(self) -> None:
        _names(ActivityColumns, attrs.asdict(self), prefix="activities")
        if (self.start_time is None) != (self.end_time is None):
            raise ConfigurationError(
                "activities.start_time and activities.end_time go together",
                key="activities.start_time",
            )
        if (self.owner is None) != (self.partner_key is None):
            raise ConfigurationError(
                "activities.owner and activities.partner_key go together",
                key="activities.owner",
            )


@attrs.frozen(kw_only=True)
class ParticipantColumns:
    """Whose calendars an activity is on; the partner key is per user, so it lives here."""

    table: str = "activity_participants"
    activity_id: str = "activity_id"
    user_id: str = "user_id"
    #: The id of the user's Outlook appointment for this activity (the partner key).
    partner_key: str = "outlook_id"

    def __attrs_post_init__(self) -> None:
        _names(ParticipantColumns, attrs.asdict(self), prefix="participants")


@attrs.frozen(kw_only=True)
class DeletionLog:
    """A table a trigger fills with ``(activity id, user, server time)`` on every removal.

    A removal includes a *reassignment* (the participants row's user, or the owner
    column, changes): the trigger logs the previous user (see ``docs/sql.md``).
    """

    table: str = "activity_deletions"
    activity_id: str = "activity_id"
    user_id: str = "user_id"
    deleted_at: str = "deleted_at"
    #: ``deleted_at`` holds wall times without offset in ``naive_time_zone`` (as text
    #: ``YYYY-MM-DD HH:MM:SS`` on SQLite); ``False``: with offset/UTC, like the reference.
    naive: bool = False

    def __attrs_post_init__(self) -> None:
        _names(DeletionLog, {**attrs.asdict(self), "naive": None}, prefix="deletion_log")


@attrs.frozen(kw_only=True)
class SoftDelete:
    """A column that marks an activity deleted instead of removing the row.

    ``kind="timestamp"``: deleted when the column is not NULL; the adapter writes the
    server time. ``kind="flag"``: deleted when the column equals ``deleted_value``
    (``True`` for a boolean column, ``1`` for an integer one, ``"J"`` for a character
    one); the adapter writes it, and writes ``alive_value`` when it restores the row.
    """

    column: str = "deleted_at"
    kind: Literal["timestamp", "flag"] = "timestamp"
    deleted_value: bool | int | str = True
    alive_value: bool | int | str | None = None

    def __attrs_post_init__(self) -> None:
        validate_identifier(self.column, key="soft_delete.column")
        if self.kind not in ("timestamp", "flag"):
            raise ConfigurationError(
                "soft_delete.kind must be 'timestamp' or 'flag'", key="soft_delete.kind"
            )


@runtime_checkable
class ColumnCodec(Protocol):
    """The per-column hook: converts between a column's raw value and the adapter's.

    ``decode`` gets the value the driver returned (never ``None``: NULL stays NULL) and
    returns what the adapter expects for that field (text for text fields, a bool for
    flags, a datetime/ISO text for timestamps, an int for reminder minutes); raising
    ``ValueError`` makes the row a quarantined ``BrokenItem`` with the message.
    ``encode`` gets the adapter's value (never ``None``) and returns the parameter to
    store. Both must be pure and inverse to each other for values the host uses.
    """

    def decode(self, raw: Any) -> Any: ...

    def encode(self, value: Any) -> Any: ...


@attrs.frozen
class Flag:
    """A yes/no column stored as two values of the column's own type.

    ``Flag("J", "N")`` for ``char(1)``, ``Flag(1, 0)`` for ``smallint``. Reading any
    other value makes the row broken (it is never guessed).
    """

    true: bool | int | str
    false: bool | int | str

    def decode(self, raw: Any) -> bool:
        value = raw.strip() if isinstance(raw, str) else raw
        if value == self.true and type(value) is type(self.true):
            return True
        if value == self.false and type(value) is type(self.false):
            return False
        raise ValueError(f"{raw!r} is neither {self.true!r} nor {self.false!r}")

    def encode(self, value: Any) -> Any:
        return self.true if value else self.false


def _default_show_as() -> dict[str, ShowAs]:
    return {value.value: value for value in ShowAs}


def _check_zone(_inst: object, _attr: object, value: str | None) -> None:
    if value is None:
        return
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigurationError(
            f"naive_time_zone {value!r} is not a known IANA zone", key="naive_time_zone"
        ) from None


@attrs.frozen(kw_only=True)
class SqlMapping:
    """How :class:`~outlook_sync.adapters.sql.SqlCalendar` finds activities in a database.

    The defaults describe the shipped reference schema. Deletions by the host are seen
    through ``deletion_log`` (a trigger-filled table), ``soft_delete`` (a column), or
    both; at least one is required.

    Raises:
        ConfigurationError: a name is not a plain identifier, no deletion capture is
            configured, a layout needs a setting it lacks, or a value is out of range.
            ``key`` names the setting.
    """

    activities: ActivityColumns = attrs.Factory(ActivityColumns)
    #: ``None`` when the user is a column of the activity row (``activities.owner``).
    participants: ParticipantColumns | None = attrs.Factory(ParticipantColumns)
    deletion_log: DeletionLog | None = attrs.Factory(DeletionLog)
    soft_delete: SoftDelete | None = None
    #: PostgreSQL schema holding the tables (``None``: the connection's search_path).
    schema: str | None = None
    #: ``"integer"`` ids are sent to the database as ints; ``"text"`` as strings.
    id_type: Literal["integer", "text"] = "integer"
    show_as_values: Mapping[str, ShowAs] = attrs.field(factory=_default_show_as)
    category_separator: str = ";"
    naive_time_zone: str | None = attrs.field(default=None, validator=_check_zone)
    #: Per-field codecs (field name as in :data:`CONTENT_FIELDS`). ``changed_at`` takes
    #: none: the watermark is compared with it in SQL (``naive_time_zone`` for naive
    #: timestamps).
    codecs: Mapping[str, ColumnCodec] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        a = self.activities
        if self.schema is not None:
            validate_identifier(self.schema, key="schema")
        if self.deletion_log is None and self.soft_delete is None:
            raise ConfigurationError(
                "configure deletion_log, soft_delete or both: host deletions must be seen",
                key="deletion_log",
            )
        if self.participants is None and a.owner is None:
            raise ConfigurationError(
                "without a participants table, name activities.owner and "
                "activities.partner_key (the user and the Outlook id on the activity row)",
                key="participants",
            )
        if self.participants is not None and a.owner is not None:
            raise ConfigurationError(
                "activities.owner is for schemas without a participants table: set "
                "participants = None (TOML: participants = false)",
                key="activities.owner",
            )
        if self.deletion_log is not None and self.deletion_log.naive and not self.naive_time_zone:
            raise ConfigurationError(
                "deletion_log.naive needs naive_time_zone", key="naive_time_zone"
            )
        if a.start_time is not None and self.naive_time_zone is None:
            raise ConfigurationError(
                "separate date and time columns hold local wall times: set naive_time_zone",
                key="naive_time_zone",
            )
        if self.id_type not in ("integer", "text"):
            raise ConfigurationError("id_type must be 'integer' or 'text'", key="id_type")
        if self.category_separator not in (";", ","):
            # the two characters an Event's category names can never hold
            raise ConfigurationError(
                "category_separator must be ';' or ','", key="category_separator"
            )
        if not all(isinstance(v, ShowAs) for v in self.show_as_values.values()):
            raise ConfigurationError("show_as_values must map to ShowAs", key="show_as_values")
        for name, codec in self.codecs.items():
            if name == "changed_at":
                raise ConfigurationError(
                    "codecs.changed_at: changed_at takes no codec (for timestamps without "
                    "a UTC offset, set naive_time_zone): the watermark is compared with it "
                    "in SQL (changed_at >= ?), so it must hold timestamps the database can "
                    "compare as they are",
                    key="codecs.changed_at",
                )
            if name not in CONTENT_FIELDS:
                raise ConfigurationError(
                    f"codecs: {name!r} is not a mapped field; use one of "
                    f"{', '.join(CONTENT_FIELDS)}",
                    key=f"codecs.{name}",
                )
            if not isinstance(codec, ColumnCodec):
                raise ConfigurationError(
                    f"codecs.{name} needs decode(raw) and encode(value) methods",
                    key=f"codecs.{name}",
                )

    def table(self, name: str) -> str:
        """The quoted, schema-qualified form of a table name."""
        return quote(name) if self.schema is None else f"{quote(self.schema)}.{quote(name)}"

    def db_id(self, item_id: str) -> Any:
        """An item id as the database's id type; ``None`` if it cannot be one."""
        if self.id_type == "text":
            return item_id
        try:
            return int(item_id)
        except ValueError:
            return None

    @classmethod
    def from_config(cls, table: Mapping[str, Any]) -> SqlMapping:
        """A mapping from the ``[saljstod.mapping]`` TOML table (``docs/sql.md``).

        Sub-tables ``activities``, ``participants`` (or ``participants = false``),
        ``deletion_log`` (or ``false``), ``soft_delete``, ``show_as_values`` (host value
        -> show-as name), ``flags`` (field -> ``[true value, false value]``) and
        ``codecs`` (field -> ``"package.module:attribute"``, an object or a class
        instantiated without arguments); plain keys ``schema``, ``id_type``,
        ``category_separator``, ``naive_time_zone``.

        Raises:
            ConfigurationError: an unknown key, a wrong type, or anything
                :class:`SqlMapping` refuses (``key`` is prefixed with ``mapping.``).
        """
        try:
            return _from_config(cls, table)
        except ConfigurationError as exc:
            key = f"mapping.{exc.key}" if getattr(exc, "key", None) else "mapping"
            raise ConfigurationError(f"mapping: {exc}", key=key) from None
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"mapping: {exc}", key="mapping") from None


_PARTS: dict[str, type] = {
    "activities": ActivityColumns,
    "participants": ParticipantColumns,
    "deletion_log": DeletionLog,
    "soft_delete": SoftDelete,
}
_PLAIN = ("schema", "id_type", "category_separator", "naive_time_zone")


def _part(cls: type, name: str, value: Any) -> Any:
    if value is False and name in ("participants", "deletion_log", "soft_delete"):
        return None
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{name} must be a table", key=name)
    known = {f.name for f in attrs.fields(cls)}
    unknown = set(value) - known
    if unknown:
        raise ConfigurationError(
            f"unknown key {name}.{sorted(unknown)[0]}; known: {', '.join(sorted(known))}",
            key=f"{name}.{sorted(unknown)[0]}",
        )
    # TOML has no null: false marks a column the host does not have
    return cls(**{k: (None if v is False else v) for k, v in value.items()})


def _codec(name: str, spec: Any) -> Any:
    if not isinstance(spec, str) or ":" not in spec:
        raise ConfigurationError(
            f"codecs.{name} must be 'package.module:attribute'", key=f"codecs.{name}"
        )
    module_name, _sep, attribute = spec.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            f"codecs.{name}: cannot import {spec!r}: {exc}", key=f"codecs.{name}"
        ) from None
    return found() if isinstance(found, type) else found


def _from_config(cls: type[SqlMapping], table: Mapping[str, Any]) -> SqlMapping:
    known = {*_PARTS, *_PLAIN, "show_as_values", "flags", "codecs"}
    unknown = set(table) - known
    if unknown:
        first = sorted(unknown)[0]
        raise ConfigurationError(
            f"unknown key {first}; known: {', '.join(sorted(known))}", key=first
        )
    kwargs: dict[str, Any] = {k: table[k] for k in _PLAIN if k in table}
    for name, part in _PARTS.items():
        if name in table:
            kwargs[name] = _part(part, name, table[name])
    if "show_as_values" in table:
        values = table["show_as_values"]
        if not isinstance(values, Mapping):
            raise ConfigurationError("show_as_values must be a table", key="show_as_values")
        try:
            kwargs["show_as_values"] = {str(k): ShowAs(v) for k, v in values.items()}
        except ValueError:
            raise ConfigurationError(
                f"show_as_values: use {', '.join(s.value for s in ShowAs)}",
                key="show_as_values",
            ) from None
    codecs: dict[str, Any] = {}
    for name, pair in dict(table.get("flags", {})).items():
        if not isinstance(pair, list) or len(pair) != 2:
            raise ConfigurationError(
                f"flags.{name} must be [true value, false value]", key=f"flags.{name}"
            )
        codecs[name] = Flag(pair[0], pair[1])
    for name, spec in dict(table.get("codecs", {})).items():
        codecs[name] = _codec(name, spec)
    if codecs:
        kwargs["codecs"] = codecs
    return cls(**kwargs)
