"""One unit of work per request: a route's session commits once, at the end, and only
when the route succeeded; no route commits by itself."""

import ast
import inspect
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, select
from sqlmodel import Session, col

from aftercare.audit.models import AuditEvent
from aftercare.audit.service import record
from aftercare.deps import SessionDep
from aftercare.patients.models import Patient
from tests.console.conftest import Console, sign_in
from tests.console.test_enrol import enrol_fields
from tests.factories import Factory


def _audit_rows(engine: Engine, action: str) -> int:
    with Session(engine) as session:
        query = select(func.count()).select_from(AuditEvent).where(col(AuditEvent.action) == action)
        return int(session.execute(query).scalar_one())


@pytest.fixture
def bare(engine: Engine) -> Iterator[TestClient]:
    """Two routes on the app's own session dependency, nothing else."""
    app = FastAPI()
    app.state.engine = engine

    @app.post("/kept")
    def kept(session: SessionDep) -> dict[str, int]:
        record(session, datetime.now(UTC), None, "system", None, "uow.kept", "clinic", None)
        return {"ok": 1}

    @app.post("/refused")
    def refused(session: SessionDep) -> None:
        record(session, datetime.now(UTC), None, "system", None, "uow.refused", "clinic", None)
        raise HTTPException(409, "no")

    with TestClient(app) as client:
        yield client


def test_what_a_route_wrote_is_committed_before_its_answer_arrives(bare, engine):
    assert bare.post("/kept").status_code == 200
    # Read from another connection as soon as the answer is in: already there.
    assert _audit_rows(engine, "uow.kept") == 1


def test_a_route_that_refuses_commits_nothing(bare, engine):
    assert bare.post("/refused").status_code == 409
    assert _audit_rows(engine, "uow.refused") == 0


def test_no_route_commits_by_itself(client: TestClient):
    """The session dependency commits; a route's own body never does."""
    committing = []
    for context in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(route.endpoint)))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "commit":
                committing.append(route.path)
    assert len(list(iter_route_contexts(client.app.routes))) > 50  # type: ignore[attr-defined]
    assert committing == []


def test_an_enrolment_and_its_audit_row_are_one_transaction(
    client: TestClient, factory: Factory, engine: Engine
):
    nurse = factory.nurse()
    assert sign_in(client, nurse.email).status_code == 303
    console = Console(client, nurse)
    console.csrf()  # the form's page first, as a nurse opens it
    commits: list[Engine] = []
    listener = lambda connection: commits.append(connection.engine)  # noqa: E731
    # Every engine's commits: on SQLite the single writer has an engine of its own.
    event.listen(Engine, "commit", listener)
    try:
        response = console.post("/console/enrol", **enrol_fields())
    finally:
        event.remove(Engine, "commit", listener)
    assert response.status_code == 200, response.text
    assert _audit_rows(engine, "patient.enrolled") == 1
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(Patient)).scalar_one() == 1
    # The enrolment (patient, plan, reminders, code, audit row) is one write job, one commit.
    assert len(commits) == 1
    if engine.dialect.name == "sqlite":
        # By the single writer, not on the request's connection: a long plan never
        # fights the check-ins for SQLite's lock.
        assert commits[0] is not engine
