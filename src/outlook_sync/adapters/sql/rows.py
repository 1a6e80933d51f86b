"""How an activity row becomes an Event and back: :class:`RowCodec`, the one place.

A row that cannot be read becomes a :class:`~outlook_sync.model.BrokenItem` with the
reason, never an exception that stops a listing.

Storage conventions (documented in ``docs/sql.md``):

- ``starts_at``/``ends_at``: ``timestamptz`` on PostgreSQL; ISO-8601 text with offset
  on SQLite (what the adapter writes). With ``naive_time_zone`` values without offset
  (``timestamp without time zone``, naive text) are wall times in that zone, read and
  written so -- ``changed_at`` included. With ``start_time``/``end_time`` the two columns
  hold a date and a local time (``DATE`` + ``TIME``, or ``'YYYY-MM-DD'`` + ``'HH:MM'``).
- ``time_zone``: the IANA zone the activity was written in; the instants are shown
  in it. An unknown name keeps the instant as stored (nothing is lost).
- All-day activities: the flag is set (or, without an ``all_day`` column, the start
  time is NULL) and the dates are the stored dates; the end date is exclusive -- except
  with separate date and time columns, where it is the last day (inclusive), as hosts
  with a date column write it.
- ``categories``: one text, names separated by ``category_separator``.
- ``show_as``: text values, translated through ``show_as_values``; an unknown value
  makes the row broken (it is not guessed).
- A field with a codec (``SqlMapping.codecs``, integer flags detected in the catalog)
  goes through ``codec.decode`` first when read and ``codec.encode`` last when written.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any

from outlook_sync.adapters.sql.mapping import CONTENT_FIELDS, ColumnCodec, SqlMapping
from outlook_sync.errors import InvalidEventError
from outlook_sync.model import BrokenItem, Event, Item, ShowAs
from outlook_sync.sql.dialect import Dialect, quote

__all__ = ["NAIVE_TEXT_FORMAT", "RowCodec"]

_TEXT = frozenset({"subject", "time_zone", "location", "notes", "categories", "show_as"})
#: where the content columns of a :meth:`RowCodec.select_list` row end
_CONTENT_END = 4 + len(CONTENT_FIELDS)
# RowCodec._event unpacks the content columns in this order
assert CONTENT_FIELDS == (
    "subject", "starts_at", "ends_at", "start_time", "end_time", "all_day", "time_zone",
    "location", "notes", "categories", "show_as", "private", "reminder_minutes",
)
_from_iso = dt.datetime.fromisoformat
_BINARY = (bytes, memoryview)
#: How naive timestamps are written as text on SQLite (SQLite's own ``datetime()`` format).
NAIVE_TEXT_FORMAT = "%Y-%m-%d %H:%M:%S"


class _Broken(Exception):
    """A row cannot be read; the message is the quarantine reason."""


def _partner_column(mapping: SqlMapping, a: str, p: str) -> str:
    if mapping.participants is None:
        assert mapping.activities.partner_key is not None
        return f"{a}.{quote(mapping.activities.partner_key)}"
    return f"{p}.{quote(mapping.participants.partner_key)}"


class RowCodec:
    """Converts activity rows <-> events for one mapping, dialect and set of codecs."""

    def __init__(
        self,
        mapping: SqlMapping,
        dialect: Dialect,
        *,
        codecs: Mapping[str, ColumnCodec] | None = None,
        changed_at_naive: bool = False,
    ) -> None:
        self._m = mapping
        self._d = dialect
        self._changed_naive = changed_at_naive
        self._codecs: dict[str, ColumnCodec] = {**(codecs or {}), **mapping.codecs}
        self._show_as = dict(mapping.show_as_values)
        self._show_as_db: dict[ShowAs, str] = {}
        for text, value in self._show_as.items():
            self._show_as_db.setdefault(value, text)
        self._naive = (
            None if mapping.naive_time_zone is None else zoneinfo.ZoneInfo(mapping.naive_time_zone)
        )
        self._zones: dict[str, dt.tzinfo | None] = {}
        #: the fields whose raw values need decoding (text read as bytes, a codec), as
        #: ``(position in the content columns, name, is text, codec)``, in selection
        #: order; the rest are taken as read
        self._decode_at = tuple(
            (index, name, name in _TEXT, self._codecs.get(name))
            for index, name in enumerate(CONTENT_FIELDS)
            if name in _TEXT or name in self._codecs
        )
        cols = mapping.activities
        self._split_columns = cols.start_time is not None
        #: split date and time columns without an all-day column: a NULL start time
        #: marks an all-day activity
        self._all_day_by_time = self._split_columns and cols.all_day is None
        self._has_show_as = cols.show_as is not None

    @property
    def naive_zone(self) -> zoneinfo.ZoneInfo | None:
        """The zone of wall times stored without offset, if configured."""
        return self._naive

    def changed_at_naive(self) -> bool:
        """Whether ``changed_at`` holds wall times without offset (in ``naive_zone``)."""
        return self._changed_naive

    # -- reading -----------------------------------------------------------------

    def select_list(self, a: str = "a", p: str = "p") -> str:
        """The columns to select, with table aliases ``a`` (activity) and ``p`` (participant)."""
        cols = self._m.activities
        out = [
            f"{a}.{quote(cols.id)}",
            f"{a}.{quote(cols.version)}",
            f"{a}.{quote(cols.changed_at)}",
            _partner_column(self._m, a, p),
        ]
        for name in CONTENT_FIELDS:
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
        return self.item_with_id(row, str(row[0]))

    def item_with_id(self, row: Sequence[Any], item_id: str) -> Item | BrokenItem:
        """:meth:`item` for a row whose id the caller already has as text (``str(row[0])``)."""
        raw_partner = row[3]
        partner = None if raw_partner is None else self.partner(raw_partner)
        try:
            changed = self.changed_at(row[2])
            event = self._event(row[4:_CONTENT_END])
            return Item(id=item_id, version=str(row[1]), event=event, partner_key=partner,
                        changed=changed)
        except (_Broken, InvalidEventError) as exc:
            reason = str(exc)
        except (ValueError, TypeError, OverflowError) as exc:
            reason = f"unreadable row: {exc}"
        return BrokenItem(id=item_id, reason=reason, partner_key=partner)

    def changed_at(self, raw: Any) -> dt.datetime:
        """A ``changed_at`` value as an aware datetime (naive ones in ``naive_zone``).

        Raises:
            ValueError: not a timestamp, or naive with no ``naive_time_zone``.
        """
        value = raw
        if isinstance(raw, bytes):
            value = raw.decode("utf-8")
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value.strip())
        if not isinstance(value, dt.datetime):
            raise ValueError(f"changed_at {raw!r} is not a timestamp")
        if value.tzinfo is None:
            if self._naive is None:
                raise ValueError("changed_at has no UTC offset and no naive_time_zone is set")
            value = value.replace(tzinfo=self._naive)
        return value

    @staticmethod
    def partner(raw: Any) -> str | None:
        """A partner key as read from the participants row."""
        if raw is None:
            return None
        if isinstance(raw, bytes | memoryview):
            raw = bytes(raw).decode("utf-8", "replace")
        text = str(raw).strip()
        # an empty key (a host's '' or X'') means "not linked", never an error that
        # would stop the user's whole listing
        return text[:1024] or None

    def _zone(self, name: str) -> dt.tzinfo | None:
        try:
            return self._zones[name]
        except KeyError:
            pass
        zone: dt.tzinfo | None
        try:
            zone = zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = None  # unknown zone: keep the stored instant
        self._zones[name] = zone
        return zone

    @staticmethod
    def _parse(name: str, raw: Any, kind: type) -> Any:
        if isinstance(raw, str):
            text = raw.strip()
            try:
                if kind is dt.time:
                    return dt.time.fromisoformat(text)
                if kind is dt.date and len(text) <= 10:
                    return dt.date.fromisoformat(text)
                return dt.datetime.fromisoformat(text)
            except ValueError:
                raise _Broken(f"{name} {text[:40]!r} is not ISO 8601") from None
        return raw

    def _instant(
        self, name: str, raw: Any, zone: dt.tzinfo | None, all_day: bool
    ) -> dt.datetime:
        if raw is None:
            raise _Broken(f"{name} is NULL")
        value: dt.datetime
        if isinstance(raw, str):  # SQLite's text (what _parse does, without the call)
            text = raw.strip()
            try:
                value = _from_iso(text)
            except ValueError:
                raise _Broken(f"{name} {text[:40]!r} is not ISO 8601") from None
        elif isinstance(raw, dt.datetime):
            value = raw
        elif isinstance(raw, dt.date):
            value = dt.datetime.combine(raw, dt.time())
        else:
            raise _Broken(f"{name} is a {type(raw).__name__}, not a timestamp")
        if value.tzinfo is None:
            if all_day:  # a plain date, or a local midnight: the date is what counts
                return value.replace(tzinfo=zone or dt.UTC)
            if self._naive is None:
                raise _Broken(f"{name} has no UTC offset (naive) and no naive_time_zone is set")
            value = value.replace(tzinfo=self._naive)
        return value if zone is None else value.astimezone(zone)

    def _split_instant(
        self, name: str, day: Any, time: Any, zone: dt.tzinfo | None, all_day: bool
    ) -> dt.datetime:
        if day is None:
            raise _Broken(f"{name} date is NULL")
        date = self._parse(name, day, dt.date)
        if isinstance(date, dt.datetime):
            date = date.date()
        if not isinstance(date, dt.date):
            raise _Broken(f"{name} is a {type(day).__name__}, not a date")
        if all_day:
            return dt.datetime.combine(date, dt.time(), zone or dt.UTC)
        clock = self._parse(f"{name} time", time, dt.time)
        if isinstance(clock, dt.timedelta):  # some drivers return TIME as an interval
            clock = (dt.datetime.min.replace(tzinfo=dt.UTC) + clock).time()
        if not isinstance(clock, dt.time):
            raise _Broken(f"{name} time is a {type(time).__name__}, not a time")
        assert self._naive is not None  # required by SqlMapping with split columns
        local = dt.datetime.combine(date, clock.replace(tzinfo=None), self._naive)
        return local if zone is None else local.astimezone(zone)

    def _event(self, values: Sequence[Any]) -> Event:
        # The checks run in a fixed order (decoding in column order, zone, all-day,
        # start, end, show-as, reminder, private, then the Event's own validation):
        # the first problem found is the quarantine reason.
        v = list(values)
        for index, name, is_text, codec in self._decode_at:
            raw = v[index]
            if raw is None:
                continue
            if is_text and isinstance(raw, _BINARY):
                try:
                    raw = (raw if isinstance(raw, bytes) else bytes(raw)).decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise _Broken(f"{name} is not valid UTF-8 (broken encoding)") from exc
            if codec is not None:
                try:
                    raw = codec.decode(raw)
                except (ValueError, TypeError) as exc:
                    raise _Broken(f"{name}: {exc}") from None
            v[index] = raw
        (subject, starts_at, ends_at, start_time, end_time, all_day_raw, zone_name, location,
         notes, categories, show_as_raw, private, reminder) = v
        zone_text = "" if zone_name is None else str(zone_name)
        zone = self._zone(zone_text) if zone_text else None
        if self._all_day_by_time:
            all_day = start_time is None
        else:
            all_day = all_day_raw if type(all_day_raw) is bool else self._flag(
                "all_day", all_day_raw)
        start_zone = zone or (dt.UTC if all_day else None)
        if self._split_columns:
            start = self._split_instant("starts_at", starts_at, start_time, start_zone, all_day)
            end = self._split_instant("ends_at", ends_at, end_time, start_zone, all_day)
            if all_day:  # a date column's whole-day end is the last day (inclusive)
                end += dt.timedelta(days=1)
        else:
            start = self._instant("starts_at", starts_at, start_zone, all_day)
            end = self._instant("ends_at", ends_at, start_zone, all_day)
        show_as = ShowAs.BUSY
        if self._has_show_as and show_as_raw is not None:
            show_as_text = str(show_as_raw)
            found = self._show_as.get(show_as_text)
            if found is None:
                raise _Broken(f"show_as {show_as_text[:40]!r} is not a known value")
            show_as = found
        if reminder is not None and (isinstance(reminder, bool) or not isinstance(reminder, int)):
            raise _Broken(f"reminder_minutes {reminder!r} is not an integer")
        if type(private) is not bool:
            private = self._flag("private", private)
        categories_text = "" if categories is None else str(categories)
        return Event(
            subject="" if subject is None else str(subject),
            start=start.date() if all_day else start,
            end=end.date() if all_day else end,
            all_day=all_day,
            location="" if location is None else str(location),
            body="" if notes is None else str(notes),
            categories=tuple(
                [c for c in categories_text.split(self._m.category_separator) if c.strip()]
            ) if categories_text else (),
            show_as=show_as,
            private=private,
            reminder_minutes=reminder,
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

    def _wall(self, value: dt.datetime) -> Any:
        """A naive wall time in ``naive_zone`` as the dialect stores it."""
        assert self._naive is not None
        local = value.astimezone(self._naive).replace(tzinfo=None)
        return local.isoformat() if self._d.name == "sqlite" else local

    def _times(self, event: Event) -> dict[str, Any]:
        cols = self._m.activities
        split = cols.start_time is not None
        if event.all_day:
            assert not isinstance(event.start, dt.datetime)
            if split:
                midnight = None if cols.all_day is None else dt.time()
                last_day = event.end - dt.timedelta(days=1)
                return {
                    "starts_at": event.start, "ends_at": last_day,
                    "start_time": midnight, "end_time": midnight, "time_zone": None,
                }
            return {
                "starts_at": dt.datetime.combine(event.start, dt.time(), dt.UTC),
                "ends_at": dt.datetime.combine(event.end, dt.time(), dt.UTC),
                "time_zone": None,
            }
        assert isinstance(event.start, dt.datetime)
        assert isinstance(event.end, dt.datetime)
        start, end = event.start, event.end
        zone = start.tzinfo.key if isinstance(start.tzinfo, zoneinfo.ZoneInfo) else None
        if split:
            assert self._naive is not None
            local_start = start.astimezone(self._naive)
            local_end = end.astimezone(self._naive)
            return {
                "starts_at": local_start.date(), "ends_at": local_end.date(),
                "start_time": local_start.time(), "end_time": local_end.time(),
                "time_zone": zone,
            }
        if self._naive is not None:
            return {"starts_at": self._wall(start), "ends_at": self._wall(end), "time_zone": zone}
        return {"starts_at": start, "ends_at": end, "time_zone": zone}

    def values(self, event: Event) -> dict[str, Any]:
        """Column name -> parameter for the mapped content columns of ``event``.

        Raises:
            InvalidEventError: a value the mapping cannot store (e.g. a show-as with no
                database value in ``show_as_values``), or a codec refused it.
        """
        cols = self._m.activities
        show_as = self._show_as_db.get(event.show_as)
        if show_as is None and cols.show_as is not None:
            raise InvalidEventError(
                f"show_as {event.show_as.value!r} has no database value in the mapping",
                field="show_as",
            )
        content: dict[str, Any] = {
            "subject": event.subject,
            "all_day": event.all_day,
            "location": event.location,
            "notes": event.body,
            "categories": self._m.category_separator.join(event.categories),
            "show_as": show_as,
            "private": event.private,
            "reminder_minutes": event.reminder_minutes,
            **self._times(event),
        }
        out: dict[str, Any] = {}
        for name, value in content.items():
            column = getattr(cols, name)
            if column is None:
                continue
            if self._d.name == "sqlite" and isinstance(value, dt.date | dt.time):
                value = value.isoformat()
            codec = self._codecs.get(name)
            if codec is not None and value is not None:
                try:
                    value = codec.encode(value)
                except (ValueError, TypeError) as exc:
                    raise InvalidEventError(f"{name}: {exc}", field=name) from None
            out[column] = value
        return out

    def watermark(self, value: dt.datetime, now: dt.datetime, *, naive: bool | None = None) -> Any:
        """``value`` as a parameter comparable with ``changed_at`` (inclusive ``>=``).

        Naive columns compare wall times: when the zone turned its clocks back between
        ``value`` and ``now`` the wall time is moved back by the difference, so a row
        stamped in the repeated hour is not missed. ``naive`` overrides the kind of
        column compared with (the deletion log's ``deleted_at``).
        """
        if not (self.changed_at_naive() if naive is None else naive):
            return self._d.timestamp_param(value)
        assert self._naive is not None
        early = value.astimezone(self._naive).utcoffset() or dt.timedelta(0)
        late = now.astimezone(self._naive).utcoffset() or dt.timedelta(0)
        shifted = value - max(dt.timedelta(0), early - late)
        local = shifted.astimezone(self._naive).replace(tzinfo=None, microsecond=0)
        return local.strftime(NAIVE_TEXT_FORMAT) if self._d.name == "sqlite" else local

    def now_sql(self) -> str:
        """SQL for "now" in ``changed_at``'s own representation (server clock)."""
        if not self.changed_at_naive():
            return self._d.now_sql
        assert self._naive is not None
        if self._d.name == "postgresql":
            key = self._naive.key.replace("'", "")  # an IANA name: letters, /, _, -, +
            return f"(clock_timestamp() AT TIME ZONE '{key}')"
        return "outlook_sync_naive_now()"  # registered on the SQLite connection

    def naive_now_text(self) -> str:
        """Now as naive wall-time text in ``naive_zone`` (SQLite's ``outlook_sync_naive_now``)."""
        assert self._naive is not None
        return dt.datetime.now(self._naive).strftime(NAIVE_TEXT_FORMAT)
