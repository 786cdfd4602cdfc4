"""The Prometheus page, /metrics: this process's counters and the gauges read from the
database when scraped (reminders by status, dispatch lag, open flags by severity)."""

from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from aftercare.flags.models import Flag
from aftercare.reminders.metrics import JOBS_HERE, REMINDERS
from aftercare.reminders.models import Reminder


class DatabaseCollector:
    """Gauges read from the database when scraped: the same answer from every process."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        yield from REMINDERS.collect()
        yield from JOBS_HERE.collect()
        now = datetime.now(UTC)
        with Session(self.engine) as session:
            due = GaugeMetricFamily(
                "aftercare_reminders_due", "Reminders due and not yet sent, by channel",
                labels=["channel"],
            )  # fmt: skip
            for channel, number in session.execute(
                select(col(Reminder.channel), func.count())
                .where(col(Reminder.status) == "pending", col(Reminder.due_at) <= now)
                .group_by(col(Reminder.channel))
            ).all():
                due.add_metric([channel], number)
            yield due
            oldest = session.execute(
                select(func.min(Reminder.due_at)).where(
                    col(Reminder.status) == "pending", col(Reminder.due_at) <= now
                )
            ).scalar()
            lag = GaugeMetricFamily(
                "aftercare_dispatch_lag_seconds",
                "How long the oldest due, unsent reminder has waited",
            )
            if oldest is not None and oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=UTC)
            lag.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
            yield lag
            flags = GaugeMetricFamily(
                "aftercare_open_flags", "Flags not yet resolved, by severity", labels=["severity"]
            )
            counts = dict(
                session.execute(
                    select(col(Flag.severity), func.count())
                    .where(col(Flag.status) != "resolved")
                    .group_by(col(Flag.severity))
                ).all()
            )
            for severity in ("red", "amber"):
                flags.add_metric([severity], counts.get(severity, 0))
            yield flags


def render(engine: Engine) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(engine))
    return generate_latest(registry)
