"""The queue card a check-in keeps by adding to it is the card counted from the flags.

A new flag adds to its patient's card in one statement (`flags.cards.add_to_card`)
instead of counting every waiting flag again; acknowledging and resolving count again
(`refresh_card`). Whatever the order of check-ins, acknowledgements and resolutions,
the card must read what a count of the flags reads.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import Session

from aftercare.db import as_uuid
from aftercare.flags.cards import refresh_card
from tests.checkins.test_api import body, enrol

ANSWERS: dict[str, dict[str, object]] = {
    "none": {},
    "amber": {"pain": 7},
    "red": {"bleeding": "heavy"},
}
COLUMNS = "severity_order, unacknowledged, waiting, sort_at, oldest_unacknowledged_at"

check_in = st.sampled_from(sorted(ANSWERS)).map(lambda severity: ("check-in", severity))
nurse_moves = st.tuples(st.sampled_from(["acknowledge", "resolve"]), st.integers(0, 30))


_READ_CARD = text(f"SELECT {COLUMNS} FROM queue_card WHERE patient_id = :id")


def _card(engine, patient_id):
    with engine.connect() as connection:
        row = connection.execute(_READ_CARD, {"id": patient_id}).fetchone()
    return None if row is None else tuple(row)


def _counted(engine, patient_id, clinic_id):
    """The card as counted from the flags, in a transaction rolled back afterwards."""
    with Session(engine) as session:
        refresh_card(session, as_uuid(patient_id), as_uuid(clinic_id))
        row = session.connection().execute(_READ_CARD, {"id": patient_id}).fetchone()
        session.rollback()
    return None if row is None else tuple(row)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(steps=st.lists(st.one_of(check_in, nurse_moves), min_size=1, max_size=10))
def test_a_card_added_to_reads_as_the_flags_counted(client, factory, engine, steps):
    nurse = factory.nurse()
    phone = enrol(factory, nurse)
    flags: list[str] = []
    with engine.connect() as connection:
        patient_id, clinic_id = connection.execute(
            text("SELECT id, clinic_id FROM patient ORDER BY created_at DESC LIMIT 1")
        ).one()
    for step in steps:
        if step[0] == "check-in":
            answer = client.post("/api/v1/me/checkins", json=body(**ANSWERS[step[1]]),
                                 headers=phone)  # fmt: skip
            assert answer.status_code == 201 and answer.json()["severity"] == step[1]
            listed = client.get("/api/v1/flags?status=open", headers=nurse.headers).json()
            flags = sorted({*flags, *(item["id"] for item in listed["items"])})
        elif flags:
            action, pick = step
            moved = client.post(f"/api/v1/flags/{flags[pick % len(flags)]}/{action}",
                                json={"note": "called"} if action == "resolve" else None,
                                headers=nurse.headers)  # fmt: skip
            assert moved.status_code in (200, 409)
        assert _card(engine, patient_id) == _counted(engine, patient_id, clinic_id), step
