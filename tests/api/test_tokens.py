"""Personal API tokens (issue 20, part 3): made, stored hashed, checked, revoked, audited."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Connection, text

from crm.api import tokens
from crm.api.auth import authenticate
from crm.extensions import db
from crm.models import ApiToken, UserRole
from crm.security.sessions import utcnow

ADMIN, MANAGER, REP = UserRole.ADMIN, UserRole.MANAGER, UserRole.USER


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_a_token_is_shown_once_and_kept_only_as_its_digest(users, db_connection: Connection):
    row, secret = tokens.create(db.session, users[REP], "  Billing sync ", "read", 30)
    assert secret.startswith("crm_") and len(secret) == 4 + 43
    stored = db_connection.execute(
        text("SELECT name, scope, token_hash, prefix FROM api_tokens WHERE id = :id"),
        {"id": row.id},
    ).one()
    assert stored == (
        "Billing sync",
        "read",
        hashlib.sha256(secret.encode()).hexdigest(),
        secret[:12],
    )
    assert secret not in str(db_connection.execute(text("SELECT * FROM api_tokens")).all())


def test_the_audit_trail_records_the_token_but_never_its_digest_nor_its_uses(
    users, client: FlaskClient, db_connection: Connection
):
    row, secret = tokens.create(db.session, users[REP], "Sync", "write", 7)
    db.session.commit()
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200
    audited = db_connection.execute(
        text(
            "SELECT action, new_values FROM audit_logs "
            "WHERE table_name = 'api_tokens' AND record_id = :id ORDER BY id"
        ),
        {"id": row.id},
    ).all()
    assert [action for action, _ in audited] == ["INSERT"]  # the use wrote no audit row
    assert audited[0][1]["name"] == "Sync" and "token_hash" not in audited[0][1]
    assert "last_used_at" not in audited[0][1]
    used = db_connection.scalar(
        text("SELECT last_used_at FROM api_tokens WHERE id = :id"), {"id": row.id}
    )
    assert used is not None


@pytest.mark.parametrize(
    ("name", "scope", "days", "message"),
    [
        ("   ", "read", 30, "Give the token a name"),
        ("\u200b\u200b", "read", 30, "Give the token a name"),  # zero-width spaces only
        ("x" * 101, "read", 30, "at most 100"),
        ("ok", "admin", 30, "is not one of: read, write"),
        ("ok", "read", 0, "1 to 365 days"),
        ("ok", "read", 366, "1 to 365 days"),
    ],
)
def test_a_bad_request_for_a_token_says_what_to_change_and_saves_nothing(
    users, db_connection: Connection, name, scope, days, message
):
    with pytest.raises(tokens.TokenError, match=message):
        tokens.create(db.session, users[REP], name, scope, days)
    assert db_connection.scalar(text("SELECT count(*) FROM api_tokens")) == 0


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Send a personal API token"),
        ("Basic dXNlcjpwYXNz", "Use the Bearer scheme"),
        ("Bearer ", "Use the Bearer scheme"),
        ("Bearer abc", "not a personal API token"),
        ("Bearer crm_" + "A" * 43, "not known"),
    ],
)
def test_a_request_without_a_good_token_is_a_json_401_that_says_why(
    client: FlaskClient, users, header, message
):
    response = client.get("/api/v1/me", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.is_json and message in response.get_json()["message"]


def test_revoked_expired_and_deactivated_tokens_are_refused(
    users, client: FlaskClient, db_connection: Connection
):
    revoked, revoked_secret = tokens.create(db.session, users[REP], "old", "read", 30)
    expired, expired_secret = tokens.create(db.session, users[REP], "gone", "read", 30)
    _, manager_secret = tokens.create(db.session, users[MANAGER], "mine", "read", 30)
    assert tokens.revoke(db.session, revoked.id, by=users[ADMIN])
    assert not tokens.revoke(db.session, revoked.id, by=users[ADMIN])  # once is enough
    expired.expires_at = utcnow() - timedelta(seconds=1)
    users[MANAGER].is_active = False
    db.session.commit()
    for secret, message in (
        (revoked_secret, "was revoked"),
        (expired_secret, "has expired"),
        (manager_secret, "was revoked"),  # deactivation revokes (migration 0041)
    ):
        response = client.get("/api/v1/me", headers=bearer(secret))
        assert response.status_code == 401 and message in response.get_json()["message"]
    who = db_connection.scalar(
        text("SELECT revoked_by FROM api_tokens WHERE id = :id"), {"id": revoked.id}
    )
    assert who == users[ADMIN].id


def test_a_rep_revokes_only_their_own_tokens(users):
    theirs, _ = tokens.create(db.session, users[MANAGER], "manager's", "read", 30)
    assert not tokens.revoke(db.session, theirs.id, by=users[REP], owner=users[REP])
    assert db.session.get(ApiToken, theirs.id).revoked_at is None


def test_the_token_speaks_for_its_owner_whatever_cookie_comes_along(
    users, browser, client: FlaskClient
):
    _, secret = tokens.create(db.session, users[REP], "rep", "read", 30)
    db.session.commit()
    browser.login_as(users[ADMIN])  # the same client now carries the admin's session cookie
    me = client.get("/api/v1/me", headers=bearer(secret)).get_json()
    assert (me["email"], me["role"], me["token"]["scope"]) == (users[REP].email, "user", "read")
    assert "token_hash" not in me["token"] and secret not in str(me)
    # And the cookie alone never authenticates the API.
    alone = client.get("/api/v1/me")
    assert alone.status_code == 401 and alone.is_json


def test_a_read_token_cannot_change_anything(app, users):
    _, secret = tokens.create(db.session, users[ADMIN], "ro", "read", 30)
    _, writer = tokens.create(db.session, users[ADMIN], "rw", "write", 30)
    db.session.commit()
    # The check every API request passes first (crm/api/auth.py), before any endpoint.
    with app.test_request_context("/api/v1/me", method="POST", headers=bearer(secret)):
        refused = authenticate()
        assert refused is not None and refused.status_code == 403
        assert "read-only" in refused.get_json()["message"]
    with app.test_request_context("/api/v1/me", method="GET", headers=bearer(secret)):
        assert authenticate() is None
    with app.test_request_context("/api/v1/me", method="POST", headers=bearer(writer)):
        assert authenticate() is None


def test_api_errors_are_json_and_the_pages_keep_their_html_ones(users, client: FlaskClient):
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404 and missing.is_json
    assert "/api/v1/" in missing.get_json()["message"]
    _, secret = tokens.create(db.session, users[ADMIN], "rw", "write", 30)
    db.session.commit()
    wrong = client.delete("/api/v1/me", headers=bearer(secret))
    assert wrong.status_code == 405 and wrong.is_json and "GET" in wrong.headers["Allow"]
    page = client.get("/admin/no-such-page/")
    assert page.status_code in (302, 404) and not page.is_json


def test_each_token_has_its_own_rate_limit(app, users, client: FlaskClient):
    _, first = tokens.create(db.session, users[REP], "a", "read", 30)
    _, second = tokens.create(db.session, users[REP], "b", "read", 30)
    db.session.commit()
    limit = int(app.config["API_RATE_LIMIT"].split()[0])
    for _ in range(limit):
        assert client.get("/api/v1/me", headers=bearer(first)).status_code == 200
    refused = client.get("/api/v1/me", headers=bearer(first))
    assert refused.status_code == 429 and refused.is_json
    assert client.get("/api/v1/me", headers=bearer(second)).status_code == 200


def test_the_openapi_document_describes_the_endpoints_and_the_bearer_scheme(client: FlaskClient):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/me" in document["paths"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    me = document["paths"]["/api/v1/me"]["get"]["responses"]["200"]
    assert me["content"]["application/json"]["schema"]["$ref"].endswith("/Me")


def test_the_cli_prints_a_working_token_and_nothing_else_on_stdout(cli, users, client):
    result = cli.invoke(
        args=["crm", "api-token", "create", "--user", users[REP].email.upper(), "--scope", "write",
              "--days", "3", "--name", "nightly export"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert secret.startswith("crm_") and "\n" not in secret
    assert "not shown again" in result.stderr and "(write)" in result.stderr
    me = client.get("/api/v1/me", headers=bearer(secret)).get_json()
    assert me["email"] == users[REP].email and me["token"]["name"] == "nightly export"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "nobody@example.com", "--scope", "read"], "no user has the email"),
        (["--user", "user@example.com", "--scope", "admin"], "'admin' is not one of"),
        (["--user", "user@example.com", "--scope", "read", "--days", "0"], "0 is not in the range"),
        (["--user", "user@example.com", "--scope", "read", "--name", " "], "Give the token a name"),
    ],
)
def test_the_cli_refuses_bad_options_with_a_message(cli, users, db_connection, args, message):
    result = cli.invoke(args=["crm", "api-token", "create", *args])
    assert result.exit_code != 0 and message in result.output
    assert db_connection.scalar(text("SELECT count(*) FROM api_tokens")) == 0


def test_a_new_password_or_a_deactivation_revokes_every_token_of_the_account(
    users, client: FlaskClient, db_connection: Connection
):
    """Whatever ends all of someone's sessions ends their tokens too (they are not back
    when the account is reactivated)."""
    _, rep = tokens.create(db.session, users[REP], "rep", "read", 30)
    _, manager = tokens.create(db.session, users[MANAGER], "manager", "read", 30)
    _, admin = tokens.create(db.session, users[ADMIN], "admin", "read", 30)
    db.session.commit()
    db_connection.execute(
        text("UPDATE users SET password_hash = 'changed' WHERE id = :id"), {"id": users[REP].id}
    )
    db_connection.execute(
        text("UPDATE users SET is_active = false WHERE id = :id"), {"id": users[MANAGER].id}
    )
    db_connection.execute(
        text("UPDATE users SET is_active = true WHERE id = :id"), {"id": users[MANAGER].id}
    )
    db_connection.execute(
        text("UPDATE users SET name = 'renamed' WHERE id = :id"), {"id": users[ADMIN].id}
    )
    statuses = {
        secret: client.get("/api/v1/me", headers=bearer(secret)).status_code
        for secret in (rep, manager, admin)
    }
    assert statuses == {rep: 401, manager: 401, admin: 200}


def test_one_token_is_one_bucket_however_its_header_is_spelt(app, users, client: FlaskClient):
    _, secret = tokens.create(db.session, users[REP], "a", "read", 30)
    db.session.commit()
    limit = int(app.config["API_RATE_LIMIT"].split()[0])
    spellings = [f"Bearer {secret}", f"bearer {secret}", f"BEARER  {secret}", f"Bearer\t{secret} "]
    for n in range(limit):
        header = {"Authorization": spellings[n % len(spellings)]}
        assert client.get("/api/v1/me", headers=header).status_code == 200
    for spelling in spellings:
        assert client.get("/api/v1/me", headers={"Authorization": spelling}).status_code == 429


def test_guessing_tokens_is_capped_per_address(app, users, client: FlaskClient):
    _, secret = tokens.create(db.session, users[REP], "a", "read", 30)
    db.session.commit()
    cap = int(app.config["API_REFUSED_LIMIT"].split()[0])
    for n in range(cap):
        guess = bearer(f"crm_{n:043d}")
        assert client.get("/api/v1/me", headers=guess).status_code == 401
    assert client.get("/api/v1/me", headers=bearer("crm_" + "z" * 43)).status_code == 429
    # Good tokens do not use up the address's allowance of refusals, but it is spent now.
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 429


def test_every_api_address_but_its_document_needs_a_token(app, client: FlaskClient):
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/")]
    assert rules
    for rule in rules:
        url = rule.rule.replace("<int:row_id>", "1")
        response = client.get(url)
        if rule.endpoint in ("api-docs.openapi_json", "api_docs_page.docs"):
            assert response.status_code == 200
        else:
            assert response.status_code == 401 and response.is_json, rule.rule


def test_api_answers_never_read_nor_set_the_session_cookie(users, browser, client: FlaskClient):
    _, secret = tokens.create(db.session, users[REP], "rep", "read", 30)
    db.session.commit()
    browser.login_as(users[ADMIN])
    for headers in (bearer(secret), {}):
        response = client.get("/api/v1/me", headers=headers)
        assert "Set-Cookie" not in response.headers
        assert response.headers["Cache-Control"].startswith("no-store")
    assert client.get("/admin/").status_code == 200  # the browser's session is untouched


def test_errors_keep_what_the_raiser_said(app):
    from flask_smorest import abort
    from werkzeug.exceptions import HTTPException, InternalServerError

    from crm.api import _server_error
    from crm.api.errors import http_error

    with app.test_request_context("/api/v1/me"):
        try:
            abort(422, message="Check the fields.", errors={"json": {"name": ["Missing."]}})
        except HTTPException as raised:
            body = http_error(raised).get_json()
        assert body == {
            "status": 422,
            "error": "Unprocessable Entity",
            "message": "Check the fields.",
            "errors": {"json": {"name": ["Missing."]}},
        }
        crashed = _server_error(InternalServerError())
        assert crashed.status_code == 500 and crashed.get_json()["status"] == 500


def test_an_untrusted_host_is_a_json_400_under_the_api(app, client: FlaskClient, monkeypatch):
    monkeypatch.setitem(app.config, "TRUSTED_HOSTS", ["crm.example.com"])
    refused = client.get("/api/v1/me", headers={"Host": "evil.example"})
    assert refused.status_code == 400 and refused.is_json
    assert "host name" in refused.get_json()["message"]


def test_the_document_describes_the_errors_as_they_are_sent(users, client: FlaskClient):
    document = client.get("/api/v1/openapi.json").get_json()
    error = document["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"status", "error", "message", "errors"}
    assert set(error["required"]) == {"status", "error", "message"}
    body = client.get("/api/v1/me").get_json()
    assert set(body) <= set(error["properties"]) and set(error["required"]) <= set(body)
    _, secret = tokens.create(db.session, users[REP], "rep", "read", 30)
    db.session.commit()
    expires = client.get("/api/v1/me", headers=bearer(secret)).get_json()["token"]["expires_at"]
    assert expires.endswith("+00:00")  # RFC 3339: with its offset


@pytest.mark.parametrize("role", list(UserRole))
def test_me_names_each_roles_owner_and_the_token(users, client: FlaskClient, role):
    row, secret = tokens.create(db.session, users[role], f"{role.value}'s", "read", 7)
    db.session.commit()
    me = client.get("/api/v1/me", headers=bearer(secret)).get_json()
    assert (me["id"], me["email"], me["role"]) == (users[role].id, users[role].email, role.value)
    assert me["token"] == {
        "id": row.id,
        "name": f"{role.value}'s",
        "scope": "read",
        "prefix": secret[:12],
        "expires_at": row.expires_at.isoformat() + "+00:00",
    }
