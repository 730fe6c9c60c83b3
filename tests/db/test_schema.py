"""The live schema is the spec's: spec/crm-schema.md transcribed as data.

Definitions are compared in the form PostgreSQL prints them back, so a change of
type, length, default, ON DELETE rule, check or index expression fails here.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Connection

from crm.models.webhook import EVENTS
from tests import introspect

TS = "timestamp without time zone"
SESSION_TOKEN_DEFAULT = "replace((gen_random_uuid())::text, '-'::text, ''::text)"
# The application's row version for optimistic locking (migration 0008).
VERSION = ("version", "integer", True, "1")
NOW = "CURRENT_TIMESTAMP"


def serial(table: str) -> tuple[str, str, bool, str]:
    return ("id", "integer", True, f"nextval('{table}_id_seq'::regclass)")


SPEC_COLUMNS = {
    "users": [
        serial("users"),
        ("email", "character varying(255)", True, None),
        ("password_hash", "character varying(255)", True, None),
        ("name", "character varying(255)", True, None),
        ("role", "user_role", False, "'user'::user_role"),
        ("is_active", "boolean", False, "true"),
        ("last_login", TS, False, None),
        ("created_at", TS, False, NOW),
        ("updated_at", TS, False, NOW),
        # The application's additions (migration 0006_sign_in_security).
        ("failed_login_count", "integer", True, "0"),
        ("lockout_count", "integer", True, "0"),
        ("locked_until", TS, False, None),
        ("session_token", "character varying(64)", True, SESSION_TOKEN_DEFAULT),
        VERSION,
        # Migration 0031: two-factor sign-in.
        ("totp_secret", "text", False, None),
        ("totp_enabled_at", TS, False, None),
        ("totp_last_step", "bigint", False, None),
        # Migration 0034: the daily email digest of due tasks, unless turned off.
        ("email_reminders", "boolean", True, "true"),
    ],
    "customers": [
        serial("customers"),
        ("name", "character varying(255)", True, None),
        ("email", "character varying(255)", False, None),
        ("phone", "character varying(50)", False, None),
        ("company", "character varying(255)", False, None),
        ("industry", "character varying(100)", False, None),
        ("website", "character varying(255)", False, None),
        ("address", "text", False, None),
        ("city", "character varying(100)", False, None),
        ("state", "character varying(100)", False, None),
        ("country", "character varying(100)", False, None),
        ("postal_code", "character varying(20)", False, None),
        ("owner_id", "integer", False, None),
        ("status", "character varying(50)", False, "'active'::character varying"),
        ("notes", "text", False, None),
        ("created_at", TS, False, NOW),
        ("updated_at", TS, False, NOW),
        VERSION,  # migration 0008
    ],
    "lead_stages": [
        serial("lead_stages"),
        ("name", "character varying(100)", True, None),
        ("description", "text", False, None),
        ("order_index", "integer", False, "0"),
        ("is_active", "boolean", False, "true"),
        ("created_at", TS, False, NOW),
        VERSION,  # migration 0008
        ("rotting_days", "integer", False, None),  # migration 0025
    ],
    "leads": [
        serial("leads"),
        ("title", "character varying(255)", True, None),
        ("description", "text", False, None),
        ("amount", "numeric(15,2)", False, None),
        ("currency", "character varying(3)", False, "'USD'::character varying"),
        ("customer_id", "integer", False, None),
        ("stage_id", "integer", False, None),
        ("owner_id", "integer", False, None),
        ("source", "character varying(100)", False, None),
        ("probability", "integer", False, None),
        ("expected_close_date", "date", False, None),
        ("created_at", TS, False, NOW),
        ("updated_at", TS, False, NOW),
        VERSION,  # migration 0008
        ("closed_at", TS, False, None),  # migration 0013, kept by a trigger
        # Migration 0024: the lead's path, kept by a trigger.
        ("stages_passed", "integer[]", True, "'{}'::integer[]"),
        ("previous_stage_id", "integer", False, None),
        ("stage_entered_at", TS, False, None),
    ],
    "tasks": [
        serial("tasks"),
        ("title", "character varying(255)", True, None),
        ("description", "text", False, None),
        ("status", "task_status", False, "'pending'::task_status"),
        ("priority", "character varying(20)", False, "'medium'::character varying"),
        ("due_date", TS, False, None),
        ("completed_at", TS, False, None),
        ("user_id", "integer", False, None),
        ("customer_id", "integer", False, None),
        ("lead_id", "integer", False, None),
        ("assigned_to", "integer", False, None),
        ("created_at", TS, False, NOW),
        ("updated_at", TS, False, NOW),
        VERSION,  # migration 0008
    ],
    "interactions": [
        serial("interactions"),
        ("type", "interaction_type", True, None),
        ("subject", "character varying(255)", False, None),
        ("description", "text", False, None),
        ("customer_id", "integer", False, None),
        ("lead_id", "integer", False, None),
        ("user_id", "integer", False, None),
        ("interaction_date", TS, False, NOW),
        ("duration_minutes", "integer", False, None),
        ("outcome", "text", False, None),
        ("follow_up_date", "date", False, None),
        ("created_at", TS, False, NOW),
        ("updated_at", TS, False, NOW),
        VERSION,  # migration 0008
    ],
    "audit_logs": [
        serial("audit_logs"),
        ("table_name", "character varying(100)", True, None),
        ("record_id", "integer", True, None),
        ("action", "character varying(20)", True, None),
        ("old_values", "jsonb", False, None),
        ("new_values", "jsonb", False, None),
        ("user_id", "integer", False, None),
        ("ip_address", "inet", False, None),
        ("user_agent", "text", False, None),
        ("created_at", TS, False, NOW),
    ],
}


def references(column: str, target: str, rule: str) -> str:
    return f"FOREIGN KEY ({column}) REFERENCES {target}(id) ON DELETE {rule}"


SPEC_FOREIGN_KEYS = {
    "fk_customers_owner": ("customers", references("owner_id", "users", "SET NULL")),
    "fk_leads_customer": ("leads", references("customer_id", "customers", "CASCADE")),
    "fk_leads_stage": ("leads", references("stage_id", "lead_stages", "SET NULL")),
    "fk_leads_owner": ("leads", references("owner_id", "users", "SET NULL")),
    "fk_tasks_user": ("tasks", references("user_id", "users", "CASCADE")),
    "fk_tasks_customer": ("tasks", references("customer_id", "customers", "SET NULL")),
    "fk_tasks_lead": ("tasks", references("lead_id", "leads", "SET NULL")),
    "fk_tasks_assigned": ("tasks", references("assigned_to", "users", "SET NULL")),
    "fk_interactions_customer": ("interactions", references("customer_id", "customers", "CASCADE")),
    "fk_interactions_lead": ("interactions", references("lead_id", "leads", "SET NULL")),
    "fk_interactions_user": ("interactions", references("user_id", "users", "CASCADE")),
    # Unnamed in the spec (inline REFERENCES); named after its convention.
    "fk_audit_logs_user": ("audit_logs", references("user_id", "users", "SET NULL")),
    # Migration 0014: a CSV file waiting for its import goes with its uploader.
    "fk_csv_uploads_user": ("csv_uploads", references("user_id", "users", "CASCADE")),
    # Migration 0022: a lead's stage history goes with it; stages and people may go.
    "fk_lead_stage_history_lead": (
        "lead_stage_history",
        references("lead_id", "leads", "CASCADE"),
    ),
    "fk_lead_stage_history_from": (
        "lead_stage_history",
        references("from_stage_id", "lead_stages", "SET NULL"),
    ),
    "fk_lead_stage_history_to": (
        "lead_stage_history",
        references("to_stage_id", "lead_stages", "SET NULL"),
    ),
    "fk_lead_stage_history_user": (
        "lead_stage_history",
        references("changed_by", "users", "SET NULL"),
    ),
    # Migration 0031: recovery codes and signed-in sessions go with their user.
    "fk_recovery_codes_user": ("recovery_codes", references("user_id", "users", "CASCADE")),
    "fk_user_sessions_user": ("user_sessions", references("user_id", "users", "CASCADE")),
    # Migration 0034: notifications go with their person and their task.
    "fk_notifications_user": ("notifications", references("user_id", "users", "CASCADE")),
    "fk_notifications_task": ("notifications", references("task_id", "tasks", "CASCADE")),
    "fk_email_digests_user": ("email_digests", references("user_id", "users", "CASCADE")),
    # Migration 0041: API tokens go with their owner; who revoked one may be deleted.
    "fk_api_tokens_user": ("api_tokens", references("user_id", "users", "CASCADE")),
    "fk_api_tokens_revoked_by": ("api_tokens", references("revoked_by", "users", "SET NULL")),
    # Migration 0042: a webhook's deliveries go with it; its maker may be deleted.
    "fk_webhooks_created_by": ("webhooks", references("created_by", "users", "SET NULL")),
    "fk_webhook_deliveries_webhook": (
        "webhook_deliveries",
        references("webhook_id", "webhooks", "CASCADE"),
    ),
}

VARCHAR = "::character varying"
INDUSTRY_LIST = ", ".join(
    f"'{name}'{VARCHAR}"
    for name in (
        "Technology",
        "Healthcare",
        "Finance",
        "Retail",
        "Manufacturing",
        "Education",
        "Real Estate",
        "Consulting",
        "Other",
    )
)
SPEC_CHECKS = {
    "chk_leads_probability": ("leads", "CHECK (((probability >= 0) AND (probability <= 100)))"),
    "chk_leads_amount": ("leads", "CHECK (((amount IS NULL) OR (amount > (0)::numeric)))"),
    "chk_interactions_duration": (
        "interactions",
        "CHECK (((duration_minutes IS NULL) OR (duration_minutes > 0)))",
    ),
    "chk_customers_email": (
        "customers",
        "CHECK (((email IS NULL) OR ((email)::text ~* "
        "'^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}$'::text)))",
    ),
    "chk_customers_industry": (
        "customers",
        "CHECK (((industry IS NULL) OR ((industry)::text = ANY "
        f"((ARRAY[{INDUSTRY_LIST}])::text[]))))",
    ),
}

SPEC_UNIQUES = {
    "uk_users_email": ("users", "UNIQUE (email)"),
    "uk_customers_name_company": ("customers", "UNIQUE (name, company)"),
}

TSV_TITLE = (
    "to_tsvector('english'::regconfig, (((title)::text || ' '::text) || "
    "COALESCE(description, ''::text)))"
)
TSV_CUSTOMER = (
    "to_tsvector('english'::regconfig, (((((name)::text || ' '::text) || "
    "(COALESCE(company, ''::character varying))::text) || ' '::text) || "
    "(COALESCE(email, ''::character varying))::text))"
)
TSV_INTERACTION = (
    "to_tsvector('english'::regconfig, (((COALESCE(subject, ''::character varying))::text "
    "|| ' '::text) || COALESCE(description, ''::text)))"
)
# name: (table, "USING ...") as the spec's CREATE INDEX statements define them.
SPEC_INDEXES = {
    "idx_users_email": ("users", "btree (email)"),
    "idx_users_role": ("users", "btree (role)"),
    "idx_users_active": ("users", "btree (is_active)"),
    "idx_users_created_at": ("users", "btree (created_at)"),
    "idx_customers_owner_id": ("customers", "btree (owner_id)"),
    "idx_customers_status": ("customers", "btree (status)"),
    "idx_customers_industry": ("customers", "btree (industry)"),
    "idx_customers_created_at": ("customers", "btree (created_at)"),
    "idx_customers_company": ("customers", "btree (company)"),
    "idx_leads_customer_id": ("leads", "btree (customer_id)"),
    "idx_leads_stage_id": ("leads", "btree (stage_id)"),
    "idx_leads_owner_id": ("leads", "btree (owner_id)"),
    "idx_leads_expected_close_date": ("leads", "btree (expected_close_date)"),
    "idx_leads_source": ("leads", "btree (source)"),
    "idx_leads_amount": ("leads", "btree (amount)"),
    "idx_leads_created_at": ("leads", "btree (created_at)"),
    "idx_tasks_user_id": ("tasks", "btree (user_id)"),
    "idx_tasks_status": ("tasks", "btree (status)"),
    "idx_tasks_due_date": ("tasks", "btree (due_date)"),
    "idx_tasks_customer_id": ("tasks", "btree (customer_id)"),
    "idx_tasks_lead_id": ("tasks", "btree (lead_id)"),
    "idx_tasks_assigned_to": ("tasks", "btree (assigned_to)"),
    "idx_tasks_priority": ("tasks", "btree (priority)"),
    "idx_interactions_customer_id": ("interactions", "btree (customer_id)"),
    "idx_interactions_user_id": ("interactions", "btree (user_id)"),
    "idx_interactions_interaction_date": ("interactions", "btree (interaction_date)"),
    "idx_interactions_type": ("interactions", "btree (type)"),
    "idx_interactions_lead_id": ("interactions", "btree (lead_id)"),
    "idx_audit_logs_table_record": ("audit_logs", "btree (table_name, record_id)"),
    "idx_audit_logs_created_at": ("audit_logs", "btree (created_at)"),
    "idx_audit_logs_user_id": ("audit_logs", "btree (user_id)"),
    "idx_audit_logs_action": ("audit_logs", "btree (action)"),
    # composite
    "idx_customers_owner_status": ("customers", "btree (owner_id, status)"),
    "idx_leads_owner_stage": ("leads", "btree (owner_id, stage_id)"),
    "idx_tasks_user_status": ("tasks", "btree (user_id, status)"),
    "idx_interactions_customer_date": ("interactions", "btree (customer_id, interaction_date)"),
    "idx_leads_customer_stage": ("leads", "btree (customer_id, stage_id)"),
    # partial
    "idx_customers_active": (
        "customers",
        "btree (owner_id, status) WHERE ((status)::text = 'active'::text)",
    ),
    "idx_tasks_pending": (
        "tasks",
        "btree (user_id, due_date) WHERE (status = 'pending'::task_status)",
    ),
    "idx_leads_active": (
        "leads",
        "btree (owner_id, stage_id) WHERE (stage_id <> ALL (ARRAY[6, 7]))",
    ),
    # full-text
    "idx_customers_search": ("customers", f"gin ({TSV_CUSTOMER})"),
    "idx_leads_search": ("leads", f"gin ({TSV_TITLE})"),
    "idx_tasks_search": ("tasks", f"gin ({TSV_TITLE})"),
}

# The application's additions (migration 0007): trigram indexes for list searches,
# with the sales reps' rule columns first where a rep searches (migration 0017).
APP_INDEXES = (
    {
        "idx_users_name_trgm": ("users", "gin (name gin_trgm_ops)"),
        "idx_users_email_trgm": ("users", "gin (email gin_trgm_ops)"),
        "idx_customers_owner_trgm": (
            "customers",
            "gin (owner_id, name gin_trgm_ops, company gin_trgm_ops, email gin_trgm_ops)",
        ),
        "idx_leads_owner_trgm": ("leads", "gin (owner_id, title gin_trgm_ops)"),
        "idx_tasks_people_trgm": ("tasks", "gin (user_id, assigned_to, title gin_trgm_ops)"),
        "idx_interactions_user_trgm": ("interactions", "gin (user_id, subject gin_trgm_ops)"),
    }
    | {
        # Migration 0009: deep list pages by the default order, index-only.
        f"idx_{table}_{column}_id": (table, f"btree ({column}, id)")
        for table, column in {
            "customers": "created_at",
            "leads": "created_at",
            "tasks": "due_date",
        }.items()
    }
    | {
        # Migrations 0009 and 0016 (with the customer, for a rep's date-order walk).
        "idx_interactions_interaction_date_id": (
            "interactions",
            "btree (interaction_date, id) INCLUDE (customer_id)",
        ),
    }
    | {
        # Migration 0010: the audit browser's filters.
        "idx_audit_logs_user_created": ("audit_logs", "btree (user_id, created_at)"),
        "idx_audit_logs_ip_address": ("audit_logs", "btree (ip_address)"),
        # Migration 0015: the audit list's order, ties (one transaction) included.
        "idx_audit_logs_created_at_id": ("audit_logs", "btree (created_at, id)"),
        # Migration 0016: each part of the reps' row rules, in the lists' order.
        "idx_customers_owner_created_at": ("customers", "btree (owner_id, created_at, id)"),
        "idx_leads_owner_created_at": ("leads", "btree (owner_id, created_at, id)"),
        "idx_tasks_user_due_date": ("tasks", "btree (user_id, due_date, id)"),
        "idx_tasks_assigned_due_date": ("tasks", "btree (assigned_to, due_date, id)"),
        "idx_interactions_user_date": ("interactions", "btree (user_id, interaction_date, id)"),
        # Migration 0019: global search within a rep's rows (the rule columns first).
        "idx_customers_owner_search": ("customers", f"gin (owner_id, {TSV_CUSTOMER})"),
        "idx_leads_owner_search": ("leads", f"gin (owner_id, {TSV_TITLE})"),
        "idx_tasks_people_search": ("tasks", f"gin (user_id, assigned_to, {TSV_TITLE})"),
        "idx_interactions_user_search": ("interactions", f"gin (user_id, {TSV_INTERACTION})"),
        # Migration 0011: global search.
        "idx_interactions_search": ("interactions", f"gin ({TSV_INTERACTION})"),
        "idx_customers_phone_digits": (
            "customers",
            "btree (reverse(regexp_replace((phone)::text, '[^0-9]'::text, ''::text, "
            "'g'::text)) text_pattern_ops)",
        ),
        # Migration 0012: the pipeline aggregates and the dated funnel.
        "idx_leads_created_pipeline": (
            "leads",
            "btree (created_at) INCLUDE (stage_id, owner_id, currency, source, amount, "
            "probability, stages_passed, previous_stage_id)",  # paths: migration 0025
        ),
        # Migration 0020: the open tasks, oldest due first (the home page), all and per
        # part of a rep's rule.
        **{
            f"idx_tasks_open{name}_due_date": (
                "tasks",
                f"btree ({columns}due_date, id) WHERE (status = ANY "
                "(ARRAY['pending'::task_status, 'in_progress'::task_status]))",
            )
            for name, columns in (("", ""), ("_user", "user_id, "), ("_assigned", "assigned_to, "))
        },
        # Migration 0013: the retention purge.
        "idx_leads_closed_at": ("leads", "btree (closed_at) WHERE (closed_at IS NOT NULL)"),
        "idx_tasks_completed_at": (
            "tasks",
            "btree (completed_at) WHERE (completed_at IS NOT NULL)",
        ),
        # Migration 0025: a stage's leads by how long they have been in it.
        "idx_leads_stage_since": (
            "leads",
            "btree (stage_id, COALESCE(stage_entered_at, created_at)) INCLUDE "
            "(stage_entered_at, created_at, owner_id, currency, source, expected_close_date)",
        ),
        "idx_leads_owner_stage_since": (
            "leads",
            "btree (owner_id, stage_id, COALESCE(stage_entered_at, created_at)) INCLUDE "
            "(stage_entered_at, created_at, currency, source, expected_close_date)",
        ),
        "idx_leads_stage_created": (
            "leads",
            "btree (stage_id, created_at, id) INCLUDE (owner_id, currency, source, "
            "expected_close_date)",
        ),
        "idx_leads_owner_stage_created": (
            "leads",
            "btree (owner_id, stage_id, created_at, id) INCLUDE (currency, source, "
            "expected_close_date)",
        ),
        "idx_leads_owner_close": (
            "leads",
            "btree (owner_id, expected_close_date) INCLUDE (stage_id, stages_passed, "
            "previous_stage_id, currency, source, created_at, amount, probability, "
            "stage_entered_at, id)",  # 0038: the as-of funnel's moved leads
        ),
        # Migration 0022: stage history, by lead and by time; the FK columns' lookups.
        "idx_lead_stage_history_lead": ("lead_stage_history", "btree (lead_id, changed_at, id)"),
        "idx_lead_stage_history_changed_at": ("lead_stage_history", "btree (changed_at)"),
        "idx_lead_stage_history_to_stage": ("lead_stage_history", "btree (to_stage_id)"),
        "idx_lead_stage_history_from_stage": ("lead_stage_history", "btree (from_stage_id)"),
        "idx_lead_stage_history_changed_by": ("lead_stage_history", "btree (changed_by)"),
    }
)

SPEC_ENUMS = {
    "user_role": ["user", "manager", "admin", "support"],  # support: the app's addition
    "task_status": ["pending", "in_progress", "completed", "cancelled"],
    "lead_status": [
        "new",
        "contacted",
        "qualified",
        "proposal",
        "negotiation",
        "closed_won",
        "closed_lost",
    ],
    "interaction_type": ["call", "email", "meeting", "note"],
}


@pytest.mark.parametrize("table", introspect.TABLES)
def test_columns_match_spec(db_connection: Connection, table: str) -> None:
    assert introspect.columns(db_connection, table) == SPEC_COLUMNS[table]


def test_foreign_keys_match_spec(db_connection: Connection) -> None:
    assert introspect.constraints(db_connection, "f") == SPEC_FOREIGN_KEYS


# Migration 0023: exchange rates (issue 17), not in the spec.
WEBHOOK_EVENTS_CHECK = (
    "CHECK (((cardinality(events) > 0) AND (events <@ ARRAY["
    + ", ".join(f"'{event}'::character varying(40)" for event in EVENTS)
    + "])))"
)
RATE_CHECKS = {
    "chk_exchange_rates_currency": (
        "exchange_rates",
        "CHECK (((currency)::text ~ '^[A-Z]{3}$'::text))",
    ),
    "chk_exchange_rates_rate": ("exchange_rates", "CHECK ((rate > (0)::numeric))"),
    "chk_notifications_kind": (  # 0034
        "notifications",
        "CHECK (((kind)::text = ANY ((ARRAY['assigned'::character varying, "
        "'due'::character varying, 'overdue'::character varying])::text[])))",
    ),
    # Migration 0041: an API token's scope, and a name that says something.
    "chk_api_tokens_scope": (
        "api_tokens",
        "CHECK (((scope)::text = ANY ((ARRAY['read'::character varying, "
        "'write'::character varying])::text[])))",
    ),
    "chk_api_tokens_name": ("api_tokens", "CHECK ((btrim((name)::text) <> ''::text))"),
    # Migration 0042: webhooks post over http(s), to known events; deliveries' states.
    "chk_webhooks_url": ("webhooks", "CHECK (((url)::text ~ '^https?://'::text))"),
    "chk_webhooks_events": ("webhooks", WEBHOOK_EVENTS_CHECK),
    "chk_webhook_deliveries_status": (
        "webhook_deliveries",
        "CHECK (((status)::text = ANY ((ARRAY['pending'::character varying, "
        "'sending'::character varying, 'delivered'::character varying, "
        "'failed'::character varying])::text[])))",
    ),
    # Migration 0025: a stage's limit for stale deals.
    "chk_lead_stages_rotting_days": (
        "lead_stages",
        "CHECK (((rotting_days IS NULL) OR (rotting_days > 0)))",
    ),
}
RATE_UNIQUE = {
    "uq_exchange_rates_currency_valid_from": ("exchange_rates", "UNIQUE (currency, valid_from)"),
    # Migration 0031: a user's recovery codes differ.
    "uk_recovery_codes_user_code": ("recovery_codes", "UNIQUE (user_id, code_hash)"),
    "uk_api_tokens_token_hash": ("api_tokens", "UNIQUE (token_hash)"),  # 0041
}


def test_check_constraints_match_spec(db_connection: Connection) -> None:
    assert introspect.constraints(db_connection, "c") == {**SPEC_CHECKS, **RATE_CHECKS}


def test_unique_constraints_match_spec(db_connection: Connection) -> None:
    assert introspect.constraints(db_connection, "u") == {**SPEC_UNIQUES, **RATE_UNIQUE}


def test_primary_keys_are_serial_ids(db_connection: Connection) -> None:
    pkeys = introspect.constraints(db_connection, "p")
    pkeys.pop("alembic_version_pkc")
    # Migration 0013: the retention purge's marks, keyed by transaction id.
    assert pkeys.pop("retention_runs_pkey") == ("retention_runs", "PRIMARY KEY (xid)")
    assert pkeys.pop("csv_uploads_pkey") == ("csv_uploads", "PRIMARY KEY (id)")  # 0014
    assert pkeys.pop("lead_stage_history_pkey") == ("lead_stage_history", "PRIMARY KEY (id)")
    assert pkeys.pop("exchange_rates_pkey") == ("exchange_rates", "PRIMARY KEY (id)")  # 0023
    for table in ("recovery_codes", "user_sessions", "api_tokens", "webhooks"):  # 0031, 0041
        assert pkeys.pop(f"{table}_pkey") == (table, "PRIMARY KEY (id)")
    assert pkeys.pop("webhook_deliveries_pkey") == ("webhook_deliveries", "PRIMARY KEY (id)")
    assert pkeys.pop("job_runs_pkey") == ("job_runs", "PRIMARY KEY (job_id)")  # 0032
    assert pkeys.pop("backup_checks_pkey") == ("backup_checks", "PRIMARY KEY (id)")  # 0033
    assert pkeys.pop("notifications_pkey") == ("notifications", "PRIMARY KEY (id)")  # 0034
    assert pkeys.pop("email_digests_pkey") == ("email_digests", "PRIMARY KEY (user_id, day)")
    # 0028: the months the as-of funnel's checkpoints were made for.
    months = ("pipeline_checkpoint_months", "PRIMARY KEY (month)")
    assert pkeys.pop("pipeline_checkpoint_months_pkey") == months
    assert pkeys == {f"{t}_pkey": (t, "PRIMARY KEY (id)") for t in introspect.TABLES}


PATH = "stages_passed, previous_stage_id"


def test_every_index_matches_spec_by_name_and_definition(db_connection: Connection) -> None:
    expected = {
        name: f"CREATE INDEX {name} ON public.{table} USING {using}"
        for name, (table, using) in {**SPEC_INDEXES, **APP_INDEXES}.items()
    }
    # Indexes behind primary keys and unique constraints.
    for table in introspect.TABLES:
        expected[f"{table}_pkey"] = (
            f"CREATE UNIQUE INDEX {table}_pkey ON public.{table} USING btree (id)"
        )
    expected["uk_users_email"] = (
        "CREATE UNIQUE INDEX uk_users_email ON public.users USING btree (email)"
    )
    # Migration 0012: the pipeline aggregates' keys (nullable columns, NULLS NOT DISTINCT).
    for table, key in (
        # Migration 0024: the funnel's by the leads' paths too.
        ("pipeline_stats", f"owner_id, stage_id, currency, source, created_month, {PATH}"),
        ("pipeline_totals", f"owner_id, stage_id, currency, source, {PATH}"),  # 0021
        # Migration 0023: by creation month too, and every owner's.
        ("forecast_stats", "owner_id, stage_id, currency, close_month, created_month"),
        ("pipeline_months", f"stage_id, currency, source, created_month, {PATH}"),
        # Migration 0026: by creation day, and by expected-close day.
        ("pipeline_days", f"stage_id, currency, source, created_day, {PATH}"),
        ("pipeline_closing", f"stage_id, currency, close_day, created_month, {PATH}"),
        # Migration 0037: and by source too.
        (
            "pipeline_closing_sources",
            f"stage_id, currency, source, close_day, created_month, {PATH}",
        ),
        ("forecast_months", "stage_id, currency, close_month, created_month"),
        # Migration 0040: by creation day and close day, the two days first (the read).
        (
            "pipeline_closing_days",
            f"created_day, close_day, stage_id, currency, source, {PATH}",
        ),
        # Migration 0028: the as-of funnel's flows by day, and checkpoints by month.
        ("pipeline_flows", f"owner_id, flow_day, stage_id, currency, source, {PATH}"),
        ("pipeline_flows_all", f"flow_day, stage_id, currency, source, {PATH}"),
        ("pipeline_checkpoints", f"month, owner_id, stage_id, currency, source, {PATH}"),
        # Migration 0035: every owner's flows and checkpoints by the leads' dates.
        *(
            (f"pipeline_{kind}_{by}", f"{first}, {by}, stage_id, currency, source, {PATH}")
            for by in ("created_month", "created_day", "close_month", "close_day")
            for kind, first in (("flows", "flow_day"), ("checkpoints", "month"))
        ),
    ):
        expected[f"uk_{table}"] = (
            f"CREATE UNIQUE INDEX uk_{table} ON public.{table} USING btree "
            f"({key}) NULLS NOT DISTINCT"
        )
    # Migration 0027: the histograms of stays and of days to win; 0029: by currency and
    # source too, and for every owner; 0036: by the lead's creation or close month too.
    dated = "dated_by, month"
    for table, key in (
        ("stage_stays", "owner_id, stage_id, currency, source, days"),
        ("stage_stays_all", "stage_id, currency, source, days"),
        ("won_cycles", "owner_id, currency, source, days"),
        ("won_cycles_all", "currency, source, days"),
        ("stage_stays_dated", f"owner_id, {dated}, stage_id, currency, source, days"),
        ("stage_stays_dated_all", f"{dated}, stage_id, currency, source, days"),
        ("won_cycles_dated", f"owner_id, {dated}, currency, source, days"),
        ("won_cycles_dated_all", f"{dated}, currency, source, days"),
    ):
        expected[f"uk_{table}"] = (
            f"CREATE UNIQUE INDEX uk_{table} ON public.{table} USING btree ({key}) "
            "NULLS NOT DISTINCT"
        )
    for table, day in (("pipeline_days", "created_day"), ("pipeline_closing", "close_day")):
        expected[f"idx_{table}_{day}"] = (
            f"CREATE INDEX idx_{table}_{day} ON public.{table} USING btree ({day})"
        )
    expected["idx_pipeline_closing_sources_source_close"] = (
        "CREATE INDEX idx_pipeline_closing_sources_source_close ON "
        "public.pipeline_closing_sources USING btree (source, close_day)"
    )
    expected["idx_pipeline_flows_flow_day"] = (
        "CREATE INDEX idx_pipeline_flows_flow_day ON public.pipeline_flows USING btree (flow_day)"
    )
    expected["pipeline_checkpoint_months_pkey"] = (
        "CREATE UNIQUE INDEX pipeline_checkpoint_months_pkey ON public.pipeline_checkpoint_months "
        "USING btree (month)"
    )
    expected["exchange_rates_pkey"] = (
        "CREATE UNIQUE INDEX exchange_rates_pkey ON public.exchange_rates USING btree (id)"
    )
    expected["uq_exchange_rates_currency_valid_from"] = (
        "CREATE UNIQUE INDEX uq_exchange_rates_currency_valid_from ON public.exchange_rates "
        "USING btree (currency, valid_from)"
    )
    expected["csv_uploads_pkey"] = (
        "CREATE UNIQUE INDEX csv_uploads_pkey ON public.csv_uploads USING btree (id)"
    )
    expected["idx_csv_uploads_created_at"] = (
        "CREATE INDEX idx_csv_uploads_created_at ON public.csv_uploads USING btree (created_at)"
    )
    expected["lead_stage_history_pkey"] = (
        "CREATE UNIQUE INDEX lead_stage_history_pkey ON public.lead_stage_history USING btree (id)"
    )
    expected["retention_runs_pkey"] = (
        "CREATE UNIQUE INDEX retention_runs_pkey ON public.retention_runs USING btree (xid)"
    )
    for table in (  # 0031, 0041, 0042
        "recovery_codes", "user_sessions", "api_tokens", "webhooks", "webhook_deliveries",
    ):  # fmt: skip
        expected[f"{table}_pkey"] = (
            f"CREATE UNIQUE INDEX {table}_pkey ON public.{table} USING btree (id)"
        )
    expected["uk_recovery_codes_user_code"] = (
        "CREATE UNIQUE INDEX uk_recovery_codes_user_code ON public.recovery_codes "
        "USING btree (user_id, code_hash)"
    )
    for name, definition in {  # 0034
        "notifications_pkey": "UNIQUE INDEX notifications_pkey ON public.notifications "
        "USING btree (id)",
        "email_digests_pkey": "UNIQUE INDEX email_digests_pkey ON public.email_digests "
        "USING btree (user_id, day)",
        "idx_notifications_user": "INDEX idx_notifications_user ON public.notifications "
        "USING btree (user_id, id)",
        "idx_notifications_unread": "INDEX idx_notifications_unread ON public.notifications "
        "USING btree (user_id) WHERE (read_at IS NULL)",
        "idx_notifications_task": "INDEX idx_notifications_task ON public.notifications "
        "USING btree (task_id)",
        "uk_notifications_reminder": "UNIQUE INDEX uk_notifications_reminder ON "
        "public.notifications USING btree (user_id, task_id, kind, day) WHERE ((kind)::text = "
        "ANY ((ARRAY['due'::character varying, 'overdue'::character varying])::text[]))",
    }.items():
        expected[name] = f"CREATE {definition}"
    expected["backup_checks_pkey"] = (
        "CREATE UNIQUE INDEX backup_checks_pkey ON public.backup_checks USING btree (id)"
    )
    expected["idx_backup_checks_checked_at"] = (
        "CREATE INDEX idx_backup_checks_checked_at ON public.backup_checks USING btree (checked_at)"
    )
    expected["job_runs_pkey"] = (
        "CREATE UNIQUE INDEX job_runs_pkey ON public.job_runs USING btree (job_id)"
    )
    expected["idx_job_runs_user"] = (
        "CREATE INDEX idx_job_runs_user ON public.job_runs USING btree (user_id, job_id)"
    )
    expected["uk_api_tokens_token_hash"] = (  # 0041: a request's token, by its digest
        "CREATE UNIQUE INDEX uk_api_tokens_token_hash ON public.api_tokens USING btree (token_hash)"
    )
    expected["idx_api_tokens_user"] = (
        "CREATE INDEX idx_api_tokens_user ON public.api_tokens USING btree (user_id, created_at)"
    )
    for name, columns in {  # 0042: the sender's queue, the delivery log
        "idx_webhook_deliveries_due": "(next_attempt_at, id) WHERE ((status)::text = ANY "
        "((ARRAY['pending'::character varying, 'sending'::character varying])::text[]))",
        "idx_webhook_deliveries_webhook": "(webhook_id, id)",
        "idx_webhook_deliveries_created_at": "(created_at, id)",
    }.items():
        expected[name] = f"CREATE INDEX {name} ON public.webhook_deliveries USING btree {columns}"
    expected["idx_user_sessions_user"] = (
        "CREATE INDEX idx_user_sessions_user ON public.user_sessions "
        "USING btree (user_id, last_seen_at)"
    )
    expected["uk_customers_name_company"] = (
        "CREATE UNIQUE INDEX uk_customers_name_company ON public.customers "
        "USING btree (name, company)"
    )
    actual = introspect.indexes(db_connection)
    actual.pop("alembic_version_pkc")
    assert actual == expected


def test_enum_types_match_spec(db_connection: Connection) -> None:
    assert introspect.enums(db_connection) == SPEC_ENUMS


def test_updated_at_trigger_on_every_table_with_the_column(db_connection: Connection) -> None:
    with_column = {
        table
        for table in introspect.TABLES
        if any(col[0] == "updated_at" for col in introspect.columns(db_connection, table))
    }
    triggers = introspect.triggers(db_connection)
    touched = {table for name, table in triggers.items() if name.endswith("_updated_at")}
    assert set(triggers) == {
        *(f"trg_{table}_updated_at" for table in touched),
        "trg_lead_stages_sync_leads_active",
        "trg_lead_stages_sync_at_commit",  # 0039: after deleting a closed stage
        "trg_users_rotate_session_token",
        "trg_users_end_sessions",  # 0031: a new session token ends every session
        "trg_users_revoke_api_tokens",  # 0041: and revokes every API token
        "trg_tasks_notify_assignee",  # 0034: a task assigned to someone tells them
        "trg_api_tokens_audit",  # 0041: API tokens are audited (not their digest, not uses)
        "trg_api_tokens_no_truncate",
        "trg_users_last_admin_update",
        "trg_users_last_admin_delete",
        *(f"trg_{table}_version" for table in introspect.TABLES if table != "audit_logs"),
        # Migration 0010: the audit trail.
        *(f"trg_{table}_audit" for table in introspect.TABLES if table != "audit_logs"),
        *(f"trg_{table}_no_truncate" for table in introspect.TABLES),
        "trg_audit_logs_append_only",
        # Migration 0012: pipeline aggregates.
        "trg_leads_pipeline_insert",
        "trg_leads_pipeline_update",
        "trg_leads_pipeline_delete",
        # Migration 0013: when a lead closed.
        "trg_leads_closed_at",
        # Migration 0024: the lead's path through the stages.
        "trg_leads_path",
        # Migration 0027: the histograms of stays and of days to win.
        "trg_leads_stays",
        "trg_leads_stays_delete",
        "trg_leads_stays_insert",  # 0036: a lead inserted as won
        "trg_lead_stages_stays_rename",  # 0036: which stage is Closed Won
        # Migration 0022: the stages a lead entered.
        "trg_leads_stage_history_insert",
        "trg_leads_stage_history_update",
        # Migration 0023: exchange rates, kept like every table.
        "trg_exchange_rates_updated_at",
        "trg_exchange_rates_version",
        "trg_exchange_rates_audit",
        "trg_exchange_rates_no_truncate",
        # Migration 0042: webhooks, from each change and each statement; kept like others.
        *(f"trg_{table}_webhooks" for table in ("customers", "leads", "tasks", "interactions")),
        *(
            f"trg_{table}_webhooks_kick"
            for table in ("customers", "leads", "tasks", "interactions")
        ),
        "trg_webhooks_audit",
        "trg_webhooks_version",
        "trg_webhooks_updated_at",
    }
    assert with_column == {"users", "customers", "leads", "tasks", "interactions"}
    assert touched == with_column | {"exchange_rates", "webhooks"}  # 0023, 0042: not spec
