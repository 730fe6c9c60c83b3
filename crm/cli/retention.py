"""``flask crm retention``: the spec's retention policy (crm/maintenance/retention.py does it)."""

from __future__ import annotations

from datetime import date, datetime

import click
from flask.cli import with_appcontext

from crm.cli.common import needs_schema
from crm.extensions import db
from crm.maintenance import retention


def _as_of(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date:
    """Parse --as-of (YYYY-MM-DD); default today."""
    if value is None:
        return date.today()
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-01-31"
        ) from None


@click.command("retention")
@with_appcontext
@click.option("--apply", "apply_", is_flag=True, help="Delete the rows (default: only count).")
@click.option(
    "--as-of",
    callback=_as_of,
    metavar="YYYY-MM-DD",
    help="Apply the policy as of this date (default: today; not later than today with --apply).",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1, max=100_000),
    default=retention.BATCH,
    show_default=True,
    help="Rows deleted per transaction.",
)
@needs_schema
def retention_command(apply_: bool, as_of: date, batch: int) -> None:
    """Delete what the retention policy no longer keeps; a dry run unless --apply.

    Leads 5 years after closure, tasks 3 years after completion, interactions
    after 7 years, audit rows after 10; customers and users are kept.
    """
    if apply_ and as_of > date.today():
        raise click.BadParameter(
            f"{as_of} is in the future: --apply deletes only what the policy no longer "
            "keeps today. Leave out --apply to see what a later date would delete.",
            param_hint="--as-of",
        )
    plan = retention.plan(db.session, as_of)
    db.session.rollback()  # counting holds no locks while the purge runs
    click.echo(f"Retention policy as of {as_of} ({'applying' if apply_ else 'dry run'}):")
    for due in plan:
        click.echo(
            f"  {due.rule.table:<13} {due.rows:>12,}  older than {due.rule.years} years "
            f"after {due.rule.counted_from} (before {due.cutoff:%Y-%m-%d})"
        )
    for table, reason in retention.KEPT.items():
        click.echo(f"  {table:<13} {0:>12,}  {reason}")
    if not apply_:
        click.echo("Dry run: nothing was deleted. Run again with --apply to delete these rows.")
        return
    total = sum(due.rows for due in plan)
    with click.progressbar(length=total, label="Deleting") as bar:

        def shown(table: str, rows: int) -> None:
            bar.label = f"Deleting {table}"
            bar.update(rows)

        deleted = retention.apply(db.session, as_of, plan, batch, shown)
    db.session.commit()
    click.echo(
        "Deleted "
        + ", ".join(f"{rows:,} {table}" for table, rows in deleted.items())
        + "; one summary row was written to the audit log."
    )


COMMANDS = (retention_command,)
