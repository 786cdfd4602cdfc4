"""All configuration, read once from `AFTERCARE_*` variables and an optional `.env`."""

from functools import lru_cache
from ipaddress import ip_network
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "change-me"
PACKAGE_DIR = Path(__file__).resolve().parent


def _shipped_dir(name: str) -> Path:
    """A folder shipped with the package: inside the wheel, or at the repository root."""
    inside_wheel = PACKAGE_DIR / name
    if inside_wheel.is_dir():
        return inside_wheel
    return PACKAGE_DIR.parent.parent / name


FRONTEND_DIR = _shipped_dir("frontend")
SHIPPED_SCHEDULES_DIR = _shipped_dir("schedules")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AFTERCARE_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str = "sqlite:///./aftercare.db"
    secret_key: str = DEFAULT_SECRET_KEY
    base_url: str = "http://127.0.0.1:8000"
    smtp_url: str | None = None
    mail_from: str = "reminders@localhost"
    schedules_dir: Path = SHIPPED_SCHEDULES_DIR
    dispatch_interval_s: float = Field(default=10, gt=0)
    # Where "Quick exit" takes the patient: a neutral, everyday site.
    quick_exit_url: str = "https://www.google.com/"
    # A reminder later than this is skipped rather than sent in the night.
    max_lateness_minutes: int = Field(default=180, gt=0)
    # A claimed reminder is retried by another dispatcher after this lease.
    dispatch_lease_s: int = Field(default=120, gt=0)
    # Sends a dispatcher keeps in flight at once (a push service ~100 ms away answers
    # about concurrency / 0.1 messages a second), and the SMTP connections it keeps open.
    dispatch_concurrency: int = Field(default=50, ge=1, le=1000)
    smtp_connections: int = Field(default=8, ge=1, le=100)
    # Demo mode allows the default secret key; never set it on a real server.
    demo: bool = False
    # Patient device sessions last the whole recovery; nurse tokens a working shift.
    patient_token_days: int = Field(default=120, gt=0)
    nurse_token_hours: int = Field(default=12, gt=0)
    enrollment_code_days: int = Field(default=14, gt=0)
    # Failed sign-ins or enrolment attempts from one client before it gets 429.
    max_auth_failures: int = Field(default=10, gt=0)
    auth_failure_window_minutes: int = Field(default=15, gt=0)
    # api.md: push endpoints must be https on a public address; `1` lifts this for tests
    # and an intranet push service.
    push_allow_insecure: bool = False
    # The reverse proxies whose X-Forwarded-For is believed (comma-separated addresses or
    # networks, e.g. "127.0.0.1, 10.0.0.0/8"); empty: the connecting address is the client.
    # The default believes a proxy on the same machine only.
    trusted_proxies: str = "127.0.0.1, ::1"
    # Whether `aftercare serve` runs the background jobs (reminders, escalation, silence,
    # retention) in its own process; off when `aftercare worker`s run them apart.
    jobs: bool = True
    # PostgreSQL connections each process keeps open, and how many more it may open at
    # a peak: processes x (pool + overflow) must stay under the server's max_connections.
    db_pool_size: int = Field(default=10, ge=1, le=1000)
    db_max_overflow: int = Field(default=20, ge=0, le=1000)
    # Logs are JSON lines on standard error, from this level up (debug, info, warning, error).
    log_level: str = Field(default="info", pattern="^(?i)(debug|info|warning|error)$")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                try:
                    ip_network(part.strip(), strict=False)
                except ValueError:
                    raise ValueError(f"not an address or network: {part.strip()!r}") from None
        return value

    @property
    def uses_default_secret(self) -> bool:
        return self.secret_key == DEFAULT_SECRET_KEY

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
