"""`aftercare nurse disable / enable / reset-password`: what an admin does in the console."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner, Result

from aftercare.accounts.models import AuthFailure
from aftercare.audit.models import AuditEvent
from aftercare.cli import app
from tests.console.conftest import sign_in
from tests.factories import PASSWORD, Factory

runner = CliRunner()
NEW_PASSWORD = "another long passphrase"


@pytest.fixture
def cli_env(database_url: str, engine: Engine) -> dict[str, str]:
    return {"AFTERCARE_DATABASE_URL": database_url, "AFTERCARE_DEMO": "0"}


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> Result:
    result = runner.invoke(app, args, env=env, input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


SIGN_INS = ("nurse.signed-in", "nurse.sign-in-failed")


def _last_event(engine: Engine) -> AuditEvent:
    """The last change made to an account (sign-ins and their failures are audited too)."""
    with Session(engine) as session:
        return session.exec(  # type: ignore[return-value]
            select(AuditEvent)
            .where(col(AuditEvent.action).not_in(SIGN_INS))
            .order_by(col(AuditEvent.id).desc())
        ).first()


def test_disable_signs_the_nurse_out_everywhere_and_enable_lets_them_back(
    cli_env: dict[str, str], client: TestClient, factory: Factory, engine: Engine
) -> None:
    nurse = factory.nurse()
    browser = TestClient(client.app)
    assert sign_in(browser, nurse.email).status_code == 303

    result = run(["nurse", "disable", nurse.email.upper()], cli_env)
    assert result.exit_code == 0, result.output
    assert f"Disabled nurse {nurse.email}" in result.output
    assert browser.get("/console/queue", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/flags", headers=nurse.headers).status_code == 401
    assert sign_in(browser, nurse.email).status_code == 401
    event = _last_event(engine)
    assert (event.action, event.actor, event.client) == ("nurse.disabled", "system", "cli")

    result = run(["nurse", "enable", nurse.email], cli_env)
    assert result.exit_code == 0 and "Enabled nurse" in result.output
    assert sign_in(browser, nurse.email).status_code == 303
    assert _last_event(engine).action == "nurse.enabled"


def test_reset_password_reads_standard_input_signs_out_and_unlocks(
    cli_env: dict[str, str], client: TestClient, factory: Factory, engine: Engine, settings: Any
) -> None:
    nurse = factory.nurse()
    for _ in range(settings.max_auth_failures):
        sign_in(client, nurse.email, "a wrong guess")
    result = run(
        ["nurse", "reset-password", nurse.email, "--password-stdin"], cli_env, NEW_PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    assert client.get("/api/v1/flags", headers=nurse.headers).status_code == 401
    with Session(engine) as session:
        scopes = {failure.scope for failure in session.exec(select(AuthFailure)).all()}
    assert scopes == {"sign-in"}  # the account's lockout is gone; the guessing browser's stays
    fresh = TestClient(client.app, client=("10.1.2.3", 5000))
    assert sign_in(fresh, nurse.email, PASSWORD).status_code == 401
    assert sign_in(fresh, nurse.email, NEW_PASSWORD).status_code == 303
    assert _last_event(engine).action == "nurse.password-reset"


@pytest.mark.parametrize(
    ("args", "stdin", "words"),
    [
        (["disable", "nobody@north.example"], None, "no nurse has the e-mail"),
        (["enable", "nobody@north.example"], None, "no nurse has the e-mail"),
        (["reset-password", "nobody@north.example", "--password-stdin"], NEW_PASSWORD, "no nurse"),
        (["reset-password", "{email}"], None, "--password-stdin"),
        (["reset-password", "{email}", "--password-stdin"], "too short\n", "at least 12"),
    ],
)
def test_nurse_change_mistakes_are_one_line_errors_with_exit_2(
    cli_env: dict[str, str], factory: Factory, args: list[str], stdin: str | None, words: str
) -> None:
    nurse = factory.nurse()
    result = run(["nurse", *(arg.format(email=nurse.email) for arg in args)], cli_env, stdin)
    assert result.exit_code == 2
    assert words in result.stderr and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
