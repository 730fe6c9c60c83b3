"""``idx_leads_owner_close`` carries when each lead entered its stage, and its id.

Issue 17, part 5: one owner's funnel as of a past day with an expected-close range is
rewound from the owner's leads in the range that moved since that day
(crm/sales/asof.py): their ``stage_entered_at`` and ``id`` were on the table's pages,
so the big book's 12,331 leads in a 60-day range cost 10,659 heap pages (21 ms of the
page's 47). With both in the index it is an index-only range (2 ms). A stage move
writes a new entry in this index already (``stage_id`` is in it), so the wider entry
costs writes almost nothing. Rebuilding it locks ``leads`` for writes: 5 s at scale 1.

Revision ID: 0038_owner_close_moves
Revises: 0037_closing_by_source
Create Date: 2026-12-02
"""

from alembic import op

revision = "0038_owner_close_moves"
down_revision = "0037_closing_by_source"
branch_labels = None
depends_on = None

COVERED = (
    "stage_id, stages_passed, previous_stage_id, currency, source, created_at, amount, probability"
)


def _index(covered: str) -> None:
    op.execute("DROP INDEX idx_leads_owner_close")
    op.execute(
        "CREATE INDEX idx_leads_owner_close ON leads (owner_id, expected_close_date) "
        f"INCLUDE ({covered})"
    )


def upgrade() -> None:
    _index(f"{COVERED}, stage_entered_at, id")


def downgrade() -> None:
    _index(COVERED)
