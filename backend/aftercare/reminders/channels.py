"""The ways a reminder leaves the server, each behind one small interface.

What a channel carries is neutral by construction: it receives only a
`Message` (title and body written by `texts.py`), never the plan item.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

Outcome = Literal["sent", "retry", "failed"]


@dataclass(frozen=True)
class Message:
    """What may be shown outside the app: on a lock screen, in an inbox."""

    title: str
    body: str
    url: str  # opens the app; neutral path, no detail
    tag: str  # a retried message replaces, never repeats


@dataclass(frozen=True)
class Delivery:
    reminder_id: int
    message: Message
    email: str | None = None
    push: Sequence["PushTarget"] = ()


@dataclass(frozen=True)
class PushTarget:
    subscription_id: int
    endpoint: str
    p256dh: str
    auth: str


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    error: str | None = None
    # Push subscriptions the push service said are gone (404/410).
    retired: tuple[int, ...] = ()


class Channel(Protocol):
    name: str

    def send(self, delivery: Delivery) -> Result: ...
