"""`flask crm seed` and `flask crm create-user`."""

from __future__ import annotations

import bcrypt
import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select, text

from crm.extensions import db
from crm.models import Customer, LeadStage, User, UserRole
from crm.security.passwords import check_password


def snapshot() -> dict[str, list[tuple]]:
    users = db.session.execute(
        select(User.id, User.email, User.name, User.role, User.password_hash).order_by(User.id)
    )
    stages = db.session.execute(
        select(LeadStage.id, LeadStage.name, LeadStage.description, LeadStage.order_index).order_by(
            LeadStage.id
        )
    )
    customers = db.session.execute(
        select(
            Customer.id, Customer.name, Customer.email, Customer.company, Customer.owner_id
        ).order_by(Customer.id)
    )
    return {"users": users.all(), "stages": stages.all(), "customers": customers.all()}


def test_seed_creates_the_spec_rows(cli: FlaskCliRunner):
    result = cli.invoke(args=["crm", "seed"])
    assert result.exit_code == 0, result.output
    assert "4 users, 7 lead stages, 3 customers and 6 exchange rates added" in result.output

    roles = dict(db.session.execute(select(User.email, User.role)).all())
    assert roles == {
        "admin@crm.com": UserRole.ADMIN,
        "manager@crm.com": UserRole.MANAGER,
        "user@crm.com": UserRole.USER,
        "support@crm.com": UserRole.SUPPORT,
    }
    stages = db.session.execute(
        select(LeadStage.name, LeadStage.order_index).order_by(LeadStage.id)
    )
    assert stages.all() == [
        ("New", 1), ("Contacted", 2), ("Qualified", 3), ("Proposal", 4),
        ("Negotiation", 5), ("Closed Won", 6), ("Closed Lost", 7),
    ]  # fmt: skip
    owners = dict(
        db.session.execute(
            select(Customer.name, User.email).join(User, Customer.owner_id == User.id)
        ).all()
    )
    assert owners == {
        "Acme Corp": "admin@crm.com",
        "Tech Solutions": "manager@crm.com",
        "Healthcare Plus": "user@crm.com",
    }


def test_seed_twice_leaves_the_same_rows(cli: FlaskCliRunner):
    assert cli.invoke(args=["crm", "seed"]).exit_code == 0
    first = snapshot()
    second_run = cli.invoke(args=["crm", "seed"])
    assert second_run.exit_code == 0
    assert "0 users, 0 lead stages, 0 customers and 0 exchange rates added" in second_run.output
    assert snapshot() == first


def test_seed_fills_in_only_what_is_missing(cli: FlaskCliRunner):
    assert cli.invoke(args=["crm", "seed"]).exit_code == 0
    db.session.execute(text("DELETE FROM lead_stages WHERE name = 'Proposal'"))
    db.session.execute(text("UPDATE users SET name = 'Renamed' WHERE email = 'admin@crm.com'"))
    result = cli.invoke(args=["crm", "seed"])
    assert "0 users, 1 lead stages, 0 customers and 0 exchange rates added" in result.output
    assert db.session.scalar(select(User.name).where(User.email == "admin@crm.com")) == "Renamed"


def test_seed_hashes_demo_passwords_with_bcrypt_cost_12(
    app: Flask, cli: FlaskCliRunner, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(app.config, "BCRYPT_ROUNDS", 12)  # testing runs at 4 for speed
    assert cli.invoke(args=["crm", "seed"]).exit_code == 0
    hashes = dict(db.session.execute(select(User.email, User.password_hash)).all())
    for email, password in [
        ("admin@crm.com", "admin123"),
        ("manager@crm.com", "manager123"),
        ("user@crm.com", "user123"),
        ("support@crm.com", "support123"),
    ]:
        assert hashes[email].startswith("$2b$12$")
        assert check_password(password, hashes[email])
        assert not check_password(password + "x", hashes[email])


def test_production_seed_refuses_demo_passwords_and_asks_for_real_ones(
    app: Flask, cli: FlaskCliRunner, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(app.config, "ALLOW_DEMO_PASSWORDS", False)
    answers = [
        "admin123\n",  # a demo password: refused, asked again
        "short\n",  # too short: refused, asked again
        "correct horse admin\ncorrect horse admin\n",
        "correct horse manager\ncorrect horse manager\n",
        "correct horse user\ncorrect horse user\n",
        "correct horse support\ncorrect horse support\n",
    ]
    result = cli.invoke(args=["crm", "seed"], input="".join(answers))
    assert result.exit_code == 0, result.output
    assert "one of the README's demo passwords" in result.output
    assert "at least 8 characters" in result.output
    admin_hash = db.session.scalar(select(User.password_hash).where(User.email == "admin@crm.com"))
    assert check_password("correct horse admin", admin_hash)
    assert not check_password("admin123", admin_hash)


def test_create_user_prompts_twice_and_stores_a_bcrypt_hash(cli: FlaskCliRunner):
    result = cli.invoke(
        args=["crm", "create-user", "--email", " Rep@Example.COM ", "--name", "Rita Rep"],
        input="a long password\na long password\n",
    )
    assert result.exit_code == 0, result.output
    assert "a long password" not in result.output  # never echoed
    user = db.session.scalar(select(User).where(User.email == "rep@example.com"))
    assert (user.name, user.role) == ("Rita Rep", UserRole.USER)
    assert bcrypt.checkpw(b"a long password", user.password_hash.encode())


@pytest.mark.parametrize(
    ("stdin", "created", "message"),
    [
        ("a scripted password\n", True, "Created user"),
        ("a scripted password", True, "Created user"),  # no newline at the end
        ("", False, "standard input held no password"),
        ("short\n", False, "at least 8 characters"),
        ("qwertyuiop\n", False, "on a list of common passwords"),
    ],
)
def test_create_user_reads_the_password_from_stdin_for_scripts(
    cli: FlaskCliRunner, stdin: str, created: bool, message: str
):
    result = cli.invoke(
        args=["crm", "create-user", "--email", "bot@example.com", "--name", "Bot",
              "--password-stdin"],
        input=stdin,
    )  # fmt: skip
    assert message in result.output
    assert (result.exit_code == 0) is created
    assert "Password:" not in result.output  # no prompt
    user = db.session.scalar(select(User).where(User.email == "bot@example.com"))
    assert (user is not None) is created
    if created:
        assert check_password("a scripted password", user.password_hash)


def test_the_command_groups_help_names_every_command(cli: FlaskCliRunner):
    result = cli.invoke(args=["crm", "--help"])
    for command in ("backup", "create-user", "demo-data", "export", "restore", "retention", "seed"):
        assert f"  {command} " in result.output
    assert "backup and restore" in result.output and "CSV exports" in result.output


def test_create_user_with_role(cli: FlaskCliRunner):
    result = cli.invoke(
        args=["crm", "create-user", "--email", "s@example.com", "--name", "S", "--role", "support"],
        input="supportpass\nsupportpass\n",
    )
    assert result.exit_code == 0, result.output
    assert (
        db.session.scalar(select(User.role).where(User.email == "s@example.com"))
        == UserRole.SUPPORT
    )


def test_create_user_mismatched_confirmation_asks_again(cli: FlaskCliRunner):
    result = cli.invoke(
        args=["crm", "create-user", "--email", "m@example.com", "--name", "M"],
        input="first password\nsecond password\nfinal password\nfinal password\n",
    )
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    stored = db.session.scalar(select(User.password_hash).where(User.email == "m@example.com"))
    assert check_password("final password", stored)


def test_create_user_rejects_a_password_over_72_bytes(cli: FlaskCliRunner):
    too_long = "é" * 40  # 40 characters, 80 bytes
    result = cli.invoke(
        args=["crm", "create-user", "--email", "l@example.com", "--name", "L"],
        input=f"{too_long}\nlong enough pw\nlong enough pw\n",
    )
    assert result.exit_code == 0, result.output
    assert "at most 72 bytes" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "not-an-email", "--name", "X"], "is not an email address"),
        (["--email", "x@example.com", "--name", "   "], "give a name of 1 to 255 characters"),
        (["--email", "x@example.com", "--name", "X", "--role", "root"], "'root' is not one of"),
        (["--name", "X"], "Missing option '--email'"),
    ],
)
def test_create_user_bad_options_say_what_is_wrong(cli: FlaskCliRunner, args, message):
    result = cli.invoke(args=["crm", "create-user", *args], input="whatever12\nwhatever12\n")
    assert result.exit_code == 2
    assert message in result.output
    assert db.session.scalar(select(User).where(User.email == "x@example.com")) is None


def test_create_user_duplicate_email_is_refused(cli: FlaskCliRunner):
    args = ["crm", "create-user", "--email", "dup@example.com", "--name", "D"]
    assert cli.invoke(args=args, input="pass word 1\npass word 1\n").exit_code == 0
    again = cli.invoke(
        args=[*args[:3], "DUP@example.com", *args[4:]], input="password2\npassword2\n"
    )
    assert again.exit_code == 1
    assert "a user with email dup@example.com already exists" in again.output


@pytest.mark.own_database
def test_commands_on_an_unmigrated_database_say_to_run_upgrade(scratch_app: Flask):
    result = scratch_app.test_cli_runner().invoke(args=["crm", "seed"])
    assert result.exit_code == 1
    assert "run `flask db upgrade` first" in result.output
