"""no-check-in: a patient silent for 48 hours during the daily check-in days, flagged once."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlmodel import Session, col, select

from aftercare.checkins.tasks import raise_silence_flags
from aftercare.db import session_factory
from aftercare.flags.models import Flag
from aftercare.writer import make_writer

SURGERY = datetime(2027, 3, 26, 8, 0, tzinfo=UTC)  # 09:00 in Paris; daily check-ins Days 1-7


@pytest.fixture
def sweep(engine, protocols):
    writer = make_writer(engine)

    def run(at: datetime) -> int:
        return raise_silence_flags(session_factory(engine), writer, protocols, at)

    yield run
    writer.close()


@pytest.fixture
def patient(client, factory):
    with time_machine.travel(SURGERY - timedelta(hours=2), tick=False):
        nurse = factory.nurse()
        enrolment = factory.enrolment(nurse, surgery_at=SURGERY.isoformat())
        return factory.patient_headers(enrolment)


def _flags(engine) -> list[Flag]:
    with Session(engine) as session:
        return list(session.exec(select(Flag).order_by(col(Flag.created_at))))


def _check_in(client, headers, at: datetime) -> None:
    with time_machine.travel(at, tick=False):
        response = client.post("/api/v1/me/checkins", headers=headers, json={
            "id": str(__import__("uuid").uuid4()), "recorded_at": at.isoformat(), "pain": 2,
            "bleeding": "spotting", "discharge": "none", "urination": "normal", "allergy": "none",
            "nausea": False, "wants_contact": False,
        })  # fmt: skip
        assert response.status_code == 201, response.text


def test_silence_of_48_hours_raises_one_amber_flag_once(engine, sweep, patient):
    assert sweep(SURGERY + timedelta(hours=47, minutes=59)) == 0
    assert sweep(SURGERY + timedelta(hours=48)) == 1
    assert sweep(SURGERY + timedelta(hours=49)) == 0, "once per silence"
    (flag,) = _flags(engine)
    assert (flag.severity, flag.checkin_id, flag.silent_since) == ("amber", None, SURGERY)
    assert flag.reasons[0]["code"] == "no-check-in"


def test_a_check_in_ends_the_silence_and_a_new_one_raises_a_new_flag(
    client, engine, sweep, patient
):
    _check_in(client, patient, SURGERY + timedelta(hours=30))
    assert sweep(SURGERY + timedelta(hours=60)) == 0
    assert sweep(SURGERY + timedelta(hours=78)) == 1
    assert [flag.silent_since for flag in _flags(engine)] == [SURGERY + timedelta(hours=30)]


def test_no_flag_once_check_ins_are_no_longer_daily(engine, sweep, patient):
    # Day 8 starts at midnight in Paris on 2 April; check-ins are daily until then.
    end_of_day_7 = datetime(2027, 4, 1, 22, 0, tzinfo=UTC)
    assert sweep(end_of_day_7 + timedelta(minutes=1)) == 0
    assert _flags(engine) == []


@pytest.mark.parametrize("language", ["en", "fr", "ar", "tr"])
def test_the_flag_reaches_the_queue_in_every_language(client, factory, sweep, patient, language):
    sweep(SURGERY + timedelta(hours=50))
    with time_machine.travel(SURGERY + timedelta(hours=50), tick=False):
        nurse = factory.nurse()
        headers = {**nurse.headers, "Accept-Language": language}
        items = client.get("/api/v1/flags", headers=headers).json()["items"]
    assert [(item["severity"], item["reasons"][0]["code"]) for item in items] == [
        ("amber", "no-check-in")
    ]
    message = items[0]["reasons"][0]["message"]
    assert "48" in message or "٤٨" in message
    if language != "en":
        assert "check-in" not in message.lower(), "worded in the nurse's language"


def test_two_sweeps_at_once_raise_one_flag(engine, protocols, patient):
    from concurrent.futures import ThreadPoolExecutor

    writers = [make_writer(engine) for _ in range(4)]
    at = SURGERY + timedelta(hours=50)
    with ThreadPoolExecutor(4) as pool:
        raised = list(
            pool.map(
                lambda w: raise_silence_flags(session_factory(engine), w, protocols, at), writers
            )
        )
    for writer in writers:
        writer.close()
    assert sum(raised) == 1 and len(_flags(engine)) == 1
