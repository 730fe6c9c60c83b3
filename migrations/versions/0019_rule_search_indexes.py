"""Full-text indexes that carry the sales reps' rule columns (``btree_gin``).

A rep's global search for a common word (``owner_id = me AND document @@ 'renew'``)
used two indexes: the word's (250,000 leads) and the rep's rows (43,000 leads
for the biggest demo book), each read into a bitmap, then ANDed: 78 ms for the
leads alone, 112 ms for the interactions, 270 ms for the page. A GIN index over
both intersects the two inside one scan (as migration 0017 does for the lists'
trigrams): 30 and 45 ms, or 11 ms when crm/search/words.py reads the whole word before
its prefix.

These sit beside the spec's full-text indexes (``idx_customers_search``,
``idx_leads_search``, ``idx_tasks_search``) and 0011's ``idx_interactions_search``,
which stay as the spec defines them; about 260 MB more at scale 1, built in
about a minute.

The rule columns (crm/security/policy.py): customers' and leads' ``owner_id``; tasks'
``user_id`` and ``assigned_to``; interactions' ``user_id`` (the other part, "on
customers they own", is read through the customer).

Revision ID: 0019_rule_search_indexes
Revises: 0018_common_lexemes
Create Date: 2026-11-30
"""

from alembic import op

revision = "0019_rule_search_indexes"
down_revision = "0018_common_lexemes"
branch_labels = None
depends_on = None

TITLE_DESCRIPTION = "to_tsvector('english', title || ' ' || COALESCE(description, ''))"

# index: (table, rule columns, the document its full-text index holds)
INDEXES = {
    "idx_customers_owner_search": (
        "customers",
        "owner_id",
        "to_tsvector('english', name || ' ' || COALESCE(company, '') || ' ' || COALESCE(email, ''))",
    ),
    "idx_leads_owner_search": ("leads", "owner_id", TITLE_DESCRIPTION),
    "idx_tasks_people_search": ("tasks", "user_id, assigned_to", TITLE_DESCRIPTION),
    "idx_interactions_user_search": (
        "interactions",
        "user_id",
        "to_tsvector('english', COALESCE(subject, '') || ' ' || COALESCE(description, ''))",
    ),
}


def upgrade() -> None:
    for name, (table, rule, document) in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {table} USING gin ({rule}, ({document}))")


def downgrade() -> None:
    for name in INDEXES:
        op.execute(f"DROP INDEX {name}")
