"""The sender as a job: queued by the database on each change, and every minute."""

from __future__ import annotations

import procrastinate

from crm.extensions import db
from crm.jobs.queue import queue
from crm.jobs.tasks import app_for_jobs
from crm.webhooks import sender


@queue.periodic(cron="* * * * *", periodic_id="webhooks")
@queue.task(name=sender.TASK, queueing_lock=sender.TASK, pass_context=True)
def send_webhooks(context: procrastinate.JobContext, /, timestamp: int = 0) -> None:
    """Send what is due: new events at once, retries when their wait is over.

    The periodic run (``timestamp``: its minute) also forgets old finished deliveries.
    """
    app = app_for_jobs()
    with app.app_context():
        try:
            sender.send_due(db.session)
            if timestamp:
                sender.forget_old(db.session, int(app.config["WEBHOOK_LOG_DAYS"]))
        finally:
            db.session.remove()
