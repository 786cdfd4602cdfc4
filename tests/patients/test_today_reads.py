"""Today reads one patient's own rows, whatever the clinic's size: every statement the
page runs is searched through an index that starts with the patient, never by scanning
every patient's plan. SQLite's planner is asked (EXPLAIN QUERY PLAN) for each statement
the page actually ran; before the patient's plan indexes, the next check-in was looked
up through every patient's check-in items (ix_plan_item_kind_date, kind=?).

Today reads on the driver's cursor (aftercare.db.Prepared), below SQLAlchemy's events:
the statements are taken from SQLite's own trace, with their values written in."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from tests.conftest import ON_POSTGRES
from tests.patients.test_pages import _csrf


@pytest.mark.skipif(ON_POSTGRES, reason="asks SQLite's planner; PostgreSQL plans by statistics")
def test_every_read_of_today_goes_through_the_patients_own_rows(client, factory, engine):
    surgery = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    enrolment = factory.enrolment(factory.nurse(), surgery_at=surgery)
    path = enrolment.url.removeprefix("http://testserver")
    client.post(path, data={"csrf_token": _csrf(client.get(path).text)})
    ran: list[str] = []

    def keep(statement: str) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            ran.append(statement)

    def trace(driver_connection, _record, _proxy) -> None:
        driver_connection.set_trace_callback(keep)

    event.listen(engine, "checkout", trace)
    try:
        assert client.get("/today").status_code == 200
    finally:
        event.remove(engine, "checkout", trace)
    engine.dispose()  # no pooled connection keeps the trace
    plan_reads = [statement for statement in ran if "FROM plan_item" in statement]
    assert len(plan_reads) >= 2, "the day's items and the next check-in"
    assert any("FROM checkin" in statement for statement in ran), "the latest check-in"
    assert any("FROM message" in statement for statement in ran), "the unread count"
    with engine.connect() as connection:
        for statement in ran:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}")
            steps = [row[-1] for row in plan]
            for step in steps:
                assert not re.match(r"SCAN (plan_item|checkin|flag|reminder)\b", step), (
                    statement, steps,
                )  # fmt: skip
                if "plan_item" in step:
                    assert "patient_id=?" in step, (statement, steps)
