"""The queue card's sentences, translated once a page: the same words the template said."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aftercare.console.card_words import card_words
from aftercare.i18n import SUPPORTED_LANGUAGES


@pytest.mark.parametrize(
    ("minutes", "said"),
    [(0, "under 1 min"), (59, "59 min"), (60, "1 h 0 min"), (1439, "23 h 59 min"),
     (1440, "1 d 0 h"), (3000, "2 d 2 h")],
)  # fmt: skip
def test_an_age_is_said_in_the_largest_units_that_fit(minutes, said):
    assert card_words("en").age(minutes) == said


def test_the_sentences_are_in_the_nurses_language():
    words = card_words("fr")
    assert words.day(3, 28) == "Jour 3 sur 28"
    assert words.raised(5) == "Levée il y a 5 min"
    assert words.flag_count(1) == "1 alerte" and words.flag_count(3) == "3 alertes"
    assert words.acknowledge(2) != words.acknowledge(1)


@given(
    language=st.sampled_from(SUPPORTED_LANGUAGES),
    minutes=st.integers(0, 10**7),
    day=st.one_of(st.none(), st.integers(1, 400)),
    late=st.booleans(),
)
def test_every_sentence_is_filled_in_every_language(language, minutes, day, late):
    words = card_words(language)
    for text in (
        words.age(minutes), words.raised(minutes), words.waiting(minutes, late, 15),
        words.day(day, 28), words.flag_count(minutes), words.resolve(minutes),
    ):  # fmt: skip
        assert text and "%(" not in text
