"""The kinds of record global search covers, and how a query matches each.

Each kind (customers, leads, tasks, interactions) is searched through its GIN
index, so its ``document`` is that index's expression verbatim and ``matches``
builds the WHERE clause from it (plus, for customers, the reversed phone digits
of idx_customers_phone_digits); the planner then serves the clause from the index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, literal_column, or_

from crm.models import Customer, Interaction, Lead, Task
from crm.search.query import Query

# The GIN indexes' expressions (idx_customers_search, idx_leads_search,
# idx_tasks_search: the spec's; idx_interactions_search: migration 0011), written
# with table-qualified columns so they stay unambiguous beside joined tables; the
# planner matches them to the indexes all the same (tests/search/test_search.py reads
# EXPLAIN).
CUSTOMER_DOCUMENT = (
    "to_tsvector('english', customers.name || ' ' || COALESCE(customers.company, '') "
    "|| ' ' || COALESCE(customers.email, ''))"
)


def _title_description(table: str) -> str:
    return f"to_tsvector('english', {table}.title || ' ' || COALESCE({table}.description, ''))"


INTERACTION_DOCUMENT = (
    "to_tsvector('english', COALESCE(interactions.subject, '') || ' ' "
    "|| COALESCE(interactions.description, ''))"
)
# idx_customers_phone_digits (migration 0011): the digits, last first.
PHONE_DIGITS_REVERSED = "reverse(regexp_replace(customers.phone, '[^0-9]', '', 'g'))"


@dataclass(frozen=True)
class Kind:
    """One kind of record global search covers."""

    key: str  # also the admin endpoint (list, details)
    label: str
    model: type[Customer | Lead | Task | Interaction]
    document: str  # the GIN index's expression, verbatim
    index: str  # that GIN index
    snippet_source: str  # the text snippets are cut from
    title: Callable[[Any], str]


KINDS = (
    Kind(
        "customers",
        "Customers",
        Customer,
        CUSTOMER_DOCUMENT,
        "idx_customers_search",
        "concat_ws(' · ', customers.name, customers.company, customers.email, customers.phone)",
        str,
    ),
    Kind(
        "leads",
        "Leads",
        Lead,
        _title_description("leads"),
        "idx_leads_search",
        "concat_ws(' · ', leads.title, leads.description)",
        lambda row: row.title,
    ),
    Kind(
        "tasks",
        "Tasks",
        Task,
        _title_description("tasks"),
        "idx_tasks_search",
        "concat_ws(' · ', tasks.title, tasks.description)",
        lambda row: row.title,
    ),
    Kind(
        "interactions",
        "Interactions",
        Interaction,
        INTERACTION_DOCUMENT,
        "idx_interactions_search",
        "concat_ws(' · ', interactions.subject, interactions.description)",
        str,
    ),
)


def matches(kind: Kind, query: Query) -> ColumnElement[bool]:
    """The WHERE clause for ``query`` on ``kind`` (index-served; phone digits for customers)."""
    condition: ColumnElement[bool] = literal_column(kind.document).op("@@")(query.tsquery())
    digits = query.phone_digits
    if kind.model is Customer and digits:
        ending = literal_column(PHONE_DIGITS_REVERSED).like(digits[::-1] + "%")
        condition = or_(condition, ending)
    return condition
