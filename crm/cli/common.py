"""What every ``flask crm`` command module shares."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click
import psycopg
from sqlalchemy.exc import ProgrammingError


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
