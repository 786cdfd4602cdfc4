"""Assembling the dispatcher with the channels this server is configured for."""

import threading

from sqlalchemy import Engine
from sqlmodel import Session

from aftercare.reminders.channels import Channel
from aftercare.reminders.dispatcher import CheckedIn, Dispatcher, InAppChannel
from aftercare.reminders.email import EmailChannel
from aftercare.reminders.push import VapidKeys, WebPushChannel, vapid_keys
from aftercare.settings import Settings
from aftercare.writer import Writer


def load_vapid(engine: Engine) -> VapidKeys:
    """The VAPID key pair, made and kept in the database on first start."""
    with Session(engine) as session:
        return vapid_keys(session)


class LazyVapid:
    """The key pair, read when first needed: the app must start (and say 503 on
    /healthz) even while the database is away."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._keys: VapidKeys | None = None
        self._lock = threading.Lock()

    def get(self) -> VapidKeys:
        with self._lock:
            if self._keys is None:
                self._keys = load_vapid(self.engine)
            return self._keys


def make_channels(settings: Settings, vapid: VapidKeys) -> dict[str, Channel]:
    channels: dict[str, Channel] = {
        "in-app": InAppChannel(),
        # A phone offline for hours must not get the reminder in the night:
        # the push service drops it once it is as late as the dispatcher allows.
        "push": WebPushChannel(
            vapid.private_pem,
            subject=f"mailto:{settings.mail_from}",
            ttl_s=settings.max_lateness_minutes * 60,
            allow_insecure=settings.push_allow_insecure,
            connections=settings.dispatch_concurrency,
        ),
    }
    if settings.smtp_url:
        channels["email"] = EmailChannel(
            settings.smtp_url, settings.mail_from, connections=settings.smtp_connections
        )
    return channels


def make_dispatcher(
    engine: Engine, writer: Writer, settings: Settings, vapid: VapidKeys, checked_in_on: CheckedIn
) -> Dispatcher:
    channels = make_channels(settings, vapid)
    return Dispatcher(engine, writer, channels, settings, checked_in_on=checked_in_on)
