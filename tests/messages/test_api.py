"""The thread over the JSON API of api.md, from the nurse's side and from the phone's."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlmodel import Session, col, select

from aftercare.audit.models import AuditEvent
from aftercare.reminders.models import Reminder
from tests.messages.helpers import PARIS, enrol, nurse_writes, patient_writes, stored

PRIVATE = "Your stitches look fine; about the bleeding, please call me after 2 pm"


def test_both_sides_read_the_same_thread_oldest_first(client, factory):
    nurse = factory.nurse()
    enrolment, phone = enrol(factory, nurse)
    first = nurse_writes(client, nurse, enrolment.id, "Hello, how are you feeling today?")
    second = patient_writes(client, phone, "A little sore, but fine.")
    third = nurse_writes(client, nurse, enrolment.id, "Good. Rest as much as you can.")

    mine = client.get("/api/v1/me/messages", headers=phone)
    theirs = client.get(f"/api/v1/patients/{enrolment.id}/messages", headers=nurse.headers)

    assert mine.status_code == theirs.status_code == 200
    for answer in (mine.json(), theirs.json()):
        items = answer["items"]
        assert [item["id"] for item in items] == [first["id"], second["id"], third["id"]]
        assert [item["from"] for item in items] == ["nurse", "patient", "nurse"]
        assert set(items[0]) == {"id", "from", "body", "created_at", "read_at"}
        assert items[1]["body"] == "A little sore, but fine."
    assert first["from"] == "nurse" and first["read_at"] is None
    assert second["from"] == "patient" and second["read_at"] is None


def test_reading_marks_only_the_other_sides_messages_read(client, factory):
    nurse = factory.nurse()
    enrolment, phone = enrol(factory, nurse)
    nurse_writes(client, nurse, enrolment.id, "Hello")
    patient_writes(client, phone, "Hi")
    thread = f"/api/v1/patients/{enrolment.id}/messages"

    by_patient = client.get("/api/v1/me/messages", headers=phone).json()["items"]
    assert by_patient[0]["read_at"] is not None, "the nurse's message, now read"
    assert by_patient[1]["read_at"] is None, "her own message stays unread until a nurse looks"

    by_nurse = client.get(thread, headers=nurse.headers).json()["items"]
    assert all(item["read_at"] is not None for item in by_nurse)
    again = client.get("/api/v1/me/messages", headers=phone).json()["items"]
    assert again[0]["read_at"] == by_patient[0]["read_at"], "read once, not on every look"


def test_a_reply_sent_twice_with_its_id_is_stored_once(client, factory, engine):
    nurse = factory.nurse()
    enrolment, phone = enrol(factory, nurse)
    reply = {"id": str(uuid.uuid4()), "body": "Thank you, see you on Monday"}

    first = client.post("/api/v1/me/messages", json=reply, headers=phone)
    again = client.post("/api/v1/me/messages", json=reply, headers=phone)
    other = client.post(
        "/api/v1/me/messages", json={**reply, "body": "something else"}, headers=phone
    )

    assert first.status_code == 201 and first.json()["id"] == reply["id"]
    assert again.status_code == 200 and again.json() == first.json()
    assert other.status_code == 409
    assert stored(engine, enrolment.id) == [("patient", reply["body"])]


def test_an_id_of_another_patients_message_is_a_conflict_not_a_read(client, factory, engine):
    nurse = factory.nurse()
    _, phone = enrol(factory, nurse)
    other, other_phone = enrol(factory, nurse, alias="Z.Q.")
    theirs = patient_writes(client, other_phone, "private words", id=str(uuid.uuid4()))
    response = client.post(
        "/api/v1/me/messages", json={"id": theirs["id"], "body": "private words"}, headers=phone
    )
    assert response.status_code == 409
    assert "private words" not in response.text
    assert stored(engine, other.id) == [("patient", "private words")]


@pytest.mark.parametrize("body", ["", "   \n ", "x" * 2001])
def test_an_empty_or_too_long_body_is_refused_naming_it(client, factory, engine, body):
    nurse = factory.nurse()
    enrolment, phone = enrol(factory, nurse)
    for path, headers in (
        (f"/api/v1/patients/{enrolment.id}/messages", nurse.headers),
        ("/api/v1/me/messages", phone),
    ):
        response = client.post(path, json={"body": body}, headers=headers)
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"][-1] == "body"
    missing = client.post("/api/v1/me/messages", json={}, headers=phone)
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"][-1] == "body"
    assert stored(engine) == []


def test_2000_characters_are_allowed(client, factory):
    nurse = factory.nurse()
    enrolment, phone = enrol(factory, nurse)
    assert len(nurse_writes(client, nurse, enrolment.id, "n" * 2000)["body"]) == 2000
    assert len(patient_writes(client, phone, "p" * 2000)["body"]) == 2000


def test_without_a_token_there_is_no_thread(client, factory):
    nurse = factory.nurse()
    enrolment, phone = enrol(factory, nurse)
    thread = f"/api/v1/patients/{enrolment.id}/messages"
    assert client.get(thread).status_code == 401
    assert client.post(thread, json={"body": "hi"}).status_code == 401
    assert client.get("/api/v1/me/messages").status_code == 401
    assert client.post("/api/v1/me/messages", json={"body": "hi"}).status_code == 401
    # Each side's token opens only its own side.
    assert client.get(thread, headers=phone).status_code == 401
    assert client.get("/api/v1/me/messages", headers=nurse.headers).status_code == 401


def test_a_nurse_of_another_clinic_finds_no_thread(client, factory, engine):
    nurse, stranger = factory.nurse(), factory.nurse("south")
    enrolment, phone = enrol(factory, nurse)
    patient_writes(client, phone, "for my own clinic only")
    thread = f"/api/v1/patients/{enrolment.id}/messages"
    assert client.get(thread, headers=stranger.headers).status_code == 404
    posted = client.post(thread, json={"body": "hello"}, headers=stranger.headers)
    assert posted.status_code == 404
    unknown = f"/api/v1/patients/{uuid.uuid4()}/messages"
    assert client.get(unknown, headers=nurse.headers).status_code == 404
    assert stored(engine, enrolment.id) == [("patient", "for my own clinic only")]
    mine = client.get("/api/v1/me/messages", headers=phone).json()["items"]
    assert mine[0]["read_at"] is None, "a refused look reads nothing"


def test_the_patient_is_told_with_neutral_words_only(client, factory, engine, dispatcher):
    nurse = factory.nurse()
    enrolment, phone = enrol(factory, nurse, email="ab@example.org")
    changed = client.patch("/api/v1/me", json={"channels": ["email"]}, headers=phone)
    assert changed.status_code == 200
    message = nurse_writes(client, nurse, enrolment.id, PRIVATE)

    with Session(engine) as session:
        rows = session.exec(
            select(Reminder).where(Reminder.patient_id == uuid.UUID(enrolment.id))
            .where(Reminder.purpose == "message")
        ).all()  # fmt: skip
    assert sorted(row.channel for row in rows) == ["email", "in-app"]
    assert {row.item_key for row in rows} == {f"message-{message['id']}"}
    dispatcher.sweep(max(row.due_at for row in rows) + timedelta(seconds=1))

    (email,) = dispatcher.channels["email"].sent
    assert (email.message.title, email.message.body) == ("Care", "You have a new message")
    in_app = client.get("/api/v1/me/reminders", headers=phone).json()["items"]
    assert [item["title"] for item in in_app] == ["You have a new message"]
    for told in (repr(email), str(in_app)):
        for word in ("stitches", "bleeding", "2 pm"):
            assert word not in told


def test_a_message_written_at_night_is_told_when_the_patient_wakes(client, factory, engine):
    night = datetime(2027, 3, 28, 23, 30, tzinfo=PARIS)
    with time_machine.travel(night, tick=False):
        nurse = factory.nurse()
        enrolment = factory.enrolment(nurse, surgery_at="2027-03-26T09:00:00+01:00")
        nurse_writes(client, nurse, enrolment.id, "Sleep well")
    with Session(engine) as session:
        due = session.exec(
            select(Reminder.due_at).where(Reminder.patient_id == uuid.UUID(enrolment.id))
            .where(Reminder.purpose == "message")
        ).all()  # fmt: skip
    # 08:00 the next morning, Paris summer time since the night of the 28th.
    assert due == [datetime(2027, 3, 29, 8, 0, tzinfo=PARIS).astimezone(UTC)]


def test_every_message_is_audited_without_its_words(client, factory, engine):
    nurse = factory.nurse()
    enrolment, phone = enrol(factory, nurse)
    nurse_writes(client, nurse, enrolment.id, PRIVATE)
    patient_writes(client, phone, "my private answer")
    client.get(f"/api/v1/patients/{enrolment.id}/messages", headers=nurse.headers)
    with Session(engine) as session:
        events = session.exec(
            select(AuditEvent)
            .where(AuditEvent.subject_id == enrolment.id)
            .order_by(col(AuditEvent.id))
        ).all()
    actions = [(event.actor, event.action) for event in events]
    assert actions[-3:] == [
        ("nurse", "message.sent"),
        ("patient", "message.sent"),
        ("nurse", "patient.messages.viewed"),
    ]
    assert all(event.client for event in events[-3:])
    details = str([event.detail for event in events])
    assert "stitches" not in details and "private answer" not in details
