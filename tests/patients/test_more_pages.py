"""Ticking items off, Warning signs, push on/off and My data, through HTTP as a phone uses them."""

import re

from sqlalchemy import text

from tests.patients.test_pages import FORBIDDEN, _csrf, _title


def _signed_in(client, factory, **changes):
    """A phone signed in on Day 3; the enrolment and the nurse who made it."""
    from datetime import UTC, datetime, timedelta

    nurse = factory.nurse()
    surgery = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    enrolment = factory.enrolment(nurse, surgery_at=surgery, **changes)
    path = enrolment.url.removeprefix("http://testserver")
    client.post(path, data={"csrf_token": _csrf(client.get(path).text)})
    return enrolment, nurse


def _tick_forms(html: str) -> dict[str, str]:
    """Each tick form's item id and the state a press would set."""
    return dict(
        re.findall(
            r'name="item" value="([^"]+)">\s*<input type="hidden" name="done" value="([01])">',
            html,
        )
    )


def test_the_days_milestone_is_shown_as_news_and_not_in_the_list(client, factory):
    from datetime import UTC, datetime, timedelta

    nurse = factory.nurse()
    surgery = (datetime.now(UTC) - timedelta(days=1)).isoformat()  # Day 2: showering starts
    enrolment = factory.enrolment(nurse, surgery_at=surgery, language="en")
    path = enrolment.url.removeprefix("http://testserver")
    client.post(path, data={"csrf_token": _csrf(client.get(path).text)})
    page = client.get("/today").text
    news = re.search(r'<section class="news".*?</section>', page, re.S)
    assert news and "From today you may shower with lukewarm water" in news.group()
    listed = re.search(r'<ul class="items">.*?</ul>', page, re.S)
    assert listed and "From today you may shower" not in listed.group()
    assert 'id="item-d2-shower"' in listed.group(), "the day's tasks are listed"


def test_today_ticks_an_item_off_and_back_without_javascript(client, factory, engine):
    enrolment, nurse = _signed_in(client, factory)
    page = client.get("/today")
    forms = _tick_forms(page.text)
    assert "d3-shower" in forms and forms["d3-shower"] == "1"
    assert not any(item.endswith("shower-allowed") for item in forms), "news is not a task"
    assert "d3-warning-signs" not in forms, "reading matter is not ticked off"
    done = client.post(
        "/today/done",
        data={"csrf_token": _csrf(page.text), "item": "d3-shower", "done": "1"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/today#item-d3-shower"
    page = client.get("/today")
    assert _tick_forms(page.text)["d3-shower"] == "0"
    assert 'aria-pressed="true"' in page.text
    nurse_view = client.get(f"/api/v1/patients/{enrolment.id}/plan", headers=nurse.headers)
    ticked = [i for d in nurse_view.json()["days"] for i in d["items"] if i["done"]]
    assert [i["id"] for i in ticked] == ["d3-shower"]
    # The page's script sends the same form asking for no page back; twice is harmless.
    for _ in range(2):
        undone = client.post(
            "/today/done",
            data={"csrf_token": _csrf(page.text), "item": "d3-shower", "done": "0"},
            headers={"Accept": "application/json"},
        )
        assert undone.status_code == 204
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM plan_item WHERE done_at IS NOT NULL")).scalar()
            == 0
        )


def test_ticking_needs_the_csrf_token_a_session_and_a_real_item(client, factory):
    client.get("/")
    signed_out = {"csrf_token": client.cookies.get("csrf"), "item": "d1-shower", "done": "1"}
    response = client.post("/today/done", data=signed_out, follow_redirects=False)
    assert response.headers["location"] == "/"
    _signed_in(client, factory)
    token = _csrf(client.get("/today").text)
    assert client.post("/today/done", data={"item": "d3-shower", "done": "1"}).status_code == 403
    missing = client.post("/today/done", data={"csrf_token": token, "item": "d99-x", "done": "1"})
    assert missing.status_code == 404


def test_every_page_carries_the_waiting_notice_for_the_script_to_show(client, factory):
    _signed_in(client, factory)
    for path in ("/today", "/plan", "/checkin", "/history", "/warning-signs", "/settings"):
        page = client.get(path)
        assert 'id="waiting"' in page.text and "saved on this phone" in page.text, path


def test_warning_signs_say_what_is_normal_what_is_not_and_whom_to_call(client, factory):
    _signed_in(client, factory)
    page = client.get("/warning-signs")
    assert page.status_code == 200
    assert "light spotting are normal" in page.text
    assert "Contact the clinic if you have heavy bleeding" in page.text
    assert 'href="tel:112"' in page.text
    assert _title(page.text) == "Care"
    assert not any(word in page.text.lower() for word in FORBIDDEN)


def test_warning_signs_in_arabic(client, factory):
    _signed_in(client, factory, language="ar")
    page = client.get("/warning-signs")
    assert '<html lang="ar" dir="rtl">' in page.text
    assert "علامات التحذير" in page.text and "نقاط دم خفيفة" in page.text


def _subscription(endpoint: str = "https://push.example.net/send/abc") -> dict[str, object]:
    p256dh = (
        "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
    )
    keys = {"p256dh": p256dh, "auth": "tBHItJI5svbpez7KI4CCXg"}
    return {"endpoint": endpoint, "expirationTime": None, "keys": keys}


def test_push_is_turned_on_and_off_from_settings(client, factory, engine):
    _signed_in(client, factory)
    token = _csrf(client.get("/settings").text)
    on = client.post("/settings/push", json=_subscription(), headers={"X-CSRF-Token": token})
    assert on.status_code == 204
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM push_subscription")).scalar() == 1
        assert "push" in conn.execute(text("SELECT channels FROM patient")).scalar()
    page = client.get("/settings")
    assert "Notifications are on for at least one of your phones." in page.text
    off = client.post("/settings/push/off", json={"endpoint": "https://push.example.net/send/abc"},
                      headers={"X-CSRF-Token": token})  # fmt: skip
    assert off.status_code == 204
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM push_subscription")).scalar() == 0
        assert "push" not in conn.execute(text("SELECT channels FROM patient")).scalar()


def test_push_settings_refuse_forgery_and_bad_subscriptions(client, factory, engine):
    _signed_in(client, factory)
    token = _csrf(client.get("/settings").text)
    assert client.post("/settings/push", json=_subscription()).status_code == 403
    bad = client.post("/settings/push", json={"endpoint": "nope"}, headers={"X-CSRF-Token": token})
    assert bad.status_code == 422
    assert {e["loc"][-1] for e in bad.json()["detail"]} == {"endpoint", "keys"}
    worse = client.post("/settings/push/off", content=b"{", headers={"X-CSRF-Token": token})
    assert worse.status_code == 422
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM push_subscription")).scalar() == 0


def test_my_data_page_offers_download_and_deletion_with_a_confirmation(client, factory):
    _signed_in(client, factory)
    page = client.get("/privacy")
    assert 'href="/privacy/export"' in page.text and 'href="/privacy/delete"' in page.text
    download = client.get("/privacy/export")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/fhir+json")
    assert download.headers["content-disposition"] == 'attachment; filename="my-data.json"'
    assert download.json()["resourceType"] == "Bundle"
    confirm = client.get("/privacy/delete")
    assert "Yes, delete everything" in confirm.text and "No, keep my data" in confirm.text


def test_deleting_my_data_erases_it_and_signs_the_phone_out(client, factory, engine):
    enrolment, nurse = _signed_in(client, factory)
    confirm = client.get("/privacy/delete")
    gone = client.post("/privacy/delete", data={"csrf_token": _csrf(confirm.text)})
    assert gone.status_code == 200 and "Your data has been deleted" in gone.text
    assert gone.headers["clear-site-data"] == '"cache", "storage"'
    assert 'session=""' in gone.headers["set-cookie"] or "Max-Age=0" in gone.headers["set-cookie"]
    with engine.connect() as conn:
        for table in ("patient", "plan_item", "reminder"):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table
        tokens = "SELECT count(*) FROM access_token WHERE patient_id IS NOT NULL"
        assert conn.execute(text(tokens)).scalar() == 0
    client.cookies.clear()
    assert client.get("/today", follow_redirects=False).headers["location"] == "/"
    nurse = client.get(f"/api/v1/patients/{enrolment.id}", headers=nurse.headers)
    assert nurse.status_code == 404


def test_deleting_needs_the_csrf_token(client, factory, engine):
    _signed_in(client, factory)
    assert client.post("/privacy/delete", data={}).status_code in (403, 422)
    assert client.post("/privacy/delete", data={"csrf_token": "forged"}).status_code == 403
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM patient")).scalar() == 1
