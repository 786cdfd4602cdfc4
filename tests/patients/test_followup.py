"""The follow-up visit (issue 13, item 4): a nurse books it through the API; the patient
sees it on Today and in My plan, is reminded the day before in neutral words, and finds a
neutral event in the calendar feed; moving or cancelling it updates both."""

import html
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from babel.dates import format_skeleton
from icalendar import Calendar
from sqlmodel import Session, col, select, update

from aftercare.db import session_factory
from aftercare.i18n import gettext_for
from aftercare.patients.models import Patient
from aftercare.privacy.retention import anonymise_due_patients
from aftercare.reminders.models import Reminder
from tests.patients.test_pages import _csrf
from tests.reminders.test_dispatcher import ENROLLED

PARIS = ZoneInfo("Europe/Paris")
# The factory's surgery is 2027-03-26 09:00 in Paris; the visit a week later, on summer time.
VISIT = "2027-04-02T14:30:00+02:00"
PLACE = "Room 3, 2nd floor"


def _enrol(factory, channels=("in-app", "push"), **changes):
    """A patient enrolled the day before surgery, with the nurse who enrolled her."""
    with time_machine.travel(ENROLLED, tick=False):
        nurse = factory.nurse()
        enrolment = factory.enrolment(nurse, **changes)
        device = factory.patient_headers(enrolment)
        answer = factory.client.patch(
            "/api/v1/me", json={"channels": list(channels)}, headers=device
        )
        assert answer.status_code == 200, answer.text
    return nurse, enrolment, device


def _book(client, nurse, enrolment, **fields):
    with time_machine.travel(ENROLLED, tick=False):
        return client.patch(f"/api/v1/patients/{enrolment.id}", json=fields, headers=nurse.headers)


def _visit_rows(engine, enrolment, status="pending") -> list[Reminder]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(Reminder)
                .where(
                    col(Reminder.patient_id) == uuid.UUID(enrolment.id),
                    col(Reminder.purpose) == "follow-up",
                    col(Reminder.status) == status,
                )
                .order_by(col(Reminder.channel))
            )
        )


def _patient(engine, enrolment) -> Patient:
    with Session(engine) as session:
        patient = session.get(Patient, uuid.UUID(enrolment.id))
        assert patient is not None
        return patient


def test_a_booked_visit_is_read_back_on_the_patients_clock_and_reminded_the_day_before(
    client, factory, engine
):
    nurse, enrolment, _ = _enrol(factory)
    built = _patient(engine, enrolment).plan_built_at
    answer = _book(
        client, nurse, enrolment, followup_at="2027-04-02T12:30:00Z", followup_place=f" {PLACE} "
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["followup_at"] == VISIT
    assert answer.json()["followup_place"] == PLACE
    rows = _visit_rows(engine, enrolment)
    assert [row.channel for row in rows] == ["in-app", "push"]
    assert {row.due_at for row in rows} == {datetime(2027, 4, 1, 12, 30, tzinfo=UTC)}
    assert _patient(engine, enrolment).plan_built_at == built, "the plan is not rebuilt"


def test_the_reminder_the_day_before_never_rings_outside_the_waking_hours(client, factory, engine):
    nurse, enrolment, _ = _enrol(factory, wake_time="09:00", sleep_time="20:00")
    _book(client, nurse, enrolment, followup_at="2027-04-02T07:45:00+02:00")
    (row, _) = _visit_rows(engine, enrolment)
    assert row.due_at.astimezone(PARIS) == datetime(2027, 4, 1, 9, 0, tzinfo=PARIS)
    _book(client, nurse, enrolment, followup_at="2027-04-02T21:15:00+02:00")
    (row, _) = _visit_rows(engine, enrolment)
    assert row.due_at.astimezone(PARIS) == datetime(2027, 4, 1, 19, 30, tzinfo=PARIS)


def test_moving_the_visit_moves_its_reminder_and_cancelling_takes_both(client, factory, engine):
    nurse, enrolment, _ = _enrol(factory)
    _book(client, nurse, enrolment, followup_at=VISIT, followup_place=PLACE)
    moved = _book(client, nurse, enrolment, followup_at="2027-04-05T10:00:00+02:00")
    assert moved.json()["followup_place"] == PLACE, "a move keeps the place unless sent"
    assert {row.due_at for row in _visit_rows(engine, enrolment)} == {
        datetime(2027, 4, 4, 8, 0, tzinfo=UTC)
    }
    cancelled = _book(client, nurse, enrolment, followup_at=None)
    assert cancelled.status_code == 200
    assert (cancelled.json()["followup_at"], cancelled.json()["followup_place"]) == (None, None)
    assert _visit_rows(engine, enrolment) == []


def test_the_reminder_survives_a_moved_surgery_and_changed_channels(client, factory, engine):
    nurse, enrolment, device = _enrol(factory)
    _book(client, nurse, enrolment, followup_at=VISIT)
    _book(client, nurse, enrolment, surgery_at="2027-03-26T11:00:00+01:00")
    assert len(_visit_rows(engine, enrolment)) == 2
    with time_machine.travel(ENROLLED, tick=False):
        client.patch("/api/v1/me", json={"channels": []}, headers=device)
    assert [row.channel for row in _visit_rows(engine, enrolment)] == ["in-app"]


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"followup_at": "2027-03-20T10:00:00+01:00"}, "before the surgery"),
        ({"followup_at": "2029-03-20T10:00:00+01:00"}, "years later"),
        ({"followup_at": "2027-04-02T14:30:00"}, "no offset"),
        ({"followup_at": "next Tuesday"}, "not a date"),
        ({"followup_at": VISIT, "followup_place": "x" * 121}, "a place too long"),
    ],
)
def test_a_wrong_visit_is_a_422_naming_the_field_and_keeps_the_booked_one(
    client, factory, engine, fields, why
):
    nurse, enrolment, _ = _enrol(factory)
    _book(client, nurse, enrolment, followup_at=VISIT, followup_place=PLACE)
    answer = _book(client, nurse, enrolment, **fields)
    assert answer.status_code == 422, why
    assert answer.json()["detail"][0]["loc"][:2] == ["body", next(reversed(fields))], why
    kept = client.get(f"/api/v1/patients/{enrolment.id}", headers=nurse.headers).json()
    assert (kept["followup_at"], kept["followup_place"]) == (VISIT, PLACE), why
    assert len(_visit_rows(engine, enrolment)) == 2, why


def test_a_place_without_a_visit_is_a_422_naming_the_place(client, factory, engine):
    nurse, enrolment, _ = _enrol(factory)
    answer = _book(client, nurse, enrolment, followup_place=PLACE)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "followup_place"]
    assert _patient(engine, enrolment).followup_place is None


def test_another_clinics_nurse_cannot_book_it(client, factory):
    _, enrolment, _ = _enrol(factory)
    with time_machine.travel(ENROLLED, tick=False):
        stranger = factory.nurse("south")
    assert _book(client, stranger, enrolment, followup_at=VISIT).status_code == 404


def test_the_day_before_the_reminder_says_only_that_there_is_an_appointment(
    client, factory, engine, dispatcher, counting
):
    nurse, enrolment, device = _enrol(factory, language="fr")
    _book(client, nurse, enrolment, followup_at=VISIT, followup_place=PLACE)
    counts = dispatcher.sweep(datetime(2027, 4, 1, 12, 31, tzinfo=UTC))
    assert counts.sent >= 2  # the visit's two rows, beside any check-in due by then
    (message,) = [
        delivery.message for delivery in counting.sent if "rendez-vous" in delivery.message.body
    ]
    assert (message.title, message.body) == ("Care", "Vous avez un rendez-vous demain")
    assert message.url.endswith("/today")
    with time_machine.travel(datetime(2027, 4, 1, 12, 32, tzinfo=UTC), tick=False):
        shown = client.get("/api/v1/me/reminders", headers=device).json()["items"]
    assert "Vous avez un rendez-vous demain" in [item["title"] for item in shown]
    for text in [message.title, message.body, *(item["title"] for item in shown)]:
        assert "Room" not in text and "hymen" not in text.lower()


def test_a_reminder_for_a_visit_moved_since_it_was_claimed_is_not_sent(
    client, factory, engine, dispatcher, counting
):
    nurse, enrolment, _ = _enrol(factory, channels=("in-app",))
    _book(client, nurse, enrolment, followup_at=VISIT)
    # A surgery move rebuilds the plan; a row made before it is stale even if it survived.
    with Session(engine) as session:
        session.execute(
            update(Reminder)
            .where(col(Reminder.purpose) == "follow-up")
            .values(plan_built_at=ENROLLED - timedelta(days=1))
        )
        session.commit()
    counts = dispatcher.sweep(datetime(2027, 4, 1, 12, 31, tzinfo=UTC))
    assert _visit_rows(engine, enrolment, status="skipped") != []
    assert counts.skipped >= 1


def _feed_events(client, device):
    url = client.get("/api/v1/me/calendar", headers=device).json()["url"]
    feed = client.get(url.removeprefix("http://testserver"))
    assert feed.status_code == 200
    return feed.content, Calendar.from_ical(feed.content).walk("VEVENT")


def test_the_calendar_feed_has_a_neutral_event_that_moves_and_goes(client, factory):
    nurse, enrolment, device = _enrol(factory, channels=("in-app", "calendar"))
    _, before = _feed_events(client, device)
    _book(client, nurse, enrolment, followup_at=VISIT, followup_place=PLACE)
    body, events = _feed_events(client, device)
    assert len(events) == len(before) + 1
    (visit,) = [event for event in events if str(event["SUMMARY"]) == "Appointment"]
    assert visit.decoded("DTSTART") == datetime(2027, 4, 2, 14, 30, tzinfo=PARIS)
    assert visit.decoded("DTSTART").tzinfo.key == "Europe/Paris"
    assert visit.decoded("DURATION") == timedelta(minutes=30)
    (alarm,) = visit.walk("VALARM")
    assert alarm.decoded("TRIGGER") == timedelta(hours=-1)
    assert b"Room" not in body and b"hymen" not in body.lower() and b"follow" not in body.lower()

    _book(client, nurse, enrolment, followup_at="2027-04-06T09:15:00+02:00")
    _, events = _feed_events(client, device)
    (moved,) = [event for event in events if str(event["SUMMARY"]) == "Appointment"]
    assert moved["UID"] == visit["UID"], "the phone's calendar moves the event in place"
    assert moved.decoded("DTSTART") == datetime(2027, 4, 6, 9, 15, tzinfo=PARIS)

    _book(client, nurse, enrolment, followup_at=None)
    _, events = _feed_events(client, device)
    assert [event for event in events if str(event["SUMMARY"]) == "Appointment"] == []


def test_my_plan_carries_the_date_on_the_follow_up_item(client, factory):
    nurse, enrolment, device = _enrol(factory)
    plan = client.get("/api/v1/me/plan", headers=device).json()
    (item,) = [i for d in plan["days"] for i in d["items"] if i["kind"] == "follow-up"]
    assert (item["appointment_at"], item["appointment_place"]) == (None, None)
    _book(client, nurse, enrolment, followup_at=VISIT, followup_place=PLACE)
    plan = client.get("/api/v1/me/plan", headers=device).json()
    (item,) = [i for d in plan["days"] for i in d["items"] if i["kind"] == "follow-up"]
    assert (item["appointment_at"], item["appointment_place"]) == (VISIT, PLACE)
    others = [i for d in plan["days"] for i in d["items"] if i["kind"] != "follow-up"]
    assert all(i["appointment_at"] is None for i in others)


def _booked_without_a_phone(client, factory):
    """A patient whose visit is booked and whose phone is not signed in yet."""
    with time_machine.travel(ENROLLED, tick=False):
        nurse = factory.nurse()
        enrolment = factory.enrolment(nurse)
    _book(client, nurse, enrolment, followup_at=VISIT, followup_place=PLACE)
    return enrolment


def _phone(client, enrolment) -> None:
    path = enrolment.url.removeprefix("http://testserver")
    client.post(path, data={"csrf_token": _csrf(client.get(path).text)})


def test_today_and_my_plan_show_the_date_and_place(client, factory):
    fresh = _booked_without_a_phone(client, factory)
    with time_machine.travel(datetime(2027, 4, 1, 9, 0, tzinfo=UTC), tick=False):
        _phone(client, fresh)
        today = client.get("/today").text
        plan = client.get("/plan").text
    assert "Your follow-up visit" in today
    assert "Fri, Apr 2 at 14:30" in today and "Tomorrow" in today and PLACE in today
    assert "Fri, Apr 2 at 14:30" in plan and PLACE in plan
    assert "Your clinic will tell you the exact date" not in plan
    assert PLACE not in today.split("<title>")[1].split("</title>")[0]


@pytest.mark.parametrize("language", ["fr", "ar", "tr"])
def test_the_visits_date_reads_in_the_patients_language(client, factory, language):
    """The date comes from a macro imported without the page's context: it still knows
    the page's language (web.Pages renders each language with its own templates)."""
    with time_machine.travel(ENROLLED, tick=False):
        nurse = factory.nurse()
        enrolment = factory.enrolment(nurse, language=language)
    _book(client, nurse, enrolment, followup_at=VISIT, followup_place=PLACE)
    words = gettext_for(language).gettext
    when = words("%(date)s at %(time)s") % {
        "date": format_skeleton("MMMEd", date(2027, 4, 2), locale=language),
        "time": "14:30",
    }
    with time_machine.travel(datetime(2027, 4, 1, 9, 0, tzinfo=UTC), tick=False):
        _phone(client, enrolment)
        today = client.get("/today").text
        plan = client.get("/plan").text
    assert "Fri, Apr 2" not in today and "Fri, Apr 2" not in plan
    assert html.escape(when, quote=False) in today and html.escape(when, quote=False) in plan
    assert words("Your follow-up visit") in today


def test_today_forgets_a_visit_once_its_day_is_over(client, factory):
    fresh = _booked_without_a_phone(client, factory)
    with time_machine.travel(datetime(2027, 4, 2, 21, 0, tzinfo=UTC), tick=False):
        _phone(client, fresh)  # 23:00 in Paris, the visit's own day
        assert "Your follow-up visit" in client.get("/today").text
    with time_machine.travel(datetime(2027, 4, 2, 22, 1, tzinfo=UTC), tick=False):
        assert "Your follow-up visit" not in client.get("/today").text


def test_the_export_carries_the_visit_on_the_follow_up_activity(client, factory):
    nurse, enrolment, device = _enrol(factory)
    _book(client, nurse, enrolment, followup_at=VISIT, followup_place=PLACE)
    bundle = client.get("/api/v1/me/export", headers=device).json()
    resources = [entry["resource"] for entry in bundle["entry"]]
    (plan,) = [resource for resource in resources if resource["resourceType"] == "CarePlan"]
    (visit,) = [a["detail"] for a in plan["activity"] if "location" in a["detail"]]
    assert visit["scheduledTiming"] == {"event": [VISIT]}
    assert visit["location"] == {"display": PLACE}


def test_anonymising_the_patient_takes_the_visit(client, factory, engine):
    nurse, enrolment, _ = _enrol(factory)
    _book(client, nurse, enrolment, followup_at=VISIT, followup_place=PLACE)
    years_later = datetime(2027, 3, 26, tzinfo=UTC) + timedelta(days=3650)
    assert (
        anonymise_due_patients(session_factory(engine), client.app.state.writer, years_later) == 1
    )
    patient = _patient(engine, enrolment)
    assert (patient.followup_at, patient.followup_place) == (None, None)
