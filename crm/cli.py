"""``flask crm ...``: administration commands."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import click
import psycopg
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import func, select
from sqlalchemy.exc import ProgrammingError

from config import WELL_KNOWN_PASSWORDS
from crm import passwords
from crm.extensions import db
from crm.models import User, UserRole
from crm.models.customer import EMAIL_PATTERN
from crm.seed import SeedUser, seed

crm_cli = AppGroup("crm", help="CRM administration: seed data, users.")


def needs_schema(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn "relation does not exist" into the next step to take."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ProgrammingError as exc:
            if isinstance(exc.orig, psycopg.errors.UndefinedTable):
                raise click.ClickException(
                    "the database has no CRM tables yet: run `flask db upgrade` first"
                ) from None
            raise

    return wrapper


def _password_value(value: str) -> str:
    """Click value_proc: apply the password rules, and production's demo-password ban."""
    try:
        passwords.validate(value)
    except passwords.PasswordError as exc:
        raise click.UsageError(str(exc)) from None
    if not current_app.config["ALLOW_DEMO_PASSWORDS"] and value in WELL_KNOWN_PASSWORDS:
        raise click.UsageError(
            "That is one of the README's demo passwords; choose a real one in production."
        )
    return value


def _prompt_password(label: str) -> str:
    """Ask twice, hidden, until the password passes the rules."""
    return click.prompt(
        label, hide_input=True, confirmation_prompt=True, value_proc=_password_value
    )


@crm_cli.command("seed")
@needs_schema
def seed_command() -> None:
    """Add the spec's users, lead stages and sample customers (safe to run again).

    Development uses the README's demo passwords; production asks for real ones.
    """

    def password_for(account: SeedUser) -> str:
        if current_app.config["ALLOW_DEMO_PASSWORDS"]:
            return account.demo_password
        return _prompt_password(f"Password for {account.email} ({account.role})")

    report = seed(db.session, password_for, passwords.hash_password)
    db.session.commit()
    click.echo(
        f"Seed done: {report.users} users, {report.stages} lead stages and "
        f"{report.customers} customers added (existing rows left as they were)."
    )


def _email_value(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """Click callback: a plausible address, normalised to lower case."""
    value = value.strip().lower()
    if len(value) > 255 or not re.match(EMAIL_PATTERN, value):
        raise click.BadParameter(f"{value!r} is not an email address like name@example.com")
    return value


def _name_value(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """Click callback: a non-empty display name of at most 255 characters."""
    value = value.strip()
    if not value or len(value) > 255:
        raise click.BadParameter("give a name of 1 to 255 characters")
    return value


@crm_cli.command("create-user")
@click.option("--email", required=True, callback=_email_value, help="Sign-in email.")
@click.option("--name", required=True, callback=_name_value, help="Display name.")
@click.option(
    "--role",
    type=click.Choice([r.value for r in UserRole]),
    default=UserRole.USER.value,
    show_default=True,
    help="What the user may do (README: Roles).",
)
@needs_schema
def create_user_command(email: str, name: str, role: str) -> None:
    """Create a user; the password is asked for twice and never echoed."""
    taken = db.session.scalar(select(func.count()).where(func.lower(User.email) == email))
    if taken:
        raise click.ClickException(f"a user with email {email} already exists")
    password = _prompt_password("Password")
    user = User(email=email, name=name, role=UserRole(role))
    user.password_hash = passwords.hash_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"Created {role} {email} (id {user.id}).")


def init_app(app: Flask) -> None:
    """Attach the ``crm`` command group."""
    app.cli.add_command(crm_cli)
