"""``webhooks`` and ``webhook_deliveries``: events from the database itself (issue 20, part 4).

Admins subscribe a URL to events (``customer.created``, ``lead.stage_changed``…).
A trigger on customers, leads, tasks and interactions writes one delivery row per
subscribed webhook in the changing transaction, so every change fires (the admin's,
the API's, an import's, raw SQL's) and a rolled-back one never does. A statement
trigger then queues the sender job once per transaction that made deliveries
(procrastinate; a periodic run each minute retries and sweeps). With no active
webhook, each row costs one look at the tiny ``webhooks`` table.

Both functions are SECURITY DEFINER: a role allowed to change customers never fails
for want of a grant on the webhook tables or the job queue. The signing secret is
stored encrypted (crm/webhooks/signing.py) and left out of the audit trail. Grants
copied from ``customers``.

Revision ID: 0042_webhooks
Revises: 0041_api_tokens
Create Date: 2026-12-02
"""

from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0042_webhooks"
down_revision = "0041_api_tokens"
branch_labels = None
depends_on = None

KINDS = {"customers": "customer", "leads": "lead", "tasks": "task", "interactions": "interaction"}
EVENTS = [f"{kind}.{what}" for kind in KINDS.values() for what in ("created", "updated", "deleted")]
EVENTS.append("lead.stage_changed")

TABLES = f"""
CREATE TABLE webhooks (
    id SERIAL PRIMARY KEY,
    url VARCHAR(2000) NOT NULL,
    events VARCHAR(40)[] NOT NULL,
    secret TEXT NOT NULL,
    description VARCHAR(200),
    is_active BOOLEAN NOT NULL DEFAULT true,
    created_by INTEGER,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    version INTEGER NOT NULL DEFAULT 1,
    CONSTRAINT fk_webhooks_created_by FOREIGN KEY (created_by)
        REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT chk_webhooks_url CHECK (url ~ '^https?://'),
    CONSTRAINT chk_webhooks_events CHECK (
        cardinality(events) > 0
        AND events <@ ARRAY[{", ".join(f"'{e}'" for e in EVENTS)}]::VARCHAR(40)[]
    )
);
CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    webhook_id INTEGER NOT NULL,
    event VARCHAR(40) NOT NULL,
    table_name VARCHAR(100) NOT NULL,
    record_id INTEGER NOT NULL,
    payload JSONB NOT NULL,
    status VARCHAR(10) NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    response_code INTEGER,
    last_error VARCHAR(500),
    next_attempt_at TIMESTAMP NOT NULL DEFAULT clock_timestamp(),
    locked_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT clock_timestamp(),
    delivered_at TIMESTAMP,
    CONSTRAINT fk_webhook_deliveries_webhook FOREIGN KEY (webhook_id)
        REFERENCES webhooks (id) ON DELETE CASCADE,
    CONSTRAINT chk_webhook_deliveries_status
        CHECK (status IN ('pending', 'sending', 'delivered', 'failed'))
);
-- The sender's queue: what is due, oldest first.
CREATE INDEX idx_webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id)
    WHERE status IN ('pending', 'sending');
-- The delivery log, per webhook and for all, newest first.
CREATE INDEX idx_webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX idx_webhook_deliveries_created_at ON webhook_deliveries (created_at, id);
"""

# One delivery per subscribed webhook, for each row changed (a no-op UPDATE: none).
EVENT_FUNCTION = """
CREATE FUNCTION crm_webhook_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    kind text := TG_ARGV[0];
    event text;
    body jsonb;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhooks WHERE is_active) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        body := to_jsonb(OLD);
    ELSE
        body := to_jsonb(NEW);
    END IF;
    IF TG_OP = 'UPDATE'
       AND to_jsonb(OLD) - 'updated_at' - 'version' = body - 'updated_at' - 'version' THEN
        RETURN NULL;
    END IF;
    event := kind || '.' || CASE TG_OP WHEN 'INSERT' THEN 'created'
                                       WHEN 'UPDATE' THEN 'updated' ELSE 'deleted' END;
    INSERT INTO webhook_deliveries (webhook_id, event, table_name, record_id, payload)
    SELECT w.id, event, TG_TABLE_NAME, (body ->> 'id')::integer, body
      FROM webhooks AS w WHERE w.is_active AND event = ANY (w.events);
    IF FOUND AND current_setting('crm.webhook_deliveries', true) IS DISTINCT FROM 'queued' THEN
        PERFORM set_config('crm.webhook_deliveries', 'made', true);  -- the kick queues a sender
    END IF;
    -- As jsonb: a record's field is looked up even where kind is not 'lead'.
    IF kind = 'lead' AND TG_OP = 'UPDATE'
       AND to_jsonb(OLD) -> 'stage_id' IS DISTINCT FROM body -> 'stage_id' THEN
        INSERT INTO webhook_deliveries (webhook_id, event, table_name, record_id, payload)
        SELECT w.id, 'lead.stage_changed', TG_TABLE_NAME, (body ->> 'id')::integer,
               body || jsonb_build_object('from_stage_id', to_jsonb(OLD) -> 'stage_id')
          FROM webhooks AS w WHERE w.is_active AND 'lead.stage_changed' = ANY (w.events);
        IF FOUND AND current_setting('crm.webhook_deliveries', true) IS DISTINCT FROM 'queued'
        THEN
            PERFORM set_config('crm.webhook_deliveries', 'made', true);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
"""

# After a statement that made deliveries: the sender job, once per transaction. No queueing
# lock: its unique index would make every writer wait on the first one's uncommitted job
# (and deadlock crossing writers); a spare sender finds nothing to claim and ends.
KICK_FUNCTION = """
CREATE FUNCTION crm_webhook_kick() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF current_setting('crm.webhook_deliveries', true) = 'made' THEN
        PERFORM procrastinate_defer_jobs_v1(ARRAY[ROW(
            'default', 'crm.webhooks.send', 0, NULL, NULL,
            '{}'::jsonb, NULL)::procrastinate_job_to_defer_v1]);
        PERFORM set_config('crm.webhook_deliveries', 'queued', true);
    END IF;
    RETURN NULL;
END;
$$;
"""


def _migration(name: str) -> ModuleType:
    """An earlier migration's module, loaded afresh: a file never edited."""
    spec = spec_from_file_location(f"_m{name[:4]}", Path(__file__).with_name(name))
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(EVENT_FUNCTION)
    op.execute(KICK_FUNCTION)
    for table, kind in KINDS.items():
        op.execute(
            f"CREATE TRIGGER trg_{table}_webhooks AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION crm_webhook_event('{kind}')"
        )
        op.execute(
            f"CREATE TRIGGER trg_{table}_webhooks_kick AFTER INSERT OR UPDATE OR DELETE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION crm_webhook_kick()"
        )
    arguments = _migration("0010_audit_trail.py")._arguments(("secret",))
    op.execute(
        "CREATE TRIGGER trg_webhooks_audit AFTER INSERT OR UPDATE OR DELETE ON webhooks "
        f"FOR EACH ROW EXECUTE FUNCTION crm_audit({arguments})"
    )
    # Optimistic locking on the admin page (0008) and updated_at kept true (0005).
    op.execute(
        "CREATE TRIGGER trg_webhooks_version BEFORE UPDATE ON webhooks "
        "FOR EACH ROW EXECUTE FUNCTION crm_bump_version()"
    )
    op.execute(
        "CREATE TRIGGER trg_webhooks_updated_at BEFORE UPDATE ON webhooks "
        "FOR EACH ROW EXECUTE FUNCTION crm_touch_updated_at()"
    )
    grants = _migration("0023_exchange_rates.py")._copy_grants
    op.execute(grants("customers", "webhooks", ("customers_id_seq", "webhooks_id_seq")))
    op.execute(
        grants(
            "customers",
            "webhook_deliveries",
            ("customers_id_seq", "webhook_deliveries_id_seq"),
        )
    )


def downgrade() -> None:
    for table in KINDS:
        op.execute(f"DROP TRIGGER trg_{table}_webhooks_kick ON {table}")
        op.execute(f"DROP TRIGGER trg_{table}_webhooks ON {table}")
    op.execute("DROP FUNCTION crm_webhook_kick()")
    op.execute("DROP FUNCTION crm_webhook_event()")
    op.execute("DROP TABLE webhook_deliveries")
    op.execute("DROP TABLE webhooks")
