"""The job queue's costs (issue 19): enqueue overhead per request, jobs per second.

    python -m bench.jobs [--scale 1] [--requests 1000] [--jobs 2000]

On the bench database (bench/pages.py builds it), in process:

- enqueue overhead: a request-sized transaction (UPDATE one customer, audited,
  then COMMIT) with and without enqueueing one job in it, alternating in ten
  rounds; the medians and their difference per request;
- throughput: ``--jobs`` jobs of a task that does nothing, then one worker
  (``flask crm worker``'s code) runs them until none waits; jobs per second.
"""

from __future__ import annotations

import argparse
import statistics
import time

from sqlalchemy import text

from bench.pages import database_url
from crm import create_app
from crm.extensions import db
from crm.jobs import tasks, worker
from crm.jobs.queue import enqueue


@tasks.job("bench.nothing", "Nothing (bench)", retries=0)
def nothing(job_id: int) -> None:
    """A job with no work: what the queue itself costs."""


def requests(ids: list[int], with_job: bool) -> float:
    """Milliseconds per request-sized transaction."""
    started = time.perf_counter()
    for n, row in enumerate(ids):
        db.session.execute(
            text("UPDATE customers SET phone = :p WHERE id = :id"),
            {"p": f"+1 555 {n:04d}", "id": row},
        )
        if with_job:
            enqueue("bench.nothing", "Nothing (bench)")
        db.session.commit()
    return (time.perf_counter() - started) * 1000 / len(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2000)
    args = parser.parse_args()
    url = database_url(args.scale)
    app = create_app(overrides={"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        ids = list(db.session.scalars(text("SELECT id FROM customers ORDER BY id LIMIT :n"),
                                      {"n": args.requests // 10}))  # fmt: skip
        plain, queued = [], []
        for _round in range(10):
            plain.append(requests(ids, with_job=False))
            queued.append(requests(ids, with_job=True))
        worker.run(app, wait=False)  # the jobs just queued: out of the way
        base, extra = statistics.median(plain), statistics.median(queued)
        print(f"request with no job: {base:.2f} ms; with one job enqueued: {extra:.2f} ms; "
              f"overhead {extra - base:.2f} ms per request")  # fmt: skip
        for _ in range(args.jobs):
            enqueue("bench.nothing", "Nothing (bench)")
        db.session.commit()
    started = time.perf_counter()
    worker.run(app, wait=False)
    seconds = time.perf_counter() - started
    print(f"one worker ran {args.jobs:,} jobs in {seconds:.1f} s: {args.jobs / seconds:.0f} jobs/s")


if __name__ == "__main__":
    main()
