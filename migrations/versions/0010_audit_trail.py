"""The audit trail, captured by PostgreSQL: row triggers, append-only audit_logs.

- ``crm_audit()``: an AFTER row trigger on users, customers, lead_stages, leads,
  tasks and interactions. INSERT stores the new row, DELETE the old row, UPDATE
  only the changed columns (old and new); an UPDATE that changes nothing (the
  bookkeeping columns ``updated_at`` and ``version`` aside) writes no row. The
  trigger's arguments name columns never written to the log: users'
  ``password_hash`` and ``session_token`` (secrets) and the sign-in bookkeeping
  (sign-ins are audit rows of their own, written by the app).
- Who and where come from the transaction-local settings ``crm.user_id``,
  ``crm.ip`` and ``crm.user_agent`` that the app sets (crm/audit/context.py); psql
  sessions and scripts that set nothing are recorded with no user.
- TRUNCATE of an audited table raises: it would remove rows without a trace.
- ``audit_logs`` is append-only: UPDATE, DELETE and TRUNCATE raise. Two
  exceptions: the foreign key's own ON DELETE SET NULL when a user is deleted,
  and ``crm_purge_audit_logs(cutoff, batch)``, the retention purge, which
  deletes only rows older than the ten years the retention policy keeps.
- ``idx_audit_logs_user_created``: the browser filtered by user and date range;
  ``idx_audit_logs_ip_address``: filtered by an address or a network (a btree on
  inet serves ``<<=``).

Revision ID: 0010_audit_trail
Revises: 0009_list_order_indexes
Create Date: 2026-11-25
"""

from alembic import op

revision = "0010_audit_trail"
down_revision = "0009_list_order_indexes"
branch_labels = None
depends_on = None

# Table -> columns never written to audit_logs.
AUDITED = {
    "users": (
        "password_hash",
        "session_token",
        "last_login",
        "failed_login_count",
        "lockout_count",
        "locked_until",
    ),
    "customers": (),
    "lead_stages": (),
    "leads": (),
    "tasks": (),
    "interactions": (),
}

AUDIT_FUNCTION = """
CREATE FUNCTION crm_audit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    hidden text[] := coalesce(TG_ARGV, '{}');  -- NULL when the trigger has no arguments
    old_values jsonb;
    new_values jsonb;
    record_id integer;
BEGIN
    IF TG_OP = 'INSERT' THEN
        record_id := NEW.id;
        new_values := to_jsonb(NEW) - hidden;
    ELSIF TG_OP = 'DELETE' THEN
        record_id := OLD.id;
        old_values := to_jsonb(OLD) - hidden;
    ELSE
        record_id := NEW.id;
        SELECT jsonb_object_agg(n.key, o.value), jsonb_object_agg(n.key, n.value)
          INTO old_values, new_values
          FROM jsonb_each(to_jsonb(NEW) - hidden - '{updated_at,version}'::text[]) AS n
          JOIN jsonb_each(to_jsonb(OLD)) AS o ON o.key = n.key
         WHERE n.value IS DISTINCT FROM o.value;
        IF new_values IS NULL THEN
            RETURN NULL;  -- nothing a person would call a change
        END IF;
    END IF;
    INSERT INTO audit_logs (table_name, record_id, action, old_values, new_values,
                            user_id, ip_address, user_agent)
    VALUES (TG_TABLE_NAME, record_id, TG_OP, old_values, new_values,
            CAST(NULLIF(current_setting('crm.user_id', true), '') AS integer),
            CAST(NULLIF(current_setting('crm.ip', true), '') AS inet),
            NULLIF(current_setting('crm.user_agent', true), ''));
    RETURN NULL;
END;
$$;
"""

REFUSE_TRUNCATE = """
CREATE FUNCTION crm_refuse_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'TRUNCATE of % is not allowed: it would bypass the audit trail', TG_TABLE_NAME
        USING HINT = 'Delete rows with DELETE, which is audited.';
END;
$$;
"""

APPEND_ONLY = """
CREATE FUNCTION crm_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('crm.audit_purge', true) = 'on' THEN
        RETURN OLD;  -- crm_purge_audit_logs(), the retention purge
    END IF;
    IF TG_OP = 'UPDATE' AND pg_trigger_depth() > 1 AND NEW.user_id IS NULL
       AND to_jsonb(NEW) - 'user_id' = to_jsonb(OLD) - 'user_id' THEN
        RETURN NEW;  -- the foreign key's ON DELETE SET NULL, when a user is deleted
    END IF;
    RAISE EXCEPTION 'audit_logs is append-only: % is not allowed', TG_OP
        USING HINT = 'Old audit rows go only through the retention purge.';
END;
$$;
"""

PURGE = """
CREATE FUNCTION crm_purge_audit_logs(cutoff timestamp, batch integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    deleted integer;
BEGIN
    IF cutoff > CAST(now() - interval '10 years' AS timestamp) THEN
        RAISE EXCEPTION 'audit rows are kept for 10 years; % is too recent a cutoff', cutoff;
    END IF;
    PERFORM set_config('crm.audit_purge', 'on', true);
    DELETE FROM audit_logs
     WHERE id IN (SELECT id FROM audit_logs WHERE created_at < cutoff ORDER BY id LIMIT batch);
    GET DIAGNOSTICS deleted = ROW_COUNT;
    PERFORM set_config('crm.audit_purge', 'off', true);
    RETURN deleted;
END;
$$;
"""


def _arguments(columns: tuple[str, ...]) -> str:
    return ", ".join(f"'{column}'" for column in columns)


def upgrade() -> None:
    for function in (AUDIT_FUNCTION, REFUSE_TRUNCATE, APPEND_ONLY, PURGE):
        op.execute(function)
    for table, hidden in AUDITED.items():
        op.execute(
            f"CREATE TRIGGER trg_{table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION crm_audit({_arguments(hidden)})"
        )
    for table in (*AUDITED, "audit_logs"):
        op.execute(
            f"CREATE TRIGGER trg_{table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION crm_refuse_truncate()"
        )
    op.execute(
        "CREATE TRIGGER trg_audit_logs_append_only BEFORE UPDATE OR DELETE ON audit_logs "
        "FOR EACH ROW EXECUTE FUNCTION crm_audit_append_only()"
    )
    op.create_index("idx_audit_logs_user_created", "audit_logs", ["user_id", "created_at"])
    op.create_index("idx_audit_logs_ip_address", "audit_logs", ["ip_address"])


def downgrade() -> None:
    op.drop_index("idx_audit_logs_ip_address", table_name="audit_logs")
    op.drop_index("idx_audit_logs_user_created", table_name="audit_logs")
    op.execute("DROP TRIGGER trg_audit_logs_append_only ON audit_logs")
    for table in (*AUDITED, "audit_logs"):
        op.execute(f"DROP TRIGGER trg_{table}_no_truncate ON {table}")
    for table in AUDITED:
        op.execute(f"DROP TRIGGER trg_{table}_audit ON {table}")
    op.execute("DROP FUNCTION crm_purge_audit_logs(timestamp, integer)")
    op.execute("DROP FUNCTION crm_audit_append_only()")
    op.execute("DROP FUNCTION crm_refuse_truncate()")
    op.execute("DROP FUNCTION crm_audit()")
