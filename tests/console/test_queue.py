"""The flag queue in the console: the order, the cards, acting on a flag, the live stream."""

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from aftercare.audit.models import AuditEvent
from aftercare.console import queue as live_queue
from aftercare.flags.models import Flag
from tests.console.conftest import Console, sign_in
from tests.factories import Factory, NurseLogin

PARIS = ZoneInfo("Europe/Paris")
CARD = re.compile(r'<article class="card card-(red|amber) flag".*?</article>', re.S)
ALIAS = re.compile(r'-title"><a href="/console/patients/[^"]+">([^<]+)</a>')


def checkin(**changes: Any) -> dict[str, Any]:
    """A calm check-in, but for the answers given."""
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "recorded_at": (datetime.now(PARIS) - timedelta(minutes=1)).isoformat(),
        "pain": 3, "temperature_c": 37.1, "bleeding": "spotting", "discharge": "none",
        "urination": "normal", "allergy": "none", "nausea": False, "wants_contact": False,
        "note": "",
    }  # fmt: skip
    body.update(changes)
    return body


def patient(factory: Factory, nurse: NurseLogin, alias: str, days_ago: int = 2) -> dict[str, str]:
    """A patient on Day `days_ago + 1`, enrolled the day before surgery; their device's headers."""
    surgery_at = (datetime.now(PARIS) - timedelta(days=days_ago)).isoformat()
    with time_machine.travel(datetime.now(UTC) - timedelta(days=days_ago + 1)):
        enrolment = factory.enrolment(nurse, alias=alias, surgery_at=surgery_at)
    return factory.patient_headers(enrolment)


def flag(client: TestClient, headers: dict[str, str], minutes_ago: int = 0, **answers: Any) -> None:
    """A check-in that raises a flag, sent `minutes_ago`."""
    with time_machine.travel(datetime.now(UTC) - timedelta(minutes=minutes_ago)):
        response = client.post("/api/v1/me/checkins", json=checkin(**answers), headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["severity"] != "none"


def cards(html: str) -> list[tuple[str, str, str]]:
    """(severity, alias, the card's HTML) of each card, in page order."""
    found = []
    for match in CARD.finditer(html):
        alias = ALIAS.search(match.group(0))
        assert alias, match.group(0)
        found.append((match.group(1), alias.group(1), match.group(0)))
    return found


def one_flag_id(console: Console) -> str:
    items = console.client.get("/api/v1/flags", headers=console.nurse.headers).json()["items"]
    assert len(items) == 1
    return str(items[0]["id"])


@pytest.fixture
def red(console: Console, factory: Factory) -> str:
    """One red flag in the signed-in nurse's clinic; its id."""
    headers = patient(factory, console.nurse, "R.E.")
    flag(console.client, headers, bleeding="heavy")
    return one_flag_id(console)


def test_the_queue_is_red_before_amber_then_oldest_first_with_reasons_and_answers(
    console: Console, factory: Factory
) -> None:
    client, nurse = console.client, console.nurse
    flag(client, patient(factory, nurse, "AM-OLD"), minutes_ago=40, pain=7)
    flag(client, patient(factory, nurse, "RD-OLD"), minutes_ago=30, temperature_c=38.6)
    flag(client, patient(factory, nurse, "AM-NEW"), minutes_ago=10, bleeding="moderate")
    flag(client, patient(factory, nurse, "RD-NEW"), minutes_ago=5, bleeding="heavy")

    page = client.get("/console/queue")

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    shown = cards(page.text)
    assert [alias for _, alias, _ in shown] == ["RD-OLD", "RD-NEW", "AM-OLD", "AM-NEW"]
    assert [severity for severity, _, _ in shown] == ["red", "red", "amber", "amber"]
    by_alias = {alias: card for _, alias, card in shown}
    assert "Temperature 38.6 °C" in by_alias["RD-OLD"]
    assert "Pain 7 out of 10" in by_alias["AM-OLD"]
    assert "Moderate bleeding" in by_alias["AM-NEW"]
    assert re.search(r"Day 3 of \d+", by_alias["RD-NEW"])
    assert "2 red" in page.text and "2 amber" in page.text
    assert "<title>(2) Flag queue · " in page.text


def test_a_red_flag_past_the_clinics_target_is_marked_late_in_words(
    console: Console, factory: Factory
) -> None:
    flag(console.client, patient(factory, console.nurse, "LATE"), minutes_ago=42, bleeding="heavy")
    flag(console.client, patient(factory, console.nurse, "FRESH"), minutes_ago=3, bleeding="heavy")
    flag(console.client, patient(factory, console.nurse, "AMBER"), minutes_ago=50, pain=7)

    by_alias = {alias: card for _, alias, card in cards(console.client.get("/console/queue").text)}

    late = by_alias["LATE"]
    assert 'class="late"' in late
    assert re.search(r"Waiting 4[23] min, past the 15 min target", late)
    assert 'class="late"' not in by_alias["FRESH"] and "Raised 3 min ago" in by_alias["FRESH"]
    # The target is the clinic's red-flag acknowledgement target.
    assert 'class="late"' not in by_alias["AMBER"] and "Raised 50 min ago" in by_alias["AMBER"]


def test_acknowledge_then_resolve_through_the_forms(
    console: Console, red: str, engine: Engine
) -> None:
    acknowledged = console.post(f"/console/flags/{red}/acknowledge", next="/console/queue")
    assert acknowledged.status_code == 303
    assert acknowledged.headers["location"] == "/console/queue"
    page = console.client.get("/console/queue").text
    ((_, _, card),) = cards(page)
    assert f"Acknowledged by {console.nurse.email} at " in card
    assert f'id="ack-{red}"' not in card  # acknowledged once is enough
    assert "<title>Flag queue · " in page  # no red flag waits unacknowledged

    note = "Called her; bleeding has settled."
    resolved = console.post(
        f"/console/flags/{red}/resolve", next="/console/queue", outcome="called-patient", note=note
    )
    assert resolved.status_code == 303
    after = console.client.get("/console/queue").text
    assert cards(after) == []
    assert "Nothing waiting" in after

    api = console.client.get("/api/v1/flags?status=resolved", headers=console.nurse.headers)
    (item,) = api.json()["items"]
    assert item["id"] == red and item["status"] == "resolved"
    assert item["resolution_note"] == note
    assert item["resolved_by"] == item["acknowledged_by"] == console.nurse.email
    with Session(engine) as session:
        stored = session.get(Flag, uuid.UUID(red))
        assert stored is not None and stored.resolution_outcome == "called-patient"
        events = session.exec(
            select(AuditEvent).where(col(AuditEvent.subject_id) == red).order_by(col(AuditEvent.at))
        ).all()
    assert [event.action for event in events] == ["flag.acknowledge", "flag.resolve"]
    assert {event.client for event in events} == {"testclient"}
    assert events[1].detail["outcome"] == "called-patient"


def test_resolving_an_open_flag_acknowledges_it_too_and_the_note_is_optional(
    console: Console, red: str
) -> None:
    resolved = console.post(f"/console/flags/{red}/resolve", outcome="no-action-needed")
    assert resolved.status_code == 303
    api = console.client.get("/api/v1/flags?status=resolved", headers=console.nurse.headers)
    (item,) = api.json()["items"]
    assert item["acknowledged_at"] is not None and item["resolution_note"] is None


def test_the_json_api_still_resolves_without_an_outcome(console: Console, red: str) -> None:
    response = console.client.post(
        f"/api/v1/flags/{red}/resolve", json={"note": "done"}, headers=console.nurse.headers
    )
    assert response.status_code == 200 and response.json()["status"] == "resolved"


def test_a_resolved_flag_cannot_be_resolved_again(console: Console, red: str) -> None:
    assert (
        console.post(f"/console/flags/{red}/resolve", outcome="called-patient").status_code == 303
    )
    again = console.post(f"/console/flags/{red}/resolve", outcome="sent-to-emergency")
    assert again.status_code == 409
    assert "already resolved" in again.text


def test_another_clinics_nurse_sees_none_of_its_flags_and_gets_404(
    client: TestClient, factory: Factory
) -> None:
    north = factory.nurse(clinic="north")
    flag(client, patient(factory, north, "NORTH"), bleeding="heavy")
    (item,) = client.get("/api/v1/flags", headers=north.headers).json()["items"]
    south = Console(client, factory.nurse(clinic="south"))
    assert sign_in(client, south.nurse.email).status_code == 303

    page = client.get("/console/queue").text
    assert "NORTH" not in page and "Nothing waiting" in page
    assert "NORTH" not in client.get("/console/queue/list").text
    for action, fields in (("acknowledge", {}), ("resolve", {"outcome": "called-patient"})):
        assert south.post(f"/console/flags/{item['id']}/{action}", **fields).status_code == 404
    assert south.post(f"/console/flags/{uuid.uuid4()}/acknowledge").status_code == 404
    assert south.post("/console/flags/not-an-id/acknowledge").status_code == 404
    (still,) = client.get("/api/v1/flags", headers=north.headers).json()["items"]
    assert still["status"] == "open"


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_the_forms_refuse_a_missing_or_wrong_csrf_token(
    console: Console, red: str, action: str
) -> None:
    fields = {"outcome": "called-patient"}
    missing = console.client.post(f"/console/flags/{red}/{action}", data=fields)
    forged = console.client.post(
        f"/console/flags/{red}/{action}", data={**fields, "csrf_token": "forged"}
    )
    assert missing.status_code == forged.status_code == 403
    (item,) = console.client.get("/api/v1/flags", headers=console.nurse.headers).json()["items"]
    assert item["status"] == "open"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"outcome": "cured-by-magic"}, "Outcome"),
        ({}, "Outcome"),
        ({"outcome": "called-patient", "note": "x" * 2001}, "Note"),
    ],
)
def test_a_bad_resolution_is_a_422_page_naming_the_field(
    console: Console, red: str, fields: dict[str, str], named: str
) -> None:
    response = console.post(f"/console/flags/{red}/resolve", **fields)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert re.search(rf'class="error" role="alert">{named}:', response.text)
    (item,) = console.client.get("/api/v1/flags", headers=console.nurse.headers).json()["items"]
    assert item["status"] == "open"


@pytest.mark.parametrize(
    ("next_path", "location"),
    [
        ("https://evil.example/console/", "/console/queue"),
        ("//evil.example/console/", "/console/queue"),
        ("/\\evil.example", "/console/queue"),
        ("/console/\r\nSet-Cookie: x=y", "/console/queue"),
        ("/api/v1/flags", "/console/queue"),
        ("", "/console/queue"),
        ("/console/patients/123", "/console/patients/123"),
        ("/console/queue?offset=50", "/console/queue?offset=50"),
    ],
)
def test_next_goes_back_to_a_console_page_only(
    console: Console, red: str, next_path: str, location: str
) -> None:
    response = console.post(f"/console/flags/{red}/acknowledge", next=next_path)
    assert response.status_code == 303
    assert response.headers["location"] == location


def test_the_first_50_patients_then_show_more(console: Console, factory: Factory) -> None:
    for minutes in range(55, 0, -1):
        flag(console.client, patient(factory, console.nurse, f"P{minutes:02d}"), minutes, pain=7)

    first = console.client.get("/console/queue").text
    assert len(cards(first)) == 50
    assert 'href="/console/queue?offset=50">Show more' in first
    assert "Showing 1–50 of 55" in first and "55 patients waiting" in first
    more = console.client.get("/console/queue?offset=50").text
    assert len(cards(more)) == 5 and "Show more" not in more
    assert "Raised 1 min ago" in more  # the newest come last
    fragment = console.client.get("/console/queue/list?offset=50")
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert len(cards(fragment.text)) == 5


def test_one_card_per_patient_with_every_reason_newest_first_and_the_worst_severity(
    console: Console, factory: Factory
) -> None:
    client, nurse = console.client, console.nurse
    worse = patient(factory, nurse, "WORSE")
    flag(client, worse, minutes_ago=50, temperature_c=38.3)
    flag(client, worse, minutes_ago=30, allergy="rash", note="It itches since this morning")
    flag(client, worse, minutes_ago=10, bleeding="heavy")
    flag(client, patient(factory, nurse, "OTHER"), minutes_ago=60, pain=7)

    shown = cards(client.get("/console/queue").text)
    assert [(severity, alias) for severity, alias, _ in shown] == [
        ("red", "WORSE"), ("amber", "OTHER"),
    ]  # fmt: skip
    card = shown[0][2]
    assert card.count('class="card-flag ') == 3 and "3 flags" in card
    heavy, rash, fever = (card.index(text) for text in ("Heavy bleeding", "Rash", "38.3"))
    assert heavy < rash < fever, "newest first"
    assert "It itches since this morning" in card, "the note behind the reason"
    # The oldest unacknowledged wait (50 min when sent; more on a slow machine, never less).
    waited = re.search(r"Waiting (\d+) min, past the 15 min target", card)
    assert waited and int(waited.group(1)) >= 50, card
    assert 'href="/console/patients/' in card and "/messages" in card and "Acknowledge all" in card
    # The API stays per flag.
    items = client.get("/api/v1/flags", headers=nurse.headers).json()["items"]
    assert len(items) == 4


def test_acknowledge_all_takes_the_flags_shown_and_each_keeps_its_history(
    console: Console, factory: Factory, engine: Engine
) -> None:
    client, nurse = console.client, console.nurse
    headers = patient(factory, nurse, "TWO")
    flag(client, headers, minutes_ago=20, pain=7)
    flag(client, headers, minutes_ago=10, bleeding="heavy")
    card = cards(client.get("/console/queue").text)[0][2]
    shown = re.findall(r'name="flag_id" value="([^"]+)"', card.split("/console/cards/resolve")[0])
    assert len(shown) == 2
    flag(client, headers, minutes_ago=0, temperature_c=38.5)  # arrives after the page was read

    done = console.post("/console/cards/acknowledge", flag_id=shown, next="/console/queue")
    assert done.status_code == 303

    with Session(engine) as session:
        statuses = {str(row.id): row.status for row in session.exec(select(Flag))}
        audited = session.exec(
            select(AuditEvent).where(col(AuditEvent.action) == "flag.acknowledge")
        ).all()
    assert [statuses[flag_id] for flag_id in shown] == ["acknowledged", "acknowledged"]
    assert sorted(statuses.values()).count("open") == 1, "the newer flag was not seen: still open"
    assert sorted(str(event.subject_id) for event in audited) == sorted(shown)
    card = cards(client.get("/console/queue").text)[0][2]
    # Now the newest flag's wait (sent last, so under the 10 min of the acknowledged ones).
    waited = re.search(r"Waiting (under 1 min|(\d+) min), not acknowledged yet", card)
    assert waited and int(waited.group(2) or 0) < 10, card

    every = re.findall(r'name="flag_id" value="([^"]+)"', card.split("/console/cards/resolve")[1])
    resolved = console.post("/console/cards/resolve", flag_id=every, outcome="replied-by-message",
                            note="Wrote back", next="/console/queue")  # fmt: skip
    assert resolved.status_code == 303
    assert "Nothing waiting" in client.get("/console/queue").text
    with Session(engine) as session:
        outcomes = {row.resolution_outcome for row in session.exec(select(Flag))}
    assert outcomes == {"replied-by-message"}


def test_a_card_action_without_an_outcome_or_on_nothing_is_refused(
    console: Console, red: str
) -> None:
    missing = console.post("/console/cards/resolve", flag_id=[red], next="/console/queue")
    assert missing.status_code == 422 and "Outcome:" in missing.text
    nothing = console.post("/console/cards/acknowledge", flag_id=[str(uuid.uuid4()), "x"])
    assert nothing.status_code == 409


def test_a_bad_offset_is_a_422_page(console: Console) -> None:
    response = console.client.get("/console/queue?offset=-3")
    assert response.status_code == 422 and "Offset:" in response.text


def test_an_empty_queue_says_so_kindly(console: Console) -> None:
    page = console.client.get("/console/queue").text
    assert "Nothing waiting" in page
    assert "<title>Flag queue · " in page


@pytest.mark.parametrize("path", ["/console/queue", "/console/queue/list", "/console/queue/events"])
def test_the_queue_needs_a_signed_in_nurse(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in"


def read_events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event name, data) for each event of a stream; comments and retry lines skipped."""
    name, data = "message", ""
    for line in lines:
        if line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data += line.removeprefix("data:").strip()
        elif line == "" and data:
            yield name, json.loads(data)
            name, data = "message", ""


@pytest.fixture
def quick_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream that looks often and ends soon: if broken, the test fails rather than hangs."""
    monkeypatch.setattr(live_queue, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(live_queue, "HEARTBEAT_SECONDS", 0.2)
    monkeypatch.setattr(live_queue, "STREAM_SECONDS", 8.0)


@pytest.mark.usefixtures("quick_stream")
def test_the_event_stream_says_when_a_new_flag_appears(console: Console, factory: Factory) -> None:
    headers = patient(factory, console.nurse, "LIVE")
    with console.client.stream("GET", "/console/queue/events") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in stream.headers  # not gzipped: events pass at once
        events = read_events(stream.iter_lines())
        name, first = next(events)
        assert name == "queue" and first["red"] == 0 and first["total"] == 0

        flag(console.client, headers, bleeding="heavy")

        name, second = next(events)
        assert name == "queue"
        assert second["red"] == second["red_open"] == second["total"] == 1
        assert second["version"] != first["version"]

        flag_id = one_flag_id(console)
        assert console.post(f"/console/flags/{flag_id}/acknowledge").status_code == 303
        name, third = next(events)
        assert third["red"] == 1 and third["red_open"] == 0


@pytest.mark.usefixtures("quick_stream")
def test_the_event_stream_beats_and_ends_by_itself(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_queue, "STREAM_SECONDS", 1.0)
    with console.client.stream("GET", "/console/queue/events") as stream:
        lines = list(stream.iter_lines())  # returns: the stream ended on its own
    assert lines[0].startswith("retry: ")
    assert ": still here" in lines
    assert sum(line == "event: queue" for line in lines) == 1
