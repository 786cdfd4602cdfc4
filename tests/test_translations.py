"""Every user-facing string is marked for gettext and translated into every language."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from aftercare.i18n import LOCALE_DIR, SUPPORTED_LANGUAGES, gettext_for

REPO = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\w+\}")


def _catalog(language: str):
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language)


def test_the_template_holds_every_marked_string(tmp_path: Path):
    """`make messages` was run: extracting now finds nothing the catalog lacks."""
    fresh = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "--no-location",
         "-F", "babel.cfg", "-o", str(fresh), "backend", "frontend/templates"],
        cwd=REPO, check=True, capture_output=True,
    )  # fmt: skip
    with fresh.open("rb") as pot:
        extracted = {message.id for message in read_po(pot) if message.id}
    for language in SUPPORTED_LANGUAGES[1:]:
        known = {message.id for message in _catalog(language) if message.id}
        assert extracted <= known, f"run `make messages`: {sorted(extracted - known)[:5]}"


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES[1:])
def test_every_string_is_translated_with_its_placeholders(language):
    for message in _catalog(language):
        if not message.id:
            continue
        # A plural message has several English forms and one translation per form.
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(forms) and not message.fuzzy, f"{language}: {message.id!r} is not translated"
        wanted = sorted(set(PLACEHOLDER.findall(ids[-1])))
        for form in forms:
            assert sorted(set(PLACEHOLDER.findall(form))) == wanted, f"{language}: {form!r}"


def test_the_app_speaks_each_language():
    assert gettext_for("fr").gettext("Quick exit") == "Sortie rapide"
    assert gettext_for("en").gettext("Quick exit") == "Quick exit"
    assert gettext_for("de").gettext("Quick exit") == "Quick exit", "unknown falls back to English"
