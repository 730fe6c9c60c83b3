"""``flask crm worker``: take jobs from the queue and run them, until stopped.

Run as many as the work needs, on any machines that reach the database: each
takes jobs with ``FOR UPDATE SKIP LOCKED``, hears of new ones by LISTEN/NOTIFY
(and polls every few seconds as a fallback), and sends a heartbeat, so the jobs
of a worker that dies are taken again by the others (crm/jobs/tasks.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import procrastinate
from flask import Flask
from sqlalchemy.engine import make_url

from crm.db.server import libpq_dsn
from crm.jobs import tasks
from crm.jobs.queue import queue

log = logging.getLogger(__name__)


def conninfo(app: Flask) -> str:
    """The app's database as a libpq address, for procrastinate's own pool."""
    return libpq_dsn(make_url(app.config["SQLALCHEMY_DATABASE_URI"]))


def run(
    app: Flask,
    *,
    queues: Iterable[str] | None = None,
    wait: bool = True,
    name: str = "worker",
) -> None:
    """Work the queue in this process; ``wait=False`` stops once no job is waiting."""
    tasks.bind(app)
    tasks.schedule(app)
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo(app),
        min_size=1,
        max_size=4,
        kwargs={"options": "-c timezone=UTC"},
    )
    with queue.replace_connector(connector):
        queue.run_worker(
            queues=list(queues) if queues else None,
            wait=wait,
            name=name,
            install_signal_handlers=wait,
            fetch_job_polling_interval=5,
            update_heartbeat_interval=10,
            stalled_worker_timeout=tasks.STALLED_SECONDS,
        )
