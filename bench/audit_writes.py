"""Single-row UPDATE throughput with a trigger, and without it (issues 5 and 17).

    python -m bench.audit_writes [--scale 1] [--updates 2000] [--history-only --rounds 20]

On the bench database (bench/pages.py builds it), each UPDATE is its own
transaction that first sets who and where, as the app does. The same workload
runs with the trigger enabled and disabled (ALTER TABLE … DISABLE TRIGGER,
re-enabled afterwards whatever happens), in ten short rounds each, alternating,
so that the machine's drift (±15% here) falls on both alike; the median rounds
are compared. Two workloads: a customer's phone with and without the audit
trigger (target ≥ 70%), and a lead's stage, audited, with and without the
stage-history trigger of migration 0022 (target ≥ 90%), and with and without
everything issue 17 adds to a stage move (history, path, time-in-stage histograms),
and with and without the as-of flows (migrations 0028, 0035) in the aggregates' trigger.
Last, a lead's expected close date moved a month (one lead per UPDATE, then all the
sampled leads, ``--updates`` of them, in one UPDATE) with and without the time-in-stage
trigger (migration 0036 moves the lead's histogram rows to the new close month).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

import psycopg

from bench.pages import build, database_url

# An UPDATE statement and its parameters, for a row id and the update's number.
Update = Callable[[int, int], tuple[str, tuple[object, ...]]]

SET_CONTEXT = (
    "SELECT set_config('crm.user_id', %s, true), set_config('crm.ip', '127.0.0.1', true), "
    "set_config('crm.user_agent', 'bench', true)"
)


def run(conn: psycopg.Connection, ids: list[int], admin: int, update: Update) -> float:
    """Updates per second: one transaction per UPDATE, each a real change."""
    started = time.perf_counter()
    for number, row_id in enumerate(ids):
        with conn.transaction():
            conn.execute(SET_CONTEXT, (str(admin),))
            conn.execute(*update(row_id, number))
    return len(ids) / (time.perf_counter() - started)


def compare(
    conn: psycopg.Connection,
    table: str,
    triggers: tuple[str, ...],
    ids: list[int],
    admin: int,
    rounds: int,
    update: Update,
) -> tuple[float, float]:
    """Median updates/s with ``triggers`` enabled, and disabled."""
    rates: dict[str, list[float]] = {"ENABLE": [], "DISABLE": []}
    try:
        for _round in range(rounds):
            for state in rates:
                for trigger in triggers:
                    conn.execute(f"ALTER TABLE {table} {state} TRIGGER {trigger}")
                rates[state].append(run(conn, ids, admin, update))
    finally:
        for trigger in triggers:
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
    return statistics.median(rates["ENABLE"]), statistics.median(rates["DISABLE"])


def aggregate_functions() -> tuple[str, str]:
    """The pipeline aggregates' trigger function with the as-of flows (0028, 0035), and without.

    As the newest migration that writes it (0040) makes it: an older one's would leave
    out the tables added since, which would fall behind the moves of these rounds.
    """
    spec = spec_from_file_location(
        "_m0040",
        Path(__file__).parents[1] / "migrations/versions/0040_closing_by_creation_day.py",
    )
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.trigger_function(flows=True), module.trigger_function(flows=False)


def compare_functions(
    conn: psycopg.Connection, ids: list[int], admin: int, rounds: int, update: Update
) -> tuple[float, float]:
    """Median updates/s with the aggregates' function keeping the flows, and without.

    The database's own function is put back afterwards, whatever happens.
    """
    own = conn.execute(
        "SELECT pg_get_functiondef('crm_pipeline_stats()'::regprocedure)"
    ).fetchone()[0]
    with_flows, without = aggregate_functions()
    rates: dict[str, list[float]] = {with_flows: [], without: []}
    try:
        for _round in range(rounds):
            for function in rates:
                conn.execute(function)
                rates[function].append(run(conn, ids, admin, update))
    finally:
        conn.execute(own)
    return statistics.median(rates[with_flows]), statistics.median(rates[without])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument(
        "--history-only",
        action="store_true",
        help="time only the stage-history trigger (issue 17's target), e.g. with --rounds 20",
    )
    args = parser.parse_args()
    url = database_url(args.scale)
    build(url, args.scale)
    per_round = args.updates // args.rounds
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        admin = conn.execute("SELECT id FROM users WHERE email = 'admin@crm.com'").fetchone()[0]
        sample = "SELECT id FROM {} TABLESAMPLE SYSTEM (1) REPEATABLE (7) LIMIT %s"
        customers = [r[0] for r in conn.execute(sample.format("customers"), (per_round,))]
        leads = [r[0] for r in conn.execute(sample.format("leads"), (per_round,))]
        stages = [r[0] for r in conn.execute("SELECT id FROM lead_stages ORDER BY order_index")]
        marks = iter(range(10**9))

        def phone(row_id: int, _number: int) -> tuple[str, tuple[object, ...]]:
            return "UPDATE customers SET phone = %s WHERE id = %s", (f"555-{next(marks)}", row_id)

        def stage(row_id: int, number: int) -> tuple[str, tuple[object, ...]]:
            # Every UPDATE a real move: to the stage after the lead's own, round the list.
            return (
                "UPDATE leads SET stage_id = (%s::int[])[1 + (array_position(%s::int[], "
                "stage_id) %% %s)] WHERE id = %s",
                (stages, stages, len(stages), row_id),
            )

        history = compare(conn, "leads", ("trg_leads_stage_history_update",), leads, admin,
                          args.rounds, stage)  # fmt: skip
        if args.history_only:  # one comparison, many rounds: less at the mercy of drift
            on, off = history
            print(
                f"\nThe stage-history trigger, {args.rounds} rounds of {per_round:,}: "
                f"{on:,.0f}/s with, {off:,.0f}/s without, {on / off:.0%} (target ≥ 90%)"
            )
            return
        audit = compare(conn, "customers", ("trg_customers_audit",), customers, admin,
                        args.rounds, phone)  # fmt: skip
        # Everything issue 17 adds to a stage move: the history row, the lead's path
        # (0024) and the time-in-stage histograms (0027). Off, the moved leads' paths and
        # stays fall behind their history: the run rebuilds the histograms after.
        issue17 = compare(
            conn, "leads",
            ("trg_leads_stage_history_update", "trg_leads_path", "trg_leads_stays"),
            leads, admin, args.rounds, stage,
        )  # fmt: skip
        # A month later, then back, run by run (so the dates end as they began).
        turns = iter(range(10**9))
        step = [31]

        def days(number: int) -> int:
            if number == 0:  # a run's first UPDATE
                step[0] = -31 if next(turns) % 2 else 31
            return step[0]

        def close_date(row_id: int, number: int) -> tuple[str, tuple[object, ...]]:
            return (
                "UPDATE leads SET expected_close_date = expected_close_date + %s WHERE id = %s",
                (days(number), row_id),
            )

        def close_dates(_row_id: int, number: int) -> tuple[str, tuple[object, ...]]:
            return (
                "UPDATE leads SET expected_close_date = expected_close_date + %s "
                "WHERE id = ANY(%s)",
                (days(number), dated),
            )

        dated = [r[0] for r in conn.execute(sample.format("leads").replace(
            "LIMIT", "WHERE expected_close_date IS NOT NULL LIMIT"), (args.updates,))]  # fmt: skip
        stays = ("trg_leads_stays",)
        closing = compare(conn, "leads", stays, dated[:per_round], admin, args.rounds, close_date)
        bulk = compare(conn, "leads", stays, [0], admin, args.rounds, close_dates)
        conn.execute("SELECT crm_rebuild_stage_stays()")
        # Part 5: the as-of funnel's flows, six more upserts in the aggregates' trigger.
        flows = compare_functions(conn, leads, admin, args.rounds, stage)
        # Half the rounds' moves were not in the flows: the run rebuilds them (4 minutes).
        conn.execute("SELECT crm_rebuild_pipeline_flows()")
    print(
        f"\nScale {args.scale:g}; {per_round:,} single-row UPDATEs per round, "
        f"{args.rounds} rounds each, alternating.\n"
    )
    print("| UPDATE, one per transaction | with the trigger | without | ratio | target |")
    print("|---|---:|---:|---:|---:|")
    for label, (on, off), target in (
        ("a customer's phone: the audit trigger", audit, "≥ 70%"),
        ("a lead's stage (audited): the stage-history trigger", history, "≥ 90%"),
        ("a lead's stage (audited): history, path and time-in-stage triggers", issue17, "≥ 90%"),
        ("a lead's stage (audited): the as-of flows in the aggregates' trigger", flows, "≥ 90%"),
        ("a lead's close date, a month on: the time-in-stage trigger", closing, "none"),
    ):
        print(f"| {label} | {on:,.0f}/s | {off:,.0f}/s | {on / off:.0%} | {target} |")
    on, off = bulk
    print(
        f"| {len(dated):,} leads' close dates, a month on, in one UPDATE: the time-in-stage "
        f"trigger | {1 / on:.2f} s | {1 / off:.2f} s | {on / off:.0%} | none |"
    )


if __name__ == "__main__":
    main()
