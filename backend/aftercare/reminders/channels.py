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
    """One notification to one person on one channel.

    It may stand for several reminders due at the same minute (`reminder_ids`,
    the first of which is `reminder_id`): they reach the phone as one.
    """

    reminder_id: int
    message: Message
    email: str | None = None
    push: Sequence["PushTarget"] = ()
    reminder_ids: tuple[int, ...] = ()

    @property
    def covers(self) -> tuple[int, ...]:
        return self.reminder_ids or (self.reminder_id,)


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
    """Sends one delivery, blocking; the dispatcher runs many in its threads at once."""

    name: str

    def send(self, delivery: Delivery) -> Result: ...


class AsyncChannel(Channel, Protocol):
    """A channel that can also send on the dispatcher's event loop: many sends in
    flight over a few kept-alive connections, no thread each."""

    async def send_async(self, delivery: Delivery) -> Result: ...

    async def aclose(self) -> None:
        """Close what the channel opened on the event loop."""
