"""The private calendar feed: a patient's timed plan items and follow-up visit as neutral
RFC 5545 events.

A subscribed calendar may be seen by anyone who picks up the phone or shares
the account, so an event says only that something is due, never what.
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from icalendar import (
    Alarm,
    Calendar,
    Event,
    Timezone,
    TimezoneDaylight,
    TimezoneStandard,
    vDuration,
)

from aftercare.i18n import _, gettext_for

_SUMMARIES = {
    "check-in": _("Time for your daily check-in"),
    # The follow-up visit: neither what it is for nor where.
    "appointment": _("Appointment"),
}
_DEFAULT_SUMMARY = _("You have a new reminder")
_DESCRIPTION = _("Open the app for details")
_DURATION = timedelta(minutes=15)
# A visit takes longer than a tablet, and the phone should ring in time to get there.
_APPOINTMENT_DURATION = timedelta(minutes=30)
_APPOINTMENT_ALARM = timedelta(hours=-1)
# Matches the feed's HTTP cache lifetime, so a moved surgery reaches the phone the same hour.
_REFRESH = timedelta(hours=1)
# No zone changes its offset twice within six hours, so stepping this far never skips a change.
_SCAN_STEP = timedelta(hours=6)

_Observance = tuple[timedelta, str, bool]


@dataclass(frozen=True)
class CalendarItem:
    """A timed plan item or the follow-up visit, reduced to what a calendar may know of it."""

    key: str
    kind: str  # a plan item's kind, or "appointment"
    date: date
    local_time: str  # "HH:MM", the wall-clock time in the patient's zone
    due_at: datetime  # aware, UTC


def calendar_feed(
    items: Sequence[CalendarItem],
    timezone: str,
    language: str,
    app_name: str,
    feed_id: str,
    now: datetime,
) -> bytes:
    """The VCALENDAR of a patient's timed items in their IANA `timezone`.

    `feed_id` must be stable for the patient (not the URL secret, which may be
    rotated): it seeds the event UIDs, so a re-fetched feed updates events in
    place instead of duplicating them. It is hashed and never shown.
    """
    if now.tzinfo is None:
        raise ValueError("now needs a UTC offset")
    zone = ZoneInfo(timezone)
    translate = gettext_for(language).gettext
    stamp = now.astimezone(UTC)

    calendar = Calendar()
    calendar.add("PRODID", f"-//{app_name}//Calendar//EN")
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("X-WR-CALNAME", app_name)
    calendar.add("X-WR-TIMEZONE", timezone)
    calendar.add("REFRESH-INTERVAL", _REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("X-PUBLISHED-TTL", vDuration(_REFRESH))

    dates = [item.date for item in items] or [stamp.astimezone(zone).date()]
    calendar.add_component(_vtimezone(zone, min(dates).year, max(dates).year))

    for item in sorted(items, key=lambda item: (item.due_at, item.key)):
        summary = translate(_SUMMARIES.get(item.kind, _DEFAULT_SUMMARY))
        visit = item.kind == "appointment"
        hour, minute = (int(part) for part in item.local_time.split(":"))
        event = Event()
        event.add("UID", _uid(feed_id, item.key))
        event.add("DTSTAMP", stamp)
        event.add("DTSTART", datetime.combine(item.date, time(hour, minute), tzinfo=zone))
        event.add("DURATION", _APPOINTMENT_DURATION if visit else _DURATION)
        event.add("SUMMARY", summary)
        event.add("DESCRIPTION", translate(_DESCRIPTION))
        event.add("TRANSP", "TRANSPARENT")
        event.add("CLASS", "PRIVATE")
        alarm = Alarm()
        alarm.add("ACTION", "DISPLAY")
        alarm.add("TRIGGER", _APPOINTMENT_ALARM if visit else timedelta(0))
        alarm.add("DESCRIPTION", summary)
        event.add_component(alarm)
        calendar.add_component(event)
    return bytes(calendar.to_ical())


def _uid(feed_id: str, key: str) -> str:
    # Item keys name protocol items ("d3-…"); hashing keeps them out of the feed.
    return hashlib.sha256(f"{feed_id}\x1f{key}".encode()).hexdigest()


def _vtimezone(zone: ZoneInfo, first_year: int, last_year: int) -> Timezone:
    """The zone's offsets from 1 January of `first_year` to the end of `last_year`.

    Built here rather than by `Timezone.from_tzinfo`, which writes the onset of
    a daylight period in the new offset (03:00 for Paris) where RFC 5545 wants
    the wall time before the change (02:00), so a client trusting the
    VTIMEZONE would shift that night's hour.
    """
    start = datetime(first_year, 1, 1, tzinfo=zone).astimezone(UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=zone).astimezone(UTC)
    vtimezone = Timezone()
    vtimezone.add("TZID", zone.key)
    current = _observance(zone, start)
    vtimezone.add_component(_onset(start, current, current))
    moment = start
    while moment < end:
        step = min(moment + _SCAN_STEP, end)
        if _observance(zone, step) != current:
            change = _first_change(zone, moment, step)
            following = _observance(zone, change)
            vtimezone.add_component(_onset(change, current, following))
            current = following
        moment = step
    return vtimezone


def _observance(zone: ZoneInfo, moment: datetime) -> _Observance:
    local = moment.astimezone(zone)
    offset, dst = local.utcoffset(), local.dst()
    assert offset is not None and dst is not None  # always set by a ZoneInfo
    return offset, local.tzname() or "", dst != timedelta(0)


def _first_change(zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The first second in (before, after] whose observance differs from `before`'s."""
    unchanged = _observance(zone, before)
    while after - before > timedelta(seconds=1):
        middle = before + (after - before) / 2
        middle = middle.replace(microsecond=0)
        if _observance(zone, middle) == unchanged:
            before = middle
        else:
            after = middle
    return after


def _onset(
    moment: datetime, previous: _Observance, following: _Observance
) -> TimezoneStandard | TimezoneDaylight:
    offset_from, _name, _dst = previous
    offset_to, name, dst = following
    observance = TimezoneDaylight() if dst else TimezoneStandard()
    # RFC 5545 §3.6.5: the onset is the local time just before the change.
    observance.add("DTSTART", (moment + offset_from).replace(tzinfo=None))
    observance.add("TZOFFSETFROM", offset_from)
    observance.add("TZOFFSETTO", offset_to)
    observance.add("TZNAME", name)
    return observance
