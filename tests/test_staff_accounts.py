"""Staff accounts of the web app: argon2 hashes, sign-in checks, disabling, the audit log,
and the ``tutor users`` command."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from sqlalchemy import Engine, select, update

from tutor import audit, cli, migrate, staff
from tutor.db import make_engine
from tutor.models import audit_log, users
from tutor.settings import Settings

PASSWORD = "correct horse battery"


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def test_the_password_is_stored_only_as_an_argon2_hash(engine: Engine) -> None:
    user = staff.create(engine, "  Ada@Example.ORG ", PASSWORD, staff.Role.ADMIN)
    assert user.email == "ada@example.org" and user.role is staff.Role.ADMIN
    assert user.display_name == "ada"
    with engine.connect() as connection:
        stored = connection.execute(select(users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_short_passwords_and_taken_emails_are_refused(engine: Engine) -> None:
    with pytest.raises(staff.StaffError, match="at least 12"):
        staff.create(engine, "a@example.org", "short", staff.Role.TEACHER)
    staff.create(engine, "a@example.org", PASSWORD, staff.Role.TEACHER)
    with pytest.raises(staff.StaffError, match="already has an account"):
        staff.create(engine, "A@example.org", PASSWORD, staff.Role.ADMIN)
    with pytest.raises(staff.StaffError, match="not an email"):
        staff.create(engine, "nobody", PASSWORD, staff.Role.ADMIN)


def test_authenticate_checks_password_case_of_email_and_disabled(engine: Engine) -> None:
    staff.create(engine, "t@example.org", PASSWORD, staff.Role.TEACHER)
    assert staff.authenticate(engine, "t@example.org", "wrong password!!") is None
    assert staff.authenticate(engine, "unknown@example.org", PASSWORD) is None
    signed_in = staff.authenticate(engine, "T@Example.org", PASSWORD)
    assert signed_in is not None and signed_in.last_login_at is not None
    assert staff.disable(engine, "t@example.org")
    assert not staff.disable(engine, "t@example.org")  # already disabled
    assert staff.authenticate(engine, "t@example.org", PASSWORD) is None


def test_an_old_hash_is_upgraded_on_sign_in(engine: Engine) -> None:
    staff.create(engine, "old@example.org", PASSWORD, staff.Role.ADMIN)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with engine.begin() as connection:
        connection.execute(update(users).values(password_hash=weak))
    assert staff.authenticate(engine, "old@example.org", PASSWORD) is not None
    with engine.connect() as connection:
        stored = connection.execute(select(users.c.password_hash)).scalar_one()
    assert stored != weak and not PasswordHasher().check_needs_rehash(stored)


def test_audit_rows_are_written_in_the_callers_transaction(engine: Engine) -> None:
    user = staff.create(engine, "a@example.org", PASSWORD, staff.Role.ADMIN)
    with engine.begin() as connection:
        audit.record(connection, user.id, "grant", "learner:7", {"days": 30}, "127.0.0.1")
    connection = engine.connect()
    transaction = connection.begin()
    audit.record(connection, user.id, "revoke", "learner:7")
    transaction.rollback()  # the change failed: its audit row goes too
    connection.close()
    (row,) = audit.recent(engine)
    assert row["action"] == "grant" and row["email"] == "a@example.org"
    assert row["detail"] == {"days": 30} and row["ip"] == "127.0.0.1"


@pytest.fixture
def runner(
    make_settings: Callable[..., Settings], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    settings = make_settings()
    monkeypatch.setenv("TUTOR_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TUTOR_VAR_DIR", str(Path(settings.var_dir)))
    monkeypatch.setenv("TUTOR_LOG_LEVEL", "WARNING")
    return CliRunner()


def test_the_command_line_creates_lists_and_disables(runner: CliRunner, engine: Engine) -> None:
    short = runner.invoke(
        cli.main,
        ["users", "create", "--role", "admin", "--password-stdin", "a@example.org"],
        input="short\n",
    )
    assert short.exit_code != 0 and "at least 12" in short.output
    created = runner.invoke(
        cli.main,
        ["users", "create", "--role", "admin", "a@example.org"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert created.exit_code == 0, created.output
    assert "a@example.org: admin account created" in created.output
    assert PASSWORD not in created.output  # the prompt hides it
    listed = runner.invoke(cli.main, ["users", "list"])
    assert "a@example.org\tadmin\tlast sign-in: never" in listed.output
    disabled = runner.invoke(cli.main, ["users", "disable", "A@example.org"])
    assert disabled.exit_code == 0 and "disabled" in disabled.output
    again = runner.invoke(cli.main, ["users", "disable", "a@example.org"])
    assert again.exit_code != 0
    assert "(disabled)" in runner.invoke(cli.main, ["users", "list"]).output
    with engine.connect() as connection:
        actions = connection.execute(select(audit_log.c.action)).scalars().all()
    assert actions == ["user_created", "user_disabled"]
