"""The console's patient list and patient page, and the actions on it, through HTTP."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from aftercare.audit.models import AuditEvent
from aftercare.flags.models import Flag
from aftercare.messages.models import Message
from aftercare.patients.models import Patient
from aftercare.reminders.models import Reminder


def recent_enrolment(factory, nurse, days_ago: int = 3, **changes):
    """A patient operated on `days_ago` days ago (Paris time), so today is Day days_ago + 1."""
    # The time is taken when the test runs, never when the module is imported.
    surgery = (datetime.now(UTC) - timedelta(days=days_ago)).astimezone().replace(microsecond=0)
    return factory.enrolment(nurse, surgery_at=surgery.isoformat(), **changes)


def check_in(client, headers, minutes_ago: int = 1, **answers):
    body = {
        "id": str(uuid.uuid4()),
        "recorded_at": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(),
        "pain": 3, "temperature_c": 37.0, "bleeding": "spotting", "discharge": "none",
        "urination": "normal", "allergy": "none", "nausea": False, "wants_contact": False,
        "note": "",
    }  # fmt: skip
    body.update(answers)
    response = client.post("/api/v1/me/checkins", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def unread_message(engine, patient_id: str, read: bool = False) -> None:
    with Session(engine) as session:
        patient = session.get(Patient, uuid.UUID(patient_id))
        assert patient is not None
        session.add(
            Message(
                clinic_id=patient.clinic_id,
                patient_id=uuid.UUID(patient_id),
                sender="patient",
                body="please call me",
                read_at=datetime.now(UTC) if read else None,
            )
        )
        session.commit()


def audit_rows(engine, action: str) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))


def rows_of(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/console/patients/[^"]+">([^<]+)</a>', html)


# --- The list ---------------------------------------------------------------------------


def test_the_list_shows_the_clinics_patients_newest_surgery_first_with_their_counts(
    console, factory, engine, client
):
    older = recent_enrolment(factory, console.nurse, days_ago=5, alias="OLD")
    newer = recent_enrolment(factory, console.nurse, days_ago=2, alias="NEW")
    check_in(client, factory.patient_headers(older), bleeding="heavy")
    unread_message(engine, older.id)
    unread_message(engine, older.id)
    unread_message(engine, older.id, read=True)

    page = console.client.get("/console/patients")
    assert page.status_code == 200
    assert rows_of(page.text) == ["NEW", "OLD"]
    old_row = page.text[
        page.text.index(">OLD<") : page.text.index("</tr>", page.text.index(">OLD<"))
    ]
    assert "Hymenoplasty" in old_row and "Day 6 of 28" in old_row and "Enrolled" in old_row
    assert '<span class="badge badge-amber">1</span>' in old_row  # one open flag
    assert '<span class="badge badge-red">2</span>' in old_row  # two unread messages
    new_row = page.text[
        page.text.index(">NEW<") : page.text.index("</tr>", page.text.index(">NEW<"))
    ]
    assert "Day 3 of 28" in new_row and "Not yet" in new_row
    assert f"/console/patients/{newer.id}" in page.text


def test_the_list_searches_by_alias_whatever_the_case(console, factory):
    recent_enrolment(factory, console.nurse, alias="M.K.")
    recent_enrolment(factory, console.nurse, alias="S.T.")
    recent_enrolment(factory, console.nurse, alias="50%")
    found = console.client.get("/console/patients", params={"q": "m.k"})
    assert rows_of(found.text) == ["M.K."]
    assert 'value="m.k"' in found.text  # the search box keeps what was typed
    # The wildcard of SQL is a plain character here.
    assert rows_of(console.client.get("/console/patients", params={"q": "%"}).text) == ["50%"]
    nothing = console.client.get("/console/patients", params={"q": "zz"})
    assert rows_of(nothing.text) == [] and "No patient's alias contains" in nothing.text


def test_the_list_shows_only_the_nurses_own_clinic(console, factory, client):
    recent_enrolment(factory, console.nurse, alias="OURS")
    other = factory.nurse(clinic="south")
    recent_enrolment(factory, other, alias="THEIRS")
    assert rows_of(console.client.get("/console/patients").text) == ["OURS"]
    assert rows_of(console.client.get("/console/patients", params={"q": "THEIRS"}).text) == []


def test_the_list_pages_fifty_at_a_time(console, factory):
    for n in range(51):
        recent_enrolment(factory, console.nurse, days_ago=n % 20, alias=f"P{n:02d}")
    first = console.client.get("/console/patients")
    assert len(rows_of(first.text)) == 50 and 'rel="next"' in first.text
    assert 'rel="prev"' not in first.text
    second = console.client.get("/console/patients", params={"page": "2"})
    assert len(rows_of(second.text)) == 1 and 'rel="prev"' in second.text
    assert set(rows_of(first.text)) | set(rows_of(second.text)) == {f"P{n:02d}" for n in range(51)}
    # A page number that is not one shows the first page rather than failing.
    assert console.client.get("/console/patients", params={"page": "x"}).status_code == 200


def test_the_list_costs_the_same_few_queries_for_3_or_30_patients(console, factory, engine):
    def queries_for_the_list() -> int:
        seen: list[str] = []

        def count(conn, cursor, statement, *args):
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            assert console.client.get("/console/patients").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    for n in range(3):
        recent_enrolment(factory, console.nurse, alias=f"A{n}")
    few = queries_for_the_list()
    for n in range(27):
        recent_enrolment(factory, console.nurse, alias=f"B{n}")
    assert queries_for_the_list() == few <= 8


def test_the_list_needs_a_signed_in_nurse(client):
    response = client.get("/console/patients", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/console/sign-in"


# --- The patient page -------------------------------------------------------------------


@pytest.fixture
def flagged(console, factory, client):
    """A patient on Day 4 with a quiet check-in and then a red one; one plan item ticked."""
    enrolment = recent_enrolment(
        factory, console.nurse, alias="R.F.", language="fr", timezone="Europe/Istanbul"
    )
    phone = factory.patient_headers(enrolment)
    check_in(client, phone, minutes_ago=3, pain=2, note="ça va")
    check_in(client, phone, minutes_ago=1, pain=8, bleeding="heavy", wants_contact=True)
    plan = client.get("/api/v1/me/plan", headers=phone).json()
    item = next(
        item
        for day in plan["days"][:2]
        for item in day["items"]
        if item["kind"] not in ("check-in",) and item["timing"] != "as-needed"
    )
    assert client.put(f"/api/v1/me/plan/items/{item['id']}/done", headers=phone).status_code == 200
    return enrolment


def test_the_patient_page_shows_the_patient_at_a_glance(console, flagged):
    page = console.client.get(f"/console/patients/{flagged.id}")
    assert page.status_code == 200
    html = page.text
    assert "<h1>R.F.</h1>" in html and "Hymenoplasty" in html
    assert "Europe/Istanbul" in html and 'lang="fr">Français' in html
    assert "Day 4 of 28" in html
    assert re.search(r"1 of \d+ items due so far ticked off", html)
    assert re.search(r"\d+ of \d+ check-ins due so far", html)
    # The timeline: newest first, with the answers and what the patient wrote.
    assert html.index("8/10") < html.index("2/10")
    assert "heavy" in html and "ça va" in html
    # The pain chart, drawn on the server, with its text alternative.
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html
    assert "Highest pain of each day, 0 to 10: Day 4: 8" in html
    # The red flag, with forms that come back to this page.
    assert "Red</span> Flag raised" in html and "· open" in html
    assert 'action="/console/flags/' in html and "/acknowledge" in html and "/resolve" in html
    assert f'name="next" value="/console/patients/{flagged.id}"' in html
    for outcome in (
        "called-patient",
        "advised-to-come-in",
        "sent-to-emergency",
        "no-action-needed",
    ):
        assert f'value="{outcome}"' in html
    assert f'href="/console/patients/{flagged.id}/messages"' in html
    assert "Make a new code" not in html and "phone is enrolled" in html


def test_the_surgery_time_is_shown_in_the_patients_zone(console, factory):
    enrolment = factory.enrolment(
        console.nurse, surgery_at="2027-03-26T09:30:00+01:00", timezone="America/New_York"
    )
    html = console.client.get(f"/console/patients/{enrolment.id}").text
    assert "Mar 26, 2027, 4:30\u202fAM (New York)" in html and "Before surgery" in html
    french = console.client.get(
        f"/console/patients/{enrolment.id}", headers={"Accept-Language": "fr"}
    ).text
    assert "26 mars 2027, 04:30 (New York)" in french, "the nurse's language, the zone named"
    assert 'name="surgery_date" value="2027-03-26"' in html.replace('id="surgery_date" ', "")


def test_the_flag_history_shows_who_acknowledged_and_resolved_with_the_outcome(
    console, flagged, client, engine
):
    (flag,) = client.get("/api/v1/flags", headers=console.nurse.headers).json()["items"]
    client.post(f"/api/v1/flags/{flag['id']}/acknowledge", headers=console.nurse.headers)
    client.post(
        f"/api/v1/flags/{flag['id']}/resolve",
        json={"note": "Called her: came in, all fine."},
        headers=console.nurse.headers,
    )
    with Session(engine) as session:
        row = session.get(Flag, uuid.UUID(flag["id"]))
        assert row is not None
        row.resolution_outcome = "advised-to-come-in"
        session.add(row)
        session.commit()
    html = console.client.get(f"/console/patients/{flagged.id}").text
    assert f"Acknowledged by {console.nurse.email} at" in html
    assert f"Resolved by {console.nurse.email} at" in html
    assert "<strong>Advised to come in</strong>" in html
    assert "Called her: came in, all fine." in html
    assert "/acknowledge" not in html and "/resolve" not in html  # nothing left to do


def test_the_messages_link_counts_the_unread_messages(console, flagged, engine):
    unread_message(engine, flagged.id)
    html = console.client.get(f"/console/patients/{flagged.id}").text
    assert re.search(r'/messages">Messages&nbsp;<span class="badge badge-red">1</span>', html)


def test_every_view_of_the_patient_page_is_audited_with_the_client_address(
    console, flagged, engine
):
    for _ in range(2):
        assert console.client.get(f"/console/patients/{flagged.id}").status_code == 200
    rows = audit_rows(engine, "patient.viewed")
    assert len(rows) == 2
    assert all(row.subject_id == flagged.id and row.client == "testclient" for row in rows)
    assert all(row.actor == "nurse" and row.actor_id is not None for row in rows)


def test_another_clinics_patient_and_a_bad_id_are_not_found(console, factory, engine):
    other = factory.nurse(clinic="south")
    theirs = recent_enrolment(factory, other)
    assert console.client.get(f"/console/patients/{theirs.id}").status_code == 404
    assert console.client.get("/console/patients/not-an-id").status_code == 404
    assert console.client.get(f"/console/patients/{uuid.uuid4()}").status_code == 404
    for action in ("test-reminder", "surgery", "code"):
        refused = console.post(f"/console/patients/{theirs.id}/{action}")
        assert refused.status_code == 404
    assert audit_rows(engine, "patient.viewed") == []


# --- Actions ----------------------------------------------------------------------------


def test_a_test_reminder_is_queued_and_audited(console, flagged, engine):
    response = console.post(f"/console/patients/{flagged.id}/test-reminder")
    assert response.status_code == 303
    assert response.headers["location"] == f"/console/patients/{flagged.id}?done=test-reminder"
    with Session(engine) as session:
        queued = session.exec(
            select(Reminder).where(
                Reminder.patient_id == uuid.UUID(flagged.id), Reminder.purpose == "test"
            )
        ).all()
    assert queued and all(row.status == "pending" for row in queued)
    (row,) = audit_rows(engine, "patient.test-reminder")
    assert row.client == "testclient" and row.subject_id == flagged.id
    page = console.client.get(response.headers["location"])
    assert "A test reminder is on its way" in page.text


def test_moving_the_surgery_rebuilds_the_plan_and_the_reminders(console, factory, engine, client):
    enrolment = factory.enrolment(console.nurse)  # 2027-03-26 09:00, Paris
    with Session(engine) as session:
        before = {
            row.due_at
            for row in session.exec(
                select(Reminder).where(Reminder.patient_id == uuid.UUID(enrolment.id))
            )
        }
    response = console.post(
        f"/console/patients/{enrolment.id}/surgery",
        surgery_date="2027-04-02", surgery_time="14:15", timezone="Europe/Paris",
    )  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"].endswith("?done=surgery-moved")
    api = client.get(f"/api/v1/patients/{enrolment.id}", headers=console.nurse.headers).json()
    assert api["surgery_at"] == "2027-04-02T14:15:00+02:00"
    plan = client.get(f"/api/v1/patients/{enrolment.id}/plan", headers=console.nurse.headers)
    assert plan.json()["days"][0]["date"] == "2027-04-02"
    with Session(engine) as session:
        after = {
            row.due_at
            for row in session.exec(
                select(Reminder).where(
                    Reminder.patient_id == uuid.UUID(enrolment.id), Reminder.status == "pending"
                )
            )
        }
    assert after and after != before and min(after) >= datetime(2027, 4, 2, tzinfo=UTC)
    (row,) = audit_rows(engine, "patient.surgery-moved")
    assert row.client == "testclient" and row.detail["after"].startswith("2027-04-02T14:15")
    page = console.client.get(response.headers["location"])
    assert "The surgery was moved" in page.text and "Apr 2, 2027, 2:15\u202fPM (Paris)" in page.text


def moved(**changes: str) -> dict[str, str]:
    return {"surgery_date": "2027-04-02", "surgery_time": "14:15", "timezone": "Europe/Paris",
            **changes}  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "wrong"),
    [
        (moved(timezone="Mars/Olympus"), "timezone"),
        (moved(surgery_date="2 April"), "surgery_date"),
        (moved(surgery_time="25:00"), "surgery_time"),
        ({}, "surgery_date"),
    ],
)  # fmt: skip
def test_a_wrong_surgery_move_shows_the_page_again_naming_the_field(
    console, factory, client, fields, wrong
):
    enrolment = factory.enrolment(console.nurse)
    response = console.post(f"/console/patients/{enrolment.id}/surgery", **fields)
    assert response.status_code == 422
    assert f'id="error-{wrong}"' in response.text and 'aria-invalid="true"' in response.text
    for value in fields.values():
        assert f'value="{value}"' in response.text  # what was typed is kept
    api = client.get(f"/api/v1/patients/{enrolment.id}", headers=console.nurse.headers).json()
    assert api["surgery_at"] == "2027-03-26T09:00:00+01:00"  # nothing moved


def test_a_new_code_replaces_the_old_one_until_a_phone_is_enrolled(
    console, factory, client, engine
):
    enrolment = factory.enrolment(console.nurse)
    page = console.client.get(f"/console/patients/{enrolment.id}")
    assert "Make a new code" in page.text
    response = console.post(f"/console/patients/{enrolment.id}/code")
    assert response.status_code == 200
    code = re.search(r'<span class="code-text">([0-9A-Z]{5}-[0-9A-Z]{5})</span>', response.text)
    assert code and code.group(1) != enrolment.code
    assert f"/start/{code.group(1)}" in response.text and "<svg" in response.text
    assert "<?xml" not in response.text and "previous code no longer works" in response.text
    (row,) = audit_rows(engine, "patient.code-reissued")
    assert row.client == "testclient"

    assert client.post("/api/v1/enroll", json={"code": enrolment.code}).status_code == 400
    assert client.post("/api/v1/enroll", json={"code": code.group(1)}).status_code == 200

    enrolled = console.client.get(f"/console/patients/{enrolment.id}")
    assert "Make a new code" not in enrolled.text and "phone is enrolled" in enrolled.text
    again = console.post(f"/console/patients/{enrolment.id}/code")
    assert again.status_code == 303 and again.headers["location"].endswith("already-enrolled")
    assert len(audit_rows(engine, "patient.code-reissued")) == 1


@pytest.mark.parametrize("action", ["test-reminder", "surgery", "code"])
def test_every_patient_form_refuses_a_missing_or_wrong_csrf_token(console, factory, engine, action):
    enrolment = factory.enrolment(console.nurse)
    console.client.get(f"/console/patients/{enrolment.id}")
    fields = {"surgery_date": "2027-04-02", "surgery_time": "10:00", "timezone": "Europe/Paris"}
    path = f"/console/patients/{enrolment.id}/{action}"
    missing = console.client.post(path, data=fields, follow_redirects=False)
    forged = console.client.post(path, data={**fields, "csrf_token": "forged"})
    assert missing.status_code == 403 and forged.status_code == 403
    with Session(engine) as session:
        tests = session.exec(select(Reminder).where(Reminder.purpose == "test")).all()
    assert tests == []
    for action_name in ("patient.test-reminder", "patient.surgery-moved", "patient.code-reissued"):
        assert audit_rows(engine, action_name) == []


def test_the_actions_need_a_signed_in_nurse(client, factory):
    enrolment = factory.enrolment(factory.nurse())
    for action in ("test-reminder", "surgery", "code"):
        response = client.post(f"/console/patients/{enrolment.id}/{action}", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/console/sign-in"
