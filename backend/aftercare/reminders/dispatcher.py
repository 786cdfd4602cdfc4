"""The dispatcher: claim due reminders in batches, check them again, send, mark.

Any number of dispatchers may run at once, on any number of machines. A
claim sets `claimed_until` (a lease) in the same statement that picks the
rows, with `FOR UPDATE SKIP LOCKED` on PostgreSQL (on SQLite the single
writer thread makes claims one at a time), so no row is claimed twice while
its lease runs. A dispatcher that dies after claiming leaves its rows
pending; they are claimed again when the lease runs out. A row is sent at
most once per claim, and the mark after sending is conditional on the
claim still being ours.

A batch may take longer than the lease (a slow mail relay, a far push
service): while it is being sent a heartbeat renews the claim on the rows
not yet done, every third of the lease, and a row is sent only while the
claim on it is held with at least half a lease to run. Rows the renewal
finds claimed by another dispatcher (ours lapsed, on a machine too busy to
renew in time) are left to it, neither sent nor marked.
"""

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import ARRAY, Engine, any_, cast, literal, or_, select, update
from sqlmodel import Session, col

from aftercare.accounts.models import Clinic, Nurse
from aftercare.i18n import DEFAULT_LANGUAGE
from aftercare.patients.models import Patient
from aftercare.reminders import metrics
from aftercare.reminders.channels import Channel, Delivery, PushTarget, Result
from aftercare.reminders.models import PushSubscription, Reminder
from aftercare.reminders.outbox import REBUILT
from aftercare.reminders.sending import SendLoop
from aftercare.reminders.texts import nurse_alert, patient_message
from aftercare.settings import Settings
from aftercare.writer import Writer

log = logging.getLogger(__name__)
BATCH = 500
MAX_ATTEMPTS = 6


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8, 16 minutes between tries."""
    return timedelta(minutes=2 ** max(0, attempts - 1))


@dataclass
class SweepCounts:
    sent: int = 0
    skipped: int = 0
    retried: int = 0
    failed: int = 0
    by_outcome: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, channel: str, outcome: str) -> None:
        key = (channel, outcome)
        self.by_outcome[key] = self.by_outcome.get(key, 0) + 1
        if outcome == "sent":
            self.sent += 1
        elif outcome == "skipped":
            self.skipped += 1
        elif outcome == "retry":
            self.retried += 1
        else:
            self.failed += 1


@dataclass(frozen=True)
class Claimed:
    id: int
    patient_id: uuid.UUID | None
    nurse_id: uuid.UUID | None
    purpose: str
    item_key: str | None
    item_kind: str | None
    item_day: int | None
    channel: str
    due_at: datetime
    plan_built_at: datetime | None
    attempts: int


_R = Reminder.__table__.c  # type: ignore[attr-defined]


# Which of these (patient, recovery day) pairs have a check-in: a check-in reminder for
# such a day is not sent. `aftercare.checkins.service.checked_in_on` answers it.
CheckedIn = Callable[[Session, set[tuple[uuid.UUID, int]]], set[tuple[uuid.UUID, int]]]


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        writer: Writer,
        channels: Mapping[str, Channel],
        settings: Settings,
        *,
        checked_in_on: "CheckedIn",
        name: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        # The check-ins are above the reminders: whoever builds the dispatcher tells it
        # how to learn which days a patient has checked in on.
        self.checked_in_on = checked_in_on
        # Leases are kept by this clock's seconds, added to the sweep's time: a test
        # may sweep at any moment it likes, the lease still runs in real seconds.
        self.clock = clock
        self.writer = writer
        self.channels = channels
        self.settings = settings
        self.name = name or f"dispatcher-{uuid.uuid4().hex[:8]}"
        self.lease = timedelta(seconds=settings.dispatch_lease_s)
        self.max_lateness = timedelta(minutes=settings.max_lateness_minutes)
        self._sending: SendLoop | None = None
        self._sending_lock = threading.Lock()

    @property
    def sending(self) -> SendLoop:
        """The event loop keeping this dispatcher's sends in flight, started when first needed."""
        with self._sending_lock:
            if self._sending is None:
                self._sending = SendLoop(self.settings.dispatch_concurrency)
            return self._sending

    def close(self) -> None:
        """Close the channels' connections and the send loop (at shutdown)."""
        with self._sending_lock:
            sending, self._sending = self._sending, None
        if sending is not None:
            sending.close(self.channels)
        for channel in self.channels.values():
            close = getattr(channel, "close", None)
            if callable(close):
                close()

    def sweep(self, now: datetime, batch: int | None = None) -> SweepCounts:
        """Send everything due now, batch after batch, until nothing due is left unclaimed.

        A batch is at least ten times the sends kept in flight. When a batch comes
        full (more is waiting), a second lane claims and prepares the next one while
        the first is still being sent: the sends in flight, shared by both lanes, do
        not stop while a batch is marked and the next claimed.
        """
        batch = batch or max(BATCH, 10 * self.settings.dispatch_concurrency)
        started = self.clock()
        lanes: list[SweepCounts] = []
        second: list[threading.Thread] = []
        failures: list[BaseException] = []

        def lane() -> None:
            counts = SweepCounts()
            lanes.append(counts)
            try:
                while True:
                    # Each batch is claimed at its own moment: a lease counted from the
                    # start of a long sweep would be over when a later batch is claimed.
                    moment = now + timedelta(seconds=self.clock() - started)
                    claimed = self.writer.run(partial(self._claim, now=moment, batch=batch))
                    if not claimed:
                        return
                    if len(claimed) == batch and not second:
                        second.append(threading.Thread(target=lane, name="sweep-lane"))
                        second[0].start()
                    self._handle(claimed, now, counts, moment)
                    if len(claimed) < batch:
                        return
            except BaseException as failure:
                failures.append(failure)

        lane()
        for thread in second:
            thread.join()
        if failures:
            raise failures[0]
        counts = SweepCounts()
        for each in lanes:
            for (channel, outcome), number in each.by_outcome.items():
                counts.by_outcome[(channel, outcome)] = (
                    counts.by_outcome.get((channel, outcome), 0) + number
                )
                metrics.REMINDERS.labels(channel=channel, outcome=outcome).inc(number)
            counts.sent += each.sent
            counts.skipped += each.skipped
            counts.retried += each.retried
            counts.failed += each.failed
        return counts

    def _claim(self, db: Session, *, now: datetime, batch: int) -> list[Claimed]:
        due = (
            select(_R.id)
            .where(
                _R.status == "pending",
                _R.due_at <= now,
                or_(_R.claimed_until.is_(None), _R.claimed_until <= now),
            )
            .order_by(_R.due_at)
            .limit(batch)
        )
        if self.engine.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        rows = db.execute(
            update(Reminder.__table__)  # type: ignore[attr-defined]
            .where(_R.id.in_(due.scalar_subquery()))
            .values(claimed_until=now + self.lease, claimed_by=self.name)
            .returning(
                _R.id,
                _R.patient_id,
                _R.nurse_id,
                _R.purpose,
                _R.item_key,
                _R.item_kind,
                _R.item_day,
                _R.channel,
                _R.due_at,
                _R.plan_built_at,
                _R.attempts,
            )
        ).all()
        return [Claimed(*row) for row in rows]

    def _handle(
        self, claimed: Sequence[Claimed], now: datetime, counts: SweepCounts, claimed_at: datetime
    ) -> None:
        """Send a claimed batch; `now` judges and marks it, `claimed_at` starts its lease."""
        with _Claim(self, claimed, claimed_at) as claim:
            self._send_all(claim, claimed, now, counts)

    def _send_all(
        self, claim: "_Claim", claimed: Sequence[Claimed], now: datetime, counts: SweepCounts
    ) -> None:
        context = _Context.load(self.engine, claimed, self.checked_in_on)
        marks: list[tuple[Claimed, str, str | None]] = []
        ready: list[Claimed] = []
        for row in claimed:
            reason = context.skip_reason(row, now, self.max_lateness)
            if reason is None:
                ready.append(row)
            else:
                marks.append((row, "skipped", reason))
                counts.add(row.channel, "skipped")
        groups = group_by_moment(ready)
        base_url = self.settings.base_url
        deliveries = [(group[0].channel, context.delivery(group, base_url)) for group in groups]
        results = self.sending.send_all(self.channels, deliveries, claim.may_send(self.sending))
        retired: set[int] = set()
        for group, result in zip(groups, results, strict=True):
            if result is None:
                continue  # the claim lapsed and another dispatcher has the rows: it sends them
            retired.update(result.retired)
            for row in group:
                outcome = result.outcome
                if outcome == "retry" and row.attempts + 1 >= MAX_ATTEMPTS:
                    outcome = "failed"
                marks.append((row, outcome, result.error))
                counts.add(row.channel, outcome)
        self.writer.run(lambda db: self._mark(db, marks, retired, now))

    def _renew(self, db: Session, ids: list[int], until: datetime) -> set[int]:
        """Extend the claim on the rows still ours; returns them (the others are not)."""
        kept = db.execute(
            update(Reminder.__table__)  # type: ignore[attr-defined]
            .where(
                _any(_R.id, ids, self.engine), _R.claimed_by == self.name, _R.status == "pending"
            )
            .values(claimed_until=until)
            .returning(_R.id)
        ).scalars()
        return set(kept)

    def _mark(
        self,
        db: Session,
        marks: Sequence[tuple[Claimed, str, str | None]],
        retired: set[int],
        now: datetime,
    ) -> None:
        """Record the outcomes, a few statements a batch; only rows still claimed by us."""
        groups: dict[tuple[str, int, str | None], list[int]] = {}
        for row, outcome, error in marks:
            attempts = row.attempts if outcome == "retry" else 0
            groups.setdefault((outcome, attempts, (error or "")[:500] or None), []).append(row.id)
        table = Reminder.__table__  # type: ignore[attr-defined]
        for (outcome, attempts, error), ids in groups.items():
            values: dict[str, object]
            if outcome == "sent":
                values = {"status": "sent", "sent_at": now, "claimed_until": None}
            elif outcome == "retry":
                # Pending again, but not claimable before the back-off has passed.
                values = {
                    "attempts": attempts + 1,
                    "claimed_until": now + backoff(attempts + 1),
                    "claimed_by": None,
                    "last_error": error,
                }
            else:
                values = {"status": outcome, "claimed_until": None, "last_error": error}
            db.execute(
                update(table)
                .where(_any(_R.id, ids, self.engine), _R.claimed_by == self.name)
                .values(**values)
            )
        if retired:
            subscriptions = PushSubscription.__table__  # type: ignore[attr-defined]
            db.execute(
                update(subscriptions).where(subscriptions.c.id.in_(retired)).values(retired_at=now)
            )


class _Claim:
    """The claim on one batch, kept alive until the batch is marked.

    Its times are the sweep's `now` plus the seconds passed on the dispatcher's clock.
    A heartbeat thread renews it every third of the lease, sent rows included (they are
    marked at the end of the batch, and must not be claimed again before); `holds` says
    whether a row may be sent now: still ours, with at least half a lease to run
    (renewing first if the heartbeat is late, as on a busy machine).
    """

    def __init__(self, dispatcher: Dispatcher, claimed: Sequence[Claimed], now: datetime) -> None:
        self.dispatcher = dispatcher
        self.lease = dispatcher.lease
        self.started = dispatcher.clock()
        self.now = now
        self.held_until = now + self.lease
        self.ours = {row.id for row in claimed}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.heartbeat = threading.Thread(target=self._beat, daemon=True, name="lease-heartbeat")

    def __enter__(self) -> "_Claim":
        self.heartbeat.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.heartbeat.join()

    def _moment(self) -> datetime:
        return self.now + timedelta(seconds=self.dispatcher.clock() - self.started)

    def _beat(self) -> None:
        while not self.stop.wait(self.lease.total_seconds() / 3):
            self.renew()

    def renew(self) -> None:
        with self.lock:
            ids = sorted(self.ours)
            if not ids:
                return
            until = self._moment() + self.lease
        kept = self.dispatcher.writer.run(lambda db: self.dispatcher._renew(db, ids, until))
        with self.lock:
            self.ours -= set(ids) - kept
            self.held_until = until

    def late(self) -> bool:
        """Less than half a lease left: the heartbeat is late (a busy machine)."""
        return self.held_until - self._moment() < self.lease / 2

    def holds(self, row_ids: Sequence[int]) -> bool:
        """Whether these rows may be sent now: all still ours, half a lease ahead at least."""
        if self.late():
            self.renew()
        with self.lock:
            return self.ours.issuperset(row_ids) and not self.late()

    def may_send(self, sending: SendLoop) -> Callable[[Delivery], Awaitable[bool]]:
        """`holds` for the send loop: a late renewal runs in a thread, one at a time."""
        renewing = asyncio.Lock()

        async def may_send(delivery: Delivery) -> bool:
            if self.late():
                async with renewing:
                    if self.late():
                        await sending.in_thread(self.renew)
            with self.lock:
                return self.ours.issuperset(delivery.covers) and not self.late()

        return may_send


@dataclass
class _Context:
    """What the re-checks and messages need, loaded for a whole batch in a few queries."""

    patients: dict[uuid.UUID, tuple[list[str], str | None, str, datetime, str]]
    # A nurse's e-mail address, language and the clinic's acknowledgement target.
    nurses: dict[uuid.UUID, tuple[str, str, int]]
    checked_in: set[tuple[uuid.UUID, int]]
    push: dict[tuple[str, uuid.UUID], list[PushTarget]]

    @classmethod
    def load(
        cls, engine: Engine, claimed: Sequence[Claimed], checked_in_on: "CheckedIn"
    ) -> "_Context":
        patient_ids = {row.patient_id for row in claimed if row.patient_id}
        nurse_ids = {row.nurse_id for row in claimed if row.nurse_id}
        checkin_days = {
            (row.patient_id, row.item_day)
            for row in claimed
            if row.item_kind == "check-in" and row.patient_id and row.item_day is not None
        }
        with Session(engine) as session:
            patients = {
                pid: (channels, email, language, built, app_name)
                for pid, channels, email, language, built, app_name in session.execute(
                    select(
                        col(Patient.id),
                        col(Patient.channels),
                        col(Patient.email),
                        col(Patient.language),
                        col(Patient.plan_built_at),
                        col(Clinic.app_name),
                    )
                    .join(Clinic, col(Clinic.id) == Patient.clinic_id)
                    .where(_any(col(Patient.id), list(patient_ids), engine))
                ).all()
            }
            nurses: dict[uuid.UUID, tuple[str, str, int]] = {}
            if nurse_ids:  # alerts are rare: most batches have none to look up
                nurses = {
                    nid: (email, language or DEFAULT_LANGUAGE, target)
                    for nid, email, language, target in session.execute(
                        select(
                            col(Nurse.id),
                            col(Nurse.email),
                            col(Nurse.language),
                            col(Clinic.ack_target_minutes),
                        )
                        .join(Clinic, col(Clinic.id) == Nurse.clinic_id)
                        .where(
                            _any(col(Nurse.id), list(nurse_ids), engine),
                            col(Nurse.is_active).is_(True),
                        )
                    ).all()
                }
            checked_in = checked_in_on(session, checkin_days) if checkin_days else set()
            push: dict[tuple[str, uuid.UUID], list[PushTarget]] = {}
            if any(row.channel == "push" for row in claimed):
                subscriptions = session.execute(
                    select(
                        col(PushSubscription.id), col(PushSubscription.patient_id),
                        col(PushSubscription.nurse_id), col(PushSubscription.endpoint),
                        col(PushSubscription.p256dh), col(PushSubscription.auth),
                    ).where(
                        col(PushSubscription.retired_at).is_(None),
                        or_(
                            _any(col(PushSubscription.patient_id), list(patient_ids), engine),
                            _any(col(PushSubscription.nurse_id), list(nurse_ids), engine),
                        ),
                    )
                ).all()  # fmt: skip
                for sid, pid, nid, endpoint, p256dh, auth in subscriptions:
                    owner = ("patient", pid) if pid else ("nurse", nid)
                    push.setdefault(owner, []).append(PushTarget(sid, endpoint, p256dh, auth))
        return cls(patients, nurses, checked_in, push)

    def skip_reason(self, row: Claimed, now: datetime, max_lateness: timedelta) -> str | None:
        if now - row.due_at > max_lateness:
            return "late"  # hours late is the middle of the night: better not at all
        if row.nurse_id is not None:
            return None if row.nurse_id in self.nurses else "nurse gone"
        patient = self.patients.get(row.patient_id) if row.patient_id else None
        if patient is None:
            return "patient gone"
        channels, _email, _, built, _ = patient
        if row.channel not in channels:
            return "channel turned off"
        if row.purpose in REBUILT:
            if row.plan_built_at != built:
                return "plan changed"
            if row.item_kind == "check-in" and (row.patient_id, row.item_day) in self.checked_in:
                return "already checked in"
        return None

    def delivery(self, group: Sequence[Claimed], base_url: str) -> Delivery:
        """One notification for a group of one person's reminders due at the same minute."""
        row = group[0]
        ids = tuple(each.id for each in group)
        tag = f"r{row.id}"
        if row.nurse_id is not None:
            address, nurse_language, target = self.nurses[row.nurse_id]
            # The first alert goes at the target, the second at twice it (flags.tasks).
            level = 2 if row.item_key == "escalation-2" else 1
            return Delivery(
                reminder_id=row.id,
                message=nurse_alert(base_url, tag, nurse_language, level * target),
                email=address,
                push=self.push.get(("nurse", row.nurse_id), []),
                reminder_ids=ids,
            )
        assert row.patient_id is not None
        _, email, language, _, app_name = self.patients[row.patient_id]
        message = patient_message(
            row.purpose, row.item_kind, language, app_name, base_url, tag, count=len(group)
        )
        return Delivery(
            reminder_id=row.id,
            message=message,
            email=email,
            push=self.push.get(("patient", row.patient_id), []),
            reminder_ids=ids,
        )


def group_by_moment(rows: Sequence[Claimed]) -> list[list[Claimed]]:
    """Rows grouped into notifications: one per person, channel, kind and minute due.

    A patient's reminders due at the same minute (a check-in and a medicine at
    08:00) make one notification, "You have 2 reminders", as do several messages
    or a nurse's alerts. A test notification is always its own: it answers a press.
    """
    groups: dict[tuple[object, ...], list[Claimed]] = {}
    for row in sorted(rows, key=lambda row: (row.due_at, row.id)):
        key: tuple[object, ...]
        if row.purpose == "test":
            key = (row.id,)
        else:
            minute = row.due_at.replace(second=0, microsecond=0)
            key = (row.patient_id, row.nurse_id, row.channel, row.purpose, minute)
        groups.setdefault(key, []).append(row)
    return list(groups.values())


def _any(column: Any, values: Sequence[Any], engine: Engine) -> Any:
    """`column IN (...)`; on PostgreSQL one array parameter instead of one per value,
    which spares the server parsing a statement of a thousand parameters."""
    if engine.dialect.name == "postgresql":
        return column == any_(cast(literal(list(values)), ARRAY(column.type)))
    return column.in_(values)


class InAppChannel:
    """In-app reminders need no sending: a sent row is what the app lists as unseen."""

    name = "in-app"

    def send(self, delivery: Delivery) -> Result:
        return Result("sent")

    async def send_async(self, delivery: Delivery) -> Result:
        return Result("sent")

    async def aclose(self) -> None:
        pass
