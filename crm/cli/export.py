"""``flask crm export``: a list's CSV, every row, written on the server.

The list pages export up to EXPORT_MAX_ROWS rows; this writes any number, with
the same columns, formula guard and order (crm/admin/export.py), and shows its
progress. It runs as the server's operator: every row, no row rule.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import click
from flask.cli import with_appcontext

from crm.admin.base import PolicyModelView
from crm.admin.counting import estimated_rows
from crm.admin.views.activity import InteractionView, TaskView
from crm.admin.views.audit import AuditLogView
from crm.admin.views.sales import CustomerView, LeadView
from crm.admin.views.setup import ExchangeRateView, LeadStageView, UserView
from crm.cli.common import needs_schema
from crm.extensions import db

# The list's URL name (what the pages and the README call it) -> its view.
LISTS: dict[str, Callable[[], PolicyModelView]] = {
    "customers": CustomerView,
    "leads": LeadView,
    "tasks": TaskView,
    "interactions": InteractionView,
    "lead-stages": LeadStageView,
    "users": UserView,
    "exchange-rates": ExchangeRateView,
    "audit": AuditLogView,
}


def _new_file(_ctx: click.Context, _param: click.Parameter, value: Path) -> Path:
    """--output must not be there yet, and its folder must be."""
    if value.exists():
        raise click.BadParameter(f"{value} already exists; choose a new file name")
    if not value.parent.is_dir():
        raise click.BadParameter(f"{value.parent} is not a folder; create it first")
    return value


@click.command("export")
@with_appcontext
@click.argument("list_name", metavar="LIST", type=click.Choice(sorted(LISTS)))
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_new_file,
    help="The CSV file to write (a new file).",
)
@needs_schema
def export_command(list_name: str, output: Path) -> None:
    """Write every row of LIST to a CSV file, as the list page's Export does."""
    view = LISTS[list_name]()
    query = view.export_query(None, None, False, None, None)
    table = view.model.__table__.name
    total = estimated_rows(db.session(), table) or 0
    written = 0
    click.echo(f"Exporting {list_name} (about {total:,} rows) to {output}…")
    # Written beside the target and renamed when complete: never half a file.
    partial = output.with_name(output.name + ".partial")
    try:
        with (
            partial.open("w", encoding="utf-8", newline="") as out,
            click.progressbar(
                length=max(total, 1), label="Rows", show_pos=True, show_eta=True
            ) as bar,
        ):
            lines = view.csv_lines(query)
            out.write(next(lines))  # the header
            for line in lines:
                out.write(line)
                written += 1
                if written % 1000 == 0:
                    bar.update(1000)
        try:
            os.link(partial, output)  # unlike a rename, never replaces a file made meanwhile
        except FileExistsError:
            raise click.ClickException(
                f"{output} appeared while exporting; nothing written"
            ) from None
    finally:
        partial.unlink(missing_ok=True)
    click.echo(f"Wrote {written:,} rows to {output}.")


COMMANDS = (export_command,)
