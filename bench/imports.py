"""Time a CSV import of 100,000 customers and 100,000 leads through the admin pages.

Builds (or reuses) the bench database, signs in as the seeded admin, starts one
background worker, then per kind: uploads a generated file, opens the mapping
page and submits it, which queues the import job (every row validated, then
imported in one transaction), and polls the job's progress as its page does.
Then the customers again,
each one now an existing duplicate to update. Prints each step's seconds.
The imported rows are deleted afterwards so the database stays as built.

    python -m bench.imports --scale 1 --rows 100000
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import threading
import time

from bench.pages import ROOT, build, database_url


def customers_csv(rows: int) -> str:
    lines = ["Name,Company,Email,Phone,Industry,City,Country,Status,Owner email"]
    for n in range(rows):
        lines.append(
            f"Import Person {n},Import Bench Co {n % 5000},person{n}@bench.example,"
            f"+1-555-{n % 10000:04d},Technology,Springfield,United States,prospect,"
            f"{'manager@crm.com' if n % 2 else ''}"
        )
    return "\n".join(lines) + "\n"


def leads_csv(rows: int) -> str:
    lines = ["Title,Customer,Company,Stage,Owner,Amount,Currency,Probability,Close date"]
    for n in range(rows):
        lines.append(
            f"Import deal {n},Import Person {n},Import Bench Co {n % 5000},"
            f"{('New', 'Qualified', 'Proposal')[n % 3]},manager@crm.com,{1000 + n}.50,USD,"
            f"{n % 101},2027-0{1 + n % 9}-15"
        )
    return "\n".join(lines) + "\n"


def run(client: object, kind: str, content: str, duplicates: str = "skip") -> None:
    """Upload, map, import; print each step's time."""
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import stream_encode_multipart

    page = client.get(f"/admin/{kind}/import/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    form = {"csrf_token": token, "file": FileStorage(io.BytesIO(content.encode()), f"{kind}.csv")}
    body, length, boundary = stream_encode_multipart(form, use_tempfile=False)
    started = time.perf_counter()
    response = client.post(
        f"/admin/{kind}/import/",
        input_stream=body,
        content_length=length,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    uploaded = time.perf_counter()
    location = response.headers["Location"]
    page = client.get(location).get_data(as_text=True)
    mapped = time.perf_counter()
    mapping = re.findall(r'name="(column-\d+)".*?<option value="(\w+)" selected', page, re.S)
    form = {"csrf_token": token, "duplicates": duplicates, **dict(mapping)}
    response = client.post(location, data=form)
    queued = time.perf_counter()
    status = response.headers.get("Location", "")
    if "/import/job/" not in status:
        raise SystemExit(f"{kind}: the import was not queued: {response.status_code}")
    seen = []  # the progress the page's script shows, polled every second as it does
    while True:
        polled = client.get(status + ".json").get_json()
        seen.append((polled["step"], polled["done"]))
        if polled["over"]:
            break
        time.sleep(1.0)
    done = time.perf_counter()
    page = client.get(status).get_data(as_text=True)
    if 'id="import-done"' not in page:
        raise SystemExit(f"{kind}: import refused: {page[page.find('import-problems') :][:500]}")
    steps = len(set(seen))
    print(
        f"{kind:<10} {duplicates:<6} {len(content) / 1048576:5.1f} MB  "
        f"upload {uploaded - started:5.1f} s  mapping page {mapped - uploaded:5.1f} s  "
        f"queue {queued - mapped:5.2f} s  job {done - queued:5.1f} s "
        f"({steps} progress states seen)  total {done - started:5.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    url = database_url(args.scale)
    build(url, args.scale)
    from sqlalchemy import text

    from config import DevelopmentConfig
    from crm import create_app
    from crm.extensions import db

    app = create_app(DevelopmentConfig, {"SQLALCHEMY_DATABASE_URI": url})
    stop = threading.Event()

    def work() -> None:  # one worker, as `flask crm worker` runs it
        from crm.jobs import worker

        while not stop.is_set():
            worker.run(app, wait=False)
            stop.wait(0.2)

    threading.Thread(target=work, daemon=True).start()
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]
    client.post(
        "/login", data={"email": "admin@crm.com", "password": "admin123", "csrf_token": token}
    )
    print(f"Importing {args.rows:,} rows per kind into the scale-{args.scale:g} database:")
    try:
        run(client, "customers", customers_csv(args.rows))
        run(client, "leads", leads_csv(args.rows))
        # The same customers again, every one a duplicate with a new city: updated.
        run(
            client,
            "customers",
            customers_csv(args.rows).replace("Springfield", "Ogdenville"),
            "update",
        )
    finally:
        stop.set()
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(text("DELETE FROM customers WHERE company LIKE 'Import Bench Co %'"))


if __name__ == "__main__":
    main()
