"""One dispatcher process for test_many_dispatchers: sends until nothing due is left.

Its channel appends each reminder id it sends to a file, flushed at once, so
the test sees every send even from a process it kills.
"""

import sys
import time
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlmodel import col

from aftercare.db import make_engine
from aftercare.reminders.channels import Delivery, Result
from aftercare.reminders.dispatcher import Dispatcher
from aftercare.reminders.models import Reminder
from aftercare.settings import Settings
from aftercare.writer import make_writer


class FileChannel:
    name = "push"

    def __init__(self, path: str) -> None:
        self.out = open(path, "a", buffering=1)  # noqa: SIM115 - open for the process's life

    def send(self, delivery: Delivery) -> Result:
        self.out.write(f"{delivery.reminder_id}\n")
        return Result("sent")


def main() -> None:
    url, out_path, name = sys.argv[1:4]
    settings = Settings(_env_file=None, database_url=url, secret_key="x", dispatch_lease_s=3)
    engine = make_engine(url)
    writer = make_writer(engine)
    dispatcher = Dispatcher(engine, writer, {"push": FileChannel(out_path)}, settings, name=name)
    while True:
        now = datetime.now(UTC)
        dispatcher.sweep(now, batch=200)
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
