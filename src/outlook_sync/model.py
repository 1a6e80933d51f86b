"""Frozen value objects: what an appointment is, and what the sync knows about it.

Everything here is validated at construction, so an invalid value never exists: an
:class:`Event` whose end precedes its start, whose datetime is naive, or whose text holds
a lone surrogate raises :class:`~outlook_sync.errors.InvalidEventError` naming the field.
Change a value with :func:`attrs.evolve`, which validates again. A link's
``generation`` (state-store metadata) has a validated-once fast path instead
(:meth:`Link.at_generation`): the copy shares the already validated fields.

An :class:`Event` is content only; what a backend knows about its copy (id, version,
partner key, when it last changed) is the :class:`Item`'s. So one event is shared by
every item holding that content, and no write copies it. Equality of two events is
*content* equality: aware datetimes compare as instants, so the same meeting written in
Europe/Stockholm on one side and in UTC on the other is equal.

Normalisation done at construction (documented, so both sides agree on it):

- body line endings ``\\r\\n`` and ``\\r`` become ``\\n`` (Outlook writes CRLF);
- categories are de-duplicated case-insensitively and sorted (order carries no meaning
  in either product);
- ``show_as`` and ``reminder_minutes`` accept their string / integer forms.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import attrs

from outlook_sync._slots import builder, copier
from outlook_sync.errors import InvalidEventError
from outlook_sync.recurrence.series import Recurrence

__all__ = [
    "MAX_BODY_CHARS",
    "MAX_CATEGORIES",
    "MAX_TEXT_CHARS",
    "BrokenItem",
    "Cursor",
    "Event",
    "Item",
    "Link",
    "Listing",
    "ShowAs",
    "Side",
]

#: Longest subject, location or category name accepted (Outlook's own limit is 255).
MAX_TEXT_CHARS = 255
#: Longest body accepted, in characters. Larger bodies are refused, never truncated.
MAX_BODY_CHARS = 512 * 1024
#: Most categories on one event.
MAX_CATEGORIES = 50
#: Dates outside these years are treated as sentinels or corruption (the OLE zero date
#: 1899-12-30, Outlook's "none" date 4501-01-01, year 1, year 9999).
MIN_YEAR = 1900
MAX_YEAR = 2999
#: Longest reminder accepted: four weeks, which is Outlook's largest choice in its UI
#: times 13 (a year); anything larger is not a reminder but garbage.
MAX_REMINDER_MINUTES = 525_600


class Side(enum.Enum):
    """The two sides of a sync."""

    SALJSTOD = "saljstod"
    OUTLOOK = "outlook"

    # Members are singletons compared by identity: hash them by identity too, in C.
    # Enum's own __hash__ is Python code, and sides key the sync's dicts and sets.
    __hash__ = object.__hash__

    #: The opposite side (an attribute of each member: read for every item a sync
    #: plans, where a property's call cost three times as much).
    other: Side

    def __str__(self) -> str:
        return str(self.value)


Side.SALJSTOD.other = Side.OUTLOOK
Side.OUTLOOK.other = Side.SALJSTOD


class ShowAs(enum.Enum):
    """How the time shows in the user's free/busy (Outlook's BusyStatus / showAs)."""

    FREE = "free"
    TENTATIVE = "tentative"
    BUSY = "busy"
    OUT_OF_OFFICE = "out_of_office"
    WORKING_ELSEWHERE = "working_elsewhere"


def _check_text(field: str, value: str, *, limit: int, multiline: bool) -> None:
    if len(value) > limit:
        raise InvalidEventError(
            f"{field} is {len(value)} characters long; at most {limit} are accepted",
            field=field,
        )
    bad = (_REFUSED_MULTILINE if multiline else _REFUSED).search(value)
    if bad is None:
        return
    if "\ud800" <= bad.group() <= "\udfff":  # what UTF-8 cannot encode
        raise InvalidEventError(f"{field} holds a lone surrogate (broken unicode)", field=field)
    raise InvalidEventError(
        f"{field} holds the control character U+{ord(bad.group()):04X}", field=field
    )


# Unicode category Cc is exactly U+0000..U+001F and U+007F..U+009F; U+D800..U+DFFF are
# surrogates, which a str holds only as broken unicode (one search finds either).
_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_REFUSED_MULTILINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _text(field: str, *, limit: int = MAX_TEXT_CHARS, multiline: bool = False) -> Any:
    def validate(_inst: object, _attr: object, value: object) -> None:
        if not isinstance(value, str):
            raise InvalidEventError(f"{field} must be a str, not {type(value).__name__}",
                                    field=field)
        _check_text(field, value, limit=limit, multiline=multiline)

    return validate


def _normalise_body(value: object) -> Any:
    if isinstance(value, str):
        return value.replace("\r\n", "\n").replace("\r", "\n")
    return value


def _normalise_categories(value: object) -> Any:
    if isinstance(value, str) or not isinstance(value, Iterable):
        return value  # the validator explains the problem
    seen: dict[str, str] = {}
    for name in value:
        if isinstance(name, str):
            name = name.strip()
            if name:
                seen.setdefault(name.casefold(), name)
        else:
            return tuple(value)
    return tuple(seen[key] for key in sorted(seen))


def _validate_categories(_inst: object, _attr: object, value: object) -> None:
    if not isinstance(value, tuple):
        raise InvalidEventError("categories must be an iterable of str", field="categories")
    if len(value) > MAX_CATEGORIES:
        raise InvalidEventError(
            f"{len(value)} categories; at most {MAX_CATEGORIES} are accepted",
            field="categories",
        )
    for name in value:
        if not isinstance(name, str):
            raise InvalidEventError("categories must be str", field="categories")
        _check_text("categories", name, limit=MAX_TEXT_CHARS, multiline=False)
        if "," in name or ";" in name:
            raise InvalidEventError(
                f"category {name!r} holds a list separator", field="categories"
            )


def _to_show_as(value: object) -> Any:
    if isinstance(value, str):
        try:
            return ShowAs(value)
        except ValueError:
            return value
    return value


def _validate_show_as(_inst: object, _attr: object, value: object) -> None:
    if not isinstance(value, ShowAs):
        raise InvalidEventError(
            f"show_as {value!r} is not one of {[s.value for s in ShowAs]}", field="show_as"
        )


def _validate_reminder(_inst: object, _attr: object, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEventError("reminder_minutes must be an int or None",
                                field="reminder_minutes")
    if not 0 <= value <= MAX_REMINDER_MINUTES:
        raise InvalidEventError(
            f"reminder_minutes {value} is outside 0..{MAX_REMINDER_MINUTES}",
            field="reminder_minutes",
        )


def check_aware(field: str, value: object) -> dt.datetime:
    """Return ``value`` if it is a timezone-aware datetime, else raise.

    Raises:
        InvalidEventError: ``value`` is not a datetime, or is naive.
    """
    if not isinstance(value, dt.datetime):
        raise InvalidEventError(f"{field} must be a datetime, not {type(value).__name__}",
                                field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidEventError(
            f"{field} is a naive datetime ({value.isoformat()}); attach a time zone",
            field=field,
        )
    return value


def _check_year(field: str, value: dt.date) -> None:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise InvalidEventError(
            f"{field} {value.isoformat()} is outside the years {MIN_YEAR}..{MAX_YEAR} "
            "(a sentinel or corrupt date)",
            field=field,
        )


def _item_tuple(value: Iterable[Item]) -> tuple[Item, ...]:
    return tuple(value)


def _broken_tuple(value: Iterable[BrokenItem]) -> tuple[BrokenItem, ...]:
    return tuple(value)


def _id_set(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


def _validate_recurrence(_inst: object, _attr: object, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, Recurrence):
        raise InvalidEventError(
            f"recurrence must be a Recurrence or None, not {type(value).__name__}",
            field="recurrence",
        )
    for _key, occurrence in value.changed:
        if not isinstance(occurrence, Event):
            raise InvalidEventError(
                f"a changed occurrence must be an Event, not {type(occurrence).__name__}",
                field="recurrence",
            )


def _validate_optional_aware(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        check_aware(attr.name, value)


@attrs.frozen(kw_only=True)
class Event:
    """The content that a Säljstöd activity and an Outlook appointment share.

    Timed events have timezone-aware ``start``/``end`` datetimes (``end >= start``).
    All-day events (``all_day=True``) have ``datetime.date`` values and an *exclusive*
    end date, as in iCalendar and Graph: a one-day event on 3 March has
    ``start=date(…, 3, 3), end=date(…, 3, 4)``.

    Raises:
        InvalidEventError: on any invalid value; ``field`` names it.
    """

    subject: str = attrs.field(validator=_text("subject"))
    # Compared as UTC instants: Python never calls a datetime in a repeated DST hour
    # (fold=1) equal to the same instant written in another zone.
    start: dt.datetime | dt.date = attrs.field(eq=lambda value: _instant(value))
    end: dt.datetime | dt.date = attrs.field(eq=lambda value: _instant(value))
    all_day: bool = False
    location: str = attrs.field(default="", validator=_text("location"))
    body: str = attrs.field(
        default="",
        converter=_normalise_body,
        validator=_text("body", limit=MAX_BODY_CHARS, multiline=True),
    )
    categories: tuple[str, ...] = attrs.field(
        default=(), converter=_normalise_categories, validator=_validate_categories
    )
    show_as: ShowAs = attrs.field(
        default=ShowAs.BUSY, converter=_to_show_as, validator=_validate_show_as
    )
    private: bool = False
    reminder_minutes: int | None = attrs.field(default=None, validator=_validate_reminder)
    #: The series this event is the master of (``None`` for a single appointment). Its
    #: start is the event's start; the event's other fields are every occurrence's
    #: content unless the series changed that occurrence.
    recurrence: Recurrence | None = attrs.field(default=None, validator=_validate_recurrence)

    def __attrs_post_init__(self) -> None:
        for name in ("all_day", "private"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidEventError(f"{name} must be a bool", field=name)
        if self.all_day:
            for name in ("start", "end"):
                value = getattr(self, name)
                if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
                    raise InvalidEventError(
                        f"{name} of an all-day event must be a date, not a "
                        f"{type(value).__name__} (all-day events are dates, not midnights)",
                        field=name,
                    )
                _check_year(name, value)
            if not self.end > self.start:
                raise InvalidEventError(
                    f"end {self.end} must be after start {self.start} "
                    "(all-day end dates are exclusive)",
                    field="end",
                )
        else:
            start = check_aware("start", self.start)
            end = check_aware("end", self.end)
            _check_year("start", start)
            _check_year("end", end)
            # as instants: same-zone datetimes compare by wall clock, which is wrong in
            # the repeated hour of an autumn DST change
            if _instant(end) < _instant(start):
                raise InvalidEventError(
                    f"end {end.isoformat()} is before start {start.isoformat()}", field="end"
                )
        if self.recurrence is not None:
            self._check_recurrence(self.recurrence)

    def _check_recurrence(self, recurrence: Recurrence) -> None:
        if recurrence.all_day != self.all_day:
            kind = "an all-day" if recurrence.all_day else "a timed"
            raise InvalidEventError(
                f"{kind} series cannot be the recurrence of "
                f"{'an all-day' if self.all_day else 'a timed'} event",
                field="recurrence",
            )
        if _instant(recurrence.start) != _instant(self.start):
            raise InvalidEventError(
                f"the series starts at {recurrence.start}, the event at {self.start}; "
                "a series master starts with its first occurrence",
                field="recurrence",
            )

    @property
    def match_key(self) -> tuple[object, object, str]:
        """What identifies "the same appointment" across two calendars never linked before.

        Start, end and the subject with case and white space normalised. Used by the
        first full sync to link instead of copy.
        """
        return (_instant(self.start), _instant(self.end), normalise_subject(self.subject))

    def content(self) -> tuple[object, ...]:
        """A hashable, zone-independent tuple of the content (for fingerprints and sorting).

        A series master ends with its recurrence: rule, zone, UTC start, the sorted
        cancelled original starts and the changed occurrences with their own content.
        A single appointment's tuple has no such element, so its content (and every
        digest made from it) is what it was before series existed.
        """
        plain = (
            self.subject,
            _instant(self.start).isoformat(),
            _instant(self.end).isoformat(),
            self.all_day,
            self.location,
            self.body,
            self.categories,
            self.show_as.value,
            self.private,
            -1 if self.reminder_minutes is None else self.reminder_minutes,
        )
        if self.recurrence is None:
            return plain
        return (*plain, _recurrence_content(self.recurrence))


#: The content fields, in the order used by merges and reports.
CONTENT_FIELDS: tuple[str, ...] = (
    "subject",
    "start",
    "end",
    "all_day",
    "location",
    "body",
    "categories",
    "show_as",
    "private",
    "reminder_minutes",
    "recurrence",
)


def _instant(value: dt.datetime | dt.date) -> dt.datetime | dt.date:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return value


def _recurrence_content(recurrence: Recurrence) -> tuple[object, ...]:
    def key(value: dt.datetime | dt.date) -> str:
        return _instant(value).isoformat()  # original starts are UTC datetimes or dates

    return (
        recurrence.rule,
        recurrence.time_zone,
        key(recurrence.start),
        tuple(sorted(key(k) for k in recurrence.cancelled)),
        tuple((key(k), event.content()) for k, event in recurrence.changed),
    )


def normalise_subject(subject: str) -> str:
    """Case-fold and collapse white space: how subjects are compared for matching."""
    return " ".join(unicodedata.normalize("NFC", subject).casefold().split())


def _nonempty_id(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if type(value) is str and 0 < len(value) <= 1024:
        return  # the common case, checked first: every item and link has two or more
    if not isinstance(value, str) or not value:
        raise InvalidEventError(f"{attr.name} must be a non-empty str", field=attr.name)
    if len(value) > 1024:
        raise InvalidEventError(f"{attr.name} is longer than 1024 characters", field=attr.name)


def _exactly_or(check: Any, kind: type) -> Any:
    """``check``, with the common case first: a value of exactly ``kind`` passes at once
    (every backend write builds an item; the full check runs for anything else)."""

    def validate(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
        if type(value) is not kind:
            check(inst, attr, value)

    return validate


def _optional_id(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not (type(value) is str and 0 < len(value) <= 1024):
        _nonempty_id(inst, attr, value)


@attrs.frozen(kw_only=True)
class Item:
    """An event as a backend stores it: its id, its version, and the partner key.

    Attributes:
        id: the backend's key (Outlook EntryID / Graph id; Säljstöd activity id).
        version: opaque; changes whenever the backend item changes (Graph changeKey,
            a version column, a modification time). Writes carry it back as the
            expected version.
        event: the content.
        partner_key: the id of the partner on the other side that the sync stored on the
            item, if any. It lets a crash between "created" and "link saved" be
            recovered without a duplicate, and lets lost link state be rebuilt.
        changed: when the backend last changed the item, by the backend's own clock
            (Graph ``lastModifiedDateTime``, a modification column, Outlook's
            ``LastModificationTime``), or ``None`` when the backend does not say. The
            item's metadata, not content: it is not part of equality, and the event
            is shared as it is (two items holding the same content share one
            :class:`Event`). The ``newest_wins`` conflict policy compares it.
    """

    id: str = attrs.field(validator=_nonempty_id)
    version: str = attrs.field(validator=_exactly_or(attrs.validators.instance_of(str), str))
    event: Event = attrs.field(validator=_exactly_or(attrs.validators.instance_of(Event),
                                                     Event))
    partner_key: str | None = attrs.field(default=None, validator=_optional_id)
    changed: dt.datetime | None = attrs.field(
        default=None, eq=False, validator=_validate_optional_aware
    )


@attrs.frozen(kw_only=True)
class BrokenItem:
    """An item a backend holds but cannot turn into a valid :class:`Item`.

    It is quarantined: it exists (so its partner is never deleted because of it), and
    nothing is written for it on either side until it becomes readable.
    """

    id: str = attrs.field(validator=_nonempty_id)
    reason: str
    partner_key: str | None = attrs.field(default=None, validator=_optional_id)


@attrs.frozen(kw_only=True)
class Cursor:
    """Where a side's next incremental listing starts.

    Attributes:
        watermark: the backend's own clock when the previous listing began; the next
            listing returns every item changed *from and including* it. ``None`` means
            "never synced": the next listing is a full one.
        token: an opaque sync token (Graph deltaLink) when the backend has one.
    """

    watermark: dt.datetime | None = attrs.field(
        default=None, validator=_validate_optional_aware
    )
    token: str | None = attrs.field(default=None, repr=False)

    @property
    def is_initial(self) -> bool:
        """True when nothing is known yet: the next listing must be complete."""
        return self.watermark is None and self.token is None


@attrs.frozen(kw_only=True)
class Listing:
    """What one side reported for one sync.

    Attributes:
        items: the items reported (changed ones, or every item if ``complete``).
        complete: ``True`` when ``items`` + ``broken`` are *every* item of the
            calendar, so an absent item is deleted. ``False`` for a change listing,
            where only ``deleted`` says that something is gone.
        deleted: ids the backend reported as deleted (change listings).
        broken: items that exist but could not be read; they are quarantined.
        cursor: the cursor to store once this sync has succeeded.
        moved: of ``deleted``, the ids that left this calendar but still exist in the
            backend: reassigned to another user, or this user no longer takes part.
            Their partners are removed like those of deleted items, but never
            re-created from an edit: an edited partner is kept and unlinked, so a moved
            activity is not duplicated.
    """

    items: tuple[Item, ...] = attrs.field(converter=_item_tuple)
    complete: bool
    deleted: frozenset[str] = attrs.field(default=frozenset(), converter=_id_set)
    broken: tuple[BrokenItem, ...] = attrs.field(default=(), converter=_broken_tuple)
    cursor: Cursor = attrs.field(factory=Cursor)
    moved: frozenset[str] = attrs.field(default=frozenset(), converter=_id_set)


@attrs.frozen(kw_only=True)
class Link:
    """A linked pair and the content both sides last agreed on (the merge base).

    Attributes:
        saljstod_id, outlook_id: the two items' ids.
        base: the content both sides held after the last successful sync of the pair.
        saljstod_version, outlook_version: the versions written or read at that time,
            so a later write can say which version it expects.
    """

    saljstod_id: str = attrs.field(validator=_nonempty_id)
    outlook_id: str = attrs.field(validator=_nonempty_id)
    base: Event
    saljstod_version: str = ""
    outlook_version: str = ""
    #: Set when the item on this side was deleted but the deletion policy of the other
    #: side said "unlink only": the surviving item is kept, and the link stays as a
    #: tombstone so the survivor is not pushed back as a new item.
    gone: Side | None = None
    #: The state store's generation of the commit that stored this link (see
    #: ``StateStore.generation``); set by the store, not part of equality. A link newer
    #: than the listing it is judged against is no evidence of a deletion.
    generation: int = attrs.field(default=0, eq=False)
    #: An update being written, recorded ahead of the write: ``(side, content,
    #: other)``, the side written first, the content written to it and what the other
    #: side held when the update was planned. If the write's answer is lost (or the
    #: process dies), the next sync finds that side's item holding exactly
    #: ``content`` and knows it as the sync's own write, not a user's edit: the pair
    #: is then decided against ``other`` (for a one-sided update, ``content`` itself;
    #: for a merge written to both sides, so that the other side still receives what
    #: it was to receive, and the user's edits there since still count). Bookkeeping,
    #: not part of equality; cleared when the link is stored again after the write.
    attempt: tuple[Side, Event, Event] | None = attrs.field(default=None, eq=False)

    def at_generation(self, generation: int) -> Link:
        """This link as committed at ``generation`` (set by state stores).

        The generation is bookkeeping, not part of equality; the rest of the link was
        validated when it was built and is shared as it is.
        """
        if isinstance(generation, bool) or not isinstance(generation, int):
            raise InvalidEventError("generation must be an int", field="generation")
        return _link_at(self, generation)

    def id(self, side: Side) -> str:
        """The id of the item on ``side``."""
        return self.saljstod_id if side is Side.SALJSTOD else self.outlook_id

    def version(self, side: Side) -> str:
        """The version last seen on ``side``."""
        return self.saljstod_version if side is Side.SALJSTOD else self.outlook_version


_link_at: Callable[[Link, int], Link] = copier(Link, "generation")


class _ItemBuilder(Protocol):
    def __call__(self, id: str, version: str, event: Event, partner_key: str | None = None,
                 changed: dt.datetime | None = None) -> Item: ...


class _LinkBuilder(Protocol):
    def __call__(self, saljstod_id: str, outlook_id: str, base: Event,
                 saljstod_version: str = "", outlook_version: str = "",
                 gone: Side | None = None, generation: int = 0,
                 attempt: tuple[Side, Event, Event] | None = None) -> Link: ...


#: ``trusted_item(id, version, event, partner_key, changed)``: the :class:`Item`
#: ``Item(...)`` would build, from values the caller has already checked, without
#: checking them again (a backend's own ids and version strings, an :class:`Event`
#: validated when it was built, an aware ``changed``). For backends writing many items
#: at once (a fifth of the cost of ``Item(...)``); anything that did not come from such
#: a check builds ``Item(...)``. Generated code, called once per item written.
trusted_item: _ItemBuilder = builder(Item, "trusted_item", "The Item Item(...) would "
                                     "build, from values already checked.")

#: ``trusted_link(saljstod_id, outlook_id, base, saljstod_version, outlook_version,
#: gone, generation, attempt)``: the :class:`Link` ``Link(...)`` would build, from the
#: ids and versions of items that were validated when they were built (and an int
#: ``generation``, a Side or None ``gone``, a checked ``attempt``).
trusted_link: _LinkBuilder = builder(Link, "trusted_link", "The Link Link(...) would "
                                     "build, from values already checked.")
