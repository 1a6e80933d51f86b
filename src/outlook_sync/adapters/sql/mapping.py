"""Where the activities live in the host's database, and how a row becomes an Event.

:class:`SqlMapping` names the tables and columns (the defaults are the shipped reference
schema); every name is checked to be a plain identifier and is always double-quoted,
so a mapping read from a configuration file cannot inject SQL
(:class:`~outlook_sync.errors.ConfigurationError` otherwise). :class:`RowCodec` is the
one place where a database row turns into an :class:`~outlook_sync.model.Event` and
back; a row that cannot be read becomes a :class:`~outlook_sync.model.BrokenItem` with
the reason, never an exception that stops a listing.

Storage conventions (documented in ``docs/sql.md``):

- ``starts_at``/``ends_at``: ``timestamptz`` on PostgreSQL; ISO-8601 text with offset
  on SQLite (what the adapter writes). For a host that keeps local wall times without
  offset (``timestamp without time zone``), ``naive_time_zone`` names their zone: they
  are read in it and written as wall times in it. Without it, a value without offset
  makes the row broken (it is never guessed).
- ``time_zone``: the IANA zone the activity was written in; the instants are shown
  in it. An unknown name keeps the instant as stored (nothing is lost).
- All-day activities: the flag is set and the dates are the stored instants' dates
  in the row's zone (UTC if none); the adapter writes midnight UTC. End is exclusive.
- ``categories``: one text, names separated by ``category_separator``.
- ``show_as``: text values, translated through ``show_as_values``; an unknown value
  makes the row broken (it is not guessed).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs

from outlook_sync.adapters.sql.dialect import Dialect, quote, validate_identifier
from outlook_sync.errors import ConfigurationError, InvalidEventError
from outlook_sync.model import BrokenItem, Event, Item, ShowAs

__all__ = [
    "ActivityColumns",
    "DeletionLog",
    "ParticipantColumns",
    "RowCodec",
    "SoftDelete",
    "SqlMapping",
]


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
    starts_at: str = "starts_at"
    ends_at: str = "ends_at"
    all_day: str | None = "all_day"
    time_zone: str | None = "time_zone"
    location: str | None = "location"
    notes: str | None = "notes"
    categories: str | None = "categories"
    show_as: str | None = "show_as"
    private: str | None = "private"
    reminder_minutes: str | None = "reminder_minutes"
    created_by: str | None = "created_by"
    #: Incremented on every change (by the host application or a trigger).
    version: str = "version"
    #: Set by the database server on every insert and update (trigger or default).
    changed_at: str = "changed_at"

    def __attrs_post_init__(self) -> None:
        _names(ActivityColumns, attrs.asdict(self), prefix="activities")


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
    """A table a trigger fills with ``(activity id, user, server time)`` on every removal."""

    table: str = "activity_deletions"
    activity_id: str = "activity_id"
    user_id: str = "user_id"
    deleted_at: str = "deleted_at"

    def __attrs_post_init__(self) -> None:
        _names(DeletionLog, attrs.asdict(self), prefix="deletion_log")


@attrs.frozen(kw_only=True)
class SoftDelete:
    """A column that marks an activity deleted instead of removing the row.

    ``kind="timestamp"``: deleted when the column is not NULL; the adapter writes the
    server time. ``kind="flag"``: deleted when the column equals ``deleted_value``
    (``True`` for a boolean column, ``1`` for an integer one); the adapter writes it.
    """

    column: str = "deleted_at"
    kind: Literal["timestamp", "flag"] = "timestamp"
    deleted_value: bool | int = True

    def __attrs_post_init__(self) -> None:
        validate_identifier(self.column, key="soft_delete.column")
        if self.kind not in ("timestamp", "flag"):
            raise ConfigurationError(
                "soft_delete.kind must be 'timestamp' or 'flag'", key="soft_delete.kind"
            )


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
            configured, or a value is out of range. ``key`` names the setting.
    """

    activities: ActivityColumns = attrs.Factory(ActivityColumns)
    participants: ParticipantColumns = attrs.Factory(ParticipantColumns)
    deletion_log: DeletionLog | None = attrs.Factory(DeletionLog)
    soft_delete: SoftDelete | None = None
    #: PostgreSQL schema holding the tables (``None``: the connection's search_path).
    schema: str | None = None
    #: ``"integer"`` ids are sent to the database as ints; ``"text"`` as strings.
    id_type: Literal["integer", "text"] = "integer"
    show_as_values: Mapping[str, ShowAs] = attrs.field(factory=_default_show_as)
    category_separator: str = ";"
    naive_time_zone: str | None = attrs.field(default=None, validator=_check_zone)

    def __attrs_post_init__(self) -> None:
        if self.schema is not None:
            validate_identifier(self.schema, key="schema")
        if self.deletion_log is None and self.soft_delete is None:
            raise ConfigurationError(
                "configure deletion_log, soft_delete or both: host deletions must be seen",
                key="deletion_log",
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


#: The content columns in the order RowCodec selects them (after id, version, changed_at,
#: partner key).
_CONTENT = (
    "subject",
    "starts_at",
    "ends_at",
    "all_day",
    "time_zone",
    "location",
    "notes",
    "categories",
    "show_as",
    "private",
    "reminder_minutes",
)
_TEXT = frozenset({"subject", "time_zone", "location", "notes", "categories", "show_as"})


class _Broken(Exception):
    """A row cannot be read; the message is the quarantine reason."""


class RowCodec:
    """Converts activity rows <-> events for one mapping and dialect."""

    def __init__(self, mapping: SqlMapping, dialect: Dialect) -> None:
        self._m = mapping
        self._d = dialect
        self._show_as = dict(mapping.show_as_values)
        self._show_as_db: dict[ShowAs, str] = {}
        for text, value in self._show_as.items():
            self._show_as_db.setdefault(value, text)
        self._naive = (
            None if mapping.naive_time_zone is None else zoneinfo.ZoneInfo(mapping.naive_time_zone)
        )
        self._zones: dict[str, dt.tzinfo | None] = {}

    # -- reading -----------------------------------------------------------------

    def select_list(self, a: str = "a", p: str = "p") -> str:
        """The columns to select, with table aliases ``a`` (activity) and ``p`` (participant)."""
        cols = self._m.activities
        partner = self._m.participants.partner_key
        out = [
            f"{a}.{quote(cols.id)}",
            f"{a}.{quote(cols.version)}",
            f"{a}.{quote(cols.changed_at)}",
            f"{p}.{quote(partner)}",
        ]
        for name in _CONTENT:
            column = getattr(cols, name)
            if column is None:
                out.append("NULL")
            elif name in _TEXT and self._d.name == "sqlite":
                # Read bytes and decode here: a row with broken UTF-8 must become a
                # BrokenItem, not an exception that ends the whole listing.
                out.append(f"CAST({a}.{quote(column)} AS BLOB)")
            else:
                out.append(f"{a}.{quote(column)}")
        return ", ".join(out)

    def item(self, row: Sequence[Any]) -> Item | BrokenItem:
        """The Item for a row selected with :meth:`select_list`, or a BrokenItem."""
        item_id = str(row[0])
        partner = self.partner(row[3])
        try:
            content = row[4 : 4 + len(_CONTENT)]
            event = self._event(content, last_modified=self._d.timestamp_value(row[2]))
            return Item(id=item_id, version=str(row[1]), event=event, partner_key=partner)
        except _Broken as exc:
            reason = str(exc)
        except InvalidEventError as exc:
            reason = str(exc)
        except (ValueError, TypeError, OverflowError) as exc:
            reason = f"unreadable row: {exc}"
        return BrokenItem(id=item_id, reason=reason, partner_key=partner)

    @staticmethod
    def partner(raw: Any) -> str | None:
        """A partner key as read from the participants row."""
        if raw is None or raw == "":
            return None
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return text[:1024]

    def _text(self, name: str, raw: Any) -> str:
        if raw is None:
            return ""
        if isinstance(raw, bytes | memoryview):
            try:
                return bytes(raw).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _Broken(f"{name} is not valid UTF-8 (broken encoding)") from exc
        return str(raw)

    def _zone(self, name: str) -> dt.tzinfo | None:
        if name not in self._zones:
            try:
                self._zones[name] = zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                self._zones[name] = None  # unknown zone: keep the stored instant
        return self._zones[name]

    def _instant(self, name: str, raw: Any, zone: dt.tzinfo | None, all_day: bool) -> dt.datetime:
        if raw is None:
            raise _Broken(f"{name} is NULL")
        value: object = raw
        if isinstance(raw, str | bytes):
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            try:
                value = dt.datetime.fromisoformat(text.strip())
            except ValueError:
                raise _Broken(f"{name} {text[:40]!r} is not an ISO 8601 timestamp") from None
        elif isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
            value = dt.datetime.combine(raw, dt.time())
        if not isinstance(value, dt.datetime):
            raise _Broken(f"{name} is a {type(raw).__name__}, not a timestamp")
        if value.tzinfo is None:
            if all_day:  # a plain date, or a local midnight: the date is what counts
                return value.replace(tzinfo=zone or dt.UTC)
            if self._naive is None:
                raise _Broken(f"{name} has no UTC offset (naive) and no naive_time_zone is set")
            value = value.replace(tzinfo=self._naive)
        return value if zone is None else value.astimezone(zone)

    def _event(self, values: Sequence[Any], *, last_modified: dt.datetime) -> Event:
        v = dict(zip(_CONTENT, values, strict=True))
        text = {name: self._text(name, v[name]) for name in _TEXT}
        zone = self._zone(text["time_zone"]) if text["time_zone"] else None
        all_day = self._flag("all_day", v["all_day"])
        start_zone = zone or (dt.UTC if all_day else None)
        start = self._instant("starts_at", v["starts_at"], start_zone, all_day)
        end = self._instant("ends_at", v["ends_at"], start_zone, all_day)
        show_as = ShowAs.BUSY
        if self._m.activities.show_as is not None and v["show_as"] is not None:
            if text["show_as"] not in self._show_as:
                raise _Broken(f"show_as {text['show_as'][:40]!r} is not a known value")
            show_as = self._show_as[text["show_as"]]
        reminder = v["reminder_minutes"]
        if reminder is not None and (isinstance(reminder, bool) or not isinstance(reminder, int)):
            raise _Broken(f"reminder_minutes {reminder!r} is not an integer")
        separator = self._m.category_separator
        return Event(
            subject=text["subject"],
            start=start.date() if all_day else start,
            end=end.date() if all_day else end,
            all_day=all_day,
            location=text["location"],
            body=text["notes"],
            categories=tuple(c for c in text["categories"].split(separator) if c.strip()),
            show_as=show_as,
            private=self._flag("private", v["private"]),
            reminder_minutes=reminder,
            last_modified=last_modified,
        )

    @staticmethod
    def _flag(name: str, raw: Any) -> bool:
        if raw is None:
            return False
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int) and raw in (0, 1):
            return bool(raw)
        raise _Broken(f"{name} {raw!r} is not a boolean")

    # -- writing -----------------------------------------------------------------

    def values(self, event: Event) -> dict[str, Any]:
        """Column name -> parameter for the mapped content columns of ``event``.

        Raises:
            InvalidEventError: a value the mapping cannot store (e.g. a show-as with no
                database value in ``show_as_values``).
        """
        cols = self._m.activities
        if event.all_day:
            start: Any = dt.datetime.combine(event.start, dt.time(), dt.UTC)
            end: Any = dt.datetime.combine(event.end, dt.time(), dt.UTC)
            zone = None
        else:
            assert isinstance(event.start, dt.datetime)
            assert isinstance(event.end, dt.datetime)
            start, end = event.start, event.end
            zone = start.tzinfo.key if isinstance(start.tzinfo, zoneinfo.ZoneInfo) else None
        if self._naive is not None:
            # the host keeps local wall times without offset (timestamp without time zone)
            start = start.astimezone(self._naive).replace(tzinfo=None)
            end = end.astimezone(self._naive).replace(tzinfo=None)
        if self._d.name == "sqlite":
            start, end = start.isoformat(), end.isoformat()
        show_as = self._show_as_db.get(event.show_as)
        if show_as is None and cols.show_as is not None:
            raise InvalidEventError(
                f"show_as {event.show_as.value!r} has no database value in the mapping",
                field="show_as",
            )
        content: dict[str, Any] = {
            "subject": event.subject,
            "starts_at": start,
            "ends_at": end,
            "all_day": event.all_day,
            "time_zone": zone,
            "location": event.location,
            "notes": event.body,
            "categories": self._m.category_separator.join(event.categories),
            "show_as": show_as,
            "private": event.private,
            "reminder_minutes": event.reminder_minutes,
        }
        return {
            getattr(cols, name): value
            for name, value in content.items()
            if getattr(cols, name) is not None
        }
