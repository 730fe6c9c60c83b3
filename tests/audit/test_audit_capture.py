"""The audit trail as PostgreSQL writes it (migration 0010) and the app attributes it."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection, text
from werkzeug.middleware.proxy_fix import ProxyFix

from config import TestingConfig
from crm import create_app
from crm.models import UserRole
from tests import factories
from tests.helpers import PASSWORDS, Browser, csrf_token_from, refused

ADMIN = UserRole.ADMIN


def audit_rows(conn: Connection, table: str, record_id: int | None = None) -> list[Any]:
    """The audit rows of a table (or of one record), oldest first."""
    sql = (
        "SELECT action, record_id, old_values, new_values, user_id, "
        "host(ip_address) AS ip, user_agent FROM audit_logs WHERE table_name = :table"
    )
    if record_id is not None:
        sql += " AND record_id = :id"
    return list(conn.execute(text(sql + " ORDER BY id"), {"table": table, "id": record_id}))


def act_as(conn: Connection, user_id: int | str, ip: str = "", agent: str = "psql") -> None:
    conn.execute(
        text(
            "SELECT set_config('crm.user_id', :u, true), set_config('crm.ip', :ip, true), "
            "set_config('crm.user_agent', :ua, true)"
        ),
        {"u": str(user_id), "ip": ip, "ua": agent},
    )


def test_raw_sql_insert_update_delete_are_audited_with_the_transactions_user(
    db_connection: Connection, users
):
    admin = users[ADMIN]
    act_as(db_connection, admin.id, "192.0.2.7", "psql script")
    row_id = db_connection.execute(
        text("INSERT INTO customers (name, company) VALUES ('Ada', 'Acme') RETURNING id")
    ).scalar_one()
    db_connection.execute(text("UPDATE customers SET city = 'Oslo' WHERE id = :id"), {"id": row_id})
    db_connection.execute(text("DELETE FROM customers WHERE id = :id"), {"id": row_id})
    inserted, updated, deleted = audit_rows(db_connection, "customers", row_id)
    assert inserted.action == "INSERT" and inserted.old_values is None
    assert inserted.new_values["name"] == "Ada" and inserted.new_values["id"] == row_id
    assert updated.action == "UPDATE"
    assert (updated.old_values, updated.new_values) == ({"city": None}, {"city": "Oslo"})
    assert deleted.action == "DELETE" and deleted.new_values is None
    assert deleted.old_values["city"] == "Oslo"
    for row in (inserted, updated, deleted):
        assert (row.user_id, row.ip, row.user_agent) == (admin.id, "192.0.2.7", "psql script")


def test_a_three_row_update_writes_three_rows_each_with_its_own_values(db_connection, users):
    ids = [factories.customer(name=f"N{n}", phone=f"555-000{n}").id for n in range(3)]
    db_connection.execute(
        text("UPDATE customers SET phone = phone || '9' WHERE id = ANY(:ids)"), {"ids": ids}
    )
    for n, row_id in enumerate(ids):
        (update,) = [
            r for r in audit_rows(db_connection, "customers", row_id) if r.action == "UPDATE"
        ]
        assert update.old_values == {"phone": f"555-000{n}"}
        assert update.new_values == {"phone": f"555-000{n}9"}


def test_an_update_that_changes_nothing_writes_no_row(db_connection, users):
    row_id = factories.customer(name="Same", city="Rome").id
    before = len(audit_rows(db_connection, "customers", row_id))
    db_connection.execute(text("UPDATE customers SET city = city WHERE id = :id"), {"id": row_id})
    assert len(audit_rows(db_connection, "customers", row_id)) == before


def test_password_hash_and_session_token_never_reach_the_audit_log(db_connection, users):
    someone = factories.user(email="secret@example.com")
    db_connection.execute(
        text("UPDATE users SET password_hash = 'x', name = 'Renamed' WHERE id = :id"),
        {"id": someone.id},
    )
    db_connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": someone.id})
    leaked = db_connection.execute(
        text(
            "SELECT count(*) FROM audit_logs WHERE table_name = 'users' AND ("
            "old_values ? 'password_hash' OR new_values ? 'password_hash' OR "
            "old_values ? 'session_token' OR new_values ? 'session_token')"
        )
    ).scalar_one()
    assert leaked == 0
    actions = [r.action for r in audit_rows(db_connection, "users", someone.id)]
    assert actions == ["INSERT", "UPDATE", "DELETE"]


def test_a_password_change_alone_writes_no_row(db_connection, users):
    someone = factories.user()
    before = len(audit_rows(db_connection, "users", someone.id))
    db_connection.execute(
        text("UPDATE users SET password_hash = 'changed' WHERE id = :id"), {"id": someone.id}
    )
    assert len(audit_rows(db_connection, "users", someone.id)) == before


@pytest.mark.own_database
def test_settings_do_not_leak_into_the_next_transaction_on_a_pooled_connection(app: Flask):
    with app.app_context():
        from crm.extensions import db

        engine = db.engine
        with engine.connect() as conn:
            with conn.begin():
                act_as(conn, 42, "192.0.2.1", "first")
                assert conn.execute(text("SELECT current_setting('crm.user_id')")).scalar() == "42"
            with conn.begin():
                values = conn.execute(
                    text(
                        "SELECT current_setting('crm.user_id', true), "
                        "current_setting('crm.ip', true), current_setting('crm.user_agent', true)"
                    )
                ).one()
        assert all(value in ("", None) for value in values)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_logs SET action = 'X'",
        "DELETE FROM audit_logs",
        "TRUNCATE audit_logs",
    ],
)
def test_audit_logs_is_append_only(db_connection: Connection, users, statement: str):
    factories.customer()  # at least one audit row
    message = refused(db_connection, statement)
    assert "append-only" in message or "TRUNCATE of audit_logs is not allowed" in message


def test_truncating_an_audited_table_raises(db_connection: Connection):
    # With the notifications that reference tasks (migration 0034), as TRUNCATE requires.
    statement = "TRUNCATE tasks, notifications"
    assert "TRUNCATE of tasks is not allowed" in refused(db_connection, statement)


def test_deleting_a_user_still_clears_their_id_from_old_audit_rows(db_connection, users):
    someone = factories.user()
    act_as(db_connection, someone.id)
    row_id = factories.customer().id
    act_as(db_connection, "")
    db_connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": someone.id})
    (inserted,) = audit_rows(db_connection, "customers", row_id)
    assert inserted.user_id is None  # the spec's ON DELETE SET NULL still works


def test_the_retention_purge_is_the_one_way_to_delete_audit_rows(db_connection, users):
    db_connection.execute(
        text(
            "INSERT INTO audit_logs (table_name, record_id, action, created_at) VALUES "
            "('customers', 1, 'INSERT', now() - interval '11 years'), "
            "('customers', 2, 'INSERT', now() - interval '9 years')"
        )
    )
    old = "SELECT count(*) FROM audit_logs WHERE created_at < now() - interval '10 years'"
    assert db_connection.execute(text(old)).scalar_one() == 1
    purged = db_connection.execute(
        text("SELECT crm_purge_audit_logs(CAST(now() - interval '10 years' AS timestamp), 100)")
    ).scalar_one()
    assert purged == 1
    assert db_connection.execute(text(old)).scalar_one() == 0
    recent = "SELECT crm_purge_audit_logs(CAST(now() - interval '5 years' AS timestamp), 100)"
    assert "kept for 10 years" in refused(db_connection, recent)
    # The purge's permission does not outlive it.
    assert "append-only" in refused(db_connection, "DELETE FROM audit_logs")


def test_an_edit_in_the_admin_is_attributed_to_the_user_ip_and_browser(
    browser: Browser, users, db_connection
):
    admin = users[ADMIN]
    row_id = factories.customer(name="Before", company="Attrib Co").id
    browser.login_as(admin)
    form = browser.get(f"/admin/customers/edit/?id={row_id}").get_data(as_text=True)
    version = form.split('name="version" type="hidden" value="')[1].split('"')[0]
    response = browser.post(
        f"/admin/customers/edit/?id={row_id}",
        {"name": "After", "company": "Attrib Co", "status": "active", "version": version},
        headers={"User-Agent": "AuditTest/1.0"},
    )
    assert response.status_code == 302
    update = audit_rows(db_connection, "customers", row_id)[-1]
    assert update.action == "UPDATE"
    assert (update.old_values["name"], update.new_values["name"]) == ("Before", "After")
    assert (update.user_id, update.ip, update.user_agent) == (
        admin.id,
        "127.0.0.1",
        "AuditTest/1.0",
    )


def test_a_spoofed_x_forwarded_for_is_not_stored(browser: Browser, users, db_connection):
    admin = users[ADMIN]
    token = csrf_token_from(browser.get("/login").get_data(as_text=True))
    browser.client.post(
        "/login",
        data={"email": admin.email, "password": PASSWORDS[ADMIN], "csrf_token": token},
        headers={"X-Forwarded-For": "203.0.113.66"},
    )
    login = [r for r in audit_rows(db_connection, "users", admin.id) if r.action == "LOGIN"][-1]
    assert login.ip == "127.0.0.1"


def test_x_forwarded_for_is_believed_only_behind_configured_proxies(app: Flask):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    assert not isinstance(app.wsgi_app, ProxyFix)
    behind = create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": url, "TRUSTED_PROXY_COUNT": 1})
    assert isinstance(behind.wsgi_app, ProxyFix) and behind.wsgi_app.x_for == 1


def test_sign_in_events_are_audit_rows(browser: Browser, users, db_connection, app: Flask):
    rep = users[UserRole.USER]
    browser.login(rep.email, "wrong password")
    browser.login(rep.email, PASSWORDS[UserRole.USER])
    browser.post("/logout")
    browser.login("nobody@example.com", "whatever")
    actions = [r.action for r in audit_rows(db_connection, "users", rep.id)]
    assert actions[-3:] == ["LOGIN_FAILED", "LOGIN", "LOGOUT"]
    unknown = audit_rows(db_connection, "users", 0)
    assert [r.action for r in unknown] == ["LOGIN_FAILED"]
    assert unknown[0].new_values is None  # nothing typed is kept


def test_a_lockout_is_an_audit_row(browser: Browser, users, db_connection, app: Flask):
    rep = users[UserRole.USER]
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        browser.login(rep.email, "wrong password")
    actions = [r.action for r in audit_rows(db_connection, "users", rep.id)]
    assert actions.count("LOCKOUT") == 1


def test_cli_changes_are_attributed_to_the_command(cli, db_connection):
    result = cli.invoke(
        args=["crm", "create-user", "--email", "cli@example.com", "--name", "Cli Person"],
        input="long-enough-pw\nlong-enough-pw\n",
    )
    assert result.exit_code == 0, result.output
    row_id = db_connection.execute(
        text("SELECT id FROM users WHERE email = 'cli@example.com'")
    ).scalar_one()
    (inserted,) = audit_rows(db_connection, "users", row_id)
    assert (inserted.user_id, inserted.user_agent) == (None, "cli: crm create-user")


def test_a_bulk_action_is_audited_row_by_row_as_the_person_who_ran_it(
    browser: Browser, users, db_connection
):
    manager, rep = users[UserRole.MANAGER], users[UserRole.USER]
    ids = [factories.customer(owner_id=manager.id).id for _ in range(2)]
    browser.login_as(manager)
    done = browser.post(
        "/admin/customers/action/",
        {"action": "reassign", "rowid": ids, "confirmed": "yes", "owner_id": str(rep.id)},
    )
    assert done.status_code == 302
    for row_id in ids:
        update = audit_rows(db_connection, "customers", row_id)[-1]
        assert update.action == "UPDATE"
        assert update.new_values == {"owner_id": rep.id}
        assert (update.user_id, update.ip) == (manager.id, "127.0.0.1")
