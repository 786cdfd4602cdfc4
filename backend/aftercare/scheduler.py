"""Background jobs (APScheduler 3): inside `serve` by default; each domain brings its own."""

from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from aftercare.flags.tasks import SWEEP_EVERY, raise_silence_flags
from aftercare.protocols.loader import Protocol
from aftercare.writer import Writer


def make_scheduler(
    engine: Engine, writer: Writer, protocols: dict[str, Protocol]
) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        lambda: raise_silence_flags(engine, writer, protocols, datetime.now(UTC)),
        "interval",
        seconds=SWEEP_EVERY.total_seconds(),
        id="silence-flags",
        max_instances=1,
        coalesce=True,
    )
    return scheduler
