"""Languages: gettext catalogs compiled from the `.po` files at start-up with Babel."""

import gettext
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "fr", "ar", "tr")
RIGHT_TO_LEFT = frozenset({"ar"})
DEFAULT_LANGUAGE = "en"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


def text_direction(language: str) -> str:
    return "rtl" if language in RIGHT_TO_LEFT else "ltr"


@lru_cache(maxsize=len(SUPPORTED_LANGUAGES))
def translations(language: str) -> gettext.NullTranslations:
    """The catalog for a language; English (the source language) needs none.

    Compiling the `.po` here keeps one source of truth in the repository and
    no stale binary `.mo` files.
    """
    po_path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == DEFAULT_LANGUAGE or not po_path.is_file():
        return gettext.NullTranslations()
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=language)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def gettext_for(language: str) -> gettext.NullTranslations:
    return translations(language if language in SUPPORTED_LANGUAGES else DEFAULT_LANGUAGE)


def _(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message
