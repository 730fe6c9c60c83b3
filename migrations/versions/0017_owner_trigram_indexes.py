"""The lists' trigram indexes carry the sales reps' rule columns (``btree_gin``).

A rep's list search (``owner_id = me AND title ILIKE '%renewal%'``) used two
indexes: the rep's rows (43,480 leads for the biggest demo book) and the word's
trigrams (250,000 leads), each read into a bitmap, then ANDed: 89 ms. A GIN
index over both columns intersects the two posting lists inside one scan,
skipping through the longer one: 16 ms. A multicolumn GIN index serves a
condition on any subset of its columns equally well, so each one *replaces*
0007's trigram index of the same table (the admin's search, on the text alone,
is served as before) and the disk used barely grows.

The rule columns (crm/security/policy.py): customers' and leads' ``owner_id``; tasks'
``user_id`` and ``assigned_to`` (either makes the task the rep's); interactions'
``user_id`` (the other part, "on customers they own", is served through the
customer, migration 0016). ``btree_gin`` gives plain integers a GIN operator
class; like pg_trgm it is a trusted extension, which the database owner may
create.

Revision ID: 0017_owner_trigram_indexes
Revises: 0016_row_rule_indexes
Create Date: 2026-11-30
"""

from alembic import op

revision = "0017_owner_trigram_indexes"
down_revision = "0016_row_rule_indexes"
branch_labels = None
depends_on = None

# new index: (table, rule columns, text columns, 0007's indexes it replaces)
INDEXES = {
    "idx_customers_owner_trgm": (
        "customers",
        ["owner_id"],
        ["name", "company", "email"],
        ["idx_customers_name_trgm", "idx_customers_company_trgm", "idx_customers_email_trgm"],
    ),
    "idx_leads_owner_trgm": ("leads", ["owner_id"], ["title"], ["idx_leads_title_trgm"]),
    "idx_tasks_people_trgm": (
        "tasks",
        ["user_id", "assigned_to"],
        ["title"],
        ["idx_tasks_title_trgm"],
    ),
    "idx_interactions_user_trgm": (
        "interactions",
        ["user_id"],
        ["subject"],
        ["idx_interactions_subject_trgm"],
    ),
}


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    for name, (table, rule, texts, old) in INDEXES.items():
        columns = ", ".join([*rule, *(f"{column} gin_trgm_ops" for column in texts)])
        op.execute(f"CREATE INDEX {name} ON {table} USING gin ({columns})")
        for index in old:
            op.execute(f"DROP INDEX {index}")


def downgrade() -> None:
    for name, (table, _rule, texts, old) in INDEXES.items():
        for index, column in zip(old, texts, strict=True):
            op.execute(f"CREATE INDEX {index} ON {table} USING gin ({column} gin_trgm_ops)")
        op.execute(f"DROP INDEX {name}")
    op.execute("DROP EXTENSION IF EXISTS btree_gin")
