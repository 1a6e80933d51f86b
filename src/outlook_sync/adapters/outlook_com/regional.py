"""The user's Windows regional settings, as far as Outlook's filters and fields depend on them.

Outlook reads the date in a ``Restrict`` filter "according to the time format, short date
format, and long date format settings in the Regional and Language Options", "without seconds"
(https://learn.microsoft.com/en-us/previous-versions/office/developer/office-2010/ff866013(v=office.14)).
A date written any other way does not fail: the filter silently matches nothing — which is how
other sync tools missed every change and then duplicated items. So the filter string is
written with the user's own *short date* and *short time* pictures (``GetLocaleInfo``'s
``LOCALE_SSHORTDATE`` / ``LOCALE_SSHORTTIME``), and the adapter checks the format against
Outlook before trusting it (see ``listing.check_filter_format``).

``Categories`` is one string delimited by the ``sList`` list separator
(https://learn.microsoft.com/en-us/office/vba/api/outlook.appointmentitem.categories).
"""

from __future__ import annotations

import datetime as dt

import attrs

from outlook_sync.errors import ConfigurationError

__all__ = ["BRITISH", "GERMAN", "SWEDISH", "US_ENGLISH", "WindowsLocale"]


def _check_picture(_inst: object, attr: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{attr.name} must be a Windows date/time picture", key=attr.name)
    for token in _tokens(value):
        if token[0] in "dMy" and token in ("ddd", "dddd", "MMM", "MMMM", "g", "gg"):
            raise ConfigurationError(
                f"{attr.name} {value!r} spells out names; only numeric pictures are supported",
                key=attr.name,
            )


def _tokens(picture: str) -> list[str]:
    """Split a picture into runs of the same letter, quoted literals and other text."""
    out: list[str] = []
    i = 0
    while i < len(picture):
        ch = picture[i]
        if ch == "'":
            end = picture.find("'", i + 1)
            end = len(picture) if end < 0 else end
            out.append(picture[i : end + 1])
            i = end + 1
            continue
        run = 1
        while i + run < len(picture) and picture[i + run] == ch:
            run += 1
        out.append(ch * run)
        i += run
    return out


def _render(picture: str, value: dt.datetime, *, drop_seconds: bool) -> str:
    tokens = _tokens(picture)
    if drop_seconds:
        # "without seconds": remove the seconds and the separator that precedes them.
        kept: list[str] = []
        for token in tokens:
            if token in ("s", "ss"):
                if kept and not kept[-1][0].isalpha():
                    kept.pop()
                continue
            kept.append(token)
        tokens = kept
    parts: list[str] = []
    hour12 = value.hour % 12 or 12
    for token in tokens:
        if token.startswith("'"):
            parts.append(token.strip("'"))
            continue
        rendered = {
            "d": str(value.day),
            "dd": f"{value.day:02d}",
            "M": str(value.month),
            "MM": f"{value.month:02d}",
            "y": str(value.year % 100),
            "yy": f"{value.year % 100:02d}",
            "yyyy": f"{value.year:04d}",
            "yyyyy": f"{value.year:05d}",
            "h": str(hour12),
            "hh": f"{hour12:02d}",
            "H": str(value.hour),
            "HH": f"{value.hour:02d}",
            "m": str(value.minute),
            "mm": f"{value.minute:02d}",
            "s": str(value.second),
            "ss": f"{value.second:02d}",
            "t": "A" if value.hour < 12 else "P",
            "tt": "AM" if value.hour < 12 else "PM",
        }.get(token, token)
        parts.append(rendered)
    return "".join(parts)


@attrs.frozen(kw_only=True)
class WindowsLocale:
    """The regional settings Outlook applies to filters and category lists.

    Attributes:
        short_date: the short date picture, e.g. ``"yyyy-MM-dd"`` (Swedish) or
            ``"M/d/yyyy"`` (US English).
        short_time: the short time picture, e.g. ``"HH:mm"`` or ``"h:mm tt"``.
        list_separator: the ``sList`` separator, e.g. ``";"`` or ``","``.

    Raises:
        ConfigurationError: a picture is empty or spells out day/month names.
    """

    short_date: str = attrs.field(default="yyyy-MM-dd", validator=_check_picture)
    short_time: str = attrs.field(default="HH:mm", validator=_check_picture)
    list_separator: str = ";"

    def filter_datetime(self, wall: dt.datetime) -> str:
        """A local wall-clock time written as Outlook's filter parser expects, to the minute."""
        return (
            f"{_render(self.short_date, wall, drop_seconds=True)} "
            f"{_render(self.short_time, wall, drop_seconds=True)}"
        )

    def join_categories(self, names: tuple[str, ...]) -> str:
        """The ``Categories`` string for ``names``."""
        return f"{self.list_separator} ".join(names)


SWEDISH = WindowsLocale(short_date="yyyy-MM-dd", short_time="HH:mm", list_separator=";")
US_ENGLISH = WindowsLocale(short_date="M/d/yyyy", short_time="h:mm tt", list_separator=",")
BRITISH = WindowsLocale(short_date="dd/MM/yyyy", short_time="HH:mm", list_separator=",")
GERMAN = WindowsLocale(short_date="dd.MM.yyyy", short_time="HH:mm", list_separator=";")
