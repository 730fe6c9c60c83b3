"""``lead_stages.rotting_days``: how long an open deal may sit in a stage (issue 17, part 4).

A lead that has been in its stage longer than the stage's ``rotting_days`` is
stale: the board flags its card and counts such deals per column. NULL: the
stage has no limit (Closed Won and Closed Lost). The spec's stages get sensible
limits here (on a new database the seed gives them); admins change them on the
lead stages' form.

How long a lead has been in its stage: since ``stage_entered_at`` (migration
0024), or since it was created if it never moved. Two indexes find the oldest
leads of a stage at once, for everyone and per owner (a rep's board), and count
them up to a cap without reading the table (5 columns: 19 → 4 ms at scale 1; with
a currency filter, 78 → 8 ms). ``idx_leads_stage_created`` gives each board
column its newest cards the same way (with a filter: 23 → 8 ms), and
``idx_leads_owner_stage_created`` a rep's (with an expected-close range: 331 →
13 ms); ``idx_leads_owner_close`` reads one owner's funnel by expected close date
from the index (the biggest book: 63 → 12 ms).

``idx_leads_created_pipeline`` (migration 0012) also covers the leads' paths, so
the partial months of a creation range stay index-only reads now that the funnel
groups by path (at scale 1: 185 → 77 ms for a range with two partial months).

Revision ID: 0025_rotting_days
Revises: 0024_lead_paths
Create Date: 2026-12-01
"""

from alembic import op

revision = "0025_rotting_days"
down_revision = "0024_lead_paths"
branch_labels = None
depends_on = None

# The spec's stage names -> days (the seed's values: crm/maintenance/seed.py).
LIMITS = {"New": 7, "Contacted": 14, "Qualified": 21, "Proposal": 14, "Negotiation": 21}
IN_STAGE_SINCE = "COALESCE(stage_entered_at, created_at)"
COVERED = "stage_id, owner_id, currency, source, amount, probability"
FILTERED = "currency, source, expected_close_date"


def upgrade() -> None:
    op.execute(
        "ALTER TABLE lead_stages ADD COLUMN rotting_days integer "
        "CONSTRAINT chk_lead_stages_rotting_days CHECK (rotting_days IS NULL OR rotting_days > 0)"
    )
    for name, days in LIMITS.items():
        op.execute(f"UPDATE lead_stages SET rotting_days = {days} WHERE name = '{name}'")
    # INCLUDE: the expression's columns (an index-only scan needs them as plain columns)
    # and the board's filters, so a capped count never reads the table.
    op.execute(
        f"CREATE INDEX idx_leads_stage_since ON leads (stage_id, ({IN_STAGE_SINCE})) "
        f"INCLUDE (stage_entered_at, created_at, owner_id, {FILTERED})"
    )
    op.execute(
        "CREATE INDEX idx_leads_owner_stage_since ON leads "
        f"(owner_id, stage_id, ({IN_STAGE_SINCE})) "
        f"INCLUDE (stage_entered_at, created_at, {FILTERED})"
    )
    # A board column's newest cards, filtered without reading rows that do not match;
    # the same for one owner (a rep's board, or a filter by owner).
    op.execute(
        "CREATE INDEX idx_leads_stage_created ON leads (stage_id, created_at, id) "
        f"INCLUDE (owner_id, {FILTERED})"
    )
    op.execute(
        "CREATE INDEX idx_leads_owner_stage_created ON leads "
        f"(owner_id, stage_id, created_at, id) INCLUDE ({FILTERED})"
    )
    # One owner's funnel by expected close date: an index-only range of their leads.
    op.execute(
        "CREATE INDEX idx_leads_owner_close ON leads (owner_id, expected_close_date) "
        "INCLUDE (stage_id, stages_passed, previous_stage_id, currency, source, created_at, "
        "amount, probability)"
    )
    _pipeline_index(f"{COVERED}, stages_passed, previous_stage_id")


def _pipeline_index(covered: str) -> None:
    op.execute("DROP INDEX idx_leads_created_pipeline")
    op.execute(f"CREATE INDEX idx_leads_created_pipeline ON leads (created_at) INCLUDE ({covered})")


def downgrade() -> None:
    _pipeline_index(COVERED)
    for name in ("owner_close", "owner_stage_created", "stage_created"):
        op.execute(f"DROP INDEX idx_leads_{name}")
    op.execute("DROP INDEX idx_leads_owner_stage_since")
    op.execute("DROP INDEX idx_leads_stage_since")
    op.execute("ALTER TABLE lead_stages DROP COLUMN rotting_days")
