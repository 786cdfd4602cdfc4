"""A red flag nobody acknowledges alerts the clinic's nurses: at the target, then at twice it."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import update
from sqlmodel import Session, col, select

from aftercare.accounts.models import Nurse
from aftercare.db import session_factory
from aftercare.flags.tasks import escalate_red_flags
from aftercare.reminders.models import Reminder
from aftercare.writer import make_writer
from tests.checkins.test_api import body

RED_AT = datetime(2027, 3, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def escalate(engine):
    writer = make_writer(engine)
    yield lambda at: escalate_red_flags(session_factory(engine), writer, at)
    writer.close()


@pytest.fixture
def red_flag(client, factory):
    with time_machine.travel(RED_AT - timedelta(days=1), tick=False):
        nurse = factory.nurse(email="ines@north.example")
        factory.nurse(email="leo@north.example")
        factory.nurse("south", email="other@south.example")
        headers = factory.patient_headers(
            factory.enrolment(nurse, surgery_at="2027-03-26T09:00:00+01:00")
        )
    with time_machine.travel(RED_AT, tick=False):
        answer = client.post(
            "/api/v1/me/checkins",
            json=body(recorded_at=RED_AT.isoformat(), pain=9),
            headers=headers,
        )
        assert answer.json()["severity"] == "red"
        flag = client.get("/api/v1/flags", headers=factory.nurse().headers).json()["items"][0]
    return flag


def _alerts(engine) -> list[Reminder]:
    with Session(engine) as session:
        return list(session.exec(select(Reminder).where(Reminder.purpose == "escalation")))


def test_one_alert_at_the_target_and_one_at_twice_the_target(engine, escalate, red_flag):
    assert escalate(RED_AT + timedelta(minutes=14, seconds=59)) == 0
    assert escalate(RED_AT + timedelta(minutes=15)) == 1
    first = _alerts(engine)
    assert len(first) == 3, "each of the clinic's three nurses, by e-mail; nobody elsewhere"
    assert {row.channel for row in first} == {"email"}
    _sent(engine)  # the dispatcher sent them
    assert escalate(RED_AT + timedelta(minutes=29)) == 0
    assert escalate(RED_AT + timedelta(minutes=30)) == 1
    assert escalate(RED_AT + timedelta(hours=5)) == 0, "never a third"
    assert len(_alerts(engine)) == 6


def _sent(engine) -> None:
    with engine.begin() as conn:
        conn.execute(update(Reminder).values(status="sent"))


def test_each_nurse_gets_one_alert_however_many_flags_are_due(
    client, factory, engine, escalate, red_flag
):
    """A second patient's red flag due the same moment, and a third's while the first
    alert still waits to be sent: each nurse is alerted once, each flag is escalated."""
    with time_machine.travel(RED_AT - timedelta(days=1), tick=False):
        nurse = factory.nurse()
        phones = [
            factory.patient_headers(
                factory.enrolment(nurse, surgery_at="2027-03-26T09:00:00+01:00")
            )
            for _ in range(2)
        ]
    for minutes, phone in ((0, phones[0]), (3, phones[1])):
        at = RED_AT + timedelta(minutes=minutes)
        with time_machine.travel(at, tick=False):
            sent = client.post(
                "/api/v1/me/checkins", json=body(recorded_at=at.isoformat(), pain=9), headers=phone
            )
            assert sent.json()["severity"] == "red"
    assert escalate(RED_AT + timedelta(minutes=15)) == 2, "both flags escalated"
    first = _alerts(engine)
    assert len(first) == 4, "each of the clinic's four nurses once, not once a flag"
    assert escalate(RED_AT + timedelta(minutes=18)) == 1, "the third flag is escalated..."
    assert len(_alerts(engine)) == 4, "...but the alert waiting to go says it already"


def test_an_acknowledged_flag_alerts_nobody(client, factory, engine, escalate, red_flag):
    with time_machine.travel(RED_AT + timedelta(minutes=5), tick=False):
        nurse = factory.nurse()
        client.post(f"/api/v1/flags/{red_flag['id']}/acknowledge", headers=nurse.headers)
    assert escalate(RED_AT + timedelta(minutes=40)) == 0
    assert _alerts(engine) == []


def test_the_alert_reaches_the_nurses_with_no_patient_detail(
    engine, escalate, red_flag, dispatcher
):
    escalate(RED_AT + timedelta(minutes=16))
    email = dispatcher.channels["email"]
    dispatcher.sweep(RED_AT + timedelta(minutes=16, seconds=5))
    recipients = sorted(delivery.email for delivery in email.sent)
    assert recipients[0] == "ines@north.example" and "leo@north.example" in recipients
    assert all("other@south" not in r for r in recipients)
    message = email.sent[0].message
    assert message.body == "A red flag is waiting for acknowledgement"
    assert message.title == "Red flag waiting 15 min", "the subject says what waits, how long"
    assert "A.B." not in message.body + message.title and message.url.endswith("/console")


def test_the_alert_is_in_each_nurses_language_and_says_the_second_wait(
    engine, escalate, red_flag, dispatcher
):
    with Session(engine) as session:
        session.execute(
            update(Nurse).where(col(Nurse.email) == "leo@north.example").values(language="fr")
        )
        session.commit()
    escalate(RED_AT + timedelta(minutes=31))  # straight to the second level: twice the target
    dispatcher.sweep(RED_AT + timedelta(minutes=31, seconds=5))
    sent = {delivery.email: delivery.message for delivery in dispatcher.channels["email"].sent}
    assert sent["leo@north.example"].title == "Alerte rouge en attente depuis 30 min"
    assert sent["leo@north.example"].body == "Une alerte rouge attend d'être prise en compte"
    assert sent["ines@north.example"].title == "Red flag waiting 30 min"
