"""``flask crm seed``, ``create-user`` and ``demo-data``: setting a database up."""

from __future__ import annotations

import re
import sys
import time

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from config import WELL_KNOWN_PASSWORDS
from crm.cli.common import needs_schema
from crm.extensions import db
from crm.maintenance import demo_data
from crm.maintenance.demo_data import DEMO_PASSWORD
from crm.maintenance.rates import USD_VALUE
from crm.maintenance.seed import SeedUser, seed
from crm.models import Customer, User, UserRole
from crm.models.customer import EMAIL_PATTERN
from crm.security import passwords


def _password_value(value: str) -> str:
    """Click value_proc: production's demo-password ban (said first), and the password rules."""
    if not current_app.config["ALLOW_DEMO_PASSWORDS"] and value in WELL_KNOWN_PASSWORDS:
        raise click.UsageError(
            "That is one of the README's demo passwords; choose a real one in production."
        )
    try:
        passwords.validate(value)
    except passwords.PasswordError as exc:
        raise click.UsageError(str(exc)) from None
    return value


def _prompt_password(label: str) -> str:
    """Ask twice, hidden, until the password passes the rules."""
    return click.prompt(
        label, hide_input=True, confirmation_prompt=True, value_proc=_password_value
    )


@click.command("seed")
@with_appcontext
@needs_schema
def seed_command() -> None:
    """Add the spec's users, lead stages and sample customers (safe to run again).

    Development uses the README's demo passwords; production asks for real ones.
    """

    def password_for(account: SeedUser) -> str:
        if current_app.config["ALLOW_DEMO_PASSWORDS"]:
            return account.demo_password
        return _prompt_password(f"Password for {account.email} ({account.role})")

    base = current_app.config["BASE_CURRENCY"]
    report = seed(db.session, password_for, passwords.hash_password, base)
    db.session.commit()
    click.echo(
        f"Seed done: {report.users} users, {report.stages} lead stages, "
        f"{report.customers} customers and {report.rates} exchange rates added "
        "(existing rows left as they were)."
    )
    if base not in USD_VALUE:
        click.echo(
            f"No seed exchange rates to {base}: add them under Setup → Exchange rates, "
            "or the pipeline shows amounts in other currencies as “no rate”."
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


@click.command("create-user")
@with_appcontext
@click.option("--email", required=True, callback=_email_value, help="Sign-in email.")
@click.option("--name", required=True, callback=_name_value, help="Display name.")
@click.option(
    "--role",
    type=click.Choice([r.value for r in UserRole]),
    default=UserRole.USER.value,
    show_default=True,
    help="What the user may do (README: Roles).",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts).",
)
@needs_schema
def create_user_command(email: str, name: str, role: str, password_stdin: bool) -> None:
    """Create a user; the password is asked for twice and never echoed (or read from stdin)."""
    taken = db.session.scalar(select(func.count()).where(func.lower(User.email) == email))
    if taken:
        raise click.ClickException(f"a user with email {email} already exists")
    if password_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise click.UsageError("--password-stdin: standard input held no password")
        password = _password_value(line)
    else:
        password = _prompt_password("Password")
    user = User(email=email, name=name, role=UserRole(role))
    user.password_hash = passwords.hash_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"Created {role} {email} (id {user.id}).")


@click.command("demo-data")
@with_appcontext
@click.option(
    "--scale",
    type=click.FloatRange(min=0, min_open=True, max=20),
    default=0.01,
    show_default=True,
    help="1 = 1M customers, 2M leads, 1M tasks, 3M interactions, 5M audit rows.",
)
@click.option("--replace", is_flag=True, help="Delete all business data first and load afresh.")
@click.option("--if-missing", is_flag=True, help="Do nothing (exit 0) if demo data is loaded.")
@needs_schema
def demo_data_command(scale: float, replace: bool, if_missing: bool) -> None:
    """Load realistic, deterministic demo data, in one transaction, with progress."""
    if not current_app.config["ALLOW_DEMO_PASSWORDS"]:
        raise click.ClickException("demo data is for development and demos, not production")
    conn = db.session.connection()
    if replace:
        click.echo("Removing customers, leads, tasks, interactions, audit rows and demo users…")
        demo_data.remove(conn)
        seed(
            db.session,
            lambda account: account.demo_password,
            passwords.hash_password,
            current_app.config["BASE_CURRENCY"],
        )
    elif if_missing and demo_data.is_loaded(conn):
        have = db.session.scalar(select(func.count()).select_from(Customer)) or 0
        wanted = demo_data.Volumes.for_scale(scale).customers
        if abs(have - wanted) > wanted // 10:
            # A different DEMO_SCALE on a later `make run`: say how, never delete by itself.
            click.echo(
                f"Demo data is already loaded ({have:,} customers); --scale {scale:g} would "
                f"load {wanted:,}. To load that instead (every customer, lead, task, "
                "interaction and audit row is deleted first): "
                f"`.venv/bin/flask crm demo-data --scale {scale:g} --replace`."
            )
        else:
            click.echo("Demo data is already loaded; nothing to do.")
        return
    volumes = demo_data.Volumes.for_scale(scale)
    started = time.monotonic()
    steps: dict[str, float] = {}  # seconds spent per step, for the summary
    try:
        with click.progressbar(
            length=volumes.total_units(), label="Loading demo data", show_eta=True
        ) as bar:
            clock = {"last": time.monotonic()}

            def progress(step: str, units: int) -> None:
                now = time.monotonic()
                steps[step] = steps.get(step, 0.0) + now - clock["last"]
                clock["last"] = now
                bar.label = f"Loading demo data: {step:<12}"
                bar.update(units)

            demo_data.load(
                conn,
                scale,
                passwords.hash_password(DEMO_PASSWORD),
                progress,
                base=current_app.config["BASE_CURRENCY"],
            )
        db.session.commit()
    except demo_data.DemoDataError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Loaded in {time.monotonic() - started:.0f} s: {volumes.users} users, "
        f"{volumes.customers:,} customers, {volumes.leads:,} leads, {volumes.tasks:,} tasks, "
        f"{volumes.interactions:,} interactions, {volumes.audit_logs:,} audit rows. "
        f"Demo users sign in with the password {DEMO_PASSWORD!r}."
    )
    click.echo(
        "Time per step: " + ", ".join(f"{step} {secs:.0f} s" for step, secs in steps.items())
    )


COMMANDS = (seed_command, create_user_command, demo_data_command)
