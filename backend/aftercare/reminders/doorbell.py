"""Something to send at once (a test notification, a new message): wake this process's dispatcher.

Without it a test notification waits for the next sweep, up to
`AFTERCARE_DISPATCH_INTERVAL_S` (10 s). A process that runs the background
jobs hangs its dispatcher's bell here; a row queued for now rings it once the
transaction that stores the row has committed (a sweep started before would
not see the row). A process without jobs has no bell: a worker picks the row
up at its next sweep, within one interval, as api.md promises.
"""

import threading
from collections.abc import Callable

from sqlalchemy import event
from sqlmodel import Session

_bells: list[Callable[[], None]] = []
_lock = threading.Lock()


def hang(bell: Callable[[], None]) -> Callable[[], None]:
    """Ring `bell` for rows queued from now on; returns how to take it down."""
    with _lock:
        _bells.append(bell)

    def take_down() -> None:
        with _lock:
            if bell in _bells:
                _bells.remove(bell)

    return take_down


def ring_after_commit(session: Session) -> None:
    """Ring every bell once `session` has committed what it holds now."""
    if not _bells:
        return
    event.listen(session, "after_commit", _ring, once=True)


def _ring(_session: Session) -> None:
    with _lock:
        bells = list(_bells)
    for bell in bells:
        bell()
