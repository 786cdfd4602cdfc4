"""Background jobs (APScheduler 3): inside `serve` by default, alone in `aftercare worker`.

Each domain brings its own job; several processes may run them at once.
"""

import threading
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.base import BaseScheduler

from aftercare.checkins.tasks import raise_silence_flags
from aftercare.db import Sessions
from aftercare.flags.tasks import SWEEP_EVERY, escalate_red_flags
from aftercare.privacy import retention
from aftercare.protocols.loader import Protocol
from aftercare.reminders import doorbell
from aftercare.reminders.dispatcher import Dispatcher
from aftercare.settings import Settings
from aftercare.writer import Writer


def _now() -> datetime:
    return datetime.now(UTC)


class _Bell:
    """Sweeps at once when something is queued to go now (reminders/doorbell.py), not
    only every dispatch interval; a ring during a sweep makes it go round once more."""

    JOB = "dispatch-reminders"

    def __init__(self, scheduler: BaseScheduler, dispatcher: Dispatcher) -> None:
        self.scheduler = scheduler
        self.dispatcher = dispatcher
        self.rung = threading.Event()
        self.sweeping = threading.Event()
        self.take_down = doorbell.hang(self.ring)

    def sweep(self) -> None:
        while True:
            self.rung.clear()
            self.sweeping.set()
            try:
                self.dispatcher.sweep(_now())
            finally:
                self.sweeping.clear()
            if not self.rung.is_set():
                return

    def ring(self) -> None:
        self.rung.set()
        if self.sweeping.is_set():
            return  # the sweep under way goes round once more
        # Starting or stopping: the next sweep sees the row.
        with suppress(JobLookupError, SchedulerNotRunningError):
            self.scheduler.modify_job(self.JOB, next_run_time=_now())


def add_jobs(
    scheduler: BaseScheduler,
    sessions: Sessions,
    writer: Writer,
    protocols: dict[str, Protocol],
    dispatcher: Dispatcher,
    settings: Settings,
) -> Callable[[], None]:
    """Add the jobs; returns what to call when the scheduler stops (takes the bell down)."""

    def every(seconds: float, name: str, job: Callable[[], Any]) -> None:
        scheduler.add_job(
            job, "interval", seconds=seconds, id=name, max_instances=1, coalesce=True,
            next_run_time=_now(),
        )  # fmt: skip

    bell = _Bell(scheduler, dispatcher)
    every(settings.dispatch_interval_s, bell.JOB, bell.sweep)
    every(60, "escalate-red-flags", lambda: escalate_red_flags(sessions, writer, _now()))
    every(
        SWEEP_EVERY.total_seconds(),
        "silence-flags",
        lambda: raise_silence_flags(sessions, writer, protocols, _now()),
    )
    every(
        retention.SWEEP_EVERY.total_seconds(),
        "anonymise-patients",
        lambda: retention.anonymise_due_patients(sessions, writer, _now()),
    )
    return bell.take_down
