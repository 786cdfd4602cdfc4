"""The loop closes for the patient: once a nurse has acknowledged a flagged check-in, or
opened the patient's page showing a check-in without an open flag, the phone says
"Seen by your clinic at 14:20", on the patient's clock, never naming the nurse."""

import re
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from aftercare.checkins.models import CheckIn
from tests.console.conftest import sign_in
from tests.patients.test_pages import _checkin, _csrf

SEEN = re.compile(r"Seen by your clinic at (\d\d:\d\d)")


def _patient(client, factory, nurse, zone: str = "America/New_York", language: str = "en"):
    """A patient of `nurse`'s clinic, signed in on `client`, two days after surgery."""
    from datetime import UTC, timedelta

    surgery = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    enrolment = factory.enrolment(nurse, surgery_at=surgery, timezone=zone, language=language)
    path = enrolment.url.removeprefix("http://testserver")
    client.post(path, data={"csrf_token": _csrf(client.get(path).text)})
    return enrolment


def _seen_at(engine, checkin_id: str) -> datetime | None:
    with Session(engine) as session:
        return session.exec(
            select(CheckIn.clinic_seen_at).where(CheckIn.id == uuid.UUID(checkin_id))
        ).one()


def test_an_acknowledged_flag_is_seen_on_the_patients_clock_without_the_nurse(
    client, factory, engine
):
    nurse = factory.nurse()
    _patient(client, factory, nurse)
    _response, sent = _checkin(client, pain="9")
    assert not SEEN.search(client.get("/history").text)
    assert "Please call now" in client.get("/today").text
    assert _seen_at(engine, sent["id"]) is None

    (flag,) = client.get("/api/v1/flags?status=open", headers=nurse.headers).json()["items"]
    acknowledged = client.post(f"/api/v1/flags/{flag['id']}/acknowledge", headers=nurse.headers)
    assert acknowledged.status_code == 200

    seen = _seen_at(engine, sent["id"])
    assert seen is not None
    local = seen.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M")
    history = client.get("/history").text
    assert SEEN.findall(history) == [local]
    assert SEEN.findall(client.get("/today").text) == [local]
    assert SEEN.findall(client.get(f"/checkins/{sent['id']}").text) == [local]
    for page in (history, client.get("/today").text):
        assert nurse.email not in page and nurse.email.split("@")[0] not in page
    # The API says when too, in the patient's zone.
    (item,) = client.get("/api/v1/patients/" + flag["patient_id"] + "/checkins",
                         headers=nurse.headers).json()["items"]  # fmt: skip
    assert datetime.fromisoformat(item["seen_by_clinic_at"]) == seen
    assert item["seen_by_clinic_at"].endswith(("-05:00", "-04:00"))


def test_acknowledging_again_keeps_the_first_time(client, factory, engine):
    nurse = factory.nurse()
    _patient(client, factory, nurse)
    _response, sent = _checkin(client, pain="9")
    (flag,) = client.get("/api/v1/flags?status=open", headers=nurse.headers).json()["items"]
    client.post(f"/api/v1/flags/{flag['id']}/acknowledge", headers=nurse.headers)
    first = _seen_at(engine, sent["id"])
    client.post(f"/api/v1/flags/{flag['id']}/resolve", json={"note": "ok"}, headers=nurse.headers)
    assert _seen_at(engine, sent["id"]) == first


def test_opening_the_patients_page_marks_what_it_shows_but_not_an_open_flag(
    client, factory, engine
):
    nurse = factory.nurse()
    _patient(client, factory, nurse)
    _r, calm = _checkin(client)
    _r, red = _checkin(client, pain="9")
    (flag,) = client.get("/api/v1/flags?status=open", headers=nurse.headers).json()["items"]

    console = TestClient(client.app)
    assert sign_in(console, nurse.email).status_code == 303
    assert console.get(f"/console/patients/{flag['patient_id']}").status_code == 200

    assert _seen_at(engine, calm["id"]) is not None
    assert _seen_at(engine, red["id"]) is None, "an open flag is seen only when acknowledged"
    history = client.get("/history").text
    assert len(SEEN.findall(history)) == 1
    # The red answer's instruction stands on Today until a nurse acknowledges it.
    today = client.get("/today").text
    assert "Please call now" in today and not SEEN.search(today)


def test_a_french_patient_reads_the_instruction_and_seen_in_french(client, factory, engine):
    """The answer's macros speak the page's language (they once fell back to English)."""
    nurse = factory.nurse()
    _patient(client, factory, nurse, language="fr")
    _response, sent = _checkin(client, pain="9")
    for path in ("/today", f"/checkins/{sent['id']}"):
        page = client.get(path).text
        assert "Veuillez appeler maintenant" in page and "Please call now" not in page, path
    (flag,) = client.get("/api/v1/flags?status=open", headers=nurse.headers).json()["items"]
    client.post(f"/api/v1/flags/{flag['id']}/acknowledge", headers=nurse.headers)
    for path in ("/history", "/today", f"/checkins/{sent['id']}"):
        page = client.get(path).text
        assert "Vu par votre clinique à" in page and "Seen by" not in page, path
