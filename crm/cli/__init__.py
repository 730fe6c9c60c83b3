"""``flask crm ...``: administration commands, one module per command group, wired here."""

from __future__ import annotations

from flask import Flask
from flask.cli import AppGroup

from crm.cli import api, backup, export, jobs, retention, setup

HELP = (
    "CRM administration: seed and demo data, users, backup and restore, retention, "
    "CSV exports, the background worker, API tokens. `flask crm COMMAND --help` tells more."
)


def init_app(app: Flask) -> None:
    """Attach the ``crm`` command group with every command module's commands."""
    group = AppGroup("crm", help=HELP)
    for module in (setup, backup, retention, export, jobs, api):
        for command in module.COMMANDS:
            group.add_command(command)
    app.cli.add_command(group)
