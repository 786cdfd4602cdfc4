"""A nurse's browser on the console, driven through HTTP."""

import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import PASSWORD, Factory, NurseLogin


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


@dataclass
class Console:
    """A signed-in console: the test client with its cookies, and the nurse behind it."""

    client: TestClient
    nurse: NurseLogin

    def csrf(self) -> str:
        return csrf_of(self.client.get("/console/sign-in").text)

    def post(self, path: str, **fields: object):
        """A form posted from a console page, with the page's CSRF token."""
        data: dict[str, Any] = {"csrf_token": self.csrf(), **fields}
        return self.client.post(path, data=data, follow_redirects=False)


def sign_in(client: TestClient, email: str, password: str = PASSWORD):
    page = client.get("/console/sign-in")
    return client.post(
        "/console/sign-in",
        data={"csrf_token": csrf_of(page.text), "email": email, "password": password},
        follow_redirects=False,
    )


@pytest.fixture
def console(client: TestClient, factory: Factory) -> Console:
    nurse = factory.nurse()
    assert sign_in(client, nurse.email).status_code == 303
    return Console(client, nurse)


@pytest.fixture
def admin_console(client: TestClient, factory: Factory) -> Console:
    nurse = factory.nurse(admin=True)
    assert sign_in(client, nurse.email).status_code == 303
    return Console(client, nurse)
