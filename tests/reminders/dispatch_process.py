"""One dispatcher process for test_many_dispatchers: sends until nothing due is left.

    python -m tests.reminders.dispatch_process URL OUT NAME [LEASE_S [SECONDS_A_SEND [BATCH]]]

Its channel appends each reminder id it sends to a file, flushed at once, so
the test sees every send even from a process it kills.
"""

import sys
import time
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlmodel import col

from aftercare.checkins.service import checked_in_on
from aftercare.db import make_engine
from aftercare.reminders.channels import Delivery, Result
from aftercare.reminders.dispatcher import Dispatcher
from aftercare.reminders.models import Reminder
from aftercare.settings import Settings
from aftercare.writer import make_writer


class FileChannel:
    name = "push"

    def __init__(self, path: str, seconds_a_send: float) -> None:
        self.out = open(path, "a", buffering=1)  # noqa: SIM115 - open for the process's life
        self.seconds_a_send = seconds_a_send

    def send(self, delivery: Delivery) -> Result:
        # A slow channel (a far push service, a busy relay) takes this long a message.
        time.sleep(self.seconds_a_send)
        self.out.write(f"{delivery.reminder_id}\n")
        return Result("sent")


def main() -> None:
    url, out_path, name = sys.argv[1:4]
    lease_s, seconds_a_send, batch = sys.argv[4:7] + ["3", "0", "200"][len(sys.argv[4:7]) :]
    settings = Settings(
        _env_file=None, database_url=url, secret_key="x", dispatch_lease_s=int(lease_s)
    )
    engine = make_engine(url)
    writer = make_writer(engine)
    channel = FileChannel(out_path, float(seconds_a_send))
    dispatcher = Dispatcher(
        engine, writer, {"push": channel}, settings, name=name, checked_in_on=checked_in_on
    )
    while True:
        now = datetime.now(UTC)
        dispatcher.sweep(now, batch=int(batch))
        due = select(func.count()).where(
            col(Reminder.status) == "pending", col(Reminder.due_at) <= now
        )
        with engine.connect() as conn:
            if conn.execute(due).scalar() == 0:
                break
        time.sleep(0.2)
    writer.close()


if __name__ == "__main__":
    main()
