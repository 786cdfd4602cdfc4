"""Many sends in flight at once: an event loop in a thread of its own, per dispatcher.

A push service far away answers in about 100 ms and a busy relay takes longer:
one send after another would make a dispatcher wait for the network almost all
the time. The dispatcher hands a batch's deliveries to this loop, which keeps
up to `concurrency` of them going at once. Channels that can (web push) send
on the loop itself, over a pool of kept-alive connections; the others (e-mail,
the in-app list) run in the loop's threads, as many as the concurrency allows.
"""

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeGuard, TypeVar

from aftercare.reminders.channels import AsyncChannel, Channel, Delivery, Result

log = logging.getLogger(__name__)
T = TypeVar("T")


def is_async(channel: Channel) -> TypeGuard[AsyncChannel]:
    return hasattr(channel, "send_async")


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (it comes with uvicorn[standard]): the same sends for about
    half the event loop's own CPU; asyncio's loop otherwise."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; a platform may lack it
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class SendLoop:
    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self._loop = _new_loop()
        # Shared by every batch being sent at once: never more than `concurrency` in flight.
        self._slots = asyncio.Semaphore(concurrency)
        self._threads = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="send")
        self._thread = threading.Thread(target=self._run, name="send-loop", daemon=True)
        self._thread.start()
        # Batches being sent: closing waits for them, so a stop never cuts a send in two.
        self._active = 0
        self._idle = threading.Condition()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the loop and wait for its result (from any other thread)."""
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def send_all(
        self,
        channels: Mapping[str, Channel],
        deliveries: Sequence[tuple[str, Delivery]],
        may_send: Callable[[Delivery], Awaitable[bool]],
    ) -> list[Result | None]:
        """Send each (channel name, delivery), many at once; results in the same order.

        `may_send` is asked just before each send starts; a delivery it refuses is
        not sent and its result is None.
        """
        with self._idle:
            self._active += 1
        try:
            return self.run(self._send_all(channels, deliveries, may_send))
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    async def in_thread(self, work: Callable[[], T]) -> T:
        return await self._loop.run_in_executor(self._threads, work)

    async def _send_all(
        self,
        channels: Mapping[str, Channel],
        deliveries: Sequence[tuple[str, Delivery]],
        may_send: Callable[[Delivery], Awaitable[bool]],
    ) -> list[Result | None]:
        results: list[Result | None] = [None] * len(deliveries)
        upcoming = iter(range(len(deliveries)))

        # A few workers take the deliveries in turn (no task for each of thousands);
        # the slots, shared with any other batch being sent, bound what is in flight.
        async def worker() -> None:
            for index in upcoming:
                name, delivery = deliveries[index]
                async with self._slots:
                    if await may_send(delivery):
                        results[index] = await self._send(channels.get(name), name, delivery)

        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(deliveries)))))
        return results

    async def _send(self, channel: Channel | None, name: str, delivery: Delivery) -> Result:
        if channel is None:
            return Result("failed", f"no {name} channel configured")
        try:
            if is_async(channel):
                return await channel.send_async(delivery)
            return await self.in_thread(lambda: channel.send(delivery))
        except Exception as exc:
            log.exception("channel %s failed", name)
            return Result("retry", type(exc).__name__)

    def close(self, channels: Mapping[str, Channel], wait_s: float = 60) -> None:
        """Let the batches being sent finish (for up to `wait_s`), then close the
        channels' connections, the loop and its threads."""
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout=wait_s)
        for channel in channels.values():
            if is_async(channel):
                try:
                    self.run(channel.aclose())
                except Exception:
                    log.exception("closing channel %s failed", channel.name)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
        self._threads.shutdown(wait=True)
