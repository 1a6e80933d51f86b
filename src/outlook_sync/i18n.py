"""Messages for the people a host serves, in their language (English and Swedish).

Theory of operation
-------------------
What a *user* reads — the sync status, why an activity is not synced, a conflict, an
error they can act on — goes through a :class:`Translator`; log lines for operators
stay English. The catalogs are gettext catalogs in ``outlook_sync/locale`` (domain
``outlook_sync``), managed with Babel::

    pybabel extract -F src/outlook_sync/locale/babel.cfg -k t -k plural:1,2 -k N_ \\
        -o src/outlook_sync/locale/outlook_sync.pot src/outlook_sync
    pybabel update -i src/outlook_sync/locale/outlook_sync.pot \\
        -d src/outlook_sync/locale -D outlook_sync
    pybabel compile -d src/outlook_sync/locale -D outlook_sync

A message id is the English text with ``{named}`` placeholders (filled in with
:meth:`str.format` after translation). The language is the host's choice
(``translator("sv")``), else the environment's, in gettext's order (``LANGUAGE``,
``LC_ALL``, ``LC_MESSAGES``, ``LANG``); anything without a catalog is English.
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "ACTIVITY_STATES",
    "CONFLICT_KINDS",
    "CONFLICT_RESOLUTIONS",
    "DOMAIN",
    "FIELD_NAMES",
    "LANGUAGES",
    "LOCALE_DIR",
    "MERGE_WITH_FALLBACK",
    "N_",
    "STATUS_REASONS",
    "Translator",
    "language_from",
    "translator",
]

#: The gettext domain of outlook_sync's catalogs.
DOMAIN = "outlook_sync"
#: Where the compiled catalogs are (``<lang>/LC_MESSAGES/outlook_sync.mo``).
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
#: The languages with a catalog; the message ids are English.
LANGUAGES = ("en", "sv")

_ENV_ORDER = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def N_(message: str) -> str:
    """Mark ``message`` for the catalogs where it is defined; translate it where shown."""
    return message


#: An activity's sync state (``outlook_sync.status.ActivityState`` values) in words:
#: ``t(ACTIVITY_STATES[state.value])`` is what a host shows on the activity.
ACTIVITY_STATES = {
    "quarantined": N_("quarantined"),
    "pending": N_("waiting for retry"),
    "conflict": N_("in conflict"),
    "synced": N_("synced"),
    "not_synced": N_("not synced"),
}
#: A conflict's kind (``Conflict.kind``) in words.
CONFLICT_KINDS = {
    "both_changed": N_("both changed"),
    "delete_vs_edit": N_("deleted on one side, edited on the other"),
    "ambiguous_match": N_("more than one possible partner"),
    "duplicate_claim": N_("two items claim one partner"),
    "first_pairing": N_("paired with differences"),
    "moved_vs_edit": N_("moved to another user on one side, edited on the other"),
}
#: An event's field (``outlook_sync.model.Event`` attributes, the names in
#: ``Conflict.fields``) in words.
FIELD_NAMES = {
    "subject": N_("subject"),
    "start": N_("start"),
    "end": N_("end"),
    "all_day": N_("all day"),
    "recurrence": N_("recurrence"),
    "location": N_("location"),
    "body": N_("description"),
    "categories": N_("categories"),
    "show_as": N_("show as"),
    "private": N_("private"),
    "reminder_minutes": N_("reminder"),
}
#: How a conflict was resolved (``Conflict.resolution``: a conflict policy, or the
#: planner's rule) in words; ``"merge/<fallback>"`` is :data:`MERGE_WITH_FALLBACK`.
CONFLICT_RESOLUTIONS = {
    "merge": N_("merge"),
    "newest_wins": N_("newest wins"),
    "saljstod_wins": N_("Säljstöd wins"),
    "outlook_wins": N_("Outlook wins"),
    "keep_both": N_("keep both"),
    "edit_wins": N_("edit wins"),
    "kept_unlinked": N_("keeping it, unlinked"),
    "treated as a new item": N_("treated as a new item"),
    "paired exact copies first, then by id order": N_(
        "paired exact copies first, then by id order"
    ),
}
#: ``"merge/<fallback>"``: a field-level merge whose fields changed on both sides went
#: to the fallback policy (``{fallback}``: its words from :data:`CONFLICT_RESOLUTIONS`).
MERGE_WITH_FALLBACK = N_("merge ({fallback} where both sides changed a field)")
#: Fixed reasons the status board gives (``ActivityStatus.reason``): ``t(reason)``
#: translates these and leaves any other reason as it is.
STATUS_REASONS = (
    N_("not linked to an Outlook item (yet)"),
    N_("a write failed; it is retried on the next sync"),
    N_("its partner was deleted in Outlook; the deletion policy kept it here, unlinked"),
    N_("its partner was deleted in Säljstöd; the deletion policy kept it here, unlinked"),
)


def language_from(environ: Mapping[str, str] | None = None) -> str:
    """The language the environment asks for (``"sv"``, ``"en"``); English if none fits."""
    env = os.environ if environ is None else environ
    for name in _ENV_ORDER:
        value = env.get(name, "")
        if not value:
            continue
        for part in value.split(":"):  # LANGUAGE may list several: sv:en
            code = part.split(".", 1)[0].split("@", 1)[0].split("_", 1)[0].lower()
            if code in LANGUAGES:
                return code
        if name != "LANGUAGE":  # the first variable that is set decides
            return "en"
    return "en"


class Translator:
    """Translates message ids into one language.

    Args:
        language: ``"sv"``, ``"en"`` (or a locale such as ``"sv_SE.UTF-8"``).
    """

    def __init__(self, language: str) -> None:
        code = language.split(".", 1)[0].split("_", 1)[0].lower()
        self.language = code if code in LANGUAGES else "en"
        self._catalog: gettext.NullTranslations = gettext.translation(
            DOMAIN, LOCALE_DIR, languages=[self.language], fallback=True
        )

    def __repr__(self) -> str:
        return f"Translator({self.language!r})"

    def __call__(self, message: str, /, **values: object) -> str:
        """``message`` in this language, with ``{name}`` placeholders filled in."""
        text = self._catalog.gettext(message)
        return text.format(**values) if values else text

    def plural(self, singular: str, plural: str, count: int, /, **values: object) -> str:
        """The form for ``count`` (``{count}`` is filled in too)."""
        text = self._catalog.ngettext(singular, plural, count)
        return text.format(count=count, **values)


def translator(language: str | None = None, environ: Mapping[str, str] | None = None) -> Translator:
    """A :class:`Translator` for ``language``, else for the environment's language."""
    return Translator(language or language_from(environ))
