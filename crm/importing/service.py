"""Validate every row of a mapped CSV file, then import it all in one transaction.

``validate`` reads each cell (fields.py), resolves references in a few set-wise
queries (owners by email, customers by name and company, stages by name),
finds duplicates in the file and in the table, and returns the rows to insert
and update with every problem found. ``apply`` writes them; the caller commits,
so either every row lands or none does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from sqlalchemy import Table as DbTable
from sqlalchemy import column, func, select, update, values
from sqlalchemy.orm import InstrumentedAttribute

from crm.audit.context import set_context
from crm.extensions import DbSession
from crm.importing.fields import FIELDS
from crm.importing.reader import Table
from crm.importing.spreadsheet import unguarded
from crm.models import Customer, Lead, User
from crm.sales.stages import names as stage_names
from crm.security import policy

MODELS: dict[str, type[Customer | Lead]] = {"customers": Customer, "leads": Lead}
CHUNK = 5_000  # values per reference query
# The columns' server defaults, for new rows whose cell is empty (a multi-row
# INSERT names every column, so the database's DEFAULT would not apply).
DEFAULTS = {"customers": {"status": "active"}, "leads": {"currency": "USD"}}
BATCH = 1_000  # rows per INSERT or UPDATE statement (14 columns: 14,000 parameters)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one cell (line 0: with the mapping itself)."""

    line: int
    column: str
    message: str


@dataclass
class Outcome:
    """What an import would do, or why it cannot."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    problems: list[Problem] = field(default_factory=list)


@dataclass
class _Row:
    line: int
    values: dict[str, Any]
    columns: dict[str, str]  # field name -> CSV column name, for messages


def mapping_problems(kind: str, mapping: dict[int, str]) -> list[Problem]:
    """A required field left unmapped, or one field mapped from two columns."""
    problems = []
    targets = list(mapping.values())
    for spec in FIELDS[kind]:
        if spec.required and spec.name not in targets:
            problems.append(Problem(0, spec.label, f"Choose the column that holds {spec.label}."))
        if targets.count(spec.name) > 1:
            problems.append(Problem(0, spec.label, f"Two columns are mapped to {spec.label}."))
    return problems


# Told of progress: the step ("Checking rows", "Writing rows") and rows done so far.
Progress: TypeAlias = Callable[[str, int], None]
EVERY = 5_000  # rows between two progress reports


def _quiet(_step: str, _done: int) -> None:
    """No one is watching (the request imports small files itself)."""


def validate(
    session: DbSession,
    kind: str,
    table: Table,
    mapping: dict[int, str],
    user: User,
    update_: bool,
    on_rows: Progress = _quiet,
) -> Outcome:
    """Check every row; ``update_`` says whether existing duplicates are updated or skipped."""
    outcome = Outcome(problems=mapping_problems(kind, mapping))
    if outcome.problems:
        return outcome
    specs = {spec.name: spec for spec in FIELDS[kind]}
    rows = []
    width = len(table.header)
    for done, (line, cells) in enumerate(zip(table.lines, table.rows, strict=True)):
        if done % EVERY == 0 and done:
            on_rows("Checking rows", done)
        values: dict[str, Any] = {}
        columns = {}
        if any(cell.strip() for cell in cells[width:]):
            outcome.problems.append(
                Problem(line, "", f"{len(cells)} cells, but the header names {width} columns.")
            )
        for index, name in mapping.items():
            spec, column = specs[name], table.header[index]
            columns[name] = column
            # An exported cell's formula guard comes off: "'=x" was "=x" (spreadsheet.py).
            cell = unguarded(cells[index].strip()) if index < len(cells) else ""
            if not cell:
                values[name] = None
                if spec.required:
                    outcome.problems.append(Problem(line, column, f"{spec.label} is required."))
                continue
            try:
                values[name] = spec.parse(cell)
            except ValueError as exc:
                outcome.problems.append(Problem(line, column, str(exc)))
                values[name] = None
        rows.append(_Row(line, values, columns))
    on_rows("Checking rows", len(rows))
    _resolve_owners(session, rows, user, outcome)
    if kind == "leads":
        _resolve_customers(session, rows, user, outcome)
        _resolve_stages(session, rows, outcome)
    _sort_duplicates(session, kind, rows, user, update_, outcome)
    outcome.problems.sort(key=lambda problem: problem.line)  # stable: cells, then references
    return outcome


def _resolve_owners(session: DbSession, rows: list[_Row], user: User, outcome: Outcome) -> None:
    """Owner (email) -> owner_id. Reps own what they add.

    No Owner column: the person importing owns the rows. An Owner column with an
    empty cell: nobody, as an export writes a row without an owner (a rep: still
    the rep), so a file exported imports back unchanged.
    """
    emails = {row.values["owner"].lower() for row in rows if row.values.get("owner")}
    known: dict[str, int] = dict(
        session.execute(
            select(func.lower(User.email), User.id).where(
                func.lower(User.email).in_(emails), User.is_active.is_(True)
            )
        ).all()
    )
    everyone = policy.sees_all_rows(user)
    for row in rows:
        mapped = "owner" in row.values
        wanted = row.values.pop("owner", None)
        row.values["owner_id"] = None if mapped and everyone else user.id
        if wanted is None:
            continue
        owner_id = known.get(wanted.lower())
        if owner_id is None:
            message = f"No active user has the email {wanted!r}."
        elif owner_id != user.id and not everyone:
            message = "You can import only rows you own: leave Owner empty or use your email."
        else:
            row.values["owner_id"] = owner_id
            continue
        outcome.problems.append(Problem(row.line, row.columns["owner"], message))


def _resolve_customers(session: DbSession, rows: list[_Row], user: User, outcome: Outcome) -> None:
    """Customer name + company -> customer_id, among the customers this user may read."""
    wanted = {
        (row.values["customer_name"], row.values.get("customer_company") or "")
        for row in rows
        if row.values.get("customer_name")
    }
    found: dict[tuple[str, str], int] = {}
    names = sorted({name for name, _ in wanted})
    for chunk in _chunks(names):  # by name: uk_customers_name_company leads with it
        query = select(Customer.name, Customer.company, Customer.id).where(
            Customer.name.in_(chunk), policy.row_filter(user, Customer)
        )
        for name, company, id_ in session.execute(query):
            found.setdefault((name, company or ""), id_)
    for row in rows:
        name = row.values.pop("customer_name", None)
        company = row.values.pop("customer_company", None) or ""
        row.values["customer_id"] = None
        if name is None:
            if company:
                column = row.columns["customer_company"]
                outcome.problems.append(Problem(row.line, column, "Give the customer's name too."))
            continue
        row.values["customer_id"] = found.get((name, company))
        if row.values["customer_id"] is None:
            at = f" at {company!r}" if company else " without a company"
            outcome.problems.append(
                Problem(row.line, row.columns["customer_name"], f"No customer {name!r}{at}.")
            )


def _resolve_stages(session: DbSession, rows: list[_Row], outcome: Outcome) -> None:
    """Stage (name, any case) -> stage_id; empty means the first stage in order."""
    in_order = stage_names(session)
    by_name = {name.lower(): id_ for id_, name in reversed(in_order)}  # the first of a name wins
    first = in_order[0][0] if in_order else None
    for row in rows:
        wanted = row.values.pop("stage", None)
        row.values["stage_id"] = first if wanted is None else by_name.get(wanted.lower())
        if wanted is not None and row.values["stage_id"] is None:
            names = ", ".join(name for _, name in in_order)
            outcome.problems.append(
                Problem(row.line, row.columns["stage"], f"No stage {wanted!r} (stages: {names}).")
            )


def _key(kind: str, values: dict[str, Any]) -> tuple[Any, Any]:
    if kind == "customers":
        return values.get("name"), values.get("company") or ""
    return values.get("title"), values.get("customer_id") or 0


def _key_column(row: _Row) -> str:
    """The CSV column of the record's name (customers) or title (leads), for messages."""
    return row.columns.get("name") or row.columns.get("title", "")


# A lookup of existing rows: the column probed, the values wanted, the key's two columns.
_Probe: TypeAlias = tuple[
    InstrumentedAttribute[Any], set[Any], InstrumentedAttribute[Any], InstrumentedAttribute[Any]
]


def _sort_duplicates(
    session: DbSession, kind: str, rows: list[_Row], user: User, update_: bool, outcome: Outcome
) -> None:
    """Rows the file repeats are errors; rows the table has are skipped or updated."""
    model = MODELS[kind]
    seen: dict[tuple[Any, Any], int] = {}
    for row in rows:
        key = _key(kind, row.values)
        if key in seen:
            what = "name and company" if kind == "customers" else "title and customer"
            column = _key_column(row)
            outcome.problems.append(Problem(row.line, column, f"Same {what} as line {seen[key]}."))
        seen.setdefault(key, row.line)
    readable = policy.row_filter(user, model)
    probes: list[_Probe]
    if kind == "customers":
        # By name (uk_customers_name_company leads with it); the company compared here.
        probes = [(Customer.name, {name for name, _ in seen}, Customer.name, Customer.company)]
    else:
        # By customer (idx_leads_customer_id), or by title for leads without one.
        probes = [
            (Lead.customer_id, {c for _, c in seen if c}, Lead.title, Lead.customer_id),
            (Lead.title, {t for t, c in seen if not c}, Lead.title, Lead.customer_id),
        ]
    existing: dict[tuple[Any, Any], tuple[int, bool]] = {}
    for probe, wanted, first, second in probes:
        for chunk in _chunks(sorted(value for value in wanted if value is not None)):
            query = select(first, second, model.id, readable).where(probe.in_(chunk))
            if probe is Lead.title:
                query = query.where(Lead.customer_id.is_(None))
            for a, b, id_, mine in session.execute(query):
                existing.setdefault((a, b or ("" if kind == "customers" else 0)), (id_, mine))
    for row in rows:
        match = existing.get(_key(kind, row.values))
        if match is None:
            defaults = DEFAULTS.get(kind, {})
            outcome.inserts.append(
                {k: defaults.get(k) if v is None else v for k, v in row.values.items()}
            )
        elif not update_:
            outcome.skipped += 1
        elif not match[1]:
            column = _key_column(row)
            outcome.problems.append(
                Problem(row.line, column, "This record exists and belongs to someone else.")
            )
        else:
            changes = {k: v for k, v in row.values.items() if v is not None}
            if "owner" not in row.columns:
                changes.pop("owner_id", None)  # no Owner column: keep the current owner
            outcome.updates.append({"id": match[0], **changes})


def _chunks(items: list[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def apply(session: DbSession, kind: str, outcome: Outcome, on_rows: Progress = _quiet) -> None:
    """Insert and update the validated rows (the caller commits, or rolls back).

    New rows go in with COPY, updates as multi-row UPDATEs: one statement per
    batch, not per row, so the statement-level pipeline triggers on ``leads``
    run once per batch (per row, a 100,000-lead import took four minutes; with
    COPY it takes seconds). Row triggers (audit, closed_at) still see each row.
    """
    table = MODELS[kind].__table__
    assert isinstance(table, DbTable)  # a model mapped to a table, not to a query
    set_context(session)  # the audit rows name the person importing
    if outcome.inserts:
        names = list(outcome.inserts[0])  # every row has the same keys: our field names
        driver_connection = session.connection().connection.driver_connection
        assert driver_connection is not None  # the session holds a live psycopg connection
        cursor = driver_connection.cursor()
        with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
            for done, row in enumerate(outcome.inserts, start=1):
                copy.write_row([row[name] for name in names])
                if done % EVERY == 0:
                    on_rows("Writing rows", done)
    written = len(outcome.inserts)
    on_rows("Writing rows", written)
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in outcome.updates:
        by_columns.setdefault(tuple(sorted(row)), []).append(row)
    for keys, rows in by_columns.items():
        for chunk in _chunks(rows, BATCH):
            given = values(*(column(name, table.c[name].type) for name in keys), name="given")
            given = given.data([tuple(row[name] for name in keys) for row in chunk])
            changes = {name: given.c[name] for name in keys if name != "id"}
            session.execute(update(table).where(table.c.id == given.c.id).values(changes))
            written += len(chunk)
            on_rows("Writing rows", written)
