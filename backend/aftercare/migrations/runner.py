"""Run the Alembic migrations from code, so `aftercare db upgrade` works from the wheel."""

import fcntl

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from aftercare.db import normalise_url


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "aftercare:migrations")
    config.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Upgrade; several processes may start at once (PostgreSQL: an advisory lock in
    env.py; SQLite: a lock file beside the database), one migrates, the others wait."""
    url = make_url(normalise_url(database_url))
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        command.upgrade(alembic_config(database_url), revision)
        return
    with open(f"{url.database}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            command.upgrade(alembic_config(database_url), revision)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
