"""A demo clinic, nurse and patients, seeded idempotently by `aftercare demo`."""

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import Engine
from sqlmodel import select

from aftercare.accounts.models import Nurse
from aftercare.accounts.service import create_nurse, get_or_create_clinic
from aftercare.care.service import create_patient, reissue_code
from aftercare.checkins.schemas import CheckInCreate
from aftercare.checkins.service import receive
from aftercare.db import session_scope
from aftercare.patients.models import Patient
from aftercare.patients.schemas import PatientCreate
from aftercare.patients.service import spend_code
from aftercare.protocols.loader import Protocol
from aftercare.settings import Settings

DEMO_CLINIC = "demo"
DEMO_NURSE = "nurse@demo.example"
DEMO_PASSWORD = "demo-password"


@dataclass(frozen=True)
class DemoPatient:
    alias: str
    protocol: str
    days_ago: int
    timezone: str
    language: str


DEMO_PATIENTS = (
    DemoPatient("A.B.", "hymenoplasty", 1, "Europe/Paris", "en"),
    DemoPatient("C.D.", "hymenoplasty", 5, "Europe/Paris", "fr"),
    DemoPatient("E.F.", "day-surgery", 0, "Europe/Istanbul", "tr"),
)
# Already on a phone, with two check-ins: the second one flags, so the console has work.
DEMO_ENROLLED = DemoPatient("G.H.", "hymenoplasty", 3, "Europe/Paris", "en")


@dataclass(frozen=True)
class SeededPatient:
    alias: str
    protocol: str
    enrollment_url: str | None


def seed_demo(
    engine: Engine, settings: Settings, protocols: dict[str, Protocol], now: datetime
) -> list[SeededPatient]:
    """Create what is missing; give each patient not yet enrolled a fresh link."""
    with session_scope(engine) as session:
        clinic = get_or_create_clinic(session, DEMO_CLINIC, "Demo Clinic")
        clinic.phone = clinic.phone or "+33 1 23 45 67 89"
        if clinic.timezone == "UTC":  # the default: the demo clinic is in Paris
            clinic.timezone = "Europe/Paris"
        nurse = session.exec(select(Nurse).where(Nurse.email == DEMO_NURSE)).first()
        if nurse is None:
            nurse = create_nurse(session, DEMO_NURSE, DEMO_PASSWORD, clinic, is_admin=True)
        nurse_id = nurse.id
    seeded = []
    for demo in DEMO_PATIENTS:
        if demo.protocol not in protocols:
            continue
        with session_scope(engine) as session:
            nurse = session.get(Nurse, nurse_id)
            assert nurse is not None
            patient = session.exec(
                select(Patient).where(
                    Patient.clinic_id == nurse.clinic_id, Patient.alias == demo.alias
                )
            ).first()
            if patient is None:
                surgery_day = (now - timedelta(days=demo.days_ago)).date()
                body = PatientCreate(
                    alias=demo.alias,
                    protocol=demo.protocol,
                    surgery_at=datetime.combine(surgery_day, time(9, 30), tzinfo=now.tzinfo),
                    timezone=demo.timezone,
                    language=demo.language,
                )
                url: str | None = create_patient(
                    session, nurse, body, protocols, settings, now
                ).enrollment_url
            elif patient.enrolled_at is None:
                url = reissue_code(session, patient, now, settings).enrollment_url
            else:
                url = None
            seeded.append(SeededPatient(demo.alias, demo.protocol, url))
    if DEMO_ENROLLED.protocol in protocols:
        _seed_enrolled(engine, settings, protocols, nurse_id, now)
    return seeded


def _seed_enrolled(
    engine: Engine,
    settings: Settings,
    protocols: dict[str, Protocol],
    nurse_id: uuid.UUID,
    now: datetime,
) -> None:
    demo = DEMO_ENROLLED
    with session_scope(engine) as session:
        nurse = session.get(Nurse, nurse_id)
        assert nurse is not None
        exists = session.exec(
            select(Patient.id).where(
                Patient.clinic_id == nurse.clinic_id, Patient.alias == demo.alias
            )
        ).first()
        if exists is not None:
            return
        surgery_day = (now - timedelta(days=demo.days_ago)).date()
        body = PatientCreate(
            alias=demo.alias,
            protocol=demo.protocol,
            surgery_at=datetime.combine(surgery_day, time(9, 30), tzinfo=now.tzinfo),
            timezone=demo.timezone,
            language=demo.language,
        )
        enrolled = now - timedelta(days=1, hours=3)
        enrolment = create_patient(session, nurse, body, protocols, settings, enrolled)
        spent = spend_code(session, enrolment.enrollment_code, enrolled, settings)
        assert spent is not None
        token = spent[1]
    answers = (
        (now - timedelta(days=1, hours=2), 3, "spotting", False),
        (now - timedelta(minutes=20), 7, "moderate", True),
    )
    for recorded_at, pain, bleeding, wants_contact in answers:
        checkin = CheckInCreate(
            id=uuid.uuid4(), recorded_at=recorded_at, pain=pain, temperature_c=37.2,
            bleeding=bleeding, discharge="normal", urination="normal", allergy="none",
            nausea=False, wants_contact=wants_contact, note="",
        )  # fmt: skip
        with session_scope(engine) as session:
            receive(session, token, checkin, protocols, now)
