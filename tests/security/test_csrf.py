"""Every page that changes something checks the CSRF token through one dependency.

The routes come from the router itself: a POST page (anything outside /api/, whose
clients send a bearer token instead of a cookie) without `web.csrf_checked` among its
dependencies fails the test, and each one is then sent without a token, and with a
wrong one, and must answer 403 before it reads or changes anything.
"""

from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from aftercare.audit.models import AuditEvent
from aftercare.web import csrf_checked
from tests.console.conftest import csrf_of, sign_in
from tests.factories import Factory

# POSTs that are not pages: the phone's check-ins and replies replayed by the service
# worker carry the token in their form like the page does; nothing is exempt today.
EXEMPT: set[str] = set()


def _calls(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _page_posts(client: TestClient) -> list[APIRoute]:
    routes = (context.original_route for context in iter_route_contexts(client.app.routes))  # type: ignore[attr-defined]
    return [
        route
        for route in routes
        if isinstance(route, APIRoute)
        and "POST" in (route.methods or set())
        and not route.path.startswith("/api/")
        and route.path not in EXEMPT
    ]


def test_every_page_post_declares_the_csrf_dependency(client: TestClient):
    posts = _page_posts(client)
    assert len(posts) > 20, "the app serves its page forms"
    missing = [r.path for r in posts if csrf_checked not in set(_calls(r.dependant))]
    assert missing == []


def test_every_page_post_refuses_a_missing_or_wrong_token_before_anything_else(
    client: TestClient, engine: Engine, factory: Factory
):
    """A browser signed in both as an admin nurse and as a patient's phone passes every
    door but the token's: each form, sent with a forged token or none, is a 403, and
    nothing is written (not even an audit row)."""
    admin = factory.nurse(admin=True)
    assert sign_in(client, admin.email).status_code == 303
    start = factory.enrolment(admin).url.removeprefix("http://testserver")
    token = csrf_of(client.get(start).text)
    assert client.post(start, data={"csrf_token": token}, follow_redirects=False).status_code == 303
    with Session(engine) as session:
        before = session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    for route in _page_posts(client):
        path = route.path.replace("{", "").replace("}", "")  # any value: 403 comes first
        for fields, headers in (({}, {}), ({"csrf_token": "forged"}, {"X-CSRF-Token": "forged"})):
            answer = client.post(path, data=fields, headers=headers, follow_redirects=False)
            assert answer.status_code == 403, (route.path, headers, answer.status_code)
    with Session(engine) as session:
        after = session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    assert after == before, "a refused form wrote nothing"


def test_a_page_sets_the_nonce_cookie_exactly_as_starlette_would(client: TestClient):
    """The nonce's cookie is written without `http.cookies` (web.set_csrf_cookie): the
    header must be the one Starlette's `set_cookie` makes, on a plain and a secure site."""
    from starlette.responses import Response

    def starlettes(header: str, secure: bool) -> str:
        nonce = header.removeprefix("csrf=").split(";")[0]
        made = Response()
        made.set_cookie("csrf", nonce, httponly=True, samesite="strict", secure=secure)
        return made.headers["set-cookie"]

    first = client.get("/")
    assert first.headers["set-cookie"] == starlettes(first.headers["set-cookie"], False)
    again = client.get("/")
    assert "set-cookie" not in again.headers, "a browser that sent it back is not given another"

    app: Any = client.app
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"base_url": "https://clinic.example"})
    client.cookies.clear()
    try:
        page = client.get("/")
    finally:
        app.state.settings = settings
    assert page.headers["set-cookie"] == starlettes(page.headers["set-cookie"], True)
