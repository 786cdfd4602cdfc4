"""One notification per moment: a patient's reminders due at the same minute arrive as one.

"You have 3 reminders" on the lock screen, not three buzzes; still neutral,
in the patient's language. A test notification is always its own, and a
nurse gets one alert for the alerts of one minute.
"""

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert, select, update
from sqlmodel import Session, col

from aftercare.patients.models import Patient
from aftercare.reminders.dispatcher import Claimed, group_by_moment
from aftercare.reminders.models import Reminder
from tests.reminders.test_dispatcher import _enrol

MORNING = datetime(2027, 3, 27, 7, 0, tzinfo=UTC)


def _patient(engine, factory, language: str = "en") -> tuple[uuid.UUID, datetime]:
    enrolment, _ = _enrol(factory, channels=("in-app", "push"))
    patient_id = uuid.UUID(enrolment.id)
    with engine.begin() as conn:
        conn.execute(update(Patient).where(col(Patient.id) == patient_id).values(language=language))
        # Only the rows this test adds: the plan's own are out of the way.
        conn.execute(update(Reminder).values(status="skipped"))
        built = conn.execute(
            select(col(Patient.plan_built_at)).where(col(Patient.id) == patient_id)
        ).scalar_one()
    return patient_id, built


def _add(engine, patient_id, built, due: datetime, purpose="plan-item", kind="care") -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                insert(Reminder).returning(col(Reminder.id)),
                {"patient_id": patient_id, "purpose": purpose, "item_key": uuid.uuid4().hex,
                 "item_kind": kind if purpose == "plan-item" else None,
                 "item_day": 3 if purpose == "plan-item" else None, "channel": "push",
                 "due_at": due, "status": "pending", "attempts": 0, "created_at": due,
                 "plan_built_at": built if purpose == "plan-item" else None},
            ).scalar_one()
        )  # fmt: skip


def test_reminders_due_the_same_minute_make_one_neutral_notification(
    engine, factory, dispatcher, counting
):
    patient_id, built = _patient(engine, factory)
    together = [
        _add(engine, patient_id, built, MORNING + timedelta(seconds=s), kind=kind)
        for s, kind in ((0, "check-in"), (20, "medication"), (59, "care"))
    ]
    alone = _add(engine, patient_id, built, MORNING + timedelta(minutes=1, seconds=5))
    tests = [_add(engine, patient_id, built, MORNING, purpose="test") for _ in range(2)]

    counts = dispatcher.sweep(MORNING + timedelta(minutes=2))

    assert counts.sent == 6, "every reminder is marked sent"
    by_ids = {delivery.covers: delivery.message for delivery in counting.sent}
    assert set(by_ids) == {tuple(together), (alone,), (tests[0],), (tests[1],)}
    grouped = by_ids[tuple(together)]
    assert (grouped.title, grouped.body) == ("Care", "You have 3 reminders")
    assert grouped.url == "http://testserver/today"
    assert by_ids[(alone,)].body == "You have a new reminder"
    assert by_ids[(tests[0],)].body == "This is a test notification. Your reminders work."
    with Session(engine) as session:
        statuses = session.scalars(
            select(col(Reminder.status)).where(col(Reminder.id).in_(together + tests + [alone]))
        ).all()
    assert set(statuses) == {"sent"}
    assert dispatcher.sweep(MORNING + timedelta(minutes=3)).sent == 0, "never twice"


def test_the_grouped_notification_speaks_the_patients_language(
    engine, factory, dispatcher, counting
):
    patient_id, built = _patient(engine, factory, language="fr")
    for seconds in (0, 30):
        _add(engine, patient_id, built, MORNING + timedelta(seconds=seconds))
    dispatcher.sweep(MORNING + timedelta(minutes=1))
    (delivery,) = counting.sent
    assert delivery.message.body == "Vous avez 2 rappels"


def _claimed(
    row_id: int, person: int, nurse: bool, channel: str, purpose: str, due: datetime
) -> Claimed:
    who = uuid.UUID(int=person)
    return Claimed(
        id=row_id, patient_id=None if nurse else who, nurse_id=who if nurse else None,
        purpose=purpose, item_key=None, item_kind=None, item_day=None, channel=channel,
        due_at=due, plan_built_at=None, attempts=0,
    )  # fmt: skip


rows = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.booleans(),
        st.sampled_from(["push", "email"]),
        st.sampled_from(["plan-item", "message", "test", "red-flag-alert"]),
        st.integers(0, 240),
    ),
    max_size=40,
).map(
    lambda drawn: [
        _claimed(n, person, nurse, channel, purpose, MORNING + timedelta(seconds=seconds))
        for n, (person, nurse, channel, purpose, seconds) in enumerate(drawn)
    ]
)


def _moment(row: Claimed) -> tuple[object, ...]:
    return (row.patient_id, row.nurse_id, row.channel, row.purpose, row.due_at.minute)


@given(rows)
def test_groups_are_exactly_the_moments_of_one_person(claimed: list[Claimed]) -> None:
    groups = group_by_moment(claimed)
    flat = [row for group in groups for row in group]
    assert sorted(row.id for row in flat) == [row.id for row in claimed], "each row once"
    for group in groups:
        order = [(row.due_at, row.id) for row in group]
        assert order == sorted(order), "the earliest due first"
    for group in groups:
        assert len({_moment(row) for row in group}) == 1, "one person, channel, kind, minute"
        if any(row.purpose == "test" for row in group):
            assert len(group) == 1, "a test notification is its own"
    merged = [_moment(group[0]) for group in groups if group[0].purpose != "test"]
    assert len(merged) == len(set(merged)), "one notification per moment"
