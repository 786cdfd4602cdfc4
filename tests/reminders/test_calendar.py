"""The private calendar feed, parsed back with icalendar and checked against zoneinfo."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from icalendar import Calendar, Event, Timezone

from aftercare.i18n import gettext_for
from aftercare.reminders.calendar import CalendarItem, calendar_feed

NOW = datetime(2027, 3, 1, 8, 30, tzinfo=UTC)
NEUTRAL = ("Time for your daily check-in", "You have a new reminder")
FORBIDDEN = (
    "hymen",
    "labia",
    "vagin",
    "surgery",
    "operation",
    "intercourse",
    "bleeding",
    "stitch",
)
ZONES = sorted(
    zone
    for zone in available_timezones()
    if "/" in zone and not zone.startswith(("posix/", "right/"))  # copies, where a system has them
)


def item(key: str, zone: str, on: date, at: str, kind: str = "medication") -> CalendarItem:
    hour, minute = (int(part) for part in at.split(":"))
    local = datetime.combine(on, time(hour, minute), tzinfo=ZoneInfo(zone))
    return CalendarItem(key=key, kind=kind, date=on, local_time=at, due_at=local.astimezone(UTC))


def feed(items, zone="Europe/Paris", language="en", feed_id="patient-1") -> Calendar:
    return Calendar.from_ical(calendar_feed(items, zone, language, "Care", feed_id, NOW))


def in_time_order(items: list[CalendarItem]) -> list[CalendarItem]:
    """The order of the feed's events: by due time, then key."""
    return sorted(items, key=lambda wanted: (wanted.due_at, wanted.key))


def assert_starts_at_its_local_time(event: Event, wanted: CalendarItem, zone: str) -> None:
    start = event.decoded("DTSTART").astimezone(ZoneInfo(zone))
    assert start.date() == wanted.date
    assert start.strftime("%H:%M") == wanted.local_time
    assert start.astimezone(UTC) == wanted.due_at


def offset_by_vtimezone(vtimezone: Timezone, instant: datetime) -> timedelta:
    """The offset the VTIMEZONE alone gives at an instant, read as RFC 5545 §3.6.5 says:
    each onset is a wall time in its TZOFFSETFROM."""
    onsets = sorted(
        (
            observance.decoded("DTSTART") - observance.decoded("TZOFFSETFROM"),
            observance.decoded("TZOFFSETTO"),
        )
        for observance in vtimezone.subcomponents
    )
    naive = instant.astimezone(UTC).replace(tzinfo=None)
    in_force: list[timedelta] = [offset for onset, offset in onsets if onset <= naive]
    assert in_force, f"the VTIMEZONE starts after {instant}"
    return in_force[-1]


def assert_vtimezone_agrees(calendar: Calendar, wanted: CalendarItem) -> None:
    # A client that trusts the feed over its own zone data must land on the same instant.
    [vtimezone] = calendar.timezones
    offset = offset_by_vtimezone(vtimezone, wanted.due_at)
    wall = (wanted.due_at + offset).replace(tzinfo=None)
    assert wall == datetime.combine(wanted.date, time.fromisoformat(wanted.local_time))


def test_events_keep_the_local_time_on_both_sides_of_the_paris_clock_change():
    before = item("d1-check-in", "Europe/Paris", date(2027, 3, 27), "19:00", kind="check-in")
    after = item("d3-check-in", "Europe/Paris", date(2027, 3, 29), "19:00", kind="check-in")
    calendar = feed([before, after])

    for event, wanted in zip(calendar.events, (before, after), strict=True):
        assert_starts_at_its_local_time(event, wanted, "Europe/Paris")
        assert_vtimezone_agrees(calendar, wanted)
    assert [event.decoded("DTSTART").astimezone(UTC) for event in calendar.events] == [
        datetime(2027, 3, 27, 18, tzinfo=UTC),
        datetime(2027, 3, 29, 17, tzinfo=UTC),
    ]


def test_events_keep_the_local_time_on_both_sides_of_the_new_york_clock_change():
    zone = "America/New_York"
    items = [
        item("d1-pill", zone, date(2027, 3, 13), "09:00"),
        item("d2-pill", zone, date(2027, 3, 14), "09:00"),
        item("d3-pill", zone, date(2027, 3, 15), "09:00"),
    ]
    calendar = feed(items, zone=zone)

    for event, wanted in zip(calendar.events, items, strict=True):
        assert_starts_at_its_local_time(event, wanted, zone)
        assert_vtimezone_agrees(calendar, wanted)
    assert [event.decoded("DTSTART").astimezone(UTC).hour for event in calendar.events] == [
        14,
        13,
        13,
    ]


def test_the_vtimezone_names_the_zone_with_its_onsets_in_the_wall_time_before_each_change():
    calendar = feed([item("d1-pill", "Europe/Paris", date(2027, 3, 27), "19:00")])

    [vtimezone] = calendar.timezones
    assert vtimezone["TZID"] == "Europe/Paris"
    assert calendar["X-WR-TIMEZONE"] == "Europe/Paris"
    onsets = [
        (
            observance.name,
            observance.decoded("DTSTART"),
            observance.decoded("TZOFFSETFROM"),
            observance.decoded("TZOFFSETTO"),
        )
        for observance in vtimezone.subcomponents
    ]
    hour = timedelta(hours=1)
    assert ("DAYLIGHT", datetime(2027, 3, 28, 2), hour, 2 * hour) in onsets
    assert ("STANDARD", datetime(2027, 10, 31, 3), 2 * hour, hour) in onsets
    assert {observance.name for observance in vtimezone.subcomponents} == {
        "STANDARD",
        "DAYLIGHT",
    }


def test_the_new_york_vtimezone_changes_at_two_in_the_morning_both_ways():
    zone = "America/New_York"
    calendar = feed([item("d1-pill", zone, date(2027, 3, 13), "09:00")], zone=zone)

    [vtimezone] = calendar.timezones
    assert vtimezone["TZID"] == zone
    assert [
        (observance.name, observance.decoded("DTSTART"))
        for observance in vtimezone.subcomponents[1:]
    ] == [("DAYLIGHT", datetime(2027, 3, 14, 2)), ("STANDARD", datetime(2027, 11, 7, 2))]


def test_the_vtimezone_covers_every_year_of_the_plan():
    zone = "Australia/Sydney"
    items = [item("d1-pill", zone, date(2027, 12, 30), "08:00")]
    items.append(item("d9-pill", zone, date(2028, 1, 7), "08:00"))
    calendar = feed(items, zone=zone)

    [vtimezone] = calendar.timezones
    starts = [observance.decoded("DTSTART") for observance in vtimezone.subcomponents]
    assert min(starts) == datetime(2027, 1, 1)
    assert max(starts).year == 2028
    for wanted in items:
        assert_vtimezone_agrees(calendar, wanted)


@pytest.mark.parametrize("language", ["en", "fr", "ar", "tr"])
def test_every_word_of_the_feed_is_neutral_in_each_language(language):
    # Keys name the protocol's items; even those must not reach the calendar.
    items = [
        item("d1-check-in", "Europe/Paris", date(2027, 3, 27), "19:00", kind="check-in"),
        item("d2-hymen-care", "Europe/Paris", date(2027, 3, 28), "09:00", kind="care"),
        item("d3-stitch-bleeding-check", "Europe/Paris", date(2027, 3, 29), "21:00"),
    ]
    body = calendar_feed(items, "Europe/Paris", language, "Care", "patient-1", NOW)
    calendar = Calendar.from_ical(body)

    translate = gettext_for(language).gettext
    neutral = {*NEUTRAL, *(translate(text) for text in NEUTRAL)}
    for event in calendar.events:
        summary = str(event["SUMMARY"])
        assert summary in neutral
        assert str(event["DESCRIPTION"]) == translate("Open the app for details")
        [alarm] = event.walk("VALARM")
        assert str(alarm["DESCRIPTION"]) == summary
    summaries = {str(event["SUMMARY"]) for event in calendar.events}
    assert summaries == {translate(NEUTRAL[0]), translate(NEUTRAL[1])}
    text = body.decode().lower()
    for word in FORBIDDEN:
        assert word not in text
    for wanted in items:
        assert wanted.key not in text


def test_events_are_private_transparent_quarter_hours_with_an_alarm_at_the_start():
    calendar = feed([item("d1-pill", "Europe/Paris", date(2027, 3, 27), "19:00")])

    assert calendar["PRODID"] == "-//Care//Calendar//EN"
    assert calendar["VERSION"] == "2.0"
    assert calendar["CALSCALE"] == "GREGORIAN"
    assert calendar["X-WR-CALNAME"] == "Care"
    [event] = calendar.events
    assert event.decoded("DURATION") == timedelta(minutes=15)
    assert event["TRANSP"] == "TRANSPARENT"
    assert event["CLASS"] == "PRIVATE"
    assert event.decoded("DTSTAMP") == NOW
    [alarm] = event.walk("VALARM")
    assert alarm["ACTION"] == "DISPLAY"
    assert alarm.decoded("TRIGGER") == timedelta(0)


def test_uids_are_unique_stable_and_reveal_neither_the_key_nor_the_feed():
    items = [
        item(f"d{day}-check-in", "Europe/Paris", date(2027, 3, day), "19:00") for day in (1, 2, 3)
    ]
    uids = [str(event["UID"]) for event in feed(items).events]
    again = [str(event["UID"]) for event in feed(items).events]
    other_patient = {str(event["UID"]) for event in feed(items, feed_id="patient-2").events}

    assert uids == again
    assert len(set(uids)) == len(items)
    assert not set(uids) & other_patient
    for uid in uids:
        assert "check-in" not in uid and "patient" not in uid


def test_the_same_plan_gives_the_same_bytes_whatever_the_order_of_its_items():
    items = [
        item("d1-check-in", "Europe/Paris", date(2027, 3, 27), "19:00", kind="check-in"),
        item("d1-pill", "Europe/Paris", date(2027, 3, 27), "08:00"),
        item("d3-pill", "Europe/Paris", date(2027, 3, 29), "08:00"),
    ]
    first = calendar_feed(items, "Europe/Paris", "fr", "Care", "patient-1", NOW)

    assert calendar_feed(items, "Europe/Paris", "fr", "Care", "patient-1", NOW) == first
    assert calendar_feed(items[::-1], "Europe/Paris", "fr", "Care", "patient-1", NOW) == first


def test_a_plan_without_timed_items_is_still_a_valid_calendar():
    calendar = feed([], zone="Asia/Kathmandu")

    assert calendar.events == []
    [vtimezone] = calendar.timezones
    assert vtimezone["TZID"] == "Asia/Kathmandu"


def test_a_clock_without_a_utc_offset_is_refused():
    with pytest.raises(ValueError, match="UTC offset"):
        calendar_feed([], "Europe/Paris", "en", "Care", "patient-1", datetime(2027, 3, 1))


def _exists(on: date, at: time, zone: ZoneInfo) -> bool:
    local = datetime.combine(on, at, tzinfo=zone)
    return local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None)


@settings(deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    moments=st.lists(
        st.tuples(
            st.dates(min_value=date(2025, 1, 1), max_value=date(2035, 12, 31)),
            # fold=0: a repeated wall time means its first occurrence, as in RFC 5545.
            st.builds(time, hour=st.integers(0, 23), minute=st.integers(0, 59)),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_every_event_starts_at_its_wall_time_in_any_zone(zone, moments):
    for on, at in moments:
        assume(_exists(on, at, ZoneInfo(zone)))
    items = [
        item(f"d{index}-pill", zone, on, at.strftime("%H:%M"))
        for index, (on, at) in enumerate(moments, start=1)
    ]
    calendar = feed(items, zone=zone)

    assert len(calendar.events) == len(items)
    for event, wanted in zip(calendar.events, in_time_order(items), strict=True):
        assert_starts_at_its_local_time(event, wanted, zone)
        assert_vtimezone_agrees(calendar, wanted)
