"""Background jobs (APScheduler 3): inside `serve` by default, alone in `aftercare worker`.

Each domain brings its own job; several processes may run them at once.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import Engine

from aftercare.flags.tasks import SWEEP_EVERY, escalate_red_flags, raise_silence_flags
from aftercare.privacy import retention
from aftercare.protocols.loader import Protocol
from aftercare.reminders.dispatcher import Dispatcher
from aftercare.settings import Settings
from aftercare.writer import Writer


def _now() -> datetime:
    return datetime.now(UTC)


def add_jobs(
    scheduler: BaseScheduler,
    engine: Engine,
    writer: Writer,
    protocols: dict[str, Protocol],
    dispatcher: Dispatcher,
    settings: Settings,
) -> None:
    def every(seconds: float, name: str, job: Callable[[], Any]) -> None:
        scheduler.add_job(
            job, "interval", seconds=seconds, id=name, max_instances=1, coalesce=True,
            next_run_time=_now(),
        )  # fmt: skip

    every(settings.dispatch_interval_s, "dispatch-reminders", lambda: dispatcher.sweep(_now()))
    every(60, "escalate-red-flags", lambda: escalate_red_flags(engine, writer, _now()))
    every(
        SWEEP_EVERY.total_seconds(),
        "silence-flags",
        lambda: raise_silence_flags(engine, writer, protocols, _now()),
    )
    every(
        retention.SWEEP_EVERY.total_seconds(),
        "anonymise-patients",
        lambda: retention.anonymise_due_patients(engine, writer, _now()),
    )
