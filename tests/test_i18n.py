"""Messages a user reads come in English and Swedish; the catalogs stay in step with the code."""

from __future__ import annotations

import gettext
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from outlook_sync.i18n import LOCALE_DIR, N_, Translator, language_from, translator

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"\{(\w+)\}")

pytest.importorskip("babel")
from babel.messages.pofile import read_po  # noqa: E402


def _catalog(language: str) -> Any:
    with (LOCALE_DIR / language / "LC_MESSAGES" / "outlook_sync.po").open("rb") as f:
        return read_po(f, locale=language)


def _ids(catalog: Any) -> set[Any]:
    return {m.id for m in catalog if m.id}


def test_the_template_holds_every_message_the_code_marks(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.pot"
    src = ROOT / "src" / "outlook_sync"
    subprocess.run(
        [
            sys.executable, "-m", "babel.messages.frontend", "extract",
            "-F", str(LOCALE_DIR / "babel.cfg"), "-k", "t", "-k", "plural:1,2", "-k", "N_",
            "--no-location", "-o", str(fresh), str(src / "cli"), str(src / "i18n.py"),
        ],
        check=True,
        capture_output=True,
    )
    with fresh.open("rb") as f:
        extracted = _ids(read_po(f))
    with (LOCALE_DIR / "outlook_sync.pot").open("rb") as f:
        template = _ids(read_po(f))
    assert extracted == template, "run the pybabel commands in outlook_sync/i18n.py"
    assert _ids(_catalog("sv")) == template
    assert _ids(_catalog("en")) == template


def test_every_message_has_a_swedish_translation_with_the_same_placeholders() -> None:
    for message in _catalog("sv"):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"untranslated: {ids[0]!r}"
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for text in strings:
            assert set(PLACEHOLDER.findall(text)) == wanted, (ids[0], text)


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_compiled_catalogs_match_the_sources(language: str) -> None:
    with (LOCALE_DIR / language / "LC_MESSAGES" / "outlook_sync.mo").open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    for message in _catalog(language):
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            for n, wanted in zip((1, 2), message.string, strict=True):
                got = compiled.ngettext(message.id[0], message.id[1], n)
                assert got == (wanted or message.id[n - 1]), "run `pybabel compile`"
        else:
            wanted = message.string or message.id
            assert compiled.gettext(message.id) == wanted, "run `pybabel compile`"


def test_a_swedish_user_reads_swedish_and_placeholders_are_filled() -> None:
    sv = translator("sv_SE.UTF-8")
    assert sv.language == "sv"
    assert sv("Last sync") == "Senaste synk"
    assert sv.plural(
        "created {count} in {side}", "created {count} in {side}", 3, side="Outlook"
    ) == "skapade 3 i Outlook"
    assert sv(N_("not linked to an Outlook item (yet)")) == (
        "inte länkad till någon Outlook-post (ännu)"
    )
    en = Translator("en")
    assert en("Last sync") == "Last sync"
    assert en.plural("Cleared {count} conflict.", "Cleared {count} conflicts.", 2) == (
        "Cleared 2 conflicts."
    )
    assert Translator("de").language == "en"  # no catalog: English


@pytest.mark.parametrize(
    ("environ", "language"),
    [
        ({}, "en"),
        ({"LANG": "sv_SE.UTF-8"}, "sv"),
        ({"LANG": "sv_SE.UTF-8", "LC_ALL": "C"}, "en"),  # LC_ALL overrides LANG
        ({"LANGUAGE": "de:sv", "LANG": "en_US.UTF-8"}, "sv"),  # the first with a catalog
        ({"LC_MESSAGES": "sv_FI"}, "sv"),
        ({"LANG": "C.UTF-8"}, "en"),
    ],
)
def test_the_language_comes_from_the_environment_in_gettexts_order(
    environ: dict[str, str], language: str
) -> None:
    assert language_from(environ) == language
