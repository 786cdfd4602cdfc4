"""Every model change ships a migration: the migrated schema equals the models."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from aftercare.models import metadata


def test_the_migrations_build_exactly_the_models(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []
