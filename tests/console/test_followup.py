"""The follow-up visit on the patient page (issue 13, item 4): the nurse books, moves and
cancels it on the patient's clock; a wrong field is named in the nurse's language and
nothing booked is lost; the audit row keeps the moment, never the place."""

import uuid

from sqlmodel import Session, col, select

from aftercare.audit.models import AuditEvent
from aftercare.patients.models import Patient
from aftercare.reminders.models import Reminder
from tests.console.conftest import Console

PLACE = "Room 3, 2nd floor"


def _stored(engine, patient_id: str) -> tuple[object, ...]:
    with Session(engine) as session:
        row = session.get(Patient, uuid.UUID(patient_id))
        assert row is not None
        return (row.followup_at.isoformat() if row.followup_at else None, row.followup_place)


def _visit_reminders(engine, patient_id: str) -> int:
    with Session(engine) as session:
        rows = session.exec(
            select(Reminder).where(
                col(Reminder.patient_id) == uuid.UUID(patient_id),
                col(Reminder.purpose) == "follow-up",
            )
        )
        return len(list(rows))


def test_the_nurse_books_moves_and_cancels_the_visit(console: Console, factory, engine):
    # The factory's surgery: 2027-03-26 09:00 in Paris, in the future.
    enrolment = factory.enrolment(console.nurse)
    path = f"/console/patients/{enrolment.id}"
    page = console.client.get(path).text
    assert "Not booked yet" in page and "Cancel the visit" not in page

    booked = console.post(
        f"{path}/followup", followup_date="2027-04-02", followup_time="14:30",
        followup_place=f"  {PLACE} ",
    )  # fmt: skip
    assert booked.status_code == 303 and booked.headers["location"].endswith("done=followup-saved")
    # Typed on the patient's clock (Paris, summer time by then): 12:30 UTC.
    assert _stored(engine, enrolment.id) == ("2027-04-02T12:30:00+00:00", PLACE)
    assert _visit_reminders(engine, enrolment.id) == 1  # in-app, the only channel
    page = console.client.get(booked.headers["location"]).text
    assert "The follow-up visit was saved" in page and PLACE in page
    assert "Apr 2, 2027, 2:30" in page and "Cancel the visit" in page

    console.post(f"{path}/followup", followup_date="2027-04-06", followup_time="09:15")
    assert _stored(engine, enrolment.id) == ("2027-04-06T07:15:00+00:00", None)

    cancelled = console.post(f"{path}/followup", cancel="1", followup_date="")
    assert cancelled.headers["location"].endswith("done=followup-cancelled")
    assert _stored(engine, enrolment.id) == (None, None)
    assert _visit_reminders(engine, enrolment.id) == 0


def test_a_wrong_visit_is_named_in_the_nurses_language_and_keeps_the_booked_one(
    console: Console, factory, engine
):
    enrolment = factory.enrolment(console.nurse)
    path = f"/console/patients/{enrolment.id}/followup"
    console.post(path, followup_date="2027-04-02", followup_time="14:30", followup_place=PLACE)
    kept = _stored(engine, enrolment.id)

    def post(**fields: str):
        data = {"csrf_token": console.csrf(), **fields}
        return console.client.post(
            path, data=data, headers={"Accept-Language": "fr"}, follow_redirects=False
        )

    before = post(followup_date="2027-03-20", followup_time="10:00")
    assert before.status_code == 422 and 'id="error-followup_date"' in before.text
    assert "après l&#39;intervention" in before.text
    garbled = post(followup_date="soon", followup_time="25:99")
    assert 'id="error-followup_date"' in garbled.text and 'id="error-followup_time"' in garbled.text
    long = post(followup_date="2027-04-02", followup_time="14:30", followup_place="x" * 121)
    assert long.status_code == 422 and 'id="error-followup_place"' in long.text
    assert _stored(engine, enrolment.id) == kept, "nothing booked is lost"


def test_the_audit_row_keeps_the_moment_never_the_place(console: Console, factory, engine):
    enrolment = factory.enrolment(console.nurse)
    console.post(
        f"/console/patients/{enrolment.id}/followup",
        followup_date="2027-04-02", followup_time="14:30", followup_place=PLACE,
    )  # fmt: skip
    with Session(engine) as session:
        (event,) = session.exec(
            select(AuditEvent).where(AuditEvent.action == "patient.followup-changed")
        )
    assert event.detail["after"] == "2027-04-02T14:30:00+02:00"
    assert PLACE not in str(event.detail)
