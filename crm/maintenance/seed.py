"""The spec's seed data: users, lead stages and sample customers (idempotent)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from crm.extensions import DbSession
from crm.maintenance.rates import seed_rates
from crm.models import Customer, LeadStage, User, UserRole


@dataclass(frozen=True)
class SeedUser:
    """One of the spec's accounts and its development password (README lists them)."""

    email: str
    name: str
    role: UserRole
    demo_password: str


SEED_USERS = (
    SeedUser("admin@crm.com", "System Administrator", UserRole.ADMIN, "admin123"),
    SeedUser("manager@crm.com", "Sales Manager", UserRole.MANAGER, "manager123"),
    SeedUser("user@crm.com", "Sales Representative", UserRole.USER, "user123"),
    SeedUser("support@crm.com", "Support Agent", UserRole.SUPPORT, "support123"),
)

# (name, description, order_index), as the spec's lead_stages sample data.
SEED_STAGES = (
    ("New", "Recently added leads", 1),
    ("Contacted", "Initial contact made", 2),
    ("Qualified", "Lead meets criteria and is interested", 3),
    ("Proposal", "Proposal or quote sent", 4),
    ("Negotiation", "In negotiation phase", 5),
    ("Closed Won", "Successfully converted to customer", 6),
    ("Closed Lost", "Opportunity lost", 7),
)

# Days an open deal may sit in each stage before it is stale (migration 0025's values).
ROTTING_DAYS = {"New": 7, "Contacted": 14, "Qualified": 21, "Proposal": 14, "Negotiation": 21}

# (name, email, company, industry, owner email): the spec's SQL sample customers,
# whose owners 1, 2, 3 are the admin, the manager and the sales rep.
SEED_CUSTOMERS = (
    ("Acme Corp", "contact@acme.com", "Acme Corporation", "Technology", "admin@crm.com"),
    (
        "Tech Solutions",
        "info@techsolutions.com",
        "Tech Solutions Inc",
        "Technology",
        "manager@crm.com",
    ),
    (
        "Healthcare Plus",
        "hello@healthcareplus.com",
        "Healthcare Plus LLC",
        "Healthcare",
        "user@crm.com",
    ),
)


@dataclass
class SeedReport:
    """How many rows each table gained (rows already there are left untouched)."""

    users: int = 0
    stages: int = 0
    customers: int = 0
    rates: int = 0


def seed(
    session: DbSession,
    password_for: Callable[[SeedUser], str],
    hash_password: Callable[[str], str],
    base: str = "USD",
) -> SeedReport:
    """Insert whatever seed rows are missing; existing rows are never changed.

    ``password_for`` is asked only for users that do not exist yet, so a second run
    neither prompts nor re-hashes. ``base``: the base currency the rates are to.
    """
    report = SeedReport()
    existing_emails = set(session.scalars(select(User.email)))
    for account in SEED_USERS:
        if account.email in existing_emails:
            continue
        session.add(
            User(
                email=account.email,
                name=account.name,
                role=account.role,
                password_hash=hash_password(password_for(account)),
            )
        )
        report.users += 1
    session.flush()

    existing_stages = set(session.scalars(select(LeadStage.name)))
    for name, description, order_index in SEED_STAGES:
        if name not in existing_stages:
            # One at a time, in order, so a fresh database gives the spec's ids 1..7.
            session.add(
                LeadStage(
                    name=name,
                    description=description,
                    order_index=order_index,
                    rotting_days=ROTTING_DAYS.get(name),
                )
            )
            session.flush()
            report.stages += 1

    owners = {email: user_id for email, user_id in session.execute(select(User.email, User.id))}
    for name, email, company, industry, owner_email in SEED_CUSTOMERS:
        inserted = session.execute(
            insert(Customer)
            .values(
                name=name,
                email=email,
                company=company,
                industry=industry,
                owner_id=owners.get(owner_email),
            )
            .on_conflict_do_nothing(constraint="uk_customers_name_company")
            .returning(Customer.id)
        ).first()
        report.customers += inserted is not None
    report.rates = seed_rates(session.connection(), base)
    return report
