"""``flask crm api-token create``: a personal API token for scripts (issue 20, part 3)."""

from __future__ import annotations

import click
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import func, select

from crm.api import tokens
from crm.cli.common import needs_schema
from crm.extensions import db
from crm.models import User
from crm.models.token import SCOPES

api_token = AppGroup("api-token", help="Personal API tokens for /api/v1/ (Bearer tokens).")


@api_token.command("create")
@with_appcontext
@click.option("--user", "email", required=True, help="The email of the token's owner.")
@click.option(
    "--scope",
    type=click.Choice(SCOPES),
    required=True,
    help="read: GET only; write: also create, change and delete (as the owner's role may).",
)
@click.option(
    "--days",
    type=click.IntRange(1, tokens.MAX_DAYS),
    default=30,
    show_default=True,
    help="Days until it expires.",
)
@click.option("--name", default="cli", show_default=True, help="What the token is for.")
@needs_schema
def create_command(email: str, scope: str, days: int, name: str) -> None:
    """Print a new token (and nothing else) on standard output; it is shown only once."""
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"no user has the email {email[:100]}")
    if not user.is_active:
        raise click.ClickException(f"{user.email} is deactivated: activate the account first")
    try:
        row, secret = tokens.create(db.session, user, name, scope, days)
    except tokens.TokenError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from None
    db.session.commit()
    click.echo(
        f"Token {row.prefix}… ({scope}) for {user.email}, expires {row.expires_at:%Y-%m-%d %H:%M} "
        "UTC. Keep it secret: it is not shown again.",
        err=True,
    )
    click.echo(secret)


COMMANDS = [api_token]
