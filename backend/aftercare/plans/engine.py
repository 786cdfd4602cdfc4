"""The plan engine: a pure function from a procedure and a patient's times to dated items.

No database, no clock, no request: everything comes in as a parameter, so the
same inputs always give the same plan (the property tests rely on it).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from aftercare.protocols.loader import Protocol
from aftercare.protocols.schema import ItemKind, TimeSpec, wake_window_problem

# A reminder at the very moment someone goes to bed helps nobody: late items
# move to half an hour before the sleep time.
BEFORE_SLEEP = timedelta(minutes=30)


@dataclass(frozen=True)
class PrescribedItem:
    """An item a clinic adds at enrolment, in the language it was written in."""

    title: str
    language: str
    days: tuple[int, ...]
    time: TimeSpec
    detail: str | None = None
    reminder: bool = True
    kind: ItemKind = "medication"


@dataclass(frozen=True)
class WakeWindow:
    wake: time
    sleep: time

    def __post_init__(self) -> None:
        problem = wake_window_problem(self.wake, self.sleep)
        if problem:
            raise ValueError(problem)

    @property
    def latest(self) -> time:
        minutes = _minutes(self.sleep) - int(BEFORE_SLEEP.total_seconds() // 60)
        return time(minutes // 60, minutes % 60)

    def clamp(self, at: time) -> time:
        """Move a time that falls outside the window to its nearest edge."""
        if at < self.wake:
            return self.wake
        return min(at, self.latest)


@dataclass(frozen=True)
class PlannedItem:
    key: str  # unique in one patient's plan: "d3-painkillers", "d2-antibiotic-2"
    day: int
    date: date
    kind: ItemKind
    local_time: time | None
    due_at: datetime | None  # UTC; None for all-day and as-needed items
    timing: Literal["at", "all-day", "as-needed"]
    reminder: bool
    title: Mapping[str, str]
    detail: Mapping[str, str] | None
    source: str  # the procedure item's id, or "prescribed-N"
    tickable: bool = True


# Read, celebrated or done by checking in: never ticked off by hand.
NEVER_TICKED: frozenset[str] = frozenset({"education", "milestone", "check-in"})


def is_tickable(kind: str, tick: bool | None) -> bool:
    return kind not in NEVER_TICKED and tick is not False


@dataclass(frozen=True)
class PlanDay:
    day: int
    date: date
    items: tuple[PlannedItem, ...] = field(default_factory=tuple)


def _minutes(at: time) -> int:
    return at.hour * 60 + at.minute


def local_date_of(moment: datetime, zone: ZoneInfo) -> date:
    if moment.tzinfo is None:
        raise ValueError("the surgery time needs a UTC offset")
    return moment.astimezone(zone).date()


def _exists(local: datetime, zone: ZoneInfo) -> bool:
    return local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None)


def resolve_local(on: date, at: time, zone: ZoneInfo, window: WakeWindow) -> datetime:
    """The real moment for a wall-clock time on a day, inside the wake window.

    A time skipped by a daylight-saving change moves to the next minute that
    exists (02:30 becomes 03:00); a time that happens twice (clocks going
    back) is the first of the two. The wake window is at least four hours
    long and clock changes happen at night, so the move never leaves it.
    """
    local = datetime.combine(on, window.clamp(at), tzinfo=zone)
    while not _exists(local, zone):
        local += timedelta(minutes=1)
    return local


def followup_reminder_at(appointment: datetime, zone: ZoneInfo, window: WakeWindow) -> datetime:
    """When to remind the patient of an appointment (UTC): the day before, at the same
    wall-clock time moved into the waking window, so it never rings at night."""
    if appointment.tzinfo is None:
        raise ValueError("the appointment needs a UTC offset")
    local = appointment.astimezone(zone)
    clock = local.time().replace(second=0, microsecond=0)
    return resolve_local(local.date() - timedelta(days=1), clock, zone, window).astimezone(UTC)


def _occurrences(
    days: Sequence[int],
    times: TimeSpec,
    first_day: date,
    zone: ZoneInfo,
    window: WakeWindow,
) -> list[tuple[int, date, int, datetime | None]]:
    """(day, date, index, moment) for each time of each day."""
    result: list[tuple[int, date, int, datetime | None]] = []
    for day in days:
        on = first_day + timedelta(days=day - 1)
        if isinstance(times, str):
            result.append((day, on, 0, None))
            continue
        for index, at in enumerate(times, start=1):
            result.append(
                (day, on, index if len(times) > 1 else 0, resolve_local(on, at, zone, window))
            )
    return result


def _sort_key(item: PlannedItem) -> tuple[int, int, int]:
    # What has become allowed today comes first, then the day in time order.
    if item.kind == "milestone":
        return (0, 0, 0)
    if item.local_time is not None:
        return (1, _minutes(item.local_time), 0)
    return (2, 0, 1 if item.timing == "as-needed" else 0)


def build_plan(
    protocol: Protocol,
    surgery_at: datetime,
    zone: ZoneInfo,
    window: WakeWindow,
    prescribed: Sequence[PrescribedItem] = (),
) -> list[PlanDay]:
    """Every day of the plan with its items; Day 1 is the surgery day in the patient's zone."""
    first_day = local_date_of(surgery_at, zone)
    by_day: dict[int, list[PlannedItem]] = {day: [] for day in range(1, protocol.days + 1)}

    def add(
        source: str,
        days: Sequence[int],
        times: TimeSpec,
        kind: ItemKind,
        reminder: bool,
        title: Mapping[str, str],
        detail: Mapping[str, str] | None,
        tick: bool | None = None,
    ) -> None:
        timing: Literal["at", "all-day", "as-needed"] = times if isinstance(times, str) else "at"
        for day, on, index, moment in _occurrences(days, times, first_day, zone, window):
            if day not in by_day:
                continue
            suffix = f"-{index}" if index else ""
            by_day[day].append(
                PlannedItem(
                    key=f"d{day}-{source}{suffix}",
                    day=day,
                    date=on,
                    kind=kind,
                    local_time=moment.time().replace(second=0) if moment else None,
                    due_at=moment.astimezone(UTC) if moment else None,
                    timing=timing,
                    reminder=reminder and moment is not None,
                    title=dict(title),
                    detail=dict(detail) if detail else None,
                    source=source,
                    tickable=is_tickable(kind, tick),
                )
            )

    for spec in protocol.spec.items:
        days = range(1, protocol.days + 1) if spec.days == "all" else spec.days
        add(spec.id, days, spec.time, spec.kind, spec.reminder, spec.title, spec.detail, spec.tick)
    for number, extra in enumerate(prescribed, start=1):
        detail = {extra.language: extra.detail} if extra.detail else None
        add(
            f"prescribed-{number}",
            extra.days,
            extra.time,
            extra.kind,
            extra.reminder,
            {extra.language: extra.title},
            detail,
        )
    return [
        PlanDay(
            day=day,
            date=first_day + timedelta(days=day - 1),
            items=tuple(sorted(items, key=_sort_key)),
        )
        for day, items in by_day.items()
    ]


def in_language(text: Mapping[str, str] | None, language: str) -> str | None:
    """A text in the patient's language; a prescribed item keeps the language it was written in."""
    if not text:
        return None
    return text.get(language) or text.get("en") or next(iter(text.values()))


def daily_checkins_end(days: Sequence[PlanDay], zone: ZoneInfo) -> datetime | None:
    """When the first run of consecutive check-in days ends (UTC), or None if there is none.

    Silence is only worrying while check-ins are daily (clinical.md, no-check-in).
    """
    checkin_days = [d for d in days if any(item.kind == "check-in" for item in d.items)]
    if len(checkin_days) < 2 or checkin_days[1].day != checkin_days[0].day + 1:
        return None
    last = checkin_days[0]
    for following in checkin_days[1:]:
        if following.day != last.day + 1:
            break
        last = following
    end = datetime.combine(last.date + timedelta(days=1), time(0, 0), tzinfo=zone)
    while not _exists(end, zone):
        end += timedelta(minutes=1)
    return end.astimezone(UTC)


def recovery_day_of(surgery_at: datetime, timezone: str, now: datetime) -> int | None:
    """Day 1 is the day of surgery in the patient's zone; None before it."""
    zone = ZoneInfo(timezone)
    day = (now.astimezone(zone).date() - local_date_of(surgery_at, zone)).days + 1
    return day if day >= 1 else None
