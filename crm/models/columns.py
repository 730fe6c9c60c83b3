"""Column shapes repeated across the spec's tables."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from sqlalchemy import FetchedValue, text
from sqlalchemy.orm import mapped_column

# TIMESTAMP DEFAULT CURRENT_TIMESTAMP (nullable, as the spec writes it).
CreatedAt = Annotated[datetime | None, mapped_column(server_default=text("CURRENT_TIMESTAMP"))]

# Same column, but a database trigger moves it on every UPDATE; FetchedValue tells
# the ORM to re-read it after an UPDATE rather than trust its own copy.
UpdatedAt = Annotated[
    datetime | None,
    mapped_column(server_default=text("CURRENT_TIMESTAMP"), server_onupdate=FetchedValue()),
]


# idx_leads_search and idx_tasks_search index
#   to_tsvector('english', title || ' ' || COALESCE(description, ''))
# written as PostgreSQL prints it back (pretty form, as SQLAlchemy reflects it), so
# autogenerate sees the index unchanged.
TITLE_DESCRIPTION_DOCUMENT = (
    "to_tsvector('english'::regconfig, (title::text || ' '::text) || "
    "COALESCE(description, ''::text))"
)

# Migration 0008: bumped by a trigger on every real change; edit forms carry it
# so a save over someone else's unseen change is refused (optimistic locking).
RowVersion = Annotated[int, mapped_column(server_default=text("1"), server_onupdate=FetchedValue())]
