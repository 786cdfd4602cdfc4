"""Retention: a while after the plan ends, the job anonymises the patient; the report stays."""

import json
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import pytest
import time_machine
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from aftercare.app import create_app
from aftercare.audit.models import AuditEvent
from aftercare.db import make_engine, session_factory
from aftercare.patients.models import Patient
from aftercare.privacy.retention import anonymise_due_patients, is_due, plan_ends_at
from aftercare.reminders.models import PushSubscription, Reminder
from aftercare.writer import Writer
from tests.console.conftest import Console, sign_in
from tests.factories import Factory, NurseLogin

PARIS = ZoneInfo("Europe/Paris")
PROCEDURE = "hymenoplasty"
DEFAULT_RETENTION = 90


@dataclass
class Phone:
    """An enrolled patient: their id, their phone's bearer headers, what they wrote."""

    id: str
    alias: str
    email: str
    headers: dict[str, str]
    notes: list[str]
    messages: list[str]


def _plan_days(client: TestClient, nurse: NurseLogin) -> int:
    protocols = client.get("/api/v1/protocols", headers=nurse.headers).json()
    return int(next(p["days"] for p in protocols if p["id"] == PROCEDURE))


def _checkin(client: TestClient, phone: Phone, note: str, **answers: Any) -> None:
    body = {
        "id": str(uuid.uuid4()), "recorded_at": datetime.now(PARIS).isoformat(),
        "pain": 3, "temperature_c": 37.1, "bleeding": "spotting", "discharge": "none",
        "urination": "normal", "allergy": "none", "nausea": False, "wants_contact": False,
        "note": note, **answers,
    }  # fmt: skip
    response = client.post("/api/v1/me/checkins", json=body, headers=phone.headers)
    assert response.status_code == 201, response.text
    phone.notes.append(note)


def _enrol_on_the_last_day(
    client: TestClient, factory: Factory, nurse: NurseLogin, alias: str
) -> Phone:
    """A patient on the last day of their plan (a check-in day), who checks in and writes.

    Made at the clock's "now": tests move the clock back to make one whose plan
    ended long ago, with check-ins the report counts.
    """
    days = _plan_days(client, nurse)
    surgery_at = datetime.now(PARIS) - timedelta(days=days - 1)
    email = f"{alias.lower().replace('.', '')}{uuid.uuid4().hex[:6]}@example.org"
    enrolment = factory.enrolment(nurse, alias=alias, surgery_at=surgery_at.isoformat())
    phone = Phone(enrolment.id, alias, email, factory.patient_headers(enrolment), [], [])
    changed = client.patch(
        "/api/v1/me", json={"email": email, "channels": ["email"]}, headers=phone.headers
    )
    assert changed.status_code == 200, changed.text
    _checkin(client, phone, f"{alias} stitches feel tight {uuid.uuid4().hex[:6]}")
    _checkin(client, phone, f"{alias} bled a lot tonight {uuid.uuid4().hex[:6]}", bleeding="heavy")
    for path, headers in (
        ("/api/v1/me/messages", phone.headers),
        (f"/api/v1/patients/{phone.id}/messages", nurse.headers),
    ):
        body = f"{alias} words of the thread {uuid.uuid4().hex[:6]}"
        response = client.post(path, json={"body": body}, headers=headers)
        assert response.status_code == 201, response.text
        phone.messages.append(body)
    return phone


def _enrol_in_the_past(
    client: TestClient, factory: Factory, alias: str, plan_ended_days_ago: int
) -> Phone:
    """A patient whose plan ended this many days ago, give or take half a day."""
    day = (datetime.now(PARIS) - timedelta(days=plan_ended_days_ago)).date()
    # At noon, so that the last day's check-ins cannot slip past midnight.
    with time_machine.travel(datetime.combine(day, time(12), PARIS), tick=True):
        nurse = factory.nurse()
        return _enrol_on_the_last_day(client, factory, nurse, alias)


def _calendar_url(client: TestClient, phone: Phone) -> str:
    response = client.get("/api/v1/me/calendar", headers=phone.headers)
    assert response.status_code == 200, response.text
    return str(response.json()["url"]).removeprefix("http://testserver")


def _nurse_view(client: TestClient, nurse: NurseLogin, phone: Phone) -> dict[str, Any]:
    """All the API tells a nurse about the patient."""
    base = f"/api/v1/patients/{phone.id}"
    answers = {
        part: client.get(base + part, headers=nurse.headers)
        for part in ("", "/checkins", "/messages")
    }
    assert all(r.status_code == 200 for r in answers.values()), answers
    return {part: response.json() for part, response in answers.items()}


def _report(console: Console) -> str:
    response = console.client.get("/console/report.csv?weeks=52")
    assert response.status_code == 200
    return response.text


def _audit(engine: Engine) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEvent).order_by(col(AuditEvent.id))))


@pytest.fixture
def writer(client: TestClient) -> Writer:
    """The app's own writer: on SQLite every write goes through its one thread."""
    return client.app.state.writer  # type: ignore[attr-defined,no-any-return]


def _new_console(client: TestClient, factory: Factory, admin: bool = False) -> Console:
    nurse = factory.nurse(admin=admin)
    assert sign_in(client, nurse.email).status_code == 303
    return Console(client, nurse)


def test_a_patient_past_retention_is_anonymised_and_the_report_counts_stay_the_same(
    client: TestClient, factory: Factory, engine: Engine, writer: Writer
) -> None:
    old = _enrol_in_the_past(client, factory, "O.L.", DEFAULT_RETENTION + 5)
    recent = _enrol_in_the_past(client, factory, "R.C.", DEFAULT_RETENTION - 30)
    console = _new_console(client, factory)
    nurse = console.nurse
    with Session(engine) as session:
        session.add(
            PushSubscription(patient_id=uuid.UUID(old.id), endpoint="https://push.example.net/o",
                             p256dh="B" + "A" * 86, auth="c2VjcmV0c2VjcmV0")
        )  # fmt: skip
        session.commit()
    calendar = _calendar_url(client, old)
    # The clock stands still from here: the report's weeks and "days over" cannot move.
    with time_machine.travel(datetime.now(UTC), tick=False):
        now = datetime.now(UTC)
        assert client.get(calendar).status_code == 200
        before = {phone.id: _nurse_view(client, nurse, phone) for phone in (old, recent)}
        report_before = _report(console)
        assert ",checkins_done,1" in report_before and "flags:heavy-bleeding,1" in report_before

        assert anonymise_due_patients(session_factory(engine), writer, now) == 1

        assert _report(console) == report_before
        after = _nurse_view(client, nurse, old)
        assert _nurse_view(client, nurse, recent) == before[recent.id], "not due yet: untouched"
        assert anonymise_due_patients(session_factory(engine), writer, now) == 0, (
            "twice changes nothing"
        )
        assert _nurse_view(client, nurse, old) == after
        assert _report(console) == report_before

    assert before[old.id][""]["alias"] == "O.L." and before[old.id][""]["email"] == old.email
    assert {c["note"] for c in before[old.id]["/checkins"]["items"]} == set(old.notes)
    assert len(before[old.id]["/messages"]["items"]) == 2
    assert after[""]["alias"] == "—" and after[""]["email"] is None
    assert after[""]["checkin_count"] == before[old.id][""]["checkin_count"] == 2
    kept = [
        (c["id"], c["day"], c["severity"], c["recorded_at"]) for c in after["/checkins"]["items"]
    ]
    assert kept == [
        (c["id"], c["day"], c["severity"], c["recorded_at"])
        for c in before[old.id]["/checkins"]["items"]
    ]
    assert {(c["note"], c["advice"]) for c in after["/checkins"]["items"]} == {("", "")}
    answers = ("pain", "temperature_c", "bleeding", "discharge", "urination", "allergy",
               "nausea", "wants_contact")  # fmt: skip
    assert {c["bleeding"] for c in before[old.id]["/checkins"]["items"]} != {None}
    assert all(c[name] is None for c in after["/checkins"]["items"] for name in answers)
    assert (
        "removed when the patient was anonymised"
        in console.client.get(f"/console/patients/{old.id}").text
    )
    assert after["/messages"]["items"] == []
    # Every way back in is gone: the phone's token, the calendar feed.
    assert client.get("/api/v1/me/plan", headers=old.headers).status_code == 401
    assert client.get("/api/v1/me/messages", headers=old.headers).status_code == 401
    assert client.get(calendar).status_code == 404
    # The console shows "anonymised", never the alias or the words.
    listing = console.client.get("/console/patients").text
    assert "Anonymised" in listing and "O.L." not in listing and "R.C." in listing
    page = console.client.get(f"/console/patients/{old.id}")
    assert page.status_code == 200 and "Anonymised patient" in page.text
    for private in ("O.L.", old.email, *old.notes, *old.messages):
        assert private not in page.text
    assert f"/console/patients/{old.id}/messages" not in page.text
    assert f"/console/patients/{old.id}/code" not in page.text
    assert client.get("/api/v1/me/plan", headers=recent.headers).status_code == 200
    # One audit row, with nothing private in it, and nothing private left in the log.
    events = _audit(engine)
    (anonymised,) = [e for e in events if e.action == "patient.anonymised"]
    assert (anonymised.actor, anonymised.actor_id) == ("system", None)
    assert (anonymised.subject, anonymised.subject_id) == ("patient", old.id)
    assert anonymised.detail == {"retention_days": DEFAULT_RETENTION}
    log = json.dumps([e.model_dump(mode="json") for e in events])
    for private in ("O.L.", old.email, *old.notes, *old.messages):
        assert private not in log
    with Session(engine) as session:
        pid = uuid.UUID(old.id)
        assert (
            session.exec(select(PushSubscription).where(PushSubscription.patient_id == pid)).all()
            == []
        )
        pending = select(Reminder).where(Reminder.patient_id == pid, Reminder.status == "pending")
        assert session.exec(pending).all() == []
        patient = session.get(Patient, pid)
        assert patient is not None and patient.anonymised_at == now


def test_the_clinic_setting_moves_the_limit(
    client: TestClient, factory: Factory, engine: Engine, writer: Writer
) -> None:
    phone = _enrol_in_the_past(client, factory, "S.T.", 40)
    admin = _new_console(client, factory, admin=True)
    page = admin.client.get("/console/clinic")
    assert 'name="retention_days"' in page.text and 'value="90"' in page.text
    assert "removed for good" in page.text

    assert anonymise_due_patients(session_factory(engine), writer, datetime.now(UTC)) == 0
    assert client.get("/api/v1/me/plan", headers=phone.headers).status_code == 200

    form = {**_clinic_form(admin), "retention_days": "30"}
    assert admin.post("/console/clinic", **form).status_code == 303
    assert 'value="30"' in admin.client.get("/console/clinic").text
    assert anonymise_due_patients(session_factory(engine), writer, datetime.now(UTC)) == 1
    assert client.get("/api/v1/me/plan", headers=phone.headers).status_code == 401
    event = [e for e in _audit(engine) if e.action == "patient.anonymised"][-1]
    assert event.detail == {"retention_days": 30}


def _clinic_form(console: Console) -> dict[str, str]:
    return {
        "name": "North Clinic", "phone": "+33 1 23 45 67 89", "emergency_number": "112",
        "work_start": "08:00", "work_end": "18:00", "ack_target_minutes": "15",
        "session_timeout_minutes": "15", "app_name": "Care",
    }  # fmt: skip


@pytest.mark.parametrize("value", ["6", "3651", "ninety", "-1", "90.5", "1e3"])
def test_a_wrong_retention_is_a_clear_error_on_the_form_and_saves_nothing(
    client: TestClient, factory: Factory, value: str
) -> None:
    admin = _new_console(client, factory, admin=True)
    response = admin.post("/console/clinic", **{**_clinic_form(admin), "retention_days": value})
    assert response.status_code == 422
    assert 'id="c-retention_days-error"' in response.text
    assert "from 7 to 3650" in response.text
    assert 'value="90"' in admin.client.get("/console/clinic").text


def test_a_form_without_the_retention_or_with_it_empty_keeps_the_clinics_value(
    client: TestClient, factory: Factory
) -> None:
    admin = _new_console(client, factory, admin=True)
    assert (
        admin.post(
            "/console/clinic", **{**_clinic_form(admin), "retention_days": "120"}
        ).status_code
        == 303
    )
    assert admin.post("/console/clinic", **_clinic_form(admin)).status_code == 303
    assert 'value="120"' in admin.client.get("/console/clinic").text
    emptied = {**_clinic_form(admin), "retention_days": ""}
    assert admin.post("/console/clinic", **emptied).status_code == 303
    assert 'value="120"' in admin.client.get("/console/clinic").text


def test_the_job_anonymises_exactly_once_the_retention_after_the_plans_end_has_passed(
    client: TestClient, factory: Factory, engine: Engine, writer: Writer
) -> None:
    """The job's query and the rule agree, whatever the patient's time zone."""
    nurse = factory.nurse()
    ends = []
    for zone in ("Pacific/Kiritimati", "Europe/Paris", "Pacific/Pago_Pago"):
        surgery_at = datetime.now(ZoneInfo(zone)) - timedelta(days=2)
        enrolment = factory.enrolment(nurse, surgery_at=surgery_at.isoformat(), timezone=zone)
        patient = client.get(f"/api/v1/patients/{enrolment.id}", headers=nurse.headers).json()
        surgery = datetime.fromisoformat(patient["surgery_at"])
        ends.append(plan_ends_at(surgery, patient["timezone"], patient["days"]))
    ends.sort()
    retention = timedelta(days=DEFAULT_RETENTION)
    assert anonymise_due_patients(session_factory(engine), writer, ends[0] + retention) == 0
    for count, end in enumerate(ends, start=1):
        assert (
            anonymise_due_patients(
                session_factory(engine), writer, end + retention + timedelta(seconds=1)
            )
            == 1
        )
        listing = client.get("/api/v1/patients", headers=nurse.headers).json()["items"]
        assert sum(p["alias"] == "—" for p in listing) == count


def test_no_copy_of_the_words_remains_in_the_sqlite_files_after_anonymising(
    settings, sqlite_template, tmp_path
) -> None:
    """On SQLite (also during the PostgreSQL run): the file and its log, byte by byte."""
    path = tmp_path / "retention.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    local = settings.model_copy(update={"database_url": f"sqlite:///{path}"})
    with TestClient(create_app(local, engine)) as client:
        factory = Factory(engine, client)
        phone = _enrol_in_the_past(client, factory, "Zq-4471", DEFAULT_RETENTION + 5)
        secrets = ("Zq-4471", phone.email, *phone.notes, *phone.messages)

        def readable() -> list[str]:
            data = b"".join(
                p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("retention.db")
            )
            return [s for s in secrets if s.encode() in data]

        assert readable() == list(secrets), "the words are in the files before"
        writer = client.app.state.writer  # type: ignore[attr-defined]
        assert anonymise_due_patients(session_factory(engine), writer, datetime.now(UTC)) == 1
        assert readable() == []
    engine.dispose()


# --- the pure rule -----------------------------------------------------------------------

ZONES = sorted(
    z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(moments, st.sampled_from(ZONES), st.integers(1, 400))
def test_a_plan_ends_at_local_midnight_after_its_last_day_and_after_the_surgery(
    surgery_at: datetime, zone: str, plan_days: int
) -> None:
    end = plan_ends_at(surgery_at, zone, plan_days)
    local = end.astimezone(ZoneInfo(zone))
    first_day: date = surgery_at.astimezone(ZoneInfo(zone)).date()
    assert end > surgery_at, "the job's query counts on it"
    assert local.date() == first_day + timedelta(days=plan_days)
    # Midnight, or the first moment of the day where a clock change skips midnight.
    assert local.time() < time(2)
    assert end - surgery_at <= timedelta(days=plan_days + 1)


@settings(max_examples=300, deadline=None)
@given(moments, st.integers(7, 3650), st.integers(7, 3650), st.timedeltas(
    min_value=timedelta(days=-4000), max_value=timedelta(days=4000)))  # fmt: skip
def test_who_is_due_depends_only_on_how_long_ago_the_plan_ended(
    ended: datetime, retention: int, other: int, since: timedelta
) -> None:
    now = ended + since
    assert is_due(ended, retention, now) == (since > timedelta(days=retention))
    assert not is_due(ended, retention, ended + timedelta(days=retention))
    assert is_due(ended, retention, ended + timedelta(days=retention, microseconds=1))
    if is_due(ended, max(retention, other), now):
        assert is_due(ended, min(retention, other), now), "a shorter retention is never later"
    if is_due(ended, retention, now):
        assert is_due(ended, retention, now + timedelta(seconds=1)), "once due, always due"


def test_an_anonymised_patient_takes_nothing_new(
    client: TestClient, factory: Factory, engine: Engine, writer: Writer
) -> None:
    phone = _enrol_in_the_past(client, factory, "N.W.", DEFAULT_RETENTION + 2)
    assert anonymise_due_patients(session_factory(engine), writer, datetime.now(UTC)) == 1
    nurse = factory.nurse()  # same clinic
    base = f"/api/v1/patients/{phone.id}"
    assert client.get(base, headers=nurse.headers).status_code == 200
    message = client.post(f"{base}/messages", json={"body": "hello"}, headers=nurse.headers)
    assert message.status_code == 409
    moved = client.patch(base, json={"timezone": "Europe/Berlin"}, headers=nurse.headers)
    assert moved.status_code == 409
    console = _new_console(client, factory)
    for action in ("test-reminder", "code", "messages"):
        path = f"/console/patients/{phone.id}/{action}"
        assert console.post(path, body="hello").status_code == 409, action
    with Session(engine) as session:
        patient = session.get(Patient, uuid.UUID(phone.id))
        assert patient is not None and patient.anonymised_at is not None
