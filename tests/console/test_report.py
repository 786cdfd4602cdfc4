"""The clinic report: figures of a known scenario, on the page and in the CSV."""

import csv
import io
import uuid
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session, select

from aftercare.accounts.models import Clinic
from aftercare.audit.models import AuditEvent
from aftercare.checkins.models import CheckIn
from aftercare.flags.models import Flag
from aftercare.patients.models import Patient
from aftercare.plans.models import PlanItem
from aftercare.reports.monthly import (
    bucket_by_week,
    clinic_report,
    last_weeks,
    percentile,
    week_start,
)
from tests.console.conftest import Console
from tests.factories import Factory


def _clinic(session: Session, slug: str) -> Clinic:
    clinic = session.exec(select(Clinic).where(Clinic.slug == slug)).one()
    return clinic


def _patient(session: Session, clinic: Clinic, alias: str, zone: str = "UTC") -> Patient:
    patient = Patient(
        clinic_id=clinic.id, alias=alias, protocol_id="day-surgery",
        surgery_at=datetime.now(UTC) - timedelta(days=20), timezone=zone, language="en",
        wake_time=time(8), sleep_time=time(22), protocol_version=1, plan_days=14,
        protocol_digest="x" * 64,
    )  # fmt: skip
    session.add(patient)
    session.flush()
    return patient


def _plan(session: Session, patient: Patient, day: int, on: date, kind: str = "check-in") -> None:
    session.add(
        PlanItem(
            patient_id=patient.id, key=f"d{day}-{kind}", day=day, date=on, position=1, kind=kind,
            timing="at", local_time="19:00", source=kind, title={"en": kind},
        )
    )  # fmt: skip


def _checkin(session: Session, patient: Patient, day: int, at: datetime) -> None:
    session.add(
        CheckIn(
            id=uuid.uuid4(), patient_id=patient.id, recorded_at=at, received_at=at, day=day,
            pain=2, bleeding="none", discharge="none", urination="normal", allergy="none",
            nausea=False, wants_contact=False, severity="green", reasons=[], advice="",
            body_digest="d" * 64,
        )
    )  # fmt: skip


def _flag(
    session: Session,
    patient: Patient,
    severity: str,
    codes: list[str],
    created: datetime,
    acknowledged_after: float | None = None,
) -> None:
    acknowledged = (
        created + timedelta(minutes=acknowledged_after) if acknowledged_after is not None else None
    )
    session.add(
        Flag(
            clinic_id=patient.clinic_id, patient_id=patient.id, severity=severity,
            severity_rank=2 if severity == "red" else 1,
            status="acknowledged" if acknowledged else "open",
            reasons=[{"code": code, "answer": 1} for code in codes],
            created_at=created, acknowledged_at=acknowledged,
        )
    )  # fmt: skip


def _scenario(engine: Engine, factory: Factory, now: datetime) -> date:
    """Two patients last week: 5 check-ins due, 3 done; red flags acknowledged after 5, 20 min."""
    factory.nurse(clinic="south")  # another clinic, whose figures must not leak in
    last_monday = week_start(now.date()) - timedelta(weeks=1)
    with Session(engine) as session:
        north, south = _clinic(session, "north"), _clinic(session, "south")
        one, two = _patient(session, north, "A.A."), _patient(session, north, "B.B.")
        for day in (1, 2, 3):
            _plan(session, one, day, last_monday + timedelta(days=day - 1))
        _plan(session, one, 4, last_monday, kind="medication")
        for day in (1, 2):
            _plan(session, two, day, last_monday + timedelta(days=day - 1))
        # Today's check-in is not over yet: not due.
        _plan(session, two, 9, now.date())
        noon = datetime.combine(last_monday, time(12), tzinfo=UTC)
        _checkin(session, one, 1, noon)
        _checkin(session, one, 1, noon + timedelta(hours=1))  # twice on one day counts once
        _checkin(session, one, 2, noon + timedelta(days=1))
        _checkin(session, two, 2, noon + timedelta(days=1))
        _checkin(session, two, 3, noon + timedelta(days=2))  # a day with no plan item
        _flag(session, one, "red", ["bleeding-heavy"], noon, acknowledged_after=5)
        _flag(session, two, "red", ["bleeding-heavy", "fever"], noon, acknowledged_after=20)
        _flag(session, two, "red", ["fever"], noon + timedelta(days=2))
        _flag(session, one, "amber", ["pain-high"], noon + timedelta(days=3))
        stranger = _patient(session, south, "C.C.")
        _plan(session, stranger, 1, last_monday)
        _flag(session, stranger, "red", ["fever"], noon, acknowledged_after=100)
        session.commit()
    return last_monday


def _csv(text: str) -> dict[tuple[str, str], str]:
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["week", "measure", "value"]
    return {(week, measure): value for week, measure, value in rows[1:]}


def test_report_of_a_known_week_on_the_page_and_in_the_csv(
    console: Console, engine: Engine, factory: Factory
) -> None:
    monday = _scenario(engine, factory, datetime.now(UTC)).isoformat()
    page = console.client.get("/console/report?weeks=4")
    assert page.status_code == 200
    html = page.text
    assert html.count("<svg") == 2 and 'role="img"' in html and "<desc" in html
    row = html.split(f'<th scope="row">{monday}</th>')
    assert "<td>5</td><td>3</td>" in row[1] and "60%" in row[1]
    assert "12.5" in row[3] and "18.5" in row[3]

    exported = console.client.get("/console/report.csv?weeks=4")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert 'filename="report.csv"' in exported.headers["content-disposition"]
    figures = _csv(exported.text)
    assert figures[(monday, "checkins_due")] == "5"
    assert figures[(monday, "checkins_done")] == "3"
    assert figures[(monday, "adherence_percent")] == "60"
    assert figures[(monday, "flags:bleeding-heavy")] == "2"
    assert figures[(monday, "flags:fever")] == "2"
    assert figures[(monday, "flags:pain-high")] == "1"
    assert figures[(monday, "red_ack_median_minutes")] == "12.5"
    assert figures[(monday, "red_ack_p90_minutes")] == "18.5"
    assert figures[(monday, "red_unacknowledged")] == "1"
    assert len({week for week, _ in figures}) == 4
    this_week = week_start(datetime.now(UTC).date()).isoformat()
    assert figures[(this_week, "checkins_due")] in {"0", "1"}  # today's is never due
    assert figures[(this_week, "red_ack_median_minutes")] == ""


def test_report_views_and_exports_are_audited(console: Console, session: Session) -> None:
    console.client.get("/console/report")
    console.client.get("/console/report.csv")
    actions = session.exec(select(AuditEvent.action).order_by(AuditEvent.id)).all()  # type: ignore[arg-type]
    assert actions[-2:] == ["report.viewed", "report.exported"]


def test_report_is_for_any_nurse_but_not_without_sign_in(console: Console, client: Any) -> None:
    assert console.client.get("/console/report").status_code == 200
    console.client.cookies.clear()
    response = console.client.get("/console/report", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/sign-in")


def test_report_refuses_a_bad_number_of_weeks_with_a_page_naming_the_field(
    console: Console,
) -> None:
    for bad in ("0", "53", "eight"):
        response = console.client.get(f"/console/report?weeks={bad}")
        assert response.status_code == 422
        assert "Weeks" in response.text and 'aria-invalid="true"' in response.text
    assert console.client.get("/console/report.csv?weeks=-1").status_code == 422


def test_weeks_follow_the_clinic_time_zone(engine: Engine, factory: Factory) -> None:
    factory.nurse()
    with Session(engine) as session:
        clinic = _clinic(session, "north")
        clinic.timezone = "Pacific/Auckland"
        patient = _patient(session, clinic, "A.A.", zone="Pacific/Auckland")
        # Sunday 20:00 UTC is already Monday morning in Auckland: the flag is this week's.
        now = datetime(2027, 6, 9, 12, tzinfo=UTC)  # a Wednesday
        _flag(session, patient, "amber", ["fever"], datetime(2027, 6, 6, 20, tzinfo=UTC))
        _flag(session, patient, "amber", ["fever"], datetime(2027, 6, 6, 11, tzinfo=UTC))
        session.commit()
        report = clinic_report(session, clinic, now, 2)
    assert [week.start for week in report.weeks] == [date(2027, 5, 31), date(2027, 6, 7)]
    assert [week.flags for week in report.weeks] == [{"fever": 1}, {"fever": 1}]


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


def test_percentile_of_the_two_acknowledgement_times() -> None:
    assert percentile([20, 5], 50) == 12.5
    assert percentile([5, 20], 90) == 18.5
    assert percentile([], 50) is None
    assert percentile([7], 90) == 7


@given(st.lists(finite, min_size=1, max_size=50), st.floats(0, 100), st.floats(0, 100))
def test_percentile_is_monotone_and_within_the_values(
    values: list[float], q1: float, q2: float
) -> None:
    low, high = sorted((q1, q2))
    at_low, at_high = percentile(values, low), percentile(values, high)
    assert at_low is not None and at_high is not None
    assert min(values) - 1e-6 <= at_low <= at_high + 1e-6
    assert at_high <= max(values) + 1e-6


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
    st.integers(min_value=1, max_value=60),
    st.lists(st.tuples(st.integers(0, 500), st.integers(0, 50)), max_size=40),
)
def test_weekly_buckets_partition_the_days(today: date, count: int, offsets: Any) -> None:
    weeks = last_weeks(today, count)
    assert len(weeks) == count and all(monday.weekday() == 0 for monday in weeks)
    assert all(later - earlier == timedelta(weeks=1) for earlier, later in pairwise(weeks))
    daily: dict[date, int] = {}
    for back, amount in offsets:
        day = today - timedelta(days=back)
        daily[day] = daily.get(day, 0) + amount
    buckets = bucket_by_week(daily, weeks)
    inside = {day: n for day, n in daily.items() if weeks[0] <= day <= today}
    # Every day of the period lands in exactly one week: the sums agree.
    assert sum(buckets.values()) == sum(inside.values())
    for monday, total in buckets.items():
        assert total == sum(n for day, n in inside.items() if week_start(day) == monday)


def _answered(
    session: Session,
    patient: Patient,
    severity: str,
    created: datetime,
    *,
    silent: bool = False,
    acknowledged_after: float | None = None,
    outcome: str | None = None,
) -> None:
    """A flag from a check-in's answers (or, `silent`, for check-ins that did not come),
    acknowledged after so many minutes, resolved with `outcome`."""
    checkin_id = None
    if not silent:
        checkin_id = uuid.uuid4()
        session.add(
            CheckIn(
                id=checkin_id, patient_id=patient.id, recorded_at=created, received_at=created,
                day=3, pain=8, bleeding="none", discharge="none", urination="normal",
                allergy="none", nausea=False, wants_contact=False, severity=severity,
                reasons=[], advice="", body_digest="e" * 64,
            )
        )  # fmt: skip
    acknowledged = (
        created + timedelta(minutes=acknowledged_after) if acknowledged_after is not None else None
    )
    session.add(
        Flag(
            clinic_id=patient.clinic_id, patient_id=patient.id, checkin_id=checkin_id,
            silent_since=created - timedelta(hours=48) if silent else None,
            severity=severity, severity_rank=2 if severity == "red" else 1,
            status="resolved" if outcome else "acknowledged" if acknowledged else "open",
            reasons=[{"code": "silence" if silent else "pain-high", "answer": 8}],
            created_at=created, acknowledged_at=acknowledged,
            resolved_at=acknowledged if outcome else None, resolution_outcome=outcome,
        )
    )  # fmt: skip


def test_alert_burden_of_a_week_worked_out_by_hand(
    console: Console, engine: Engine, factory: Factory
) -> None:
    """Last week, day surgery: 8 check-ins, of which 2 raised red flags (acknowledged after
    10 and 30 minutes, one resolved as no action needed) and 2 amber (one acknowledged
    after 4 minutes and resolved by calling, one still open); one missed-check-in flag
    (amber, acknowledged after 60 minutes, no action needed). Hymenoplasty: 2 check-ins,
    no flag. Another clinic's flag stays out. By hand:
    red 2/8 = 25 per 100 check-ins, amber 2/8 = 25; resolved 3, 2 of them no action
    needed = 67%; red acknowledged [10, 30]: median 20, 90th percentile 10 + 0.9 x 20 = 28;
    amber [4, 60]: median 32, 90th 4 + 0.9 x 56 = 54.4."""
    factory.nurse(clinic="south")
    last_monday = week_start(datetime.now(UTC).date()) - timedelta(weeks=1)
    tuesday = datetime.combine(last_monday + timedelta(days=1), time(12), tzinfo=UTC)
    with Session(engine) as session:
        north, south = _clinic(session, "north"), _clinic(session, "south")
        one, two = _patient(session, north, "A.A."), _patient(session, north, "B.B.")
        other = _patient(session, north, "H.Y.")
        other.protocol_id = "hymenoplasty"
        # 4 calm check-ins and 4 behind the flags: 8 for day surgery.
        for hour in range(4):
            _checkin(session, one if hour % 2 else two, 2, tuesday + timedelta(hours=hour))
        _answered(session, one, "red", tuesday, acknowledged_after=10, outcome="no-action-needed")
        _answered(session, two, "red", tuesday, acknowledged_after=30)
        _answered(session, one, "amber", tuesday, acknowledged_after=4, outcome="called-patient")
        _answered(session, two, "amber", tuesday + timedelta(days=1))
        _answered(session, two, "amber", tuesday, silent=True, acknowledged_after=60,
                  outcome="no-action-needed")  # fmt: skip
        _checkin(session, other, 2, tuesday)
        _checkin(session, other, 3, tuesday + timedelta(days=1))
        stranger = _patient(session, south, "C.C.")
        _answered(session, stranger, "red", tuesday, acknowledged_after=100)
        session.commit()

    figures = _csv(console.client.get("/console/report.csv?weeks=3").text)
    monday = last_monday.isoformat()
    day_surgery = {
        measure.removeprefix("burden:day-surgery:"): value
        for (week, measure), value in figures.items()
        if week == monday and measure.startswith("burden:day-surgery:")
    }
    assert day_surgery == {
        "checkins": "8",
        "red_flags": "2", "red_per_100_checkins": "25",
        "amber_flags": "2", "amber_per_100_checkins": "25",
        "silence_flags": "1", "resolved": "3", "no_action_needed_percent": "66.7",
        "red_ack_median_minutes": "20", "red_ack_p90_minutes": "28",
        "amber_ack_median_minutes": "32", "amber_ack_p90_minutes": "54.4",
    }  # fmt: skip
    assert figures[(monday, "burden:hymenoplasty:checkins")] == "2"
    assert figures[(monday, "burden:hymenoplasty:red_per_100_checkins")] == "0"
    assert figures[(monday, "burden:hymenoplasty:red_ack_median_minutes")] == ""
    this_week = week_start(datetime.now(UTC).date()).isoformat()
    assert not any(week == this_week and m.startswith("burden:") for week, m in figures)

    html = console.client.get("/console/report?weeks=3").text
    table = html.split('<table class="burden">')[1].split("</table>")[0]
    assert "Minor day surgery" in table and "Hymenoplasty" in table, "procedures by name, not id"
    assert "25.0" in table and "67%" in table and "20.0 / 28.0" in table and "32.0 / 54.4" in table


def test_reasons_are_named_in_the_nurses_language_not_by_code(
    console: Console, engine: Engine, factory: Factory
) -> None:
    _scenario(engine, factory, datetime.now(UTC))
    english = console.client.get("/console/report?weeks=4").text
    assert '<th scope="col" title="fever">Temperature ≥ 38.0 °C</th>' in english
    # A code no rule file knows any more keeps its code.
    assert '<th scope="col" title="bleeding-heavy">bleeding-heavy</th>' in english
    assert "<code>fever</code>" not in english
    french = console.client.get("/console/report?weeks=4", headers={"Accept-Language": "fr"})
    assert '<th scope="col" title="fever">Température ≥ 38.0 °C</th>' in french.text
    assert "Température ≥ 38.0 °C: 2" in french.text, "the chart's text alternative too"
