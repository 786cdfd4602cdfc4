"""The clinic report: check-in adherence, flags by reason and time to acknowledge, per week.

A pure core (weeks, buckets, percentiles) and three aggregate queries around it.
The database only counts; dates are bucketed into weeks here, in Python, because
SQLite and PostgreSQL share no date functions.
"""

import json
import math
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, case, cast, exists, func, select
from sqlmodel import Session, col

from aftercare.accounts.models import Clinic
from aftercare.checkins.models import CheckIn
from aftercare.flags.models import Flag
from aftercare.patients.models import Patient
from aftercare.plans.models import PlanItem

MAX_WEEKS = 52
DEFAULT_WEEKS = 8

# ---------------------------------------------------------------- the pure core


def week_start(day: date) -> date:
    """The Monday of the week a date falls in."""
    return day - timedelta(days=day.weekday())


def last_weeks(today: date, count: int) -> list[date]:
    """The Mondays of the `count` weeks ending with this one, oldest first."""
    this_week = week_start(today)
    return [this_week - timedelta(weeks=back) for back in range(count - 1, -1, -1)]


def bucket_by_week(daily: Mapping[date, int], weeks: Sequence[date]) -> dict[date, int]:
    """Sum daily counts into the weeks starting on the given Mondays; other days are left out."""
    totals = dict.fromkeys(weeks, 0)
    for day, count in daily.items():
        monday = week_start(day)
        if monday in totals:
            totals[monday] += count
    return totals


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation between closest ranks.

    The definition is Hyndman and Fan's type 7 (NumPy's and spreadsheets'
    PERCENTILE.INC default): sorted values x[0..n-1], rank h = (n - 1) * q / 100,
    result x[floor h] + (h - floor h) * (x[floor h + 1] - x[floor h]).
    The 50th is the usual median; None when there are no values.
    """
    ordered = sorted(values)
    if not ordered:
        return None
    if not 0 <= q <= 100:
        raise ValueError("q must be between 0 and 100")
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


def week_bounds(weeks: Sequence[date], zone: ZoneInfo) -> list[datetime]:
    """The instants the weeks start (midnight on Monday, clinic time), plus the end of the last."""
    mondays = [*weeks, weeks[-1] + timedelta(weeks=1)]
    return [datetime.combine(monday, time(0), tzinfo=zone) for monday in mondays]


# ---------------------------------------------------------------- the report


@dataclass
class WeekFigures:
    """One week's figures; the week starts on `start`, a Monday in the clinic's time zone."""

    start: date
    due: int = 0
    done: int = 0
    flags: dict[str, int] = field(default_factory=dict)
    ack_minutes: list[float] = field(default_factory=list)
    unacknowledged: int = 0

    @property
    def adherence(self) -> float | None:
        """Percent of due check-ins done; None when none was due."""
        return 100 * self.done / self.due if self.due else None

    @property
    def ack_median(self) -> float | None:
        return percentile(self.ack_minutes, 50)

    @property
    def ack_p90(self) -> float | None:
        return percentile(self.ack_minutes, 90)


@dataclass
class Burden:
    """What one week's alerts asked of the nurses, for one procedure.

    Check-ins and flags are counted by when the server received them (a flag is
    raised as its check-in arrives); medical flags come from a check-in's answers,
    silence flags from check-ins that did not come. Times to acknowledge are of
    every flag of the week, by severity, those still waiting aside.
    """

    start: date
    procedure: str
    checkins: int = 0
    medical: Counter[str] = field(default_factory=Counter)  # severity -> flags
    silence: int = 0
    resolved: int = 0
    no_action: int = 0
    ack_minutes: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def per_100(self, severity: str) -> float | None:
        """Medical flags of this severity per 100 check-ins; None without check-ins."""
        return 100 * self.medical[severity] / self.checkins if self.checkins else None

    @property
    def no_action_share(self) -> float | None:
        """Percent of the resolved flags closed as "no action needed"."""
        return 100 * self.no_action / self.resolved if self.resolved else None

    def ack(self, severity: str, q: float) -> float | None:
        return percentile(self.ack_minutes.get(severity, []), q)


@dataclass
class Report:
    weeks: list[WeekFigures]
    codes: list[str]
    burden: list[Burden] = field(default_factory=list)


def _adherence(
    session: Session, clinic_id: uuid.UUID, first: date, now: datetime
) -> tuple[Counter[date], Counter[date]]:
    """Check-ins due and done per plan date, counting only days already over for the patient."""
    # Only patients whose plan can reach into the period: plan_item has no index on
    # its date, so the patient table (small) narrows the plan items read by their key.
    longest = session.execute(
        select(func.max(Patient.plan_days)).where(col(Patient.clinic_id) == clinic_id)
    ).scalar()
    earliest = datetime.combine(first, time(0), tzinfo=UTC) - timedelta(days=(longest or 0) + 2)
    # A patient may have two check-in items on one day: the day counts once.
    days = (
        select(
            col(PlanItem.patient_id), col(PlanItem.day), col(PlanItem.date), col(Patient.timezone)
        )
        .join(Patient, col(Patient.id) == PlanItem.patient_id)
        .where(
            col(Patient.clinic_id) == clinic_id,
            col(Patient.surgery_at) >= earliest,
            col(Patient.surgery_at) <= now + timedelta(days=1),
            col(PlanItem.kind) == "check-in",
            col(PlanItem.date) >= first,
            col(PlanItem.date) <= now.date() + timedelta(days=1),
        )
        .distinct()
        .subquery()
    )
    checked_in = exists().where(
        col(CheckIn.patient_id) == days.c.patient_id, col(CheckIn.day) == days.c.day
    )
    rows = session.execute(
        select(
            days.c.date, days.c.timezone, func.count(), func.sum(case((checked_in, 1), else_=0))
        ).group_by(days.c.date, days.c.timezone)
    ).all()
    due: Counter[date] = Counter()
    done: Counter[date] = Counter()
    for day, zone, count, sent in rows:
        # A day is over once the patient's own calendar has moved past it.
        if day < now.astimezone(ZoneInfo(zone)).date():
            due[day] += int(count)
            done[day] += int(sent or 0)
    return due, done


def _week_index(bounds: Sequence[datetime]):  # type: ignore[no-untyped-def]
    """A SQL expression numbering the week a flag was raised in (0 = oldest)."""
    return case(
        *((col(Flag.created_at) < bound, index) for index, bound in enumerate(bounds[1:])),
        else_=len(bounds) - 1,
    )


def _flags_by_code(
    session: Session, clinic_id: uuid.UUID, bounds: Sequence[datetime]
) -> dict[int, Counter[str]]:
    week = _week_index(bounds)
    # Grouped by the reasons' text: a flag's set of reasons repeats a lot, so
    # few groups come back; the codes inside are counted here.
    reasons = cast(Flag.reasons, String)
    rows = session.execute(
        select(week, reasons, func.count())
        .where(
            col(Flag.clinic_id) == clinic_id,
            col(Flag.created_at) >= bounds[0],
            col(Flag.created_at) < bounds[-1],
        )
        .group_by(week, reasons)
    ).all()
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for index, text, count in rows:
        for reason in json.loads(text) if text else []:
            code = reason.get("code") if isinstance(reason, dict) else None
            if code:
                counts[int(index)][str(code)] += int(count)
    return counts


def _red_acknowledgements(
    session: Session, clinic_id: uuid.UUID, bounds: Sequence[datetime]
) -> list[tuple[datetime, datetime | None]]:
    # Percentiles are no portable aggregate; red flags are few, so their two times come back.
    rows = session.execute(
        select(Flag.created_at, Flag.acknowledged_at).where(  # type: ignore[call-overload]
            and_(
                col(Flag.clinic_id) == clinic_id,
                col(Flag.severity) == "red",
                col(Flag.created_at) >= bounds[0],
                col(Flag.created_at) < bounds[-1],
            )
        )
    )
    return [(created, acknowledged) for created, acknowledged in rows]


def _alert_burden(
    session: Session, clinic_id: uuid.UUID, bounds: Sequence[datetime], zone: ZoneInfo
) -> list[Burden]:
    """Per week and procedure, oldest week first, then by procedure; only pairs with
    a check-in or a flag."""
    found: dict[tuple[date, str], Burden] = {}

    def burden(moment: datetime, procedure: str) -> Burden:
        monday = week_start(moment.astimezone(zone).date())
        key = (monday, procedure)
        if key not in found:
            found[key] = Burden(monday, procedure)
        return found[key]

    week = case(
        *((col(CheckIn.received_at) < bound, index) for index, bound in enumerate(bounds[1:])),
        else_=len(bounds) - 1,
    )
    received = session.execute(
        select(week, col(Patient.protocol_id), func.count())
        .join(Patient, col(Patient.id) == CheckIn.patient_id)
        .where(
            col(Patient.clinic_id) == clinic_id,
            col(CheckIn.received_at) >= bounds[0],
            col(CheckIn.received_at) < bounds[-1],
        )
        .group_by(week, col(Patient.protocol_id))
    ).all()
    for index, procedure, count in received:
        burden(bounds[int(index)], procedure).checkins += int(count)
    flags = session.execute(
        select(
            col(Flag.created_at),
            col(Patient.protocol_id),
            col(Flag.severity),
            col(Flag.silent_since).is_not(None),
            col(Flag.status),
            col(Flag.resolution_outcome),
            col(Flag.acknowledged_at),
        )
        .join(Patient, col(Patient.id) == Flag.patient_id)
        .where(
            col(Flag.clinic_id) == clinic_id,
            col(Flag.created_at) >= bounds[0],
            col(Flag.created_at) < bounds[-1],
        )
    ).all()
    for created, procedure, severity, silent, status, outcome, acknowledged in flags:
        figures = burden(created, procedure)
        if silent:
            figures.silence += 1
        else:
            figures.medical[severity] += 1
        if status == "resolved":
            figures.resolved += 1
            figures.no_action += outcome == "no-action-needed"
        if acknowledged is not None:
            figures.ack_minutes[severity].append((acknowledged - created).total_seconds() / 60)
    return [found[key] for key in sorted(found)]


def clinic_report(session: Session, clinic: Clinic, now: datetime, count: int) -> Report:
    """The last `count` weeks (this one included) of the clinic's figures."""
    zone = ZoneInfo(clinic.timezone)
    weeks = last_weeks(now.astimezone(zone).date(), count)
    bounds = week_bounds(weeks, zone)
    due, done = _adherence(session, clinic.id, weeks[0], now)
    due_weeks, done_weeks = bucket_by_week(due, weeks), bucket_by_week(done, weeks)
    flags = _flags_by_code(session, clinic.id, bounds)
    figures = [
        WeekFigures(monday, due_weeks[monday], done_weeks[monday], dict(flags.get(index, {})))
        for index, monday in enumerate(weeks)
    ]
    by_monday = {week.start: week for week in figures}
    for created, acknowledged in _red_acknowledgements(session, clinic.id, bounds):
        week = by_monday[week_start(created.astimezone(zone).date())]
        if acknowledged is None:
            week.unacknowledged += 1
        else:
            week.ack_minutes.append((acknowledged - created).total_seconds() / 60)
    codes = sorted({code for week in figures for code in week.flags})
    return Report(figures, codes, _alert_burden(session, clinic.id, bounds, zone))


def csv_rows(report: Report) -> Iterator[tuple[str, str, str]]:
    """(week, measure, value) rows: the same figures as the page, one row per week and measure."""

    def number(value: float | None) -> str:
        return "" if value is None else f"{value:.1f}".removesuffix(".0")

    for week in report.weeks:
        monday = week.start.isoformat()
        yield monday, "checkins_due", str(week.due)
        yield monday, "checkins_done", str(week.done)
        yield monday, "adherence_percent", number(week.adherence)
        for code in report.codes:
            yield monday, f"flags:{code}", str(week.flags.get(code, 0))
        yield monday, "red_ack_median_minutes", number(week.ack_median)
        yield monday, "red_ack_p90_minutes", number(week.ack_p90)
        yield monday, "red_unacknowledged", str(week.unacknowledged)
    for burden in report.burden:
        monday, at = burden.start.isoformat(), f"burden:{burden.procedure}:"
        yield monday, at + "checkins", str(burden.checkins)
        for severity in ("red", "amber"):
            yield monday, at + f"{severity}_flags", str(burden.medical[severity])
            yield monday, at + f"{severity}_per_100_checkins", number(burden.per_100(severity))
        yield monday, at + "silence_flags", str(burden.silence)
        yield monday, at + "resolved", str(burden.resolved)
        yield monday, at + "no_action_needed_percent", number(burden.no_action_share)
        for severity in ("red", "amber"):
            yield monday, at + f"{severity}_ack_median_minutes", number(burden.ack(severity, 50))
            yield monday, at + f"{severity}_ack_p90_minutes", number(burden.ack(severity, 90))
