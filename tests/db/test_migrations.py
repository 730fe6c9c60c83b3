"""Migrations and models agree, and the migrations run both ways."""

from __future__ import annotations

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import Connection, text

from crm import PROJECT_ROOT
from crm.db.autogenerate import include_object
from crm.extensions import db
from tests import introspect
from tests.helpers import role_before_migration


def test_autogenerate_finds_no_difference_between_models_and_migrations(db_connection: Connection):
    context = MigrationContext.configure(
        db_connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "include_object": include_object,  # as migrations/env.py: not procrastinate's
        },
    )
    assert compare_metadata(context, db.metadata) == []


def head_revision() -> str:
    script = ScriptDirectory(str(PROJECT_ROOT / "migrations"))
    return script.get_current_head()


def test_the_write_bench_swaps_in_the_databases_own_aggregates_function(
    db_connection: Connection,
):
    """bench/audit_writes.py times the aggregates' trigger with and without the as-of flows
    by installing its own copy: an older migration's would drop the tables added since
    (0040's), which would fall behind the bench's moves."""
    from bench.audit_writes import aggregate_functions

    installed = db_connection.scalar(
        text("SELECT prosrc FROM pg_proc WHERE proname = 'crm_pipeline_stats'")
    )
    with_flows, without = aggregate_functions()
    assert with_flows.split("$$")[1] == installed
    assert "pipeline_closing_days" in without and "pipeline_flows" not in without


def test_database_is_at_the_single_head_revision(db_connection: Connection):
    version = db_connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert version == head_revision()


def _leftovers(conn: Connection) -> dict[str, list[str]]:
    """What the migrations created that is still in the database."""
    return {
        "tables": conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        )
        .scalars()
        .all(),
        "types": conn.execute(
            text(
                "SELECT typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                "WHERE n.nspname = 'public' AND t.typtype = 'e' ORDER BY 1"
            )
        )
        .scalars()
        .all(),
        "functions": conn.execute(
            text(
                "SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_depend d "
                "WHERE d.objid = p.oid AND d.deptype = 'e') ORDER BY 1"
            )
        )
        .scalars()
        .all(),
    }


@pytest.mark.own_database
def test_upgrade_from_empty_then_downgrade_to_base_and_up_again(scratch_app: Flask):
    with scratch_app.app_context():
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            assert set(introspect.TABLES) <= set(_leftovers(conn)["tables"])
            functions = _leftovers(conn)["functions"]
            library = [f for f in functions if f.startswith("procrastinate_")]  # 0032
            assert len(library) == 18 and "procrastinate_defer_jobs_v1" in library
            assert [f for f in functions if f not in library] == [
                "crm_audit",
                "crm_audit_append_only",
                "crm_bump_version",
                "crm_common_lexemes",
                "crm_end_user_sessions",
                "crm_keep_an_active_admin",
                "crm_lead_close_move",
                "crm_lead_closed_at",
                "crm_lead_path",
                "crm_lead_stage_history_insert",
                "crm_lead_stage_history_update",
                "crm_lead_stages_stays",
                "crm_lead_stays",
                "crm_lead_stays_apply",
                "crm_lead_wins",
                "crm_leads_stays",
                "crm_leads_stays_insert",
                "crm_notify_assignee",
                "crm_pipeline_checkpoint",
                "crm_pipeline_stats",
                "crm_purge_audit_logs",
                "crm_rebuild_pipeline_flows",
                "crm_rebuild_pipeline_stats",
                "crm_rebuild_stage_stays",
                "crm_refuse_truncate",
                "crm_retention_purge",
                "crm_retention_running",
                "crm_revoke_api_tokens",
                "crm_rotate_session_token",
                "crm_sync_leads_active_index",
                "crm_touch_updated_at",
                "crm_webhook_event",  # 0042
                "crm_webhook_kick",
            ]

        flask_migrate.downgrade(revision="base")
        with db.engine.connect() as conn:
            assert _leftovers(conn) == {"tables": ["alembic_version"], "types": [], "functions": []}
            extensions = conn.execute(text("SELECT extname FROM pg_extension")).scalars().all()
            assert extensions == ["plpgsql"]

        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        assert version == head_revision()


@pytest.mark.own_database
def test_support_role_downgrade_demotes_support_users_to_user(scratch_app: Flask):
    with scratch_app.app_context():
        flask_migrate.upgrade()
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (email, password_hash, name, role) VALUES "
                    "('s@x.io', 'h', 'S', 'support'), ('a@x.io', 'h', 'A', 'admin')"
                )
            )
        flask_migrate.downgrade(revision="0003_idx_leads_active_sync")
        with db.engine.connect() as conn:
            roles = dict(conn.execute(text("SELECT email, role::text FROM users")).all())
            labels = introspect.enums(conn)["user_role"]
        assert roles == {"s@x.io": "user", "a@x.io": "admin"}
        assert labels == ["user", "manager", "admin"]
        flask_migrate.upgrade()


@pytest.mark.own_database
def test_pipeline_totals_gets_the_grants_of_pipeline_stats(scratch_app: Flask):
    """The lead triggers write pipeline_totals as whoever changes a lead: the app's role,
    granted pipeline_stats by the README, must be able to write it right after 0021."""
    with (
        scratch_app.app_context(),
        role_before_migration(
            "0020_open_tasks_due_date",
            "crm_app_grants",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON pipeline_stats TO {role}",
        ) as role,
    ):
        flask_migrate.upgrade()
        # Every table the lead triggers keep (0021, 0023, 0026 to 0029) gets the same,
        # and the as-of funnel's checkpoints, which a page view makes.
        tables = (
            "pipeline_totals", "pipeline_months", "forecast_months", "pipeline_days",
            "pipeline_closing", "stage_stays", "won_cycles", "pipeline_flows",
            "pipeline_flows_all", "pipeline_checkpoints", "pipeline_checkpoint_months",
            "stage_stays_all", "won_cycles_all", "pipeline_closing_sources",
            "pipeline_closing_days",
            *(
                f"pipeline_{kind}_{by}"
                for kind in ("flows", "checkpoints")
                for by in ("created_month", "created_day", "close_month", "close_day")
            ),
            "stage_stays_dated", "stage_stays_dated_all", "won_cycles_dated",
            "won_cycles_dated_all",
        )  # fmt: skip
        with db.engine.connect() as conn:
            for table in tables:
                granted = {
                    privilege: conn.scalar(
                        text("SELECT has_table_privilege(:role, :table, :p)"),
                        {"role": role, "table": table, "p": privilege},
                    )
                    for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
                }
                assert granted == {
                    "SELECT": True, "INSERT": True, "UPDATE": True, "DELETE": True,
                    "TRUNCATE": False,
                }, table  # fmt: skip
