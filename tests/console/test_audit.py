"""The audit trail in the console: admins list, filter and export it; it records itself."""

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from aftercare.accounts.models import Clinic, Nurse
from aftercare.audit.models import AuditEvent
from aftercare.audit.service import record
from tests.console.conftest import Console
from tests.factories import Factory

DAY = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def _ids(session: Session, email: str) -> tuple[uuid.UUID, uuid.UUID]:
    nurse = session.exec(select(Nurse).where(Nurse.email == email)).one()
    return nurse.id, nurse.clinic_id


def _story(engine: Engine, factory: Factory, admin_email: str) -> dict[str, str]:
    """A colleague views a patient, the patient checks in, the system flags; and another clinic."""
    colleague = factory.nurse()
    stranger = factory.nurse(clinic="south")
    patient = factory.enrolment(factory.nurse(), alias="Z.Q.")
    with Session(engine) as session:
        colleague_id, clinic_id = _ids(session, colleague.email)
        stranger_id, south_id = _ids(session, stranger.email)
        record(session, DAY, clinic_id, "nurse", colleague_id, "patient.viewed", "patient",
               patient.id, client="10.0.0.7")  # fmt: skip
        record(session, DAY + timedelta(days=1), clinic_id, "patient", uuid.UUID(patient.id),
               "checkin.create", "checkin", uuid.uuid4(), client="10.0.0.8", day=3)  # fmt: skip
        record(session, DAY + timedelta(days=2), clinic_id, "system", None, "flag.silence",
               "patient", patient.id)  # fmt: skip
        record(session, DAY, south_id, "nurse", stranger_id, "patient.viewed", "patient",
               uuid.uuid4(), client="10.9.9.9")  # fmt: skip
        session.commit()
    return {"colleague": colleague.email, "stranger": stranger.email, "patient": patient.id}


def _rows(html: str) -> list[str]:
    body = html.split("<tbody>")[1].split("</tbody>")[0] if "<tbody>" in html else ""
    return body.split("<tr>")[1:]


def test_the_audit_trail_lists_this_clinics_events_newest_first(
    admin_console: Console, engine: Engine, factory: Factory
) -> None:
    story = _story(engine, factory, admin_console.nurse.email)
    page = admin_console.client.get("/console/audit")
    assert page.status_code == 200
    rows = _rows(page.text)
    assert "audit.viewed" in rows[0]  # the listing itself, just now
    ours = [row for row in rows if "2024-03" in row]
    assert ["flag.silence" in ours[0], "checkin.create" in ours[1]] == [True, True]
    assert "system" in ours[0] and "patient" in ours[1] and "10.0.0.8" in ours[1]
    assert story["colleague"] in ours[2] and "Z.Q." in ours[2] and "10.0.0.7" in ours[2]
    assert "day: 3" in ours[1]
    assert story["stranger"] not in page.text and "10.9.9.9" not in page.text
    assert '<th scope="col">' in page.text


def test_the_audit_trail_is_filtered_by_nurse_action_patient_and_dates(
    admin_console: Console, engine: Engine, factory: Factory
) -> None:
    story = _story(engine, factory, admin_console.nurse.email)
    get = admin_console.client.get

    def actions(**query: str) -> list[str]:
        rows = _rows(get("/console/audit", params=query).text)
        return [row.split("<code>")[1].split("</code>")[0] for row in rows]

    # The colleague's sign-in (by the API, just now) is in the trail too.
    assert actions(nurse=story["colleague"].upper()) == ["nurse.signed-in", "patient.viewed"]
    assert actions(action="checkin.create") == ["checkin.create"]
    assert actions(patient="Z.Q.") == ["flag.silence", "patient.viewed"]
    assert actions(patient=story["patient"]) == ["flag.silence", "patient.viewed"]
    assert actions(patient="nobody") == []
    assert actions(**{"from": "2024-03-02", "to": "2024-03-02"}) == ["checkin.create"]
    assert actions(**{"from": "2024-03-01", "to": "2024-03-03"}) == [
        "flag.silence", "checkin.create", "patient.viewed",
    ]  # fmt: skip


def test_a_bad_date_filter_answers_422_naming_the_field(admin_console: Console) -> None:
    for query, field in (("from=yesterday", "f-from"), ("to=2024-02-30", "f-to"),
                         ("from=2024-03-02&to=2024-03-01", "f-to")):  # fmt: skip
        response = admin_console.client.get(f"/console/audit?{query}")
        assert response.status_code == 422
        assert f'id="{field}" name' in response.text
        assert 'aria-invalid="true"' in response.text.split(f'id="{field}"')[1].split(">")[0]
    assert admin_console.client.get("/console/audit.csv?from=x").status_code == 422
    assert admin_console.client.get("/console/audit?page=zero").status_code == 422


def test_the_audit_trail_pages_by_100(
    admin_console: Console, engine: Engine, session: Session
) -> None:
    nurse_id, clinic_id = _ids(session, admin_console.nurse.email)
    for minute in range(150):
        record(session, DAY + timedelta(minutes=minute), clinic_id, "nurse", nurse_id,
               "flag.acknowledge", "flag", uuid.uuid4(), n=minute)  # fmt: skip
    session.commit()
    first = admin_console.client.get("/console/audit", params={"action": "flag.acknowledge"})
    assert len(_rows(first.text)) == 100 and "n: 149" in first.text and 'rel="next"' in first.text
    second = admin_console.client.get(
        "/console/audit", params={"action": "flag.acknowledge", "page": "2"}
    )
    rows = _rows(second.text)
    assert len(rows) == 50 and "n: 49" in rows[0] and "n: 0" in rows[-1]
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text


def test_the_csv_export_has_every_matching_row_and_is_audited(
    admin_console: Console, engine: Engine, factory: Factory, session: Session
) -> None:
    story = _story(engine, factory, admin_console.nurse.email)
    nurse_id, clinic_id = _ids(session, admin_console.nurse.email)
    for minute in range(120):
        record(session, DAY + timedelta(minutes=minute), clinic_id, "nurse", nurse_id,
               "flag.acknowledge", "flag", uuid.uuid4())  # fmt: skip
    session.commit()
    response = admin_console.client.get("/console/audit.csv", params={"action": "flag.acknowledge"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="audit.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 120 and rows[0]["when"] > rows[-1]["when"]
    assert {row["who"] for row in rows} == {admin_console.nurse.email}

    patient_rows = list(
        csv.DictReader(
            io.StringIO(admin_console.client.get("/console/audit.csv?patient=Z.Q.").text)
        )
    )
    assert [row["action"] for row in patient_rows] == ["flag.silence", "patient.viewed"]
    assert patient_rows[1]["subject_name"] == "Z.Q." and patient_rows[1]["client"] == "10.0.0.7"
    assert patient_rows[1]["subject_id"] == story["patient"]

    session.expire_all()
    exported = session.exec(
        select(AuditEvent).where(AuditEvent.action == "audit.exported").order_by(col(AuditEvent.id))
    ).all()
    assert [event.detail["filters"] for event in exported] == [
        {"action": "flag.acknowledge"}, {"patient": "Z.Q."},
    ]  # fmt: skip


def test_times_are_shown_in_the_clinics_time_zone(
    admin_console: Console, engine: Engine, factory: Factory, session: Session
) -> None:
    _story(engine, factory, admin_console.nurse.email)
    clinic = session.exec(select(Clinic).where(Clinic.slug == "north")).one()
    clinic.timezone = "Asia/Tokyo"
    session.add(clinic)
    session.commit()
    page = admin_console.client.get("/console/audit", params={"action": "patient.viewed"})
    assert "2024-03-01 18:30:00" in page.text


def test_the_audit_trail_is_for_admins_only(console: Console) -> None:
    assert console.client.get("/console/audit").status_code == 404
    assert console.client.get("/console/audit.csv").status_code == 404
