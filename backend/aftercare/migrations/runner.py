"""Run the Alembic migrations from code, so `aftercare db upgrade` works from the wheel."""

from alembic import command
from alembic.config import Config

from aftercare.db import normalise_url


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "aftercare:migrations")
    config.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)
