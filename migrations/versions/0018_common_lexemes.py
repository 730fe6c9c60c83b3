"""``crm_common_lexemes(index)``: the words a full-text index holds most often.

Global search matches the word being typed as a prefix ("smi" finds Smith). A
prefix makes GIN gather the rows of every word it starts (85,774 leads for "smi",
50 ms at scale 1) before the first is read, and no sampling shortens that. For
someone who reads every row, a common prefix only needs a pool of matches to
rank (crm/search/words.py): its most common completions, as plain words, can be
sampled (``gin_fuzzy_search_limit``) in a few milliseconds.

Those words are in the planner's statistics of the search index
(``pg_stats.most_common_elems``, up to 1,000 per index), which PostgreSQL shows
only to the index's owner, not to the app's own role (README "Production:
database roles"). This function reads them as the owner, for tables the login
role may read anyway, and returns nothing else; crm/search/words.py keeps them for ten
minutes per index (they change only when ANALYZE runs). EXECUTE is left to
PUBLIC (the default for functions).

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
CREATE FUNCTION crm_common_lexemes(index regclass)
RETURNS TABLE (lexeme text, frequency real)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    -- pg_stats, not pg_statistic: only a superuser reads pg_statistic, and production
    -- runs migrations as the schema's owner, who sees its own indexes' statistics here.
    SELECT m.lexeme, m.frequency
    FROM pg_catalog.pg_index i
    JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname
    CROSS JOIN LATERAL unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs)
        AS m(lexeme, frequency)
    WHERE i.indexrelid = index
      -- session_user: inside this function current_user is its owner
      AND pg_catalog.has_table_privilege(session_user, i.indrelid, 'SELECT')
      AND m.lexeme IS NOT NULL
$$
"""
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION crm_common_lexemes(regclass)")
