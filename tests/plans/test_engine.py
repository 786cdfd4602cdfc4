from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aftercare.plans.engine import (
    PrescribedItem,
    WakeWindow,
    build_plan,
    followup_reminder_at,
    resolve_local,
)
from aftercare.protocols.loader import Protocol
from aftercare.protocols.schema import ProcedureFile

PARIS = ZoneInfo("Europe/Paris")


def _text(words: str) -> dict[str, str]:
    return {"en": words}


@lru_cache(maxsize=1)
def edge_protocol() -> Protocol:
    """Times at the edges of the day, where clamping and clock changes bite."""
    spec = ProcedureFile.model_validate(
        {
            "id": "edges",
            "version": 1,
            "languages": ["en"],
            "name": _text("Edges"),
            "days": 10,
            "items": [
                {
                    "id": "midnight",
                    "kind": "rest",
                    "days": "all",
                    "time": "00:00",
                    "reminder": True,
                    "title": _text("Midnight"),
                },
                {
                    "id": "night",
                    "kind": "rest",
                    "days": "all",
                    "time": ["02:30", "03:00"],
                    "title": _text("Night"),
                },
                {
                    "id": "morning",
                    "kind": "medication",
                    "days": [1, {"from": 2, "to": 10, "every": 2}],
                    "time": "09:00",
                    "reminder": True,
                    "title": _text("Morning"),
                },
                {
                    "id": "late",
                    "kind": "check-in",
                    "days": "1-10",
                    "time": "23:59",
                    "reminder": True,
                    "title": _text("Late"),
                },
                {
                    "id": "allowed",
                    "kind": "milestone",
                    "days": 2,
                    "time": "all-day",
                    "title": _text("Allowed"),
                },
                {
                    "id": "when-needed",
                    "kind": "medication",
                    "days": "1-5",
                    "time": "as-needed",
                    "title": _text("When needed"),
                },
            ],
        }
    )
    return Protocol(spec=spec, rules=(), reassurance={}, digest="test")


def _minutes(at: time) -> int:
    return at.hour * 60 + at.minute


ZONES = sorted(zone for zone in available_timezones() if "/" in zone)
clock_times = st.builds(time, st.integers(0, 23), st.integers(0, 59))
# Dates near the usual daylight-saving changes, and any date at all.
dst_weeks = st.builds(
    date, st.integers(2020, 2035), st.sampled_from([3, 4, 9, 10, 11]), st.integers(1, 28)
)
surgery_dates = st.one_of(dst_weeks, st.dates(date(2020, 1, 1), date(2035, 12, 31)))


@st.composite
def wake_windows(draw: st.DrawFn) -> WakeWindow:
    wake = draw(st.integers(0, 19 * 60 + 59))
    sleep = draw(st.integers(wake + 4 * 60, 23 * 60 + 59))
    return WakeWindow(time(wake // 60, wake % 60), time(sleep // 60, sleep % 60))


@st.composite
def surgeries(draw: st.DrawFn) -> tuple[datetime, ZoneInfo]:
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    local = datetime.combine(draw(surgery_dates), draw(clock_times), tzinfo=zone)
    # The nurse types it with any offset; what counts is the moment.
    offset_zone = ZoneInfo(
        draw(st.sampled_from(["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"]))
    )
    return local.astimezone(offset_zone), zone


@settings(max_examples=300, deadline=None)
@given(surgery=surgeries(), window=wake_windows())
def test_plan_properties_hold_for_any_zone_date_and_wake_window(surgery, window):
    surgery_at, zone = surgery
    days = build_plan(edge_protocol(), surgery_at, zone, window)

    assert [d.day for d in days] == list(range(1, 11)), "days are contiguous"
    assert days[0].date == surgery_at.astimezone(zone).date(), "Day 1 is the local surgery date"
    assert all(b.date - a.date == timedelta(days=1) for a, b in pairwise(days))
    keys = [item.key for day in days for item in day.items]
    assert len(keys) == len(set(keys)), "item ids are unique in the plan"
    for day in days:
        for item in day.items:
            assert item.date == day.date
            if item.local_time is None:
                assert item.due_at is None and item.timing in ("all-day", "as-needed")
                continue
            assert _minutes(window.wake) <= _minutes(item.local_time) < _minutes(window.sleep)
            # The stored UTC moment is that wall-clock time on that day, in that zone.
            assert item.due_at is not None
            local = item.due_at.astimezone(zone)
            assert (local.date(), local.time().replace(second=0)) == (day.date, item.local_time)
    assert build_plan(edge_protocol(), surgery_at, zone, window) == days, "deterministic"


@settings(max_examples=200, deadline=None)
@given(surgery=surgeries(), window=wake_windows())
def test_a_time_inside_the_wake_window_stays_the_same_local_time_every_day(surgery, window):
    surgery_at, zone = surgery
    days = build_plan(edge_protocol(), surgery_at, zone, window)
    wanted = window.clamp(time(9, 0))
    for day in days:
        for item in day.items:
            if item.source != "morning":
                continue
            moment = datetime.combine(day.date, wanted, tzinfo=zone)
            if moment.astimezone(ZoneInfo("UTC")).astimezone(zone).time() == wanted:
                assert item.local_time == wanted


def test_day_one_is_the_surgery_day_in_the_patients_zone_not_the_servers():
    # 23:30 in Paris is already the next day in UTC+14.
    surgery_at = datetime(2027, 3, 26, 23, 30, tzinfo=PARIS)
    days = build_plan(
        edge_protocol(), surgery_at, ZoneInfo("Pacific/Kiritimati"), WakeWindow(time(8), time(22))
    )
    assert days[0].date == date(2027, 3, 27)
    days = build_plan(edge_protocol(), surgery_at, PARIS, WakeWindow(time(8), time(22)))
    assert days[0].date == date(2027, 3, 26)


def test_nine_oclock_stays_nine_oclock_across_the_march_change_in_paris():
    days = build_plan(
        edge_protocol(),
        datetime(2027, 3, 26, 9, tzinfo=PARIS),
        PARIS,
        WakeWindow(time(8), time(22)),
    )
    mornings = {item.date: item for day in days for item in day.items if item.source == "morning"}
    before, after = mornings[date(2027, 3, 27)], mornings[date(2027, 3, 29)]
    assert before.local_time == after.local_time == time(9, 0)
    assert before.due_at and after.due_at
    assert before.due_at.hour == 8 and after.due_at.hour == 7  # UTC+1, then UTC+2


def test_times_outside_the_wake_window_move_to_its_nearest_edge():
    days = build_plan(
        edge_protocol(),
        datetime(2027, 5, 3, 9, tzinfo=PARIS),
        PARIS,
        WakeWindow(time(7, 30), time(21)),
    )
    by_source = {item.source: item for item in days[0].items}
    assert by_source["midnight"].local_time == time(7, 30)
    assert by_source["late"].local_time == time(20, 30), "half an hour before sleep"


def test_a_time_skipped_by_the_clocks_moves_to_the_next_minute_that_exists():
    window = WakeWindow(time(0, 0), time(23, 0))
    moment = resolve_local(date(2027, 3, 28), time(2, 30), PARIS, window)
    assert moment.time() == time(3, 0)
    assert moment.utcoffset() == timedelta(hours=2)


def test_a_time_that_happens_twice_is_the_first_of_the_two():
    window = WakeWindow(time(0, 0), time(23, 0))
    moment = resolve_local(date(2027, 10, 31), time(2, 30), PARIS, window)
    assert moment.utcoffset() == timedelta(hours=2)


def test_items_with_several_times_are_separate_items_with_their_own_ids():
    days = build_plan(
        edge_protocol(), datetime(2027, 5, 3, 9, tzinfo=PARIS), PARIS, WakeWindow(time(0), time(23))
    )
    night = [item for item in days[0].items if item.source == "night"]
    assert [item.key for item in night] == ["d1-night-1", "d1-night-2"]
    assert [item.local_time for item in night] == [time(2, 30), time(3, 0)]


def test_every_other_day_and_lists_of_days():
    days = build_plan(
        edge_protocol(), datetime(2027, 5, 3, 9, tzinfo=PARIS), PARIS, WakeWindow(time(8), time(22))
    )
    morning_days = [d.day for d in days for item in d.items if item.source == "morning"]
    assert morning_days == [1, 2, 4, 6, 8, 10]


def test_milestones_come_first_and_as_needed_items_last_in_a_day():
    days = build_plan(
        edge_protocol(), datetime(2027, 5, 3, 9, tzinfo=PARIS), PARIS, WakeWindow(time(8), time(22))
    )
    sources = [item.source for item in days[1].items]
    assert sources[0] == "allowed"
    assert sources[-1] == "when-needed"


def test_prescribed_items_join_the_plan_in_the_language_they_were_written_in():
    antibiotic = PrescribedItem(
        title="Antibiotique", language="fr", days=(1, 2, 3, 4, 5), time=(time(8), time(20))
    )
    days = build_plan(
        edge_protocol(),
        datetime(2027, 5, 3, 9, tzinfo=PARIS),
        PARIS,
        WakeWindow(time(8), time(22)),
        [antibiotic],
    )
    found = [item for day in days for item in day.items if item.source == "prescribed-1"]
    assert len(found) == 10
    assert found[0].key == "d1-prescribed-1-1" and found[0].title == {"fr": "Antibiotique"}
    assert all(item.reminder and item.kind == "medication" for item in found)


def test_a_wake_window_shorter_than_four_hours_is_refused():
    with pytest.raises(ValueError, match="4 hours"):
        WakeWindow(time(9), time(12))


def test_a_surgery_time_without_an_offset_is_refused():
    with pytest.raises(ValueError, match="offset"):
        build_plan(edge_protocol(), datetime(2027, 5, 3, 9), PARIS, WakeWindow(time(8), time(22)))


@settings(max_examples=300, deadline=None)
@given(visit=surgeries(), window=wake_windows())
def test_a_visit_is_reminded_the_day_before_inside_the_waking_hours(visit, window):
    appointment, zone = visit
    reminder = followup_reminder_at(appointment, zone, window)
    local, booked = reminder.astimezone(zone), appointment.astimezone(zone)
    assert reminder.tzinfo is UTC and reminder < appointment
    assert local.date() == booked.date() - timedelta(days=1)
    assert window.wake <= local.time() <= window.latest
    wanted = window.clamp(booked.time().replace(second=0, microsecond=0))
    moment = datetime.combine(local.date(), wanted, tzinfo=zone)
    if moment.astimezone(UTC).astimezone(zone).time() == wanted:
        assert local.time() == wanted, "the same wall-clock time, moved only into the window"


def test_a_visit_at_half_past_seven_is_reminded_at_waking_the_day_before():
    window = WakeWindow(time(9, 0), time(21, 0))
    at = datetime(2027, 4, 2, 7, 30, tzinfo=PARIS)
    assert followup_reminder_at(at, PARIS, window) == datetime(2027, 4, 1, 7, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="offset"):
        followup_reminder_at(datetime(2027, 4, 2, 7, 30), PARIS, window)
