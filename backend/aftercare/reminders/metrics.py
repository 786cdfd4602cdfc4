"""This process's Prometheus counters: reminders by channel and outcome, and whether the
background jobs run here. `aftercare.reports.metrics` serves them with the database's gauges."""

from prometheus_client import Counter, Gauge

# Counted in this process; sum them over processes in Prometheus.
REMINDERS = Counter(
    "aftercare_reminders",
    "Reminders handled by the dispatchers of this process, by channel and outcome",
    ["channel", "outcome"],
    registry=None,
)


# Whether this process runs the background jobs (1) or leaves them to workers (0).
JOBS_HERE = Gauge(
    "aftercare_jobs_in_process",
    "1 when this process runs the background jobs (dispatcher, escalation, retention)",
    registry=None,
)
