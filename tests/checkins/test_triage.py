"""The flag rules as data: the phone's judge (triage.js, run by node) answers as the server does."""

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from aftercare.accounts.models import Clinic
from aftercare.checkins.service import patient_advice, recovery_day_at
from aftercare.checkins.triage import LatestCheckIn, triage_document
from aftercare.flags.rules import (
    RANK,
    Answers,
    Evidence,
    Verdict,
    advice_calls,
    calls_for,
    evaluate,
)
from aftercare.protocols.loader import Protocol, load_protocols
from aftercare.protocols.schema import CHOICE_FIELDS, NUMBER_FIELDS, RuleSpec
from aftercare.settings import SHIPPED_SCHEDULES_DIR
from tests.checkins.triage_node import TriageNode

PROTOCOLS = load_protocols(SHIPPED_SCHEDULES_DIR)
LANGUAGES = ("en", "fr", "ar", "tr")
PHONE = "+33 1 23 45 67 89"
CI = settings(max_examples=200, deadline=None)
CALM = Answers(
    pain=2, temperature_c=36.8, bleeding="spotting", discharge="none", urination="normal",
    allergy="none", nausea=False, wants_contact=False,
)  # fmt: skip


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TriageNode]:
    runner = TriageNode(tmp_path_factory.mktemp("triage-node"))
    yield runner
    runner.close()


def document(
    protocol: Protocol,
    language: str = "en",
    phone: str | None = PHONE,
    previous: LatestCheckIn | None = None,
    timezone: str = "Europe/Paris",
    first_day: date = date(2027, 3, 26),
) -> dict[str, Any]:
    return triage_document(protocol, language, phone, "112", timezone, first_day, previous)


answers_st = st.builds(
    Answers,
    pain=st.integers(0, 10),
    temperature_c=st.none() | st.integers(340, 430).map(lambda tenths: tenths / 10),
    bleeding=st.sampled_from(CHOICE_FIELDS["bleeding"]),
    discharge=st.sampled_from(CHOICE_FIELDS["discharge"]),
    urination=st.sampled_from(CHOICE_FIELDS["urination"]),
    allergy=st.sampled_from(CHOICE_FIELDS["allergy"]),
    nausea=st.booleans(),
    wants_contact=st.booleans(),
)


def python_answer(
    protocol: Protocol,
    language: str,
    phone: str | None,
    answers: Answers,
    day: int,
    previous: Answers | None,
) -> dict[str, Any]:
    verdict = evaluate(protocol.rules, answers, day, previous)
    reasons, advice = patient_advice(verdict, protocol, phone, "112", language)
    calls = calls_for(verdict, {rule.code: rule for rule in protocol.rules}, language)
    return {
        "severity": verdict.severity,
        "reasons": [reason.model_dump() for reason in reasons],
        "advice": advice,
        "calls": list(calls),
    }


# --- calls_for ---------------------------------------------------------------

HYMENOPLASTY = PROTOCOLS["hymenoplasty"]
RULES = {rule.code: rule for rule in HYMENOPLASTY.rules}


def calls_of(language: str = "en", **changes: Any) -> tuple[str, ...]:
    answers = Answers(**{**asdict(CALM), **changes})
    return calls_for(evaluate(HYMENOPLASTY.rules, answers, 2, None), RULES, language)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    ("changes", "calls"),
    [
        ({}, ()),
        ({"bleeding": "heavy"}, ("emergency", "clinic")),
        ({"allergy": "breathing"}, ("emergency", "clinic")),
        ({"temperature_c": 38.2}, ("clinic", "emergency")),
        ({"urination": "unable"}, ("clinic", "emergency")),
        ({"pain": 9}, ("clinic", "emergency")),
        ({"temperature_c": 37.6}, ("clinic",)),
        ({"wants_contact": True}, ("clinic",)),
        ({"bleeding": "moderate"}, ("emergency",)),
        ({"allergy": "rash"}, ("emergency",)),
        ({"bleeding": "moderate", "wants_contact": True}, ("emergency", "clinic")),
        # Amber advice is not shown beside red advice, nor are its buttons.
        ({"bleeding": "moderate", "urination": "unable"}, ("clinic", "emergency")),
    ],
)
def test_calls_follow_the_advice_the_patient_reads(language, changes, calls):
    assert calls_of(language, **changes) == calls


SEGMENTS = ["Call ", "{clinic_phone}", "{emergency_number}", "{value}", "{{clinic_phone}}", ". "]


def _rule(code: str, severity: str, advice: str) -> RuleSpec:
    return RuleSpec.model_validate(
        {
            "code": code,
            "severity": severity,
            "when": {"field": "pain", "at_least": 0},
            "message": {"en": "m"},
            "advice": {"en": advice, "fr": "Appelez le {emergency_number}."},
        }
    )


@st.composite
def verdicts(draw: st.DrawFn) -> tuple[Verdict, dict[str, RuleSpec]]:
    count = draw(st.integers(0, 5))
    rules = {
        f"rule-{index}": _rule(
            f"rule-{index}",
            draw(st.sampled_from(["amber", "red"])),
            "".join(draw(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=6))),
        )
        for index in range(count)
    }
    order = draw(st.permutations(list(rules)))
    reasons = [Evidence(code, rules[code].severity) for code in order]
    reasons.sort(key=lambda evidence: -RANK[evidence.severity])
    return Verdict(reasons[0].severity if reasons else "none", tuple(reasons)), rules


def _named(text: str) -> list[str]:
    """An independent reading: real placeholders, not `{{escaped}}` ones."""
    names = re.findall(r"(?<!\{)\{(clinic_phone|emergency_number)\}(?!\})", text)
    return [{"clinic_phone": "clinic", "emergency_number": "emergency"}[name] for name in names]


@given(verdicts())
@CI
def test_calls_properties(drawn):
    verdict, rules = drawn
    calls = calls_for(verdict, rules, "en")
    assert len(set(calls)) == len(calls), "no button twice"
    assert set(calls) <= {"clinic", "emergency"}
    worst = [rules[e.code].advice["en"] for e in verdict.reasons if e.severity == verdict.severity]
    # Advice that sends to the emergency number first is read first.
    worst.sort(key=lambda text: _named(text)[:1] != ["emergency"])
    named = list(dict.fromkeys(call for text in worst for call in _named(text)))
    if verdict.severity == "none":
        assert calls == ()
    elif verdict.severity == "amber":
        assert calls == tuple(named)
    else:
        assert set(calls) == {"clinic", "emergency"}, "red always offers both numbers"
        assert calls[: len(named)] == tuple(named), "the order the advice names them, then the rest"
        first = _named(worst[0])
        if first:
            assert calls[0] == first[0], "the first button is the first number the advice names"


@given(st.sampled_from(list(PROTOCOLS)), st.sampled_from(LANGUAGES), answers_st)
@CI
def test_shipped_red_advice_offers_both_numbers_in_the_order_it_names_them(pid, language, answers):
    protocol = PROTOCOLS[pid]
    rules = {rule.code: rule for rule in protocol.rules}
    verdict = evaluate(protocol.rules, answers, 5, None)
    calls = calls_for(verdict, rules, language)
    if verdict.severity == "red":
        assert set(calls) == {"clinic", "emergency"}
        red = [rules[e.code].advice[language] for e in verdict.reasons if e.severity == "red"]
        if any(advice_calls(text)[0] == "emergency" for text in red):
            assert calls[0] == "emergency", "breathing or very heavy bleeding: the emergency first"
        else:
            assert calls[0] == advice_calls(red[0])[0]
    elif verdict.severity == "none":
        assert calls == ()


# --- the phone judges as the server does ----------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("pid", sorted(PROTOCOLS))
@given(
    answers=answers_st,
    day=st.integers(1, 30),
    previous=st.none() | answers_st,
    phone=st.sampled_from([PHONE, None]),
)
@CI
def test_the_phone_judges_every_check_in_as_the_server_does(
    node, pid, language, answers, day, previous, phone
):
    protocol = PROTOCOLS[pid]
    doc = document(protocol, language, phone)
    expected = python_answer(protocol, language, phone, answers, day, previous)
    on_phone = node.judge(doc, asdict(answers), day, asdict(previous) if previous else None)
    assert on_phone == expected


# Rules the shipped files do not have: any threshold, a rising temperature,
# yes/no choices ({value} shows True), {previous} outside a trend (None), escapes.
MESSAGE_PARTS = ["{value}", "{previous}", "{{value}}", " was ", "{clinic_phone}", "°C"]


@st.composite
def any_rule(draw: st.DrawFn, index: int) -> RuleSpec:
    kind = draw(st.sampled_from(["range", "choice", "trend", "silence"]))
    when: dict[str, Any]
    if kind == "choice":
        field = draw(st.sampled_from(list(CHOICE_FIELDS)))
        allowed = [*CHOICE_FIELDS[field], *((1, 0) if field in ("nausea", "wants_contact") else ())]
        when = {"field": field, "in": draw(st.lists(st.sampled_from(allowed), min_size=1))}
    elif kind == "silence":
        when = {"silent_hours": 48}
    else:
        field = draw(st.sampled_from(list(NUMBER_FIELDS)))
        low, high = NUMBER_FIELDS[field]
        limits = st.integers(int(low * 4), int(high * 4)).map(lambda quarters: quarters / 4)
        if kind == "trend":
            when = {"field": field, "rise_of_at_least": draw(st.sampled_from([0.1, 0.5, 1, 3]))}
            when["from_day"] = draw(st.none() | st.integers(1, 8))
        else:
            at_least, below = draw(st.none() | limits), draw(st.none() | limits)
            if at_least is None and below is None:
                at_least = low
            if at_least is not None and below is not None and below <= at_least:
                at_least, below = below - 0.5, at_least
            when = {"field": field, "at_least": at_least, "below": below}
    message = "".join(draw(st.lists(st.sampled_from(MESSAGE_PARTS), min_size=1, max_size=5)))
    advice = "".join(draw(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=5)))
    return RuleSpec.model_validate(
        {
            "code": f"rule-{index}",
            "severity": draw(st.sampled_from(["amber", "red"])),
            "when": {key: value for key, value in when.items() if value is not None},
            "message": {"en": message},
            "advice": {"en": advice},
        }
    )


@st.composite
def any_protocol(draw: st.DrawFn) -> Protocol:
    count = draw(st.integers(0, 6))
    rules = tuple(draw(any_rule(index)) for index in range(count))
    return Protocol(HYMENOPLASTY.spec, rules, {"en": "All well; {clinic_phone}."}, "test")


# Quarter degrees are exact ties for "{:.1f}" (38.25 shows as 38.2).
precise = (
    st.none()
    | st.integers(3400, 4300).map(lambda hundredths: hundredths / 100)
    | st.integers(136, 172).map(lambda quarters: quarters / 4)
)


@given(
    protocol=any_protocol(),
    answers=answers_st.flatmap(
        lambda a: precise.map(lambda t: Answers(**{**asdict(a), "temperature_c": t}))
    ),
    day=st.integers(1, 10),
    previous=st.none() | answers_st,
)
@CI
def test_the_phone_judges_as_the_server_does_with_any_rules(node, protocol, answers, day, previous):
    doc = document(protocol, phone=None)
    expected = python_answer(protocol, "en", None, answers, day, previous)
    on_phone = node.judge(doc, asdict(answers), day, asdict(previous) if previous else None)
    assert on_phone == expected


# 38.25 is an exact tie: Python rounds it to even, JavaScript's toFixed up.
TEMPERATURES = [(38.25, "38.2"), (37.75, "37.8"), (38.05, "38.0"), (38.15, "38.1"), (38.45, "38.5")]


@pytest.mark.parametrize(("temperature", "shown"), TEMPERATURES)
def test_temperatures_are_shown_with_python_rounding(node, temperature, shown):
    doc = document(HYMENOPLASTY)
    answer = node.judge(doc, {**asdict(CALM), "temperature_c": temperature}, 2, None)
    assert f"{temperature:.1f}" == shown
    assert answer["reasons"][0]["message"] == f"Temperature {shown} °C"


ZONES = ["Europe/Paris", "America/Los_Angeles", "Pacific/Auckland", "Asia/Kolkata", "UTC"]


def test_recovery_day_turns_at_local_midnight(node):
    # Auckland is 13 hours ahead of UTC in March (daylight saving time).
    doc = document(HYMENOPLASTY, timezone="Pacific/Auckland", first_day=date(2027, 3, 26))
    assert node.recovery_day(doc, "2027-03-25T11:00:00Z") == 1
    assert node.recovery_day(doc, "2027-03-26T10:59:59Z") == 1
    assert node.recovery_day(doc, "2027-03-26T11:00:00Z") == 2
    assert node.recovery_day(doc, "2027-03-25T10:59:59Z") == 0
    los_angeles = document(HYMENOPLASTY, timezone="America/Los_Angeles")
    assert node.recovery_day(los_angeles, "2027-03-27T06:59:59Z") == 1
    assert node.recovery_day(los_angeles, "2027-03-27T07:00:00Z") == 2


def test_recovery_day_defaults_to_now(node):
    doc = document(HYMENOPLASTY, timezone="UTC", first_day=datetime.now(UTC).date())
    assert node.recovery_day(doc) in (1, 2)  # 2 only if midnight passes meanwhile


@given(
    zone=st.sampled_from(ZONES),
    surgery=st.datetimes(datetime(2026, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC)),
    later=st.timedeltas(timedelta(0), timedelta(days=60)),
)
@CI
def test_recovery_day_matches_the_server(node, zone, surgery, later):
    moment = (surgery + later).replace(microsecond=0)
    first_day = surgery.astimezone(ZoneInfo(zone)).date()
    doc = document(HYMENOPLASTY, timezone=zone, first_day=first_day)
    expected = recovery_day_at(zone, surgery, moment)
    assert node.recovery_day(doc, moment.isoformat()) == expected


# --- the document ------------------------------------------------------------


def test_the_document_carries_the_rules_in_the_patients_language():
    doc = document(HYMENOPLASTY, "fr", phone=None)
    assert set(doc) == {
        "version", "language", "timezone", "first_day", "phones", "decimal_fields", "rules",
        "reassurance", "previous",
    }  # fmt: skip
    assert doc["phones"] == {"clinic": None, "emergency": "112"}
    assert doc["decimal_fields"] == ["temperature_c"]
    codes = [rule["code"] for rule in doc["rules"]]
    assert codes == [rule.code for rule in HYMENOPLASTY.rules]
    fever = doc["rules"][codes.index("fever")]
    assert fever["when"] == {
        "kind": "range", "field": "temperature_c", "in": None, "at_least": 38.0, "below": None,
        "from_day": None, "rise_of_at_least": None,
    }  # fmt: skip
    assert fever["message"] == "Température {value} °C"
    assert "112" in fever["advice"] and "{" not in fever["advice"]
    assert fever["calls"] == ["clinic", "emergency"]
    assert doc["rules"][codes.index("heavy-bleeding")]["calls"] == ["emergency", "clinic"]
    contact = doc["rules"][codes.index("contact-requested")]
    assert contact["when"]["in"] == [True]
    assert json.loads(json.dumps(doc)) == doc


def test_the_version_changes_with_what_the_phone_judges_by():
    base = document(HYMENOPLASTY)
    assert document(HYMENOPLASTY)["version"] == base["version"]
    latest = LatestCheckIn(CALM, datetime(2027, 3, 27, 8, tzinfo=UTC))
    others = [
        document(HYMENOPLASTY, "fr"),
        document(HYMENOPLASTY, phone=None),
        document(HYMENOPLASTY, previous=latest),
        document(HYMENOPLASTY, timezone="UTC"),
        document(HYMENOPLASTY, first_day=date(2027, 3, 27)),
    ]
    assert len({base["version"], *(doc["version"] for doc in others)}) == len(others) + 1


# --- the routes ----------------------------------------------------------------


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


def checkin(**changes: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "recorded_at": ago(minutes=1), **asdict(CALM), **changes}


def enrolment(factory, nurse, **changes):
    """Surgery two days ago (enrolled the day before): today is Day 3."""
    surgery_at = ago(days=2)
    with time_machine.travel(datetime.now(UTC) - timedelta(days=3)):
        return factory.enrolment(nurse, surgery_at=surgery_at, **changes)


def sign_in_phone(client, enrolled) -> None:
    path = enrolled.url.removeprefix("http://testserver")
    page = client.get(path)
    response = client.post(path, data={"csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert response.status_code == 303, response.text


def set_clinic_phone(engine, clinic_slug: str, phone: str) -> None:
    with Session(engine) as session:
        for clinic in session.exec(select(Clinic)):
            if clinic.slug == clinic_slug:
                clinic.phone = phone
                session.add(clinic)
        session.commit()


def test_the_phone_gets_its_rules_by_cookie_never_stored_by_the_browser(client, factory):
    assert client.get("/checkin/rules.json", follow_redirects=False).status_code == 303
    nurse = factory.nurse()
    sign_in_phone(client, enrolment(factory, nurse, language="tr", timezone="Europe/Istanbul"))
    response = client.get("/checkin/rules.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("application/json")
    doc = response.json()
    assert doc["language"] == "tr" and doc["timezone"] == "Europe/Istanbul"
    assert doc["previous"] is None
    today = datetime.now(ZoneInfo("Europe/Istanbul")).date()
    assert date.fromisoformat(doc["first_day"]) == today - timedelta(days=2)
    assert "/checkin/rules.json" not in client.get("/openapi.json").json()["paths"]


def test_the_api_gives_the_same_document_by_bearer_token(client, factory):
    assert client.get("/api/v1/me/triage").status_code == 401
    bad = {"Authorization": "Bearer not-a-token"}
    assert client.get("/api/v1/me/triage", headers=bad).status_code == 401
    nurse = factory.nurse()
    surgery = ago(days=2)
    with time_machine.travel(datetime.now(UTC) - timedelta(days=3)):
        by_cookie = factory.enrolment(nurse, surgery_at=surgery)
        by_token = factory.enrolment(nurse, surgery_at=surgery)
    sign_in_phone(client, by_cookie)
    headers = factory.patient_headers(by_token)
    response = client.get("/api/v1/me/triage", headers=headers)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == client.get("/checkin/rules.json").json()
    assert "/api/v1/me/triage" in client.get("/openapi.json").json()["paths"]


def test_another_patients_data_is_never_in_the_document(client, factory, engine):
    north, south = factory.nurse("north"), factory.nurse("south")
    set_clinic_phone(engine, "north", "+33 1 11 11 11 11")
    set_clinic_phone(engine, "south", "+90 212 222 22 22")
    mine = factory.patient_headers(enrolment(factory, north, alias="M.E."))
    theirs_enrolment = enrolment(factory, south, alias="T.H.")
    theirs = factory.patient_headers(theirs_enrolment)
    sent = checkin(pain=4, temperature_c=37.3, recorded_at=ago(hours=2), note="private words")
    assert client.post("/api/v1/me/checkins", json=sent, headers=mine).status_code == 201
    for hours, pain in ((1, 8), (30, 6)):
        body = checkin(
            pain=pain, temperature_c=38.6, bleeding="heavy", recorded_at=ago(hours=hours)
        )
        assert client.post("/api/v1/me/checkins", json=body, headers=theirs).status_code == 201

    doc = client.get("/api/v1/me/triage", headers=mine).json()
    text = json.dumps(doc, ensure_ascii=False)
    assert doc["previous"]["pain"] == 4 and doc["previous"]["temperature_c"] == 37.3
    assert datetime.fromisoformat(doc["previous"]["recorded_at"]) == datetime.fromisoformat(
        sent["recorded_at"]
    )
    assert set(doc["previous"]) == {"recorded_at", *asdict(CALM)}
    assert doc["phones"]["clinic"] == "+33 1 11 11 11 11"
    for secret in ("private words", "M.E.", "T.H.", "+90 212", theirs_enrolment.id, "38.6"):
        assert secret not in text
    # Theirs: the latest by recorded_at, though it was not the last one sent.
    their_doc = client.get("/api/v1/me/triage", headers=theirs).json()
    assert their_doc["previous"]["pain"] == 8 and their_doc["previous"]["bleeding"] == "heavy"
    assert "+33 1 11" not in json.dumps(their_doc)


def test_the_phone_answers_a_check_in_as_the_server_then_does(client, factory, engine, node):
    nurse = factory.nurse()
    set_clinic_phone(engine, "north", PHONE)
    headers = factory.patient_headers(enrolment(factory, nurse, language="fr"))
    first = checkin(pain=3, recorded_at=ago(hours=3))
    assert client.post("/api/v1/me/checkins", json=first, headers=headers).status_code == 201
    doc = client.get("/api/v1/me/triage", headers=headers).json()
    assert doc["version"] != document(HYMENOPLASTY, "fr")["version"]
    sent = checkin(pain=8, temperature_c=38.4, bleeding="moderate", wants_contact=True)
    day = node.recovery_day(doc, sent["recorded_at"])
    answers = {name: sent[name] for name in asdict(CALM)}
    previous = {name: doc["previous"][name] for name in asdict(CALM)}
    on_phone = node.judge(doc, answers, day, previous)
    server = client.post("/api/v1/me/checkins", json=sent, headers=headers).json()
    assert on_phone["severity"] == server["severity"] == "red"
    assert on_phone["reasons"] == server["reasons"]
    assert on_phone["advice"] == server["advice"]
    assert on_phone["calls"] == ["clinic", "emergency"]
    assert client.get("/api/v1/me/triage", headers=headers).json()["version"] != doc["version"]


def test_a_missing_procedure_file_is_said_plainly(client, factory):
    headers = factory.patient_headers(enrolment(factory, factory.nurse()))
    client.app.state.protocols.pop("hymenoplasty")
    response = client.get("/api/v1/me/triage", headers=headers)
    assert response.status_code == 503
