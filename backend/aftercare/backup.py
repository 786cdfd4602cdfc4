"""Backups: a consistent, checked, private copy of the database, made while the app runs.

A backup holds every patient's health data, so the file is readable by its owner
only (0600) from the moment it exists, and it appears under its name only once
it is whole and checked: a half-written copy never looks like a backup.
"""

import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from aftercare.db import normalise_url
from aftercare.i18n import _

DOCS = "docs/deploy.md, Backups"


class BackupProblem(Exception):
    """Why no backup was written, in words for the person at the terminal.

    `code` 2: refused before anything was tried (a mistake to correct);
    `code` 1: tried and failed.
    """

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Backup:
    path: Path
    size: int
    engine: str


def make_backup(database_url: str, target: Path, force: bool = False) -> Backup:
    """Copy the database to `target`: SQLite's online backup, or `pg_dump` on PostgreSQL."""
    url = make_url(normalise_url(database_url))
    # os.path's checks answer False where they may not look; mkstemp then says why.
    if os.path.isdir(target):
        raise BackupProblem(_("{path} is a folder; give a file name").format(path=target), 2)
    if os.path.lexists(target) and not force:
        raise BackupProblem(
            _("{path} exists; add --force to replace it").format(path=target), code=2
        )
    if url.get_backend_name() == "sqlite":
        source = _sqlite_file(url)
        if os.path.exists(target) and os.path.samefile(target, source):
            raise BackupProblem(_("{path} is the database itself").format(path=target), 2)
        _write_privately(target, force, lambda partial: _copy_sqlite(source, partial))
        engine = "SQLite"
    else:
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            raise BackupProblem(
                _(
                    "PostgreSQL backups are made with pg_dump, which is not on PATH: "
                    "install the PostgreSQL client tools (see {docs})"
                ).format(docs=DOCS),
                code=2,
            )
        _write_privately(target, force, lambda partial: _dump_postgres(pg_dump, url, partial))
        engine = "PostgreSQL"
    return Backup(target, target.stat().st_size, engine)


def _write_privately(target: Path, force: bool, fill: Callable[[Path], None]) -> None:
    """Fill a 0600 file beside `target`, then give it `target`'s name in one step."""
    folder = target.parent
    try:
        # mkstemp creates the file 0600, whatever the umask; beside the target, so
        # that the rename below stays on one file system and is atomic.
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=folder)
    except OSError as exc:
        raise BackupProblem(
            _("cannot write {path}: {reason}").format(path=target, reason=exc.strerror)
        ) from None
    os.close(handle)
    partial = Path(name)
    try:
        fill(partial)
        os.chmod(partial, 0o600)
        _sync(partial)
        _put_in_place(partial, target, force)
        _sync(folder)
    except OSError as exc:
        raise BackupProblem(
            _("cannot write {path}: {reason}").format(path=target, reason=exc.strerror)
        ) from None
    finally:
        partial.unlink(missing_ok=True)


def _put_in_place(partial: Path, target: Path, force: bool) -> None:
    if force:
        os.replace(partial, target)
        return
    # A link never replaces a file that appeared meanwhile, unlike a rename.
    try:
        os.link(partial, target)
    except FileExistsError:
        raise BackupProblem(
            _("{path} exists; add --force to replace it").format(path=target), code=2
        ) from None
    except OSError:
        # Some file systems have no hard links; the check above stands in.
        if os.path.lexists(target):
            raise
        os.replace(partial, target)


def _sync(path: Path) -> None:
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _sqlite_file(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupProblem(_("an in-memory database has nothing to back up"), code=2)
    source = Path(url.database)
    if not source.is_file():
        raise BackupProblem(_("no database at {path}").format(path=source), code=2)
    return source


def _copy_sqlite(source: Path, partial: Path) -> None:
    """SQLite's online backup: one read of a single snapshot, while writers go on (WAL)."""
    try:
        reader = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        copy = sqlite3.connect(partial)
        try:
            # One step (pages=-1) reads the whole file inside one read transaction: the
            # copy is the database as of one commit, whatever is written meanwhile.
            reader.backup(copy, pages=-1)
            # The copy stands alone: no write-ahead log beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
            verdict = [row[0] for row in copy.execute("PRAGMA integrity_check")]
        finally:
            copy.close()
            reader.close()
    except sqlite3.Error as exc:
        # SQLite's messages name the failure ("database is locked"), never a row.
        raise BackupProblem(_("the copy failed: {reason}").format(reason=exc)) from None
    if verdict != ["ok"]:
        raise BackupProblem(_("the copy did not pass SQLite's integrity check; nothing written"))


def _dump_postgres(pg_dump: str, url: URL, partial: Path) -> None:
    """`pg_dump --format=custom`: one snapshot of the database, restored with `pg_restore`."""
    # The password goes in the environment, not on the command line other users can read.
    environment = dict(os.environ)
    if url.password is not None:
        environment["PGPASSWORD"] = str(url.password)
    libpq_url = url.set(drivername="postgresql", password=None)
    command = [pg_dump, "--format=custom", "--file", str(partial),
               "--dbname", libpq_url.render_as_string(hide_password=False)]  # fmt: skip
    # The arguments are ours and the executable is the pg_dump found on PATH.
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupProblem(_("pg_dump failed: {reason}").format(reason=_first_line(done.stderr)))
    _check_archive(pg_dump, partial)


def _check_archive(pg_dump: str, partial: Path) -> None:
    """`pg_restore --list` reads the archive's whole table of contents: a truncated one fails."""
    sibling = Path(pg_dump).with_name("pg_restore")
    pg_restore = str(sibling) if sibling.is_file() else shutil.which("pg_restore")
    if pg_restore is None:
        with partial.open("rb") as archive:
            intact = archive.read(5) == b"PGDMP"
    else:
        listing = subprocess.run(  # noqa: S603 (our arguments, pg_restore beside pg_dump)
            [pg_restore, "--list", str(partial)], capture_output=True, check=False
        )
        intact = listing.returncode == 0
    if not intact:
        raise BackupProblem(_("the pg_dump archive could not be read back; nothing written"))


def _first_line(stderr: str) -> str:
    """pg_dump's first line says what failed; the next ones guess why."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[0].removeprefix("pg_dump: error: ") if lines else _("no message")
