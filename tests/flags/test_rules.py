"""The rule engine with the shipped rules: every row of clinical.md, boundaries included."""

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aftercare.flags.rules import RANK, Answers, advice_for, evaluate
from aftercare.protocols.loader import load_protocols
from aftercare.settings import SHIPPED_SCHEDULES_DIR

PROTOCOL = load_protocols(SHIPPED_SCHEDULES_DIR)["hymenoplasty"]
RULES = PROTOCOL.rules
CALM = Answers(
    pain=2, temperature_c=36.8, bleeding="spotting", discharge="none", urination="normal",
    allergy="none", nausea=False, wants_contact=False,
)  # fmt: skip


def codes(answers: Answers, day: int = 2, previous: Answers | None = None) -> dict[str, str]:
    verdict = evaluate(RULES, answers, day, previous)
    return {reason.code: reason.severity for reason in verdict.reasons}


# (answer changes, expected codes with their severity) — clinical.md, "Flag rules".
TABLE = [
    ({}, {}),
    ({"temperature_c": 37.4}, {}),
    ({"temperature_c": 37.5}, {"low-grade-fever": "amber"}),
    ({"temperature_c": 37.9}, {"low-grade-fever": "amber"}),
    ({"temperature_c": 38.0}, {"fever": "red"}),
    ({"temperature_c": 40.5}, {"fever": "red"}),
    ({"temperature_c": 34.9}, {"low-temperature": "amber"}),
    ({"temperature_c": 35.0}, {}),
    ({"temperature_c": None}, {}),
    ({"bleeding": "none"}, {}),
    ({"bleeding": "light"}, {}),
    ({"bleeding": "moderate"}, {"moderate-bleeding": "amber"}),
    ({"bleeding": "heavy"}, {"heavy-bleeding": "red"}),
    ({"discharge": "unusual"}, {}),
    ({"discharge": "foul"}, {"foul-discharge": "amber"}),
    ({"urination": "painful"}, {"painful-urination": "amber"}),
    ({"urination": "unable"}, {"urinary-retention": "red"}),
    ({"allergy": "itching"}, {}),
    ({"allergy": "rash"}, {"allergy-rash": "amber"}),
    ({"allergy": "breathing"}, {"allergy-breathing": "red"}),
    ({"pain": 6}, {}),
    ({"pain": 7}, {"high-pain": "amber"}),
    ({"pain": 8}, {"high-pain": "amber"}),
    ({"pain": 9}, {"severe-pain": "red"}),
    ({"pain": 10}, {"severe-pain": "red"}),
    ({"nausea": True}, {}),
    ({"wants_contact": True}, {"contact-requested": "amber"}),
    (
        {"temperature_c": 38.4, "bleeding": "moderate", "wants_contact": True},
        {"fever": "red", "moderate-bleeding": "amber", "contact-requested": "amber"},
    ),
]


@pytest.mark.parametrize(("changes", "expected"), TABLE)
def test_each_rule_fires_at_its_threshold_and_not_before(changes, expected):
    assert codes(replace(CALM, **changes)) == expected


@pytest.mark.parametrize(
    ("day", "previous_pain", "pain", "fires"),
    [
        (4, 2, 5, True),   # up 3 from Day 4: rising
        (4, 2, 4, False),  # up 2: not yet
        (3, 2, 6, False),  # before Day 4 pain is expected to move
        (10, 5, 8, True),
        (10, 5, 5, False),
        (10, 6, 3, False),  # falling pain never fires
    ],
)  # fmt: skip
def test_pain_rising_compares_with_the_previous_check_in_from_day_4(
    day, previous_pain, pain, fires
):
    found = codes(replace(CALM, pain=pain), day, replace(CALM, pain=previous_pain))
    assert ("pain-rising" in found) is fires


def test_pain_rising_needs_a_previous_check_in():
    assert "pain-rising" not in codes(replace(CALM, pain=6), day=5, previous=None)


answers = st.builds(
    Answers,
    pain=st.integers(0, 10),
    temperature_c=st.one_of(st.none(), st.floats(34.0, 43.0)),
    bleeding=st.sampled_from(["none", "spotting", "light", "moderate", "heavy"]),
    discharge=st.sampled_from(["none", "normal", "unusual", "foul"]),
    urination=st.sampled_from(["normal", "painful", "unable"]),
    allergy=st.sampled_from(["none", "itching", "rash", "breathing"]),
    nausea=st.booleans(),
    wants_contact=st.booleans(),
)


@given(answers, st.integers(-2, 40), st.one_of(st.none(), answers))
def test_the_severity_is_always_the_worst_of_the_reasons(given_answers, day, previous):
    verdict = evaluate(RULES, given_answers, day, previous)
    worst = max((RANK[reason.severity] for reason in verdict.reasons), default=0)
    assert RANK[verdict.severity] == worst
    assert [RANK[r.severity] for r in verdict.reasons] == sorted(
        (RANK[r.severity] for r in verdict.reasons), reverse=True
    ), "worst first"
    assert len({r.code for r in verdict.reasons}) == len(verdict.reasons)


@given(answers, st.integers(1, 40), st.one_of(st.none(), answers))
def test_red_advice_always_names_the_clinic_and_the_emergency_number(given_answers, day, previous):
    verdict = evaluate(RULES, given_answers, day, previous)
    rules = {rule.code: rule for rule in RULES}
    for language in ("en", "fr", "ar", "tr"):
        advice = advice_for(verdict, rules, PROTOCOL.reassurance, language, "+33 1 23", "999")
        assert advice
        if verdict.severity == "red":
            assert "+33 1 23" in advice and "999" in advice
        assert "{" not in advice, "every placeholder is filled"


@given(answers)
def test_a_worse_temperature_never_lowers_the_severity(given_answers):
    if given_answers.temperature_c is None:
        return
    hotter = replace(given_answers, temperature_c=min(43.0, given_answers.temperature_c + 1.0))
    if given_answers.temperature_c >= 37.5:
        assert (
            RANK[evaluate(RULES, hotter, 2, None).severity]
            >= RANK[evaluate(RULES, given_answers, 2, None).severity]
        )
