"""``crm_common_lexemes(index, prefix, how_many)``: a prefix's most common completions.

Global search matches the word being typed as a prefix ("smi" finds Smith). A
prefix makes GIN gather the rows of every word it starts (85,774 leads for "smi",
50 ms at scale 1) before the first is read, and no sampling shortens that. For
someone who reads every row, a common prefix only needs a pool of matches to
rank (crm/search.py): its most common completions, as plain words, can be
sampled (``gin_fuzzy_search_limit``) in a few milliseconds.

Those completions are in the planner's statistics of the search index
(``most_common_elems``), which ``pg_stats`` shows only to the index's
owner, not to the app's own role (README "Production: database roles"). This
function reads them as the owner, for tables the caller may read anyway; it
returns nothing else. EXECUTE is left to PUBLIC (the default for functions).

Revision ID: 0018_common_lexemes
Revises: 0017_owner_trigram_indexes
Create Date: 2026-11-30
"""

from alembic import op

revision = "0018_common_lexemes"
down_revision = "0017_owner_trigram_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
CREATE FUNCTION crm_common_lexemes(index regclass, prefix text, how_many integer)
RETURNS TABLE (lexeme text, frequency real)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    -- pg_statistic itself, not the pg_stats view: the view costs 8 ms a call, this 1.
    -- Kind 4 is STATISTIC_KIND_MCELEM: a tsvector's most common lexemes.
    SELECT m.lexeme, m.frequency
    FROM pg_index i
    JOIN pg_statistic s ON s.starelid = i.indexrelid AND NOT s.stainherit
    CROSS JOIN LATERAL unnest(
        (CASE 4 WHEN s.stakind1 THEN s.stavalues1 WHEN s.stakind2 THEN s.stavalues2
                WHEN s.stakind3 THEN s.stavalues3 WHEN s.stakind4 THEN s.stavalues4
                WHEN s.stakind5 THEN s.stavalues5 END)::text::text[],
        CASE 4 WHEN s.stakind1 THEN s.stanumbers1 WHEN s.stakind2 THEN s.stanumbers2
               WHEN s.stakind3 THEN s.stanumbers3 WHEN s.stakind4 THEN s.stanumbers4
               WHEN s.stakind5 THEN s.stanumbers5 END
    ) AS m(lexeme, frequency)
    WHERE i.indexrelid = index
      -- session_user: inside this function current_user is its owner
      AND has_table_privilege(session_user, i.indrelid, 'SELECT')
      AND starts_with(m.lexeme, prefix)
    ORDER BY m.frequency DESC
    LIMIT how_many
$$
"""
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION crm_common_lexemes(regclass, text, integer)")
