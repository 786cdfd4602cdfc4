"""A rule as the report names it: every shipped rule, in every language, readable and
told apart from the others of its procedure."""

import pytest

from aftercare.flags.rules import rule_label

LANGUAGES = ("en", "fr", "ar", "tr")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_rule_has_a_label_of_its_own_with_no_placeholder_left(protocols, language):
    for protocol in protocols.values():
        labels = {rule.code: rule_label(rule, rule.code, language) for rule in protocol.rules}
        assert all("{" not in label and label != code for code, label in labels.items())
        assert len(set(labels.values())) == len(labels), f"{protocol.id}: two rules read alike"


def test_bounds_are_shown_as_the_answers_are(protocols):
    by_code = {rule.code: rule for protocol in protocols.values() for rule in protocol.rules}
    assert rule_label(by_code["fever"], "fever", "en") == "Temperature ≥ 38.0 °C"
    assert rule_label(by_code["high-pain"], "high-pain", "en") == "Pain ≥ 7, < 9 out of 10"
    assert rule_label(by_code["no-check-in"], "no-check-in", "en") == "No check-in for ≥ 48 hours"
    assert rule_label(None, "gone-rule", "en") == "gone-rule"
