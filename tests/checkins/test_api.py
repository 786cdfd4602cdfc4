"""Check-ins through HTTP: the answer at once, stored exactly once, flags for the nurses."""

import hashlib
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, func, select

from aftercare.accounts.models import Clinic
from aftercare.audit.models import AuditEvent
from aftercare.checkins.models import CheckIn
from aftercare.checkins.schemas import CheckInCreate
from aftercare.flags.models import Flag

PARIS = ZoneInfo("Europe/Paris")


def ago(**delta) -> str:
    return (datetime.now(PARIS) - timedelta(**delta)).isoformat()


def body(**changes):
    checkin = {
        "id": str(uuid.uuid4()),
        "recorded_at": ago(minutes=1),
        "pain": 3, "temperature_c": 37.1, "bleeding": "spotting", "discharge": "none",
        "urination": "normal", "allergy": "none", "nausea": False, "wants_contact": False,
        "note": "",
    }  # fmt: skip
    checkin.update(changes)
    return checkin


@pytest.fixture
def nurse(factory):
    return factory.nurse()


def enrol(factory, nurse, days_ago=2, **changes):
    """A patient on Day `days_ago + 1`, enrolled the day before surgery."""
    surgery_at = ago(days=days_ago)
    with time_machine.travel(datetime.now(UTC) - timedelta(days=days_ago + 1)):
        enrolment = factory.enrolment(nurse, surgery_at=surgery_at, **changes)
    return factory.patient_headers(enrolment)


@pytest.fixture
def patient(factory, nurse):
    return enrol(factory, nurse)


def _set_clinic_phone(engine, phone):
    with Session(engine) as session:
        for clinic in session.exec(select(Clinic)):
            clinic.phone = phone
            session.add(clinic)
        session.commit()


def test_a_calm_check_in_is_reassured(client, patient):
    response = client.post("/api/v1/me/checkins", json=body(), headers=patient)
    assert response.status_code == 201
    answer = response.json()
    assert answer["severity"] == "none" and answer["reasons"] == []
    assert "check in again tomorrow" in answer["advice"]


RULE_ANSWERS = [
    ("fever", "red", {"temperature_c": 38.0}, "38.0"),
    ("low-grade-fever", "amber", {"temperature_c": 37.5}, "37.5"),
    ("low-temperature", "amber", {"temperature_c": 34.5}, "34.5"),
    ("heavy-bleeding", "red", {"bleeding": "heavy"}, None),
    ("moderate-bleeding", "amber", {"bleeding": "moderate"}, None),
    ("foul-discharge", "amber", {"discharge": "foul"}, None),
    ("urinary-retention", "red", {"urination": "unable"}, None),
    ("painful-urination", "amber", {"urination": "painful"}, None),
    ("allergy-breathing", "red", {"allergy": "breathing"}, None),
    ("allergy-rash", "amber", {"allergy": "rash"}, None),
    ("severe-pain", "red", {"pain": 9}, "9"),
    ("high-pain", "amber", {"pain": 7}, "7"),
    ("contact-requested", "amber", {"wants_contact": True}, None),
]


@pytest.mark.parametrize("language", ["en", "fr", "ar", "tr"])
@pytest.mark.parametrize(("code", "severity", "changes", "shown"), RULE_ANSWERS)
def test_every_rule_answers_with_its_code_and_severity_in_every_language(
    client, factory, nurse, engine, language, code, severity, changes, shown
):
    _set_clinic_phone(engine, "+33 1 23 45 67 89")
    headers = enrol(factory, nurse, language=language)
    response = client.post("/api/v1/me/checkins", json=body(**changes), headers=headers)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["severity"] == severity
    assert [reason["code"] for reason in answer["reasons"]] == [code]
    message = answer["reasons"][0]["message"]
    assert message and "{" not in message
    if shown:
        assert shown in message, "the reason names the answer that triggered it"
    if severity == "red":
        assert "+33 1 23 45 67 89" in answer["advice"] and "112" in answer["advice"]
    english = enrol(factory, nurse, language="en")
    in_english = client.post("/api/v1/me/checkins", json=body(**changes), headers=english).json()
    if language != "en":
        assert answer["advice"] != in_english["advice"], "advice is in the patient's language"


@pytest.mark.parametrize("language", ["en", "fr", "ar", "tr"])
def test_pain_rising_from_day_4_through_the_api(client, factory, nurse, language):
    headers = enrol(factory, nurse, days_ago=3, language=language)  # Day 4
    client.post("/api/v1/me/checkins", headers=headers, json=body(pain=2, recorded_at=ago(days=1)))
    rising = client.post("/api/v1/me/checkins", json=body(pain=5), headers=headers).json()
    assert rising["severity"] == "amber"
    assert [r["code"] for r in rising["reasons"]] == ["pain-rising"]
    assert "5" in rising["reasons"][0]["message"] and "2" in rising["reasons"][0]["message"]


def test_pain_rising_is_judged_against_the_check_in_before_it_was_received(client, factory, nurse):
    """A phone whose clock says a year before enrolment: its check-in is placed when it
    arrived, and judged against the check-in before that moment, not before its clock."""
    headers = enrol(factory, nurse, days_ago=3)  # Day 4
    client.post("/api/v1/me/checkins", headers=headers, json=body(pain=2, recorded_at=ago(days=1)))
    wrong = client.post("/api/v1/me/checkins", headers=headers,
                        json=body(pain=5, recorded_at=ago(days=365))).json()  # fmt: skip
    assert [reason["code"] for reason in wrong["reasons"]] == ["pain-rising"]


def test_red_advice_without_a_clinic_phone_still_says_whom_to_call(client, patient):
    answer = client.post("/api/v1/me/checkins", json=body(bleeding="heavy"), headers=patient).json()
    assert "112" in answer["advice"] and "your clinic's usual number" in answer["advice"]


def test_the_same_check_in_twice_is_stored_once_and_answered_the_same(client, patient, engine):
    sent = body(temperature_c=38.5)
    first = client.post("/api/v1/me/checkins", json=sent, headers=patient)
    again = client.post("/api/v1/me/checkins", json=sent, headers=patient)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(CheckIn)).one() == 1
        assert session.exec(select(func.count()).select_from(Flag)).one() == 1


def test_the_same_id_with_another_body_is_409_and_keeps_the_first(client, patient):
    sent = body()
    client.post("/api/v1/me/checkins", json=sent, headers=patient)
    changed = client.post("/api/v1/me/checkins", json={**sent, "pain": 8}, headers=patient)
    assert changed.status_code == 409
    stored = client.get("/api/v1/me/checkins", headers=patient).json()["items"]
    assert [item["pain"] for item in stored] == [3]


def test_another_patients_id_is_409_and_reveals_nothing(client, factory, nurse, patient):
    other = enrol(factory, nurse)
    sent = body(note="private")
    client.post("/api/v1/me/checkins", json=sent, headers=patient)
    response = client.post("/api/v1/me/checkins", json=sent, headers=other)
    assert response.status_code == 409 and "private" not in response.text


def test_simultaneous_resends_store_one_check_in_and_one_flag(client, patient, engine):
    sent = body(bleeding="heavy")
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(
                lambda _: (
                    client.post("/api/v1/me/checkins", json=sent, headers=patient).status_code
                ),
                range(16),
            )
        )
    assert sorted(statuses) == [200] * 15 + [201]
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(CheckIn)).one() == 1
        assert session.exec(select(func.count()).select_from(Flag)).one() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"pain": 11}, "pain"), ({"pain": -1}, "pain"),
        ({"pain": "3"}, "pain"), ({"pain": 3.5}, "pain"),
        ({"temperature_c": 33.9}, "temperature_c"), ({"temperature_c": 43.1}, "temperature_c"),
        ({"bleeding": "lots"}, "bleeding"), ({"discharge": "green"}, "discharge"),
        ({"urination": "sometimes"}, "urination"), ({"allergy": "hives"}, "allergy"),
        ({"nausea": "yes"}, "nausea"), ({"wants_contact": 1}, "wants_contact"),
        ({"note": "x" * 2001}, "note"), ({"id": "not-a-uuid"}, "id"),
        ({"recorded_at": "2027-03-28T19:02:00"}, "recorded_at"),
        ({"recorded_at": "yesterday evening"}, "recorded_at"),
        ({"temprature_c": 39.0}, "temprature_c"),
    ],
)  # fmt: skip
def test_bad_check_ins_are_422_naming_the_field_and_store_nothing(client, patient, changes, field):
    response = client.post("/api/v1/me/checkins", json=body(**changes), headers=patient)
    assert response.status_code == 422, response.text
    assert any(error["loc"][-1] == field for error in response.json()["detail"])
    assert client.get("/api/v1/me/checkins", headers=patient).json() == {"items": []}


def test_a_check_in_a_few_minutes_ahead_is_accepted_as_clock_drift(client, patient):
    drifted = body(recorded_at=ago(minutes=-4))
    assert client.post("/api/v1/me/checkins", json=drifted, headers=patient).status_code == 201
    stored = client.get("/api/v1/me/checkins", headers=patient).json()["items"][0]
    assert stored["recorded_at"] == datetime.fromisoformat(drifted["recorded_at"]).isoformat()


@pytest.mark.parametrize("phone_clock", [{"days": -1}, {"minutes": -10}, {"days": 10}])
def test_a_phone_with_a_wrong_clock_is_never_refused_and_is_placed_when_received(
    client, patient, nurse, engine, phone_clock
):
    """A day in the future, or before enrolment: stored, judged and placed at receipt."""
    sent = body(recorded_at=ago(**phone_clock), pain=9)
    before = datetime.now(UTC)
    response = client.post("/api/v1/me/checkins", json=sent, headers=patient)
    after = datetime.now(UTC)
    assert response.status_code == 201, response.text
    assert response.json()["severity"] == "red", "a red answer still reaches the nurse"
    stored = client.get("/api/v1/me/checkins", headers=patient).json()["items"]
    assert len(stored) == 1
    placed = datetime.fromisoformat(stored[0]["recorded_at"])
    assert before - timedelta(seconds=1) <= placed <= after + timedelta(seconds=1)
    assert stored[0]["day"] == 3
    with Session(engine) as session:
        row = session.exec(select(CheckIn)).one()
        assert row.phone_recorded_at == datetime.fromisoformat(sent["recorded_at"])
    flags = client.get("/api/v1/flags?status=open", headers=nurse.headers).json()["items"]
    assert [flag["severity"] for flag in flags] == ["red"]
    resent = client.post("/api/v1/me/checkins", json=sent, headers=patient)
    assert resent.status_code == 200, "the same check-in again is the same, stored once"


def test_history_is_newest_first_in_the_patients_time_zone(client, patient, nurse):
    yesterday = datetime.now(UTC) - timedelta(days=1)
    client.post("/api/v1/me/checkins", headers=patient,
                json=body(pain=4, recorded_at=yesterday.isoformat()))  # fmt: skip
    client.post("/api/v1/me/checkins", headers=patient, json=body(pain=2))
    items = client.get("/api/v1/me/checkins", headers=patient).json()["items"]
    assert [item["pain"] for item in items] == [2, 4]
    shown = datetime.fromisoformat(items[1]["recorded_at"])
    assert shown == yesterday.replace(microsecond=shown.microsecond)
    assert shown.utcoffset() == yesterday.astimezone(PARIS).utcoffset(), "in the patient's zone"
    assert items[0]["day"] == 3 and items[1]["day"] in (2, 3)


def test_nurses_read_check_ins_of_their_own_clinic_only(client, factory, patient, nurse):
    client.post("/api/v1/me/checkins", json=body(), headers=patient)
    patient_id = client.get("/api/v1/patients", headers=nurse.headers).json()["items"][0]["id"]
    mine = client.get(f"/api/v1/patients/{patient_id}/checkins", headers=nurse.headers)
    assert mine.status_code == 200 and len(mine.json()["items"]) == 1
    stranger = factory.nurse("south")
    other = client.get(f"/api/v1/patients/{patient_id}/checkins", headers=stranger.headers)
    assert other.status_code == 404


def test_the_patient_record_counts_check_ins_and_unresolved_flags(client, patient, nurse):
    client.post("/api/v1/me/checkins", json=body(), headers=patient)
    client.post("/api/v1/me/checkins", json=body(pain=9), headers=patient)
    listed = client.get("/api/v1/patients", headers=nurse.headers).json()["items"][0]
    assert (listed["checkin_count"], listed["open_flag_count"]) == (2, 1)
    one = client.get(f"/api/v1/patients/{listed['id']}", headers=nurse.headers).json()
    assert (one["checkin_count"], one["open_flag_count"]) == (2, 1)


def test_every_check_in_is_in_the_audit_log(client, patient, engine):
    client.post("/api/v1/me/checkins", json=body(), headers=patient)
    with Session(engine) as session:
        actions = session.exec(select(AuditEvent.action, AuditEvent.actor)).all()
    assert ("checkin.create", "patient") in actions


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELD_VALUES = {
    "id": st.uuids().map(str) | JSON,
    "recorded_at": st.sampled_from([ago(minutes=1), ago(days=1), ago(days=30), "x"]) | JSON,
    "pain": st.integers(-2, 12) | JSON,
    "temperature_c": st.floats(33, 44) | st.none() | JSON,
    "bleeding": st.sampled_from(["none", "spotting", "light", "moderate", "heavy"]) | JSON,
    "discharge": st.sampled_from(["none", "normal", "unusual", "foul"]) | JSON,
    "urination": st.sampled_from(["normal", "painful", "unable"]) | JSON,
    "allergy": st.sampled_from(["none", "itching", "rash", "breathing"]) | JSON,
    "nausea": st.booleans() | JSON,
    "wants_contact": st.booleans() | JSON,
    "note": st.text(max_size=50) | JSON,
}
bodies = st.one_of(
    JSON,
    st.fixed_dictionaries({}, optional=FIELD_VALUES),
    st.fixed_dictionaries(FIELD_VALUES),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sent=bodies, resend=st.booleans())
def test_any_body_gets_201_200_409_or_422_never_a_server_error(client, patient, sent, resend):
    for _ in range(2 if resend else 1):
        response = client.post(
            "/api/v1/me/checkins",
            content=json.dumps(sent),
            headers={**patient, "Content-Type": "application/json"},
        )
        assert response.status_code in (200, 201, 409, 422), response.text


def test_a_check_in_stored_under_the_earlier_digest_sent_again_is_the_same(client, patient, engine):
    """A phone offline across an upgrade sends again a check-in stored before it, when its
    digest was json.dumps(..., sort_keys=True) of the body's JSON values: the same answer,
    not a 409; another body under its id is still a 409."""
    sent = body(temperature_c=38.5)
    first = client.post("/api/v1/me/checkins", json=sent, headers=patient)
    assert first.status_code == 201
    values = CheckInCreate.model_validate(sent).model_dump(mode="json")
    earlier = json.dumps(values, sort_keys=True, separators=(",", ":"))
    with Session(engine) as session:
        row = session.exec(select(CheckIn)).one()
        assert row.body_digest != hashlib.sha256(earlier.encode()).hexdigest()
        row.body_digest = hashlib.sha256(earlier.encode()).hexdigest()
        session.add(row)
        session.commit()
    again = client.post("/api/v1/me/checkins", json=sent, headers=patient)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    changed = client.post("/api/v1/me/checkins", json={**sent, "pain": 9}, headers=patient)
    assert changed.status_code == 409
