"""The Jet filter syntax of ``Items.Restrict`` / ``Items.Find``, with Outlook's date quirks.

Supported: comparisons ``[Property] op value`` (op one of ``= <> < > <= >=``) joined with
``AND`` / ``OR`` / ``NOT`` and parentheses; values are quoted strings (single or double quotes),
numbers, ``True`` / ``False``. DASL filters (``@SQL=...``) are not emulated.

Documented behaviour reproduced here, from "Filtering Items Using a Date-time Comparison",
https://learn.microsoft.com/en-us/previous-versions/office/developer/office-2010/ff866013(v=office.14):

- "Outlook evaluates date-time values according to the time format, short date format, and
  long date format settings in the Regional and Language Options" — the comparison string is
  parsed with the user's *Windows locale* pictures. A string written in another format does
  not raise: it silently matches nothing (:func:`parse_local`). A day/month order different
  from the locale's is read the locale's way (3/4 is 4 March to a day-first locale).
- "Outlook evaluates time according to that specified time format without seconds. If you
  specify seconds in the date-time comparison string, the filter will not operate as
  expected" — comparisons happen at minute precision: both sides are cut to the minute, and a
  string with seconds (when the locale's time picture has none) matches nothing.
- "When an explicit built-in property is referenced in a Jet query ... the comparison
  evaluates the property value and the date-time comparison string as local time values."

Custom properties, from "Filtering a Custom Field",
https://learn.microsoft.com/en-gb/office/vba/outlook/how-to/search-and-filter/filtering-a-custom-field:
"The custom properties must be defined in the folder where you are applying the filter. If the
custom properties are only defined in the item, the search will fail."
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Container
from typing import Any

from outlook_sync.testing.outlook_com._errors import invalid_argument

__all__ = ["DATE_PROPERTIES", "NOT_FILTERABLE", "Predicate", "compile_filter", "parse_local"]

#: Properties ``Items.Restrict`` "cannot be used [with] and will cause an error", and
#: ``Items.Find`` "will return an error with ... in the Filter": the two pages carry the same
#: table, https://learn.microsoft.com/en-us/office/vba/api/outlook.items.restrict and
#: https://learn.microsoft.com/en-us/office/vba/api/outlook.items.find (``Categories`` and
#: ``LastFirstSpaceOnly`` are in the Outlook 2010 edition of both tables,
#: https://learn.microsoft.com/en-us/previous-versions/office/developer/office-2010/ff869597(v=office.14),
#: and kept here).
NOT_FILTERABLE = frozenset(
    {
        "AutoResolvedWinner",
        "Body",
        "BodyFormat",
        "Categories",
        "Children",
        "Class",
        "Companies",
        "CompanyLastFirstNoSpace",
        "CompanyLastFirstSpaceOnly",
        "ContactNames",
        "Contacts",
        "ConversationIndex",
        "DLName",
        "DownloadState",
        "Email1EntryID",
        "Email2EntryID",
        "Email3EntryID",
        "EntryID",
        "HTMLBody",
        "InternetCodePage",
        "IsConflict",
        "IsOnlineMeeting",
        "LastFirstAndSuffix",
        "LastFirstNoSpace",
        "LastFirstNoSpaceAndSuffix",
        "LastFirstNoSpaceCompany",
        "LastFirstSpaceOnly",
        "LastFirstSpaceOnlyCompany",
        "MeetingWorkspaceURL",
        "MemberCount",
        "NetMeetingAlias",
        "NetMeetingAutoStart",
        "NetMeetingOrganizerAlias",
        "NetMeetingServer",
        "NetMeetingType",
        "Permission",
        "ReceivedByEntryID",
        "ReceivedOnBehalfOfEntryID",
        "RecurrenceState",
        "ReplyRecipients",
        "ResponseState",
        "Saved",
        "Sent",
        "Submitted",
        "VotingOptions",
    }
)

#: Built-in properties holding dates (compared as local wall-clock times, to the minute).
DATE_PROPERTIES = frozenset(
    {"Start", "End", "LastModificationTime", "CreationTime", "StartUTC", "EndUTC"}
)
#: Built-in properties holding text (compared without regard to case).
TEXT_PROPERTIES = frozenset(
    {"Subject", "Location", "Body", "Categories", "EntryID", "GlobalAppointmentID", "MessageClass"}
)
#: Built-in properties holding numbers or booleans.
NUMBER_PROPERTIES = frozenset(
    {
        "BusyStatus",
        "Sensitivity",
        "AllDayEvent",
        "IsRecurring",
        "MeetingStatus",
        "ReminderSet",
        "ReminderMinutesBeforeStart",
        "Class",
    }
)

Getter = Callable[[str], Any]
Predicate = Callable[[Getter], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<prop>\[[^\]]+\])
      | (?P<str>'(?:[^']|'')*'|"(?:[^"]|"")*")
      | (?P<op><=|>=|<>|=|<|>)
      | (?P<paren>[()])
      | (?P<num>-?\d+)
      | (?P<word>[A-Za-z]+)
    )""",
    re.VERBOSE,
)


def _picture_regex(picture: str) -> str:
    """Turn a Windows date/time picture ("yyyy-MM-dd", "h:mm tt") into a regex."""
    out: list[str] = []
    i = 0
    while i < len(picture):
        ch = picture[i]
        if ch == "'":
            end = picture.find("'", i + 1)
            end = len(picture) if end < 0 else end
            out.append(re.escape(picture[i + 1 : end]))
            i = end + 1
            continue
        run = 1
        while i + run < len(picture) and picture[i + run] == ch:
            run += 1
        token = ch * run
        out.append(_TOKEN_REGEX.get(token, re.escape(token)))
        i += run
    return "".join(out)


_TOKEN_REGEX = {
    "d": r"(?P<day>\d{1,2})",
    "dd": r"(?P<day>\d{2})",
    "M": r"(?P<month>\d{1,2})",
    "MM": r"(?P<month>\d{2})",
    "yy": r"(?P<year2>\d{2})",
    "yyyy": r"(?P<year>\d{4})",
    "h": r"(?P<hour12>\d{1,2})",
    "hh": r"(?P<hour12>\d{2})",
    "H": r"(?P<hour>\d{1,2})",
    "HH": r"(?P<hour>\d{2})",
    "m": r"(?P<minute>\d{1,2})",
    "mm": r"(?P<minute>\d{2})",
    "s": r"(?P<second>\d{1,2})",
    "ss": r"(?P<second>\d{2})",
    "t": r"(?P<ampm>[AP])",
    "tt": r"(?P<ampm>AM|PM)",
}


def parse_local(text: str, *, short_date: str, short_time: str) -> dt.datetime | None:
    """Read a comparison string the way Outlook does under the given locale pictures.

    Accepts ``<date>`` or ``<date> <time>``. Returns a naive local wall-clock time cut to the
    minute, or ``None`` when the string does not follow the locale (the filter then matches
    nothing, as in Outlook).
    """
    date_rx = _picture_regex(short_date)
    time_rx = _picture_regex(short_time)
    match = re.fullmatch(rf"\s*{date_rx}(?:\s+{time_rx})?\s*", text, flags=re.IGNORECASE)
    if match is None:
        return None
    parts = match.groupdict()
    try:
        if parts.get("year") is not None:
            year = int(parts["year"])
        else:
            short = int(parts["year2"])
            year = 2000 + short if short < 50 else 1900 + short
        hour = 0
        if parts.get("hour") is not None:
            hour = int(parts["hour"])
        elif parts.get("hour12") is not None:
            hour = int(parts["hour12"]) % 12
            if (parts.get("ampm") or "A").upper().startswith("P"):
                hour += 12
        minute = int(parts["minute"]) if parts.get("minute") is not None else 0
        return dt.datetime(year, int(parts["month"]), int(parts["day"]), hour, minute)  # noqa: DTZ001
    except (TypeError, ValueError):
        return None


class _Parser:
    def __init__(
        self,
        text: str,
        *,
        short_date: str,
        short_time: str,
        folder_fields: Container[str],
        refused: Container[str] = (),
    ) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                raise invalid_argument(f'Cannot parse condition. Error at "{text[pos:]}".')
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            pos = match.end()
        self.pos = 0
        self.short_date = short_date
        self.short_time = short_time
        self.folder_fields = folder_fields
        self.refused = refused

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise invalid_argument("Cannot parse condition. Unexpected end of the filter.")
        self.pos += 1
        return token

    def word(self, value: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "word" and token[1].upper() == value:
            self.pos += 1
            return True
        return False

    def expression(self) -> Predicate:
        left = self.conjunction()
        while self.word("OR"):
            right = self.conjunction()
            left = _or(left, right)
        return left

    def conjunction(self) -> Predicate:
        left = self.negation()
        while self.word("AND"):
            right = self.negation()
            left = _and(left, right)
        return left

    def negation(self) -> Predicate:
        if self.word("NOT"):
            inner = self.negation()
            return lambda get: not inner(get)
        token = self.peek()
        if token == ("paren", "("):
            self.take()
            inner = self.expression()
            if self.take() != ("paren", ")"):
                raise invalid_argument("Cannot parse condition. Missing ')'.")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        kind, prop = self.take()
        if kind != "prop":
            raise invalid_argument(f'Cannot parse condition. Error at "{prop}".')
        name = prop[1:-1].strip()
        op_kind, op = self.take()
        if op_kind != "op":
            raise invalid_argument(f'Cannot parse condition. Error at "{op}".')
        value_kind, raw = self.take()
        if value_kind == "str":
            literal: object = raw[1:-1].replace(raw[0] * 2, raw[0])
        elif value_kind == "num":
            literal = int(raw)
        elif value_kind == "word" and raw.upper() in ("TRUE", "FALSE"):
            literal = raw.upper() == "TRUE"
        else:
            raise invalid_argument(f'Cannot parse condition. Error at "{raw}".')
        return self.compare(name, op, literal)

    def compare(self, name: str, op: str, literal: object) -> Predicate:
        if name in self.refused:
            raise invalid_argument(
                f'Cannot parse condition. Error at "[{name}]": the property cannot be used '
                "in a filter."
            )
        if name in DATE_PROPERTIES:
            if not isinstance(literal, str):
                raise invalid_argument(f"Type mismatch in the condition on [{name}].")
            when = parse_local(literal, short_date=self.short_date, short_time=self.short_time)
            if when is None:
                return lambda get: False  # documented: a foreign format matches nothing
            moment = when

            def date_predicate(get: Getter) -> bool:
                value = get(name)
                if not isinstance(value, dt.datetime):
                    return False
                return _apply(op, value.replace(second=0, microsecond=0), moment)

            return date_predicate
        if name in TEXT_PROPERTIES or name in self.folder_fields:
            text = str(literal).casefold()
            return lambda get: _apply(op, str(get(name) or "").casefold(), text)
        if name in NUMBER_PROPERTIES:
            try:
                number = int(literal)  # type: ignore[call-overload]
            except (TypeError, ValueError):
                raise invalid_argument(f"Type mismatch in the condition on [{name}].") from None
            return lambda get: _apply(op, int(get(name) or 0), number)
        raise invalid_argument(
            f'Cannot parse condition. Error at "[{name}]": the property is unknown in this folder.'
        )


def _and(left: Predicate, right: Predicate) -> Predicate:
    return lambda get: left(get) and right(get)


def _or(left: Predicate, right: Predicate) -> Predicate:
    return lambda get: left(get) or right(get)


def _apply(op: str, left: Any, right: Any) -> bool:
    if op == "=":
        return bool(left == right)
    if op == "<>":
        return bool(left != right)
    if op == "<":
        return bool(left < right)
    if op == ">":
        return bool(left > right)
    if op == "<=":
        return bool(left <= right)
    return bool(left >= right)


def compile_filter(
    text: str,
    *,
    short_date: str,
    short_time: str,
    folder_fields: Container[str] = (),
    refused: Container[str] = (),
) -> Predicate:
    """Compile a Jet filter into a predicate over an item's property getter.

    ``refused`` are properties the calling method may not filter on (``Restrict`` and
    ``Find``: :data:`NOT_FILTERABLE`).

    Raises:
        ComError: the filter cannot be parsed, names an unknown or refused property, or is
            DASL.
    """
    if text.lstrip().upper().startswith("@SQL="):
        raise invalid_argument("The fake Outlook object model does not emulate DASL filters.")
    parser = _Parser(
        text,
        short_date=short_date,
        short_time=short_time,
        folder_fields=folder_fields,
        refused=refused,
    )
    predicate = parser.expression()
    if parser.peek() is not None:
        raise invalid_argument(f'Cannot parse condition. Error at "{parser.peek()}".')
    return predicate
