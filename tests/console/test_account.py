"""A nurse's account page: alerts on this computer by push, and signing out everywhere."""

from datetime import timedelta

import time_machine
from sqlalchemy import text
from sqlmodel import Session, select

from aftercare.accounts.models import Nurse
from tests.checkins.test_api import body
from tests.console.conftest import csrf_of, sign_in
from tests.flags.test_escalation import RED_AT, _alerts, escalate, red_flag  # noqa: F401
from tests.patients.test_more_pages import _subscription


def test_the_account_page_offers_alerts_and_signing_out_everywhere(console):
    page = console.client.get("/console/account")
    assert page.status_code == 200
    assert console.nurse.email in page.text
    assert 'action="/console/sign-out-everywhere"' in page.text
    assert 'id="push-on"' in page.text and "/static/js/console-push.js" in page.text
    assert 'href="/console/account"' in console.client.get("/console/queue").text


def test_the_consoles_service_worker_shows_alerts_and_caches_nothing(client):
    worker = client.get("/console/sw.js")
    assert worker.status_code == 200
    assert worker.headers["content-type"].startswith("text/javascript")
    assert "showNotification" in worker.text and "caches." not in worker.text


def test_alerts_are_turned_on_and_off_for_this_computer(console, engine):
    token = csrf_of(console.client.get("/console/account").text)
    headers = {"X-CSRF-Token": token}
    on = console.client.post("/console/push", json=_subscription(), headers=headers)
    assert on.status_code == 204
    with engine.connect() as conn:
        row = conn.execute(text("SELECT nurse_id, patient_id FROM push_subscription")).one()
        assert row[0] is not None and row[1] is None
        actions = conn.execute(text("SELECT action, client FROM audit_event")).all()
        assert ("nurse.push-on", "testclient") in [tuple(a) for a in actions]
    off = console.client.post(
        "/console/push/off", json={"endpoint": _subscription()["endpoint"]}, headers=headers
    )
    assert off.status_code == 204
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM push_subscription")).scalar() == 0


def test_alert_routes_refuse_forgery_bad_bodies_and_strangers(console, client, engine):
    assert console.client.post("/console/push", json=_subscription()).status_code == 403
    token = csrf_of(console.client.get("/console/account").text)
    bad = console.client.post("/console/push", json={"endpoint": "x"},
                              headers={"X-CSRF-Token": token})  # fmt: skip
    assert bad.status_code == 422
    assert {e["loc"][-1] for e in bad.json()["detail"]} == {"endpoint", "keys"}
    console.client.cookies.delete("console", path="/console")
    stranger = client.post("/console/push", json=_subscription(),
                           headers={"X-CSRF-Token": token}, follow_redirects=False)  # fmt: skip
    assert stranger.status_code == 303
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM push_subscription")).scalar() == 0


def test_a_nurse_with_alerts_on_gets_a_waiting_red_flag_by_push_too(
    client,
    factory,
    engine,
    escalate,
    red_flag,
):
    with time_machine.travel(RED_AT, tick=False):
        assert sign_in(client, "ines@north.example").status_code == 303
        token = csrf_of(client.get("/console/account").text)
        on = client.post("/console/push", json=_subscription(), headers={"X-CSRF-Token": token})
        assert on.status_code == 204
    assert escalate(RED_AT + timedelta(minutes=15)) == 1
    with Session(engine) as session:
        ines = session.exec(select(Nurse.id).where(Nurse.email == "ines@north.example")).one()
    channels = sorted(row.channel for row in _alerts(engine) if row.nurse_id == ines)
    assert channels == ["email", "push"]
    others = {row.channel for row in _alerts(engine) if row.nurse_id != ines}
    assert others == {"email"}


# --- Name and language ---


def _save(console, **fields):
    return console.post("/console/account", **fields)


def test_the_nurse_sets_a_name_colleagues_see_instead_of_the_e_mail(console, factory, client):
    assert _save(console, display_name="  Inès   Martin ", language="").status_code == 303
    page = console.client.get("/console/account?saved=1").text
    assert 'value="Inès Martin"' in page and "Saved." in page
    assert "Inès Martin</a>" in console.client.get("/console/queue").text, "the header says who"
    # On a flag the nurse acknowledges, colleagues read the name, not the address.
    patient = factory.patient_headers(factory.enrolment(factory.nurse()))
    client.post("/api/v1/me/checkins", json=body(pain=9), headers=patient)
    (flag,) = client.get("/api/v1/flags", headers=console.nurse.headers).json()["items"]
    acknowledged = console.post(f"/console/flags/{flag['id']}/acknowledge", next="/console/queue")
    assert acknowledged.status_code == 303
    queue = console.client.get("/console/queue").text
    assert "Acknowledged by Inès Martin" in queue and console.nurse.email not in queue


def test_the_console_speaks_the_nurses_language_whatever_the_browser_asks(console):
    english = {"Accept-Language": "en-GB,en;q=0.9"}
    assert '<html lang="en"' in console.client.get("/console/queue", headers=english).text
    assert _save(console, display_name="", language="fr").status_code == 303
    page = console.client.get("/console/queue", headers=english).text
    assert '<html lang="fr"' in page and "En attente" in page
    assert _save(console, display_name="", language="").status_code == 303
    assert '<html lang="en"' in console.client.get("/console/queue", headers=english).text


def test_a_wrong_name_or_language_is_refused_with_its_field_and_nothing_changes(console, engine):
    too_long = _save(console, display_name="x" * 81, language="fr")
    assert too_long.status_code == 422 and 'id="a-name-error"' in too_long.text
    unknown = _save(console, display_name="Inès", language="de")
    assert unknown.status_code == 422 and 'id="a-language-error"' in unknown.text
    hidden = _save(console, display_name="In\u200bès", language="")
    assert hidden.status_code == 422 and 'id="a-name-error"' in hidden.text
    with Session(engine) as session:
        nurse = session.exec(select(Nurse).where(Nurse.email == console.nurse.email)).one()
        assert (nurse.display_name, nurse.language) == ("", None)


def test_a_french_patients_reasons_reach_an_english_nurse_in_english(console, factory, client):
    _save(console, display_name="", language="en")
    enrolment = factory.enrolment(console.nurse, language="fr")
    patient = factory.patient_headers(enrolment)
    answer = client.post(
        "/api/v1/me/checkins",
        json=body(pain=9, allergy="rash", wants_contact=True),
        headers=patient,
    )
    assert answer.status_code == 201
    french = [reason["message"] for reason in answer.json()["reasons"]]
    assert french, "the patient was told why, in French"
    french_page = {"Accept-Language": "fr"}
    for path in ("/console/queue", f"/console/patients/{enrolment.id}"):
        page = console.client.get(path, headers=french_page).text
        assert '<html lang="en"' in page
        for message in french:
            assert message not in page, f"{path} shows the patient's French reason"
    assert "Rash or hives" in console.client.get(f"/console/patients/{enrolment.id}").text
