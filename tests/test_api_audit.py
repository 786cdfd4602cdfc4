"""Every read of a patient's record through the API is in the audit trail, like a view in
the console: who, what, when, from where."""

from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from aftercare.audit.models import AuditEvent


def test_each_api_read_of_a_record_is_audited(client, factory, engine):
    nurse = factory.nurse()
    surgery = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    enrolment = factory.enrolment(nurse, surgery_at=surgery)
    phone = factory.patient_headers(enrolment)
    base = f"/api/v1/patients/{enrolment.id}"
    reads = [base, f"{base}/plan", f"{base}/checkins", f"{base}/messages", base]
    for path in reads:
        assert client.get(path, headers=nurse.headers).status_code == 200
    assert client.get("/api/v1/patients", headers=nurse.headers).status_code == 200
    assert client.get("/api/v1/flags", headers=nurse.headers).status_code == 200
    assert client.get("/api/v1/me/export", headers=phone).status_code == 200

    with Session(engine) as session:
        events = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.action).in_(
                ["patient.viewed", "patient.messages.viewed", "patients.listed", "flags.listed",
                 "patient.exported"]
            ))
            .order_by(col(AuditEvent.id))
        ).all()  # fmt: skip
    on_record = [e for e in events if e.subject_id == enrolment.id and e.actor == "nurse"]
    assert len(on_record) == len(reads), "one audit row per read"
    assert [e.detail.get("what") for e in on_record if "what" in e.detail] == [
        "record", "plan", "check-ins", "record",
    ]  # fmt: skip
    assert all(e.client == "testclient" for e in events)
    assert {e.action for e in events} == {
        "patient.viewed", "patient.messages.viewed", "patients.listed", "flags.listed",
        "patient.exported",
    }  # fmt: skip
    exported = [e for e in events if e.action == "patient.exported"]
    assert len(exported) == 1 and exported[0].actor == "patient"
