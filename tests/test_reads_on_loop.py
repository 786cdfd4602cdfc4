"""Which requests may read on the event loop (`aftercare.db.reads_on_loop`): on SQLite,
only while a pooled connection is idle; a database server never."""

from sqlmodel import Session

from aftercare.db import reads_on_loop


def test_only_sqlite_with_an_idle_connection_reads_on_the_loop(engine):
    with Session(engine) as session:
        if engine.dialect.name != "sqlite":
            assert not reads_on_loop(session), "a server's round trip must not block the loop"
            return
        engine.dispose()  # an empty pool: the first connection is still to be made
        assert not reads_on_loop(session)
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
            assert not reads_on_loop(session), "the only connection is in use"
        assert reads_on_loop(session), "it is back in the pool, idle"
