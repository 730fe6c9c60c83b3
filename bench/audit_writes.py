"""Single-row UPDATE throughput with the audit trigger, and without it (issue 5).

    python -m bench.audit_writes [--scale 1] [--updates 2000]

On the bench database (bench/pages.py builds it), each UPDATE is its own
transaction that first sets who and where, as the app does. The same workload
runs with ``trg_customers_audit`` enabled and disabled (ALTER TABLE … DISABLE
TRIGGER, re-enabled afterwards whatever happens), in ten short rounds each,
alternating, so that the machine's drift (±15% here) falls on both alike; the
median rounds are compared.
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg

from bench.pages import build, database_url

SET_CONTEXT = (
    "SELECT set_config('crm.user_id', %s, true), set_config('crm.ip', '127.0.0.1', true), "
    "set_config('crm.user_agent', 'bench', true)"
)


def run(conn: psycopg.Connection, ids: list[int], admin: int, mark: str) -> float:
    """Updates per second: one transaction per UPDATE, each a real change."""
    started = time.perf_counter()
    for row_id in ids:
        with conn.transaction():
            conn.execute(SET_CONTEXT, (str(admin),))
            conn.execute(
                "UPDATE customers SET phone = %s WHERE id = %s", (f"555-{mark}-{row_id}", row_id)
            )
    return len(ids) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    url = database_url(args.scale)
    build(url, args.scale)
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        admin = conn.execute("SELECT id FROM users WHERE email = 'admin@crm.com'").fetchone()[0]
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM customers TABLESAMPLE SYSTEM (1) REPEATABLE (7) LIMIT %s",
                (args.updates // args.rounds,),
            )
        ]
        rates: dict[str, list[float]] = {"with": [], "without": []}
        try:
            for round_number in range(args.rounds):
                for mode in ("with", "without"):
                    state = "ENABLE" if mode == "with" else "DISABLE"
                    conn.execute(f"ALTER TABLE customers {state} TRIGGER trg_customers_audit")
                    rates[mode].append(run(conn, ids, admin, f"{round_number}-{mode}"))
        finally:
            conn.execute("ALTER TABLE customers ENABLE TRIGGER trg_customers_audit")
    with_audit, without = statistics.median(rates["with"]), statistics.median(rates["without"])
    print(
        f"\nScale {args.scale:g}; {len(ids):,} single-row UPDATEs per round, "
        f"{args.rounds} rounds each, alternating.\n"
    )
    print("| customers UPDATE, one per transaction | updates/s |")
    print("|---|---:|")
    print(f"| with the audit trigger | {with_audit:,.0f} |")
    print(f"| without it | {without:,.0f} |")
    print(f"| ratio (target ≥ 70%) | {with_audit / without:.0%} |")


if __name__ == "__main__":
    main()
