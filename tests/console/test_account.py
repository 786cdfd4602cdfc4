"""A nurse's account page: alerts on this computer by push, and signing out everywhere."""

from datetime import timedelta

import time_machine
from sqlalchemy import text
from sqlmodel import Session, select

from aftercare.accounts.models import Nurse
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
