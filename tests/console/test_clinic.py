"""Clinic settings and the clinic's nurses, as an admin manages them in the console."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from aftercare.accounts.models import AuthFailure, Clinic, Nurse
from aftercare.audit.models import AuditEvent
from tests.console.conftest import Console, sign_in
from tests.factories import PASSWORD, Factory

NEW_PASSWORD = "a brand new passphrase"
SETTINGS = {
    "name": "North Clinic",
    "phone": "+33 1 23 45 67 89",
    "emergency_number": "112",
    "work_start": "07:30",
    "work_end": "19:00",
    "ack_target_minutes": "20",
    "session_timeout_minutes": "30",
    "app_name": "Daily notes",
}


def _clinic(session: Session, slug: str = "north") -> Clinic:
    session.expire_all()
    return session.exec(select(Clinic).where(Clinic.slug == slug)).one()


def _nurse(session: Session, email: str) -> Nurse:
    session.expire_all()
    return session.exec(select(Nurse).where(Nurse.email == email)).one()


def _actions(session: Session) -> list[AuditEvent]:
    """The changes made to accounts (sign-ins and their failures are audited too)."""
    signing_in = ("nurse.signed-in", "nurse.sign-in-failed")
    query = select(AuditEvent).where(col(AuditEvent.action).not_in(signing_in))
    return list(session.exec(query.order_by(col(AuditEvent.id))).all())


def test_settings_page_warns_when_the_clinic_has_no_phone(admin_console: Console) -> None:
    page = admin_console.client.get("/console/clinic")
    assert page.status_code == 200
    assert "has no phone number" in page.text
    assert 'name="app_name"' in page.text and "neutral" in page.text
    admin_console.post("/console/clinic", **SETTINGS)
    assert "has no phone number" not in admin_console.client.get("/console/clinic").text


def test_saving_the_settings_changes_the_clinic_and_audits_the_changed_fields(
    admin_console: Console, session: Session
) -> None:
    response = admin_console.post("/console/clinic", **SETTINGS)
    assert response.status_code == 303 and response.headers["location"] == "/console/clinic?saved=1"
    clinic = _clinic(session)
    assert clinic.name == "North Clinic" and clinic.phone == "+33 1 23 45 67 89"
    assert (clinic.work_start.isoformat(), clinic.work_end.isoformat()) == ("07:30:00", "19:00:00")
    assert (clinic.ack_target_minutes, clinic.session_timeout_minutes) == (20, 30)
    assert clinic.app_name == "Daily notes"
    event = _actions(session)[-1]
    assert event.action == "clinic.changed" and event.subject_id == str(clinic.id)
    assert event.detail["changed"]["app_name"] == "Daily notes"
    assert event.detail["changed"]["work_start"] == "07:30"
    assert "emergency_number" not in event.detail["changed"]  # 112 already
    assert event.client


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", " "),
        ("phone", "call us"),
        ("emergency_number", ""),
        ("work_start", "25:00"),
        ("work_end", "07:00"),
        ("ack_target_minutes", "0"),
        ("ack_target_minutes", "241"),
        ("session_timeout_minutes", "4"),
        ("session_timeout_minutes", "ten"),
        ("app_name", ""),
        ("app_name", "x" * 41),
    ],
)
def test_a_wrong_setting_answers_422_naming_the_field_and_saves_nothing(
    admin_console: Console, session: Session, field: str, value: str
) -> None:
    response = admin_console.post("/console/clinic", **{**SETTINGS, field: value})
    assert response.status_code == 422
    assert f'id="c-{field}-error"' in response.text and "Nothing was saved" in response.text
    assert _clinic(session).name == "North"


def test_settings_are_for_admins_only(console: Console) -> None:
    assert console.client.get("/console/clinic").status_code == 404
    assert console.post("/console/clinic", **SETTINGS).status_code == 404


@pytest.mark.parametrize("token", [None, "forged"])
def test_the_settings_form_refuses_a_missing_or_wrong_csrf_token(
    admin_console: Console, session: Session, token: str | None
) -> None:
    admin_console.client.get("/console/clinic")
    data = {**SETTINGS, **({"csrf_token": token} if token else {})}
    assert admin_console.client.post("/console/clinic", data=data).status_code == 403
    assert _clinic(session).name == "North"


# ------------------------------------------------------------------- nurses


def test_the_nurses_page_lists_only_this_clinics_nurses(
    admin_console: Console, factory: Factory
) -> None:
    colleague = factory.nurse()
    stranger = factory.nurse(clinic="south")
    page = admin_console.client.get("/console/clinic/nurses")
    assert page.status_code == 200
    assert colleague.email in page.text and admin_console.nurse.email in page.text
    assert stranger.email not in page.text
    assert '<th scope="col">' in page.text


def test_an_admin_adds_a_nurse_who_can_sign_in(
    admin_console: Console, client: TestClient, session: Session
) -> None:
    response = admin_console.post(
        "/console/clinic/nurses", email="New@North.example", password=NEW_PASSWORD, admin="on"
    )
    assert response.status_code == 303
    nurse = _nurse(session, "new@north.example")
    assert nurse.is_admin and nurse.is_active and nurse.clinic_id == _clinic(session).id
    event = _actions(session)[-1]
    assert (event.action, event.subject_id) == ("nurse.created", str(nurse.id))
    fresh = TestClient(client.app)
    assert sign_in(fresh, "new@north.example", NEW_PASSWORD).status_code == 303


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "not-an-address", "password": NEW_PASSWORD}, "email"),
        ({"email": "short@north.example", "password": "too short"}, "password"),
    ],
)
def test_adding_a_nurse_with_bad_input_answers_422_naming_the_field(
    admin_console: Console, session: Session, fields: dict[str, str], field: str
) -> None:
    response = admin_console.post("/console/clinic/nurses", **fields)
    assert response.status_code == 422 and f'id="n-{field}-error"' in response.text
    assert len(session.exec(select(Nurse)).all()) == 1


def test_adding_a_nurse_whose_email_exists_answers_422(
    admin_console: Console, factory: Factory
) -> None:
    other = factory.nurse(clinic="south")
    response = admin_console.post("/console/clinic/nurses", email=other.email, password=PASSWORD)
    assert response.status_code == 422 and "already exists" in response.text


def test_disabling_a_nurse_signs_them_out_everywhere_at_once(
    admin_console: Console, client: TestClient, factory: Factory, session: Session
) -> None:
    nurse = factory.nurse()
    theirs = TestClient(client.app)
    assert sign_in(theirs, nurse.email).status_code == 303
    nurse_id = _nurse(session, nurse.email).id
    response = admin_console.post(f"/console/clinic/nurses/{nurse_id}/disable")
    assert response.status_code == 303
    assert theirs.get("/console/queue", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/flags", headers=nurse.headers).status_code == 401
    assert sign_in(theirs, nurse.email).status_code == 401
    assert "Disabled" in admin_console.client.get("/console/clinic/nurses").text
    assert _actions(session)[-1].action == "nurse.disabled"

    assert admin_console.post(f"/console/clinic/nurses/{nurse_id}/enable").status_code == 303
    assert _nurse(session, nurse.email).is_active
    assert sign_in(theirs, nurse.email).status_code == 303
    assert _actions(session)[-1].action == "nurse.enabled"


def test_an_admin_cannot_disable_themself(admin_console: Console, session: Session) -> None:
    me = _nurse(session, admin_console.nurse.email)
    response = admin_console.post(f"/console/clinic/nurses/{me.id}/disable")
    assert response.status_code == 422 and "your own account" in response.text
    assert _nurse(session, me.email).is_active


def test_resetting_a_password_signs_out_and_unlocks_the_account(
    admin_console: Console, client: TestClient, factory: Factory, session: Session, settings: Any
) -> None:
    nurse = factory.nurse()
    theirs = TestClient(client.app)
    assert sign_in(theirs, nurse.email).status_code == 303
    for _ in range(settings.max_auth_failures):
        sign_in(TestClient(client.app), nurse.email, "a wrong guess")
    nurse_id = _nurse(session, nurse.email).id
    response = admin_console.post(
        f"/console/clinic/nurses/{nurse_id}/password", password=NEW_PASSWORD
    )
    assert response.status_code == 303
    assert theirs.get("/console/queue", follow_redirects=False).status_code == 303
    account = session.exec(select(AuthFailure).where(AuthFailure.scope == "console-account")).all()
    assert account == []
    # The guessing browser's own failures still count against it (they are per browser, not
    # per account); once they have run out, the old password fails and the new one works.
    for failure in session.exec(select(AuthFailure)).all():
        session.delete(failure)
    session.commit()
    assert sign_in(TestClient(client.app), nurse.email, PASSWORD).status_code == 401
    assert sign_in(TestClient(client.app), nurse.email, NEW_PASSWORD).status_code == 303
    assert "nurse.password-reset" in [event.action for event in _actions(session)]


def test_a_short_new_password_answers_422(
    admin_console: Console, factory: Factory, session: Session
) -> None:
    nurse = factory.nurse()
    nurse_id = _nurse(session, nurse.email).id
    response = admin_console.post(f"/console/clinic/nurses/{nurse_id}/password", password="short")
    assert response.status_code == 422 and "at least 12 characters" in response.text


def test_another_clinics_nurse_is_not_found(
    admin_console: Console, factory: Factory, session: Session
) -> None:
    stranger = factory.nurse(clinic="south")
    stranger_id = _nurse(session, stranger.email).id
    for action, fields in (
        ("disable", {}),
        ("enable", {}),
        ("password", {"password": NEW_PASSWORD}),
    ):
        path = f"/console/clinic/nurses/{stranger_id}/{action}"
        assert admin_console.post(path, **fields).status_code == 404
    assert admin_console.post("/console/clinic/nurses/not-a-uuid/disable").status_code == 404
    assert _nurse(session, stranger.email).is_active


def test_nurse_management_is_for_admins_only(
    console: Console, factory: Factory, session: Session
) -> None:
    colleague = factory.nurse()
    colleague_id = _nurse(session, colleague.email).id
    assert console.client.get("/console/clinic/nurses").status_code == 404
    fields = {"email": "x@north.example", "password": NEW_PASSWORD}
    assert console.post("/console/clinic/nurses", **fields).status_code == 404
    for action in ("disable", "enable", "password"):
        path = f"/console/clinic/nurses/{colleague_id}/{action}"
        assert console.post(path, password=NEW_PASSWORD).status_code == 404
    assert _nurse(session, colleague.email).is_active


@pytest.mark.parametrize("token", [None, "forged"])
def test_every_nurse_form_refuses_a_missing_or_wrong_csrf_token(
    admin_console: Console, factory: Factory, session: Session, token: str | None
) -> None:
    colleague = factory.nurse()
    colleague_id = _nurse(session, colleague.email).id
    admin_console.client.get("/console/clinic/nurses")
    base = {"csrf_token": token} if token else {}
    forms = [
        ("/console/clinic/nurses", {"email": "x@north.example", "password": NEW_PASSWORD}),
        (f"/console/clinic/nurses/{colleague_id}/disable", {}),
        (f"/console/clinic/nurses/{colleague_id}/enable", {}),
        (f"/console/clinic/nurses/{colleague_id}/password", {"password": NEW_PASSWORD}),
    ]
    for path, fields in forms:
        response = admin_console.client.post(path, data={**base, **fields})
        assert response.status_code == 403, path
    assert _nurse(session, colleague.email).is_active
    assert len(session.exec(select(Nurse)).all()) == 2
