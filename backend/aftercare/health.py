from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from aftercare.db import reads_on_loop

router = APIRouter(tags=["operations"])

_UNAVAILABLE = {"status": "unavailable"}


def _database_answers(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except SQLAlchemyError:
        return False
    return True


@router.get("/healthz", include_in_schema=False)
async def healthz(request: Request) -> JSONResponse:
    """Up, with a database that answers. SQLite answers inside this process in
    microseconds and never waits for a lock to run `SELECT 1`, so it is asked on the
    event loop; a database server is asked from the thread pool, as every route asks it."""
    engine: Engine = request.app.state.engine
    if reads_on_loop(engine):
        answers = _database_answers(engine)
    else:
        # A server's round trip, or (rarely) every SQLite connection in use: the loop
        # must never wait for one.
        answers = await run_in_threadpool(_database_answers, engine)
    if not answers:
        return JSONResponse(_UNAVAILABLE, status_code=503)
    return JSONResponse({"status": "ok"})
