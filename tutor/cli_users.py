"""``tutor users ...``: the staff accounts of the web app (create, list, disable)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from sqlalchemy import Engine


def _with_store(action: Callable[[Engine], None]) -> None:
    from tutor import staff
    from tutor.cli import _migrated_store, _settings

    engine = _migrated_store(_settings())
    try:
        action(engine)
    except staff.StaffError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()


@click.group()
def users() -> None:
    """Staff accounts of the web app (/admin)."""


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "teacher"]), required=True)
@click.option("--name", "display_name", default="", help="Shown in the app (default: the email).")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (scripts)."
)
def users_create(email: str, role: str, display_name: str, password_stdin: bool) -> None:
    """Create an account for EMAIL; asks for the password twice (12 characters or more)."""
    from tutor import audit, staff

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)

    def create(engine: Engine) -> None:
        user = staff.create(engine, email, password, staff.Role(role), display_name)
        with engine.begin() as connection:
            audit.record(connection, None, "user_created", f"user:{user.id}", {"role": role})
        click.echo(f"{user.email}: {user.role.value} account created")

    _with_store(create)


@users.command("list")
def users_list() -> None:
    """Every account: email, role, last sign-in, disabled or not."""
    from tutor import staff

    def show(engine: Engine) -> None:
        accounts = staff.all_users(engine)
        if not accounts:
            click.echo("no accounts yet: tutor users create --role admin EMAIL")
        for user in accounts:
            last = f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never"
            state = " (disabled)" if user.disabled_at else ""
            click.echo(f"{user.email}\t{user.role.value}\tlast sign-in: {last}{state}")

    _with_store(show)


@users.command("disable")
@click.argument("email")
def users_disable(email: str) -> None:
    """Stop EMAIL signing in; their open sessions end at the next page they open."""
    from tutor import audit, staff

    def disable(engine: Engine) -> None:
        user = staff.by_email(engine, staff.normalise_email(email))
        if user is None or not staff.disable(engine, user.email):
            raise click.ClickException(f"no enabled account {email!r}")
        with engine.begin() as connection:
            audit.record(connection, None, "user_disabled", f"user:{user.id}")
        click.echo(f"{user.email}: disabled")

    _with_store(disable)
