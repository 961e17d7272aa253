"""Staff accounts and signed-in test clients for the web app's tests."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import Engine

from tutor import staff
from tutor.staff import Role, User

PASSWORD = "correct horse battery staple"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_user(engine: Engine, role: Role | str, email: str | None = None, name: str = "") -> User:
    role = Role(role)
    return staff.create(engine, email or f"{role.value}@school.test", PASSWORD, role, name)


def csrf_token(client: FlaskClient, path: str = "/admin/login") -> str:
    """The CSRF token a page's forms carry (the token is bound to the client's session)."""
    page = client.get(path)
    found = _TOKEN.search(page.get_data(as_text=True))
    assert found is not None, f"no CSRF token on {path} ({page.status_code})"
    return found.group(1)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> int:
    """Sign in through the form; the status of the answer (302 when it worked)."""
    token = csrf_token(client)
    response = client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": token}
    )
    return response.status_code


def post(client: FlaskClient, path: str, form_page: str, **data: str) -> int:
    """POST a staff form with the token from ``form_page``; the answer's status."""
    token = csrf_token(client, form_page)
    return client.post(path, data={**data, "csrf_token": token}).status_code
