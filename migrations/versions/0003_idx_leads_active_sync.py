"""Keep idx_leads_active's "closed stage" ids equal to the real ones.

The spec writes idx_leads_active with WHERE stage_id NOT IN (6, 7): the ids the
seed gives "Closed Won" and "Closed Lost" on a fresh database. An index predicate
cannot look up another table, so when those stages have other ids (stages created
in another order, deleted and re-created, imported) the literal would be wrong.

crm_sync_leads_active_index() reads the ids of the stages named "Closed Won" and
"Closed Lost" and, only when they differ from the predicate, rebuilds the index
with the right ones. A statement trigger on lead_stages runs it after any insert,
delete, or change of a stage's name or id, so the index follows the data by
itself. With no closed stage present the spec's (6, 7) stays. The rebuild locks
leads for as long as the index takes to build; stages change rarely.

Revision ID: 0003_idx_leads_active_sync
Revises: 0002_customer_industry_check
Create Date: 2026-11-25
"""

from alembic import op

revision = "0003_idx_leads_active_sync"
down_revision = "0002_customer_industry_check"
branch_labels = None
depends_on = None

SYNC_FUNCTION = """
CREATE FUNCTION crm_sync_leads_active_index() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    closed_ids integer[];
    wanted text;
    current_predicate text;
BEGIN
    SELECT array_agg(id ORDER BY id) INTO closed_ids
    FROM lead_stages WHERE name IN ('Closed Won', 'Closed Lost');
    IF closed_ids IS NULL THEN
        closed_ids := ARRAY[6, 7];
    END IF;
    -- The form PostgreSQL itself prints for "stage_id NOT IN (...)"; it folds a
    -- one-element list into a plain inequality.
    IF cardinality(closed_ids) = 1 THEN
        wanted := format('(stage_id <> %s)', closed_ids[1]);
    ELSE
        wanted := format('(stage_id <> ALL (ARRAY[%s]))', array_to_string(closed_ids, ', '));
    END IF;

    SELECT pg_get_expr(i.indpred, i.indrelid) INTO current_predicate
    FROM pg_index i
    WHERE i.indexrelid = to_regclass('idx_leads_active');

    IF current_predicate IS DISTINCT FROM wanted THEN
        DROP INDEX IF EXISTS idx_leads_active;
        EXECUTE format(
            'CREATE INDEX idx_leads_active ON leads(owner_id, stage_id) WHERE stage_id NOT IN (%s)',
            array_to_string(closed_ids, ', ')
        );
    END IF;
    RETURN NULL;
END;
$$;
"""

TRIGGER = """
CREATE TRIGGER trg_lead_stages_sync_leads_active
AFTER INSERT OR DELETE OR UPDATE OF id, name ON lead_stages
FOR EACH STATEMENT EXECUTE FUNCTION crm_sync_leads_active_index();
"""


def upgrade() -> None:
    op.execute(SYNC_FUNCTION)
    op.execute(TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER trg_lead_stages_sync_leads_active ON lead_stages")
    op.execute("DROP FUNCTION crm_sync_leads_active_index()")
