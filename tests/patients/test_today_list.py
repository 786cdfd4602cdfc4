"""Today's list of items is rendered once for the phones that share it and kept
(`fragment`): each phone still gets its own form token in it, and a list holding the
patient's follow-up visit (its time and place are hers) is never kept."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine

from aftercare.phone.shell import templates
from aftercare.web import CSRF_SLOT
from tests.patients.test_followup import PLACE, VISIT, _book, _phone
from tests.reminders.test_dispatcher import ENROLLED

TOKENS = re.compile(r'name="csrf_token" value="([^"]+)"')
SURGERY_DAY = datetime(2027, 3, 26, 9, 0, tzinfo=UTC)  # the factory's surgery, Paris


def _enrolled(factory, nurse, **changes):
    with time_machine.travel(ENROLLED, tick=False):
        return factory.enrolment(nurse, **changes)


def test_each_phone_gets_its_own_token_in_a_list_kept_for_all(client, factory):
    with time_machine.travel(ENROLLED, tick=False):
        nurse = factory.nurse()
    phones = [_enrolled(factory, nurse) for _ in range(2)]
    seen = []
    with time_machine.travel(SURGERY_DAY + timedelta(days=2), tick=False):
        for enrolment in phones:
            _phone(client, enrolment)  # this browser now signs in as this phone
            page = client.get("/today").text
            tokens = set(TOKENS.findall(page))
            assert len(tokens) == 1, "every form of the page carries the page's token"
            assert str(CSRF_SLOT) not in page
            (item,) = re.findall(r'name="item" value="([^"]+)"', page)[:1]
            token = tokens.pop()
            tick = {"csrf_token": token, "item": item, "done": "1"}
            ticked = client.post("/today/done", data=tick, follow_redirects=False)
            assert ticked.status_code == 303, "the token in the kept list is this phone's"
            seen.append(token)
    assert seen[0] != seen[1]


def _kept_lists(client, language="en") -> int:
    """How many fragments the page's language keeps after a fresh Today."""
    fragment: Any = templates.languages[language].globals["fragment"]
    fragment.cache_clear()
    assert client.get("/today").status_code == 200
    return int(fragment.cache_info().currsize)


def test_a_list_holding_the_visit_is_never_kept(client, factory):
    with time_machine.travel(ENROLLED, tick=False):
        nurse = factory.nurse()
    booked, other = _enrolled(factory, nurse), _enrolled(factory, nurse)
    _book(client, nurse, booked, followup_at=VISIT, followup_place=PLACE)
    plan = client.get(f"/api/v1/patients/{booked.id}/plan", headers=nurse.headers).json()
    (visit_day,) = [d["day"] for d in plan["days"] if any(
        i["kind"] == "follow-up" for i in d["items"])]  # fmt: skip
    with time_machine.travel(SURGERY_DAY + timedelta(days=visit_day - 1), tick=False):
        _phone(client, booked)
        assert PLACE in client.get("/today").text
        with_visit = _kept_lists(client)
        _phone(client, other)
        without = _kept_lists(client)
    # The same frame (bar, tabs, notices) on both pages; only the list without the visit
    # is kept beside it.
    assert without == with_visit + 1
