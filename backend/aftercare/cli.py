"""The `aftercare` command: the first thing a newcomer runs."""

import gc
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from pydantic import ValidationError

from aftercare import logs
from aftercare.protocols.loader import Protocol
from aftercare.settings import Settings

app = typer.Typer(
    help="Aftercare: a discreet post-operative recovery companion.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
nurse_app = typer.Typer(help="Nurse accounts.", no_args_is_help=True)
protocol_app = typer.Typer(help="Procedure files (schedules/).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(nurse_app, name="nurse")
app.add_typer(protocol_app, name="protocol")


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        lines = [
            f"AFTERCARE_{'_'.join(map(str, error['loc'])).upper()}: {error['msg']}"
            for error in exc.errors()
        ]
        raise fail("invalid settings\n  " + "\n  ".join(lines)) from None


def load_protocols_or_exit(settings: Settings) -> "dict[str, Protocol]":
    from aftercare.protocols.loader import ProtocolFilesInvalid, load_protocols

    try:
        return load_protocols(settings.schedules_dir)
    except ProtocolFilesInvalid as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise fail("the procedure files are not valid (see `aftercare protocol check`)") from None


def upgrade_database(settings: Settings) -> None:
    from sqlalchemy.exc import OperationalError

    from aftercare.migrations.runner import upgrade

    try:
        upgrade(settings.database_url)
    except OperationalError as exc:
        raise fail(f"cannot reach the database: {exc.orig}") from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    jobs: Annotated[
        bool,
        typer.Option(
            "--jobs/--no-jobs",
            help="Run the background jobs in this process too (default: AFTERCARE_JOBS, on).",
        ),
    ] = True,
) -> None:
    """Run the web app; creates or upgrades the database first."""
    import uvicorn

    from aftercare.app import create_app

    settings = load_settings()
    if settings.uses_default_secret and not settings.demo:
        raise fail(
            "AFTERCARE_SECRET_KEY is not set. Set it to a long random value, e.g.\n"
            "  export AFTERCARE_SECRET_KEY="
            "$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')\n"
            "(or set AFTERCARE_DEMO=1 for a demo on your own machine)",
            code=2,
        )
    logs.configure(settings.log_level)
    load_protocols_or_exit(settings)
    upgrade_database(settings)
    # Open live queues (Server-Sent Events) would hold a restart for minutes otherwise.
    # Logging is ours (aftercare.logs): JSON lines, and an access line without the path.
    # Which proxy to believe is ours too (AFTERCARE_TRUSTED_PROXIES, aftercare.deps).
    run_jobs = jobs and settings.jobs
    web_app = create_app(settings, run_jobs=run_jobs)
    tune_collector()
    uvicorn.run(web_app, host=host, port=port, proxy_headers=False,
                timeout_graceful_shutdown=5, log_config=None, access_log=False)  # fmt: skip


# Requests make many short-lived objects (a row, a template's context): the youngest
# generation is collected after this many rather than CPython's 700.
YOUNG_OBJECTS = 5_000


def tune_collector() -> None:
    """Set the garbage collector for a server that runs for weeks (bench/checkins.py).

    What start made (the app, its routes and templates, the tables' metadata) lives as
    long as the process: `gc.freeze` takes it out of every later collection, which
    would otherwise walk it again each time. A request makes thousands of objects, so
    CPython's default ran several collections per request; after `YOUNG_OBJECTS` new
    ones it runs one. Cycles are still collected, a little later.

    The size is measured, not guessed: a young generation too large is slower to walk
    per object (it no longer fits the processor's caches). In one process serving
    2,000 check-ins and 2,000 Today pages, the collector took 410 ms in all at 50,000
    (its longest pause 80 ms, which was Today's p99), 160 ms at 5,000 (longest 8 ms);
    6,000 Today pages alone took 276 ms at CPython's 700, 220 ms at 5,000.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])


@app.command()
def worker() -> None:
    """Run the reminder dispatcher and the background jobs alone (no web server)."""
    import signal
    from datetime import UTC

    from apscheduler.schedulers.blocking import BlockingScheduler

    from aftercare.checkins.service import checked_in_on
    from aftercare.db import make_engine, session_factory
    from aftercare.reminders.runtime import load_vapid, make_dispatcher
    from aftercare.scheduler import add_jobs
    from aftercare.writer import make_writer

    settings = load_settings()
    logs.configure(settings.log_level)
    protocols = load_protocols_or_exit(settings)
    upgrade_database(settings)
    engine = make_engine(settings.database_url, settings.db_pool_size, settings.db_max_overflow)
    writer = make_writer(engine)
    dispatcher = make_dispatcher(engine, writer, settings, load_vapid(engine), checked_in_on)
    scheduler = BlockingScheduler(timezone=UTC)
    take_down = add_jobs(
        scheduler, session_factory(engine), writer, protocols, dispatcher, settings
    )
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=False))
    typer.echo(f"Dispatching every {settings.dispatch_interval_s:g} s as {dispatcher.name}.")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        take_down()
        dispatcher.close()
        writer.close()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations."""
    settings = load_settings()
    upgrade_database(settings)
    typer.echo("The database is up to date.")


@app.command()
def backup(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="PATH", help="The file to write: an SQLite copy or a pg_dump archive."
        ),
    ],
    force: Annotated[bool, typer.Option("--force", help="Replace PATH if it exists.")] = False,
) -> None:
    """Write a consistent, checked copy of the database to PATH while the app runs.

    The file holds health data: it is readable by its owner only (0600).
    """
    from aftercare.backup import BackupProblem, make_backup
    from aftercare.i18n import _

    settings = load_settings()
    try:
        written = make_backup(settings.database_url, path, force)
    except BackupProblem as problem:
        raise fail(problem.message, problem.code) from None
    typer.echo(
        _("Wrote {path} ({size} bytes, {engine}, checked).").format(
            path=written.path, size=f"{written.size:,}", engine=written.engine
        )
    )


@app.command()
def demo() -> None:
    """Seed a demo clinic, nurse and patients (idempotent) and print how to sign in."""
    from aftercare.db import make_engine
    from aftercare.demo import DEMO_NURSE, DEMO_PASSWORD, seed_demo

    settings = load_settings()
    protocols = load_protocols_or_exit(settings)
    upgrade_database(settings)
    patients = seed_demo(make_engine(settings.database_url), settings, protocols, datetime.now(UTC))
    base = settings.base_url.rstrip("/")
    typer.echo(f"Nurse console:  {base}/console  e-mail {DEMO_NURSE}  password {DEMO_PASSWORD}")
    typer.echo(
        f"API token:      curl -s -d username={DEMO_NURSE} -d password={DEMO_PASSWORD} "
        f"{base}/api/v1/auth/token"
    )
    for patient in patients:
        link = patient.enrollment_url or "(already enrolled on a device)"
        typer.echo(f"Patient {patient.alias:<6} {patient.protocol:<14} {link}")


@nurse_app.command("create")
def nurse_create(
    email: Annotated[str, typer.Argument(help="The nurse's e-mail, used to sign in.")],
    clinic: Annotated[str, typer.Option(help="The clinic's short name (slug); created if new.")],
    admin: Annotated[bool, typer.Option("--admin", help="May manage the clinic.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a nurse (and the clinic if it is new)."""
    import re

    from aftercare.accounts.service import NurseExists, create_nurse, get_or_create_clinic
    from aftercare.db import make_engine, session_scope

    if not password_stdin:
        raise fail("give the password on standard input with --password-stdin", code=2)
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", clinic):
        raise fail("--clinic: use lower-case letters, digits and '-', like 'city-clinic'", 2)
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email.strip()):
        raise fail(f"'{email}' is not an e-mail address", code=2)
    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 12:
        raise fail("the password must have at least 12 characters", code=2)
    settings = load_settings()
    upgrade_database(settings)
    try:
        with session_scope(make_engine(settings.database_url)) as session:
            create_nurse(session, email, password, get_or_create_clinic(session, clinic), admin)
    except NurseExists:
        raise fail(f"a nurse with the e-mail {email} already exists") from None
    role = "admin " if admin else ""
    typer.echo(f"Created {role}nurse {email.strip().lower()} in clinic {clinic}.")


def _change_nurse(email: str, action: str, password: str = "") -> None:
    """Disable, enable or reset the password of a nurse, as an admin does in the console."""

    from aftercare.accounts.nurses import (
        Actor,
        NurseProblem,
        nurse_by_email,
        reset_password,
        set_active,
    )
    from aftercare.db import make_engine, session_scope
    from aftercare.dbtypes import utc_now

    settings = load_settings()
    upgrade_database(settings)
    # The command line has no signed-in nurse: the audit trail names it "system".
    actor = Actor("system", None, "cli")
    with session_scope(make_engine(settings.database_url)) as session:
        nurse = nurse_by_email(session, email)
        if nurse is None:
            raise fail(f"no nurse has the e-mail {email}", code=2)
        try:
            if action == "password":
                reset_password(session, nurse, password, utc_now(), actor)
            else:
                set_active(session, nurse, action == "enable", utc_now(), actor)
        except NurseProblem as problem:
            raise fail(problem.message, code=2) from None


@nurse_app.command("disable")
def nurse_disable(
    email: Annotated[str, typer.Argument(help="The nurse's e-mail.")],
) -> None:
    """Disable a nurse's account and sign it out everywhere at once."""
    _change_nurse(email, "disable")
    typer.echo(f"Disabled nurse {email.strip().lower()}; every session was signed out.")


@nurse_app.command("enable")
def nurse_enable(
    email: Annotated[str, typer.Argument(help="The nurse's e-mail.")],
) -> None:
    """Enable a disabled nurse's account again."""
    _change_nurse(email, "enable")
    typer.echo(f"Enabled nurse {email.strip().lower()}.")


@nurse_app.command("reset-password")
def nurse_reset_password(
    email: Annotated[str, typer.Argument(help="The nurse's e-mail.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from standard input.")
    ] = False,
) -> None:
    """Set a new password, sign the nurse out everywhere and lift a sign-in lockout."""
    if not password_stdin:
        raise fail("give the new password on standard input with --password-stdin", code=2)
    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 12:
        raise fail("the password must have at least 12 characters", code=2)
    _change_nurse(email, "password", password)
    typer.echo(f"Changed the password of nurse {email.strip().lower()}; sessions signed out.")


@protocol_app.command("check")
def protocol_check(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Files to check (default: every file in schedules/)."),
    ] = None,
) -> None:
    """Validate procedure files; prints file:line: problem and exits 1 when one is invalid."""
    from aftercare.protocols.loader import (
        RULES_FILE,
        Problem,
        check_files,
        load_rules_file,
        procedure_paths,
    )

    settings = load_settings()
    folder = settings.schedules_dir
    paths = files or [*procedure_paths(folder), folder / RULES_FILE]
    problems: list[Problem] = []
    procedures = [path for path in paths if not path.name.startswith("_")]
    for path in paths:
        if not path.is_file():
            problems.append(Problem(path, 1, "no such file"))
        elif path.name.startswith("_"):
            load_rules_file(path, problems)
    rules_path = next(
        (p.parent / RULES_FILE for p in procedures if (p.parent / RULES_FILE).is_file()),
        folder / RULES_FILE,
    )
    existing = [path for path in procedures if path.is_file()]
    protocols, found = check_files(existing, rules_path)
    seen = {str(problem) for problem in problems}
    problems += [problem for problem in found if str(problem) not in seen]
    for problem in problems:
        typer.echo(str(problem))
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{len(paths)} file(s) valid: {', '.join(sorted(protocols)) or RULES_FILE}")


@protocol_app.command("plan")
def protocol_plan(
    protocol_id: Annotated[str, typer.Argument(metavar="ID", help="The procedure's id.")],
    surgery_at: Annotated[
        str, typer.Option(help="Surgery time, ISO 8601 with an offset: 2027-03-26T09:00:00+01:00")
    ],
    tz: Annotated[str, typer.Option(help="The patient's IANA time zone, like Europe/Paris.")],
    lang: Annotated[str, typer.Option(help="Language: en, fr, ar or tr.")] = "en",
    wake: Annotated[str | None, typer.Option(help="Wake time HH:MM (default: the file's).")] = None,
    sleep: Annotated[
        str | None, typer.Option(help="Sleep time HH:MM (default: the file's).")
    ] = None,
) -> None:
    """Print the day-by-day plan a patient would get."""
    from aftercare.patients.schemas import known_time_zones
    from aftercare.plans.engine import WakeWindow, build_plan
    from aftercare.plans.printing import format_plan
    from aftercare.protocols.schema import parse_clock

    settings = load_settings()
    protocols = load_protocols_or_exit(settings)
    protocol = protocols.get(protocol_id)
    if protocol is None:
        raise fail(f"unknown procedure '{protocol_id}'; known: {', '.join(sorted(protocols))}", 2)
    try:
        moment = datetime.fromisoformat(surgery_at)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise fail(f"--surgery-at: '{surgery_at}' is not an ISO 8601 time with an offset", 2)
    if tz not in known_time_zones():
        raise fail(f"--tz: '{tz}' is not an IANA time zone, like Europe/Paris", 2)
    if lang not in protocol.spec.languages:
        raise fail(f"--lang: {protocol.id} has {', '.join(protocol.spec.languages)}", 2)
    try:
        window = WakeWindow(
            parse_clock(wake) if wake else protocol.spec.defaults.wake_time,
            parse_clock(sleep) if sleep else protocol.spec.defaults.sleep_time,
        )
    except ValueError as exc:
        raise fail(f"--wake/--sleep: {exc}", 2) from None
    days = build_plan(protocol, moment, ZoneInfo(tz), window)
    typer.echo(format_plan(protocol, days, tz, lang))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
