"""The outbox and the dispatcher: on time, once, and never in the night."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine
from sqlmodel import Session, col, select

from aftercare.checkins.service import checked_in_on
from aftercare.reminders.dispatcher import Dispatcher
from aftercare.reminders.models import Reminder
from aftercare.writer import make_writer
from tests.checkins.test_api import body

PARIS = ZoneInfo("Europe/Paris")
ENROLLED = datetime(2027, 3, 25, 10, 0, tzinfo=UTC)


def _rows(engine, **where) -> list[Reminder]:
    with Session(engine) as session:
        query = select(Reminder).order_by(col(Reminder.due_at), col(Reminder.channel))
        for name, value in where.items():
            query = query.where(getattr(Reminder, name) == value)
        return list(session.exec(query))


def _enrol(factory, channels=("in-app", "push"), **changes):
    with time_machine.travel(ENROLLED, tick=False):
        nurse = factory.nurse()
        enrolment = factory.enrolment(nurse, **changes)
        headers = factory.patient_headers(enrolment)
        if channels != ("in-app",):
            response = factory.client.patch(
                "/api/v1/me", json={"channels": list(channels)}, headers=headers
            )
            assert response.status_code == 200, response.text
    return enrolment, headers


def test_the_plan_fills_the_outbox_in_local_time_across_the_clock_change(engine, factory):
    _enrol(factory)
    push = _rows(engine, channel="push")
    assert [row.item_kind for row in push] == ["check-in"] * 12
    local = [row.due_at.astimezone(PARIS) for row in push]
    assert {(moment.hour, moment.minute) for moment in local} == {(19, 0)}
    assert push[1].due_at == datetime(2027, 3, 27, 18, 0, tzinfo=UTC)  # 19:00 CET
    assert push[3].due_at == datetime(2027, 3, 29, 17, 0, tzinfo=UTC)  # 19:00 CEST
    assert len(_rows(engine, channel="in-app")) == 12


def test_nothing_is_due_in_quiet_hours(engine, factory):
    _enrol(factory, wake_time="07:00", sleep_time="18:00")
    for row in _rows(engine):
        local = row.due_at.astimezone(PARIS)
        assert (7, 0) <= (local.hour, local.minute) < (18, 0)


def test_moving_the_surgery_rebuilds_the_future_rows_without_duplicates(engine, factory, client):
    enrolment, _ = _enrol(factory)
    with time_machine.travel(ENROLLED, tick=False):
        nurse = factory.nurse()
        moved = client.patch(
            f"/api/v1/patients/{enrolment.id}",
            json={"surgery_at": "2027-04-02T10:00:00+02:00"},
            headers=nurse.headers,
        )
    assert moved.status_code == 200
    push = _rows(engine, channel="push")
    assert len(push) == 12
    assert push[0].due_at == datetime(2027, 4, 2, 17, 0, tzinfo=UTC)


def test_erasing_a_patient_removes_their_rows(engine, factory):
    from aftercare.patients.models import Patient

    enrolment, _ = _enrol(factory)
    with Session(engine) as session:
        session.delete(session.get(Patient, __import__("uuid").UUID(enrolment.id)))
        session.commit()
    assert _rows(engine) == []


def test_due_reminders_are_sent_once_and_future_ones_wait(engine, factory, dispatcher, counting):
    _enrol(factory)
    first_evening = datetime(2027, 3, 26, 18, 0, tzinfo=UTC)  # 19:00 in Paris on Day 1
    counts = dispatcher.sweep(first_evening + timedelta(minutes=1))
    assert (counts.sent, counts.skipped) == (2, 0), "push and in-app for Day 1"
    assert len(counting.sent) == 1
    message = counting.sent[0].message
    assert (message.title, message.body) == ("Care", "Time for your daily check-in")
    assert dispatcher.sweep(first_evening + timedelta(minutes=2)).sent == 0, "never twice"
    assert len(_rows(engine, status="pending")) == 22


def test_a_check_in_already_done_that_day_skips_its_reminder(
    engine, factory, dispatcher, counting, client
):
    _, headers = _enrol(factory)
    with time_machine.travel(datetime(2027, 3, 26, 15, 0, tzinfo=UTC), tick=False):
        sent = client.post(
            "/api/v1/me/checkins", json=body(recorded_at="2027-03-26T15:00:00Z"), headers=headers
        )
        assert sent.status_code == 201
    counts = dispatcher.sweep(datetime(2027, 3, 26, 18, 1, tzinfo=UTC))
    assert (counts.sent, counts.skipped) == (0, 2) and counting.sent == []


def test_a_reminder_hours_late_is_skipped_not_sent_at_night(engine, factory, dispatcher, counting):
    _enrol(factory)
    counts = dispatcher.sweep(
        datetime(2027, 3, 26, 18, 0, tzinfo=UTC) + timedelta(hours=3, minutes=1)
    )
    assert counts.skipped == 2 and counting.sent == []
    assert {row.status for row in _rows(engine, item_day=1)} == {"skipped"}


def test_failures_are_retried_with_back_off_then_given_up(engine, factory, dispatcher, counting):
    _enrol(factory)
    due = datetime(2027, 3, 26, 18, 0, tzinfo=UTC)
    counting.answers = ["retry", "retry", "sent"]
    assert dispatcher.sweep(due).retried == 1
    assert dispatcher.sweep(due + timedelta(seconds=59)).retried == 0, "waits a minute"
    assert dispatcher.sweep(due + timedelta(minutes=1)).retried == 1
    assert dispatcher.sweep(due + timedelta(minutes=2, seconds=59)).sent == 0, "then two"
    assert dispatcher.sweep(due + timedelta(minutes=3)).sent == 1
    (row,) = _rows(engine, item_day=1, channel="push")
    assert (row.status, row.attempts) == ("sent", 2)


def test_a_reminder_that_keeps_failing_is_marked_failed(engine, factory, dispatcher, counting):
    _enrol(factory)
    due = datetime(2027, 3, 26, 18, 0, tzinfo=UTC)
    counting.answers = ["retry"] * 10
    moment = due
    for _ in range(6):
        dispatcher.sweep(moment)
        moment += timedelta(minutes=20)
    (row,) = _rows(engine, item_day=1, channel="push")
    assert row.status == "failed" and row.attempts == 5
    assert len(counting.sent) == 6


def test_a_dispatcher_that_dies_after_claiming_leaves_its_rows_to_another(
    engine, factory, settings, counting
):
    _enrol(factory)
    due = datetime(2027, 3, 26, 18, 0, tzinfo=UTC)
    writer = make_writer(engine)
    dead = Dispatcher(
        engine, writer, {"push": counting}, settings, name="dead", checked_in_on=checked_in_on
    )
    claimed = writer.run(lambda db: dead._claim(db, now=due, batch=500))  # claims, then "dies"
    assert len(claimed) == 2
    alive = Dispatcher(
        engine,
        writer,
        {"push": counting, "in-app": counting},
        settings,
        name="alive",
        checked_in_on=checked_in_on,
    )
    assert alive.sweep(due + timedelta(seconds=30)).sent == 0, "the lease still runs"
    assert alive.sweep(due + timedelta(seconds=settings.dispatch_lease_s + 1)).sent == 2
    writer.close()


def test_turning_a_channel_off_stops_its_waiting_rows(
    engine, factory, client, dispatcher, counting
):
    _, headers = _enrol(factory)
    with time_machine.travel(ENROLLED, tick=False):
        client.patch("/api/v1/me", json={"channels": ["in-app"]}, headers=headers)
    assert _rows(engine, channel="push") == []
    dispatcher.sweep(datetime(2027, 3, 26, 18, 1, tzinfo=UTC))
    assert counting.sent == []
