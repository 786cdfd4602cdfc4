"""The enrolment link and the first patient page, through HTTP as a phone uses them."""

import re

import time_machine

FORBIDDEN = ("hymen", "labia", "vagin", "surgery")


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def _title(html: str) -> str:
    match = re.search(r"<title>(.*?)</title>", html, re.S)
    assert match
    return match.group(1).strip()


def test_opening_the_link_shows_a_button_and_does_not_spend_the_code(client, factory):
    enrolment = factory.enrolment(factory.nurse())
    path = enrolment.url.removeprefix("http://testserver")
    for _ in range(3):  # a link preview, the patient, the patient again
        page = client.get(path)
        assert page.status_code == 200
        assert 'method="post"' in page.text
    assert client.post("/api/v1/enroll", json={"code": enrolment.code}).status_code == 200


def test_pressing_the_button_opens_today_with_a_private_cookie(client, factory):
    with time_machine.travel("2027-03-27T10:00:00+01:00", tick=False):
        enrolment = factory.enrolment(factory.nurse())
        path = enrolment.url.removeprefix("http://testserver")
        page = client.get(path)
        response = client.post(path, data={"csrf_token": _csrf(page.text)}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/today"
        cookie = response.headers["set-cookie"]
        assert "session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        today = client.get("/today")
    assert today.status_code == 200
    assert "Day 2 of 28" in today.text
    assert "From today you may shower with lukewarm water" in today.text


def test_the_button_without_its_csrf_token_is_refused(client, factory):
    enrolment = factory.enrolment(factory.nurse())
    path = enrolment.url.removeprefix("http://testserver")
    client.get(path)
    assert client.post(path, data={}).status_code in (403, 422)
    assert client.post(path, data={"csrf_token": "forged"}).status_code == 403
    assert client.post("/api/v1/enroll", json={"code": enrolment.code}).status_code == 200


def test_a_spent_code_shows_a_kind_page_not_an_error(client, factory):
    enrolment = factory.enrolment(factory.nurse())
    client.post("/api/v1/enroll", json={"code": enrolment.code})
    path = enrolment.url.removeprefix("http://testserver")
    page = client.get(path)
    response = client.post(path, data={"csrf_token": _csrf(page.text)})
    assert response.status_code == 400
    assert "Your clinic can give you a new one" in response.text


def test_today_without_a_session_goes_to_the_neutral_landing_page(client):
    response = client.get("/today", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert client.get("/").status_code == 200


def test_pages_are_discreet_and_in_the_patients_language(client, factory):
    with time_machine.travel("2027-03-27T10:00:00+01:00", tick=False):
        enrolment = factory.enrolment(factory.nurse(), language="ar")
        path = enrolment.url.removeprefix("http://testserver")
        start = client.get(path)
        client.post(path, data={"csrf_token": _csrf(start.text)})
        today = client.get("/today")
    for page in (start, today):
        assert _title(page.text) == "Care"
        assert not any(word in page.text.lower() for word in FORBIDDEN[:3])
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "<script>" not in page.text, "no inline script"
        assert "http" not in re.sub(r'href="https://www.google.com/"', "", page.text)
    assert '<html lang="ar" dir="rtl">' in today.text


def test_the_start_page_speaks_the_browsers_language(client, factory):
    enrolment = factory.enrolment(factory.nurse())
    path = enrolment.url.removeprefix("http://testserver")
    page = client.get(path, headers={"Accept-Language": "tr-TR,tr;q=0.9,en;q=0.5"})
    assert '<html lang="tr" dir="ltr">' in page.text
    page = client.get(path, headers={"Accept-Language": "de-DE"})
    assert '<html lang="en" dir="ltr">' in page.text


def test_static_files_are_served(client):
    assert client.get("/static/js/nav.js").status_code == 200
    assert client.get("/static/css/patient.css").status_code == 200


def _signed_in(client, factory, **changes):
    from datetime import UTC, datetime, timedelta

    surgery = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    enrolment = factory.enrolment(factory.nurse(), surgery_at=surgery, **changes)
    path = enrolment.url.removeprefix("http://testserver")
    client.post(path, data={"csrf_token": _csrf(client.get(path).text)})
    return enrolment


def test_the_plan_page_shows_every_day(client, factory):
    _signed_in(client, factory)
    page = client.get("/plan")
    assert page.status_code == 200
    assert "Day 1 of 28" in page.text and "Day 28 of 28" in page.text
    assert 'class="day day-today"' in page.text


CALM = {
    "pain": "2", "temperature_c": "", "bleeding": "spotting", "discharge": "none",
    "urination": "normal", "allergy": "none", "nausea": "false", "note": "",
}  # fmt: skip


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert match, name
    return match.group(1)


def _checkin(client, **changes):
    form_page = client.get("/checkin")
    assert form_page.status_code == 200
    checkin_id = _hidden(form_page.text, "id")
    opened = _hidden(form_page.text, "recorded_at")
    data = {**CALM, **changes, "csrf_token": _csrf(form_page.text), "id": checkin_id,
            "recorded_at": opened}  # fmt: skip
    return client.post("/checkin", data={k: v for k, v in data.items() if v is not None}), data


def test_a_check_in_from_the_form_answers_at_once(client, factory):
    _signed_in(client, factory)
    response, _ = _checkin(client)
    assert response.status_code == 200
    assert "<h1>Thank you</h1>" in response.text and "check in again tomorrow" in response.text


def test_a_red_answer_offers_to_call_the_clinic_and_the_emergency_number(client, factory, engine):
    from sqlmodel import Session, select

    from aftercare.accounts.models import Clinic

    _signed_in(client, factory)
    with Session(engine) as session:
        clinic = session.exec(select(Clinic)).one()
        clinic.phone = "+33 1 23 45 67 89"
        session.add(clinic)
        session.commit()
    response, _ = _checkin(client, temperature_c="38.6", bleeding="heavy")
    assert "Please call now" in response.text
    assert 'href="tel:+33123456789"' in response.text and 'href="tel:112"' in response.text
    # Heavy bleeding sends to the emergency number first, before the fever's call to the clinic.
    text = response.text
    assert text.index('href="tel:112"') < text.index('href="tel:+33123456789"')
    assert text.index("Call <bdi") < text.index("You have a fever")
    assert 'Temperature <bdi dir="ltr">38.6</bdi> °C' in response.text


def test_sending_the_form_twice_stores_one_check_in(client, factory, engine):
    from sqlalchemy import text

    _signed_in(client, factory)
    first, data = _checkin(client, pain="7")
    again = client.post("/checkin", data=data)
    assert again.status_code == 200 and "A nurse will contact you" in again.text
    main = re.compile(r"<main.*</main>", re.S)
    assert main.findall(first.text) == main.findall(again.text), "the same answer"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM checkin")).scalar() == 1


def test_a_form_with_a_missing_answer_comes_back_with_what_to_fix(client, factory):
    _signed_in(client, factory)
    response, _ = _checkin(client, bleeding=None, temperature_c="hot")
    assert response.status_code == 422
    assert "Please choose one." in response.text
    assert "Please enter a temperature between 34 and 43" in response.text
    assert 'value="spotting"' in response.text, "the form keeps what was filled in"


def test_the_check_in_form_refuses_a_missing_csrf_token(client, factory):
    _signed_in(client, factory)
    assert client.post("/checkin", data=CALM).status_code == 403


def test_check_in_pages_need_a_session(client):
    assert client.get("/checkin", follow_redirects=False).status_code == 303
    assert client.get("/plan", follow_redirects=False).status_code == 303


def test_history_lists_check_ins_with_a_pain_chart_and_its_text(client, factory):
    _signed_in(client, factory)
    _checkin(client, pain="7")
    page = client.get("/history")
    assert page.status_code == 200
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page.text and 'role="img"' in page.text
    assert "Pain by day: Day 3: 7" in page.text, "the chart's text alternative"
    assert (
        '<td><bdi dir="ltr">7</bdi></td>' in page.text and "A nurse will contact you" in page.text
    )


def test_settings_change_language_channels_and_e_mail(client, factory, engine):
    from sqlmodel import Session, select

    from aftercare.patients.models import Patient

    _signed_in(client, factory)
    page = client.get("/settings")
    assert page.status_code == 200 and "Add the app to your home screen" in page.text
    saved = client.post("/settings", data={
        "csrf_token": _csrf(page.text), "language": "ar", "channels": ["email", "calendar"],
        "email": "ab@example.org",
    })  # fmt: skip
    assert saved.status_code == 200 and '<html lang="ar" dir="rtl">' in saved.text
    assert "/calendar/" in saved.text, "the private calendar link is shown once chosen"
    with Session(engine) as session:
        patient = session.exec(select(Patient)).one()
    assert patient.language == "ar" and patient.email == "ab@example.org"
    assert patient.channels == ["calendar", "email", "in-app"]


def test_settings_refuse_a_bad_e_mail_and_keep_the_old_one(client, factory):
    _signed_in(client, factory, email="old@example.org")
    page = client.get("/settings")
    response = client.post("/settings", data={"csrf_token": _csrf(page.text), "email": "nope"})
    assert response.status_code == 422 and "Please check the e-mail address." in response.text
    assert 'value="old@example.org"' in response.text
    assert client.post("/settings", data={"email": "x@example.org"}).status_code == 403


def test_settings_send_a_test_notification(client, factory, engine):
    from sqlmodel import Session, select

    from aftercare.reminders.models import Reminder

    _signed_in(client, factory)
    page = client.get("/settings")
    response = client.post("/settings/test", data={"csrf_token": _csrf(page.text)})
    assert response.status_code == 200 and "A test notification is on its way" in response.text
    with Session(engine) as session:
        purposes = session.exec(select(Reminder.purpose).where(Reminder.purpose == "test")).all()
    assert purposes == ["test"]
