"""Who may open what: every route of the app as anonymous, teacher and admin; sessions; sign-in.

The walk reads the app's URL map, so a route added later is checked without editing this
file: a staff route must carry ``require`` (or ``public``), and any other route must be one
of the few the service exposes on purpose.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.support.harness import Harness
from tests.support.staff import PASSWORD, csrf_token, make_user, sign_in
from tutor import staff
from tutor.models import audit_log
from tutor.staff import Role
from tutor.web.staff import ROLES_ATTRIBUTE

#: Routes outside /admin, open by design (each proves itself another way or shows nothing).
OPEN_ROUTES = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/webhooks/telegram",
    "/webhooks/whatsapp",
    "/webhooks/stripe",
    "/",
    "/chat/api/messages",
    "/progress/<value>.png",
    "/voice/<value>.ogg",
    "/static/<path:filename>",
}

#: Values for URL parameters: existing rows are not needed, only a well-formed URL.
SAMPLE = {"int": "1", "default": "sample", "path": "sample.txt"}
_CONVERTER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _url(rule: str) -> str:
    return _CONVERTER.sub(lambda m: SAMPLE.get(m.group(1) or "default", "sample"), rule)


def _staff_rules(app: Flask) -> list[tuple[str, str, str]]:
    """(rule, method, endpoint) for every /admin route."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin"):
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                found.append((rule.rule, method, rule.endpoint))
    return sorted(found)


def _roles(app: Flask, endpoint: str) -> frozenset[Role] | None:
    return getattr(app.view_functions[endpoint], ROLES_ATTRIBUTE, None)


@pytest.fixture
def app(harness: Harness) -> Flask:
    return harness.app


@pytest.fixture
def clients(harness: Harness) -> dict[str, FlaskClient]:
    engine = harness.services.engine
    make_user(engine, Role.ADMIN, "admin@school.test")
    make_user(engine, Role.TEACHER, "teacher@school.test")
    admin, teacher = harness.app.test_client(), harness.app.test_client()
    assert sign_in(admin, "admin@school.test") == 302
    assert sign_in(teacher, "teacher@school.test") == 302
    return {"anonymous": harness.app.test_client(), "teacher": teacher, "admin": admin}


def test_every_route_is_staff_protected_or_open_on_purpose(app: Flask) -> None:
    unguarded = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin") and _roles(app, rule.endpoint) is None
    ]
    assert unguarded == [], f"staff routes without require(): {unguarded}"
    others = {r.rule for r in app.url_map.iter_rules() if not r.rule.startswith("/admin")}
    assert others == OPEN_ROUTES, f"routes outside /admin changed: {sorted(others ^ OPEN_ROUTES)}"
    assert len(_staff_rules(app)) >= 10  # the walk below really covers the app


def _call(client: FlaskClient, method: str, url: str, token: str | None) -> Any:
    data = {"csrf_token": token} if token else {}
    return client.open(url, method=method, data=data)


@pytest.mark.reliability
@pytest.mark.parametrize("who", ["anonymous", "teacher", "admin"])
def test_walk_every_staff_route(app: Flask, clients: dict[str, FlaskClient], who: str) -> None:
    """Injects: every /admin route and method (walked from the URL map) called anonymously,
    as a teacher and as an admin, with this session's CSRF token.
    Checks: anonymous GETs go to sign-in and POSTs are 401; a role not allowed gets 403;
    allowed calls never crash nor bounce to sign-in."""
    client = clients[who]
    role = {"teacher": Role.TEACHER, "admin": Role.ADMIN}.get(who)
    token = csrf_token(client, "/admin/login" if role is None else "/admin/")
    checked = 0
    # Signing out last, so that the walk stays signed in throughout.
    walk = sorted(_staff_rules(app), key=lambda route: route[2] == "staff.logout")
    for rule, method, endpoint in walk:
        allowed = _roles(app, endpoint)
        assert allowed is not None
        url = _url(rule)
        answer = _call(client, method, url, token)
        where = f"{who} {method} {url} -> {answer.status_code}"
        if not allowed:  # the sign-in page itself
            assert answer.status_code in (200, 302, 400, 401, 429), where
        elif role is None:
            if method == "GET":
                assert answer.status_code == 302, where
                assert answer.headers["Location"].startswith("/admin/login"), where
            else:
                assert answer.status_code == 401, where
        elif role not in allowed:
            assert answer.status_code == 403, where
        else:
            # Allowed in: the page answers, or the sample id is unknown, or the form is
            # incomplete; never a refusal, never a crash.
            assert answer.status_code in (200, 302, 303, 400, 404, 409, 422), where
            if answer.status_code == 302 and endpoint != "staff.logout":
                assert not answer.headers["Location"].startswith("/admin/login"), where
        checked += 1
    assert checked == len(_staff_rules(app))


@pytest.mark.reliability
def test_a_post_without_its_csrf_token_is_refused(clients: dict[str, FlaskClient]) -> None:
    """Injects: a signed-in admin's sign-out POST without a CSRF token, then with a forged one.
    Checks: both are 400 with the CSRF page, and the admin stays signed in."""
    admin = clients["admin"]
    answer = admin.post("/admin/logout")
    assert answer.status_code == 400
    assert "CSRF" in answer.get_data(as_text=True)
    assert admin.get("/admin/").status_code == 200  # still signed in
    forged = admin.post("/admin/logout", data={"csrf_token": "forged-token"})
    assert forged.status_code == 400


def test_money_stays_off_a_teachers_pages(clients: dict[str, FlaskClient]) -> None:
    page = clients["teacher"].get("/admin/").get_data(as_text=True)
    for word in ("Subscriptions", "Revenue", "Health", "Audit log", "paid plan"):
        assert word not in page
    admin_page = clients["admin"].get("/admin/").get_data(as_text=True)
    assert "Subscriptions" in admin_page and "paid plan" in admin_page


def test_sign_in_errors_and_the_audit_trail(harness: Harness) -> None:
    engine = harness.services.engine
    make_user(engine, Role.TEACHER, "ana@school.test", "Ana")
    client = harness.app.test_client()
    assert sign_in(client, "ana@school.test", "not the password!") == 401
    assert sign_in(client, "nobody@school.test") == 401
    page = client.post(
        "/admin/login",
        data={"email": "ana@school.test", "password": "x", "csrf_token": csrf_token(client)},
    )
    assert "do not match an active account" in page.get_data(as_text=True)
    assert sign_in(client, "ana@school.test") == 302
    assert "Hello, Ana" in client.get("/admin/").get_data(as_text=True)
    with engine.connect() as connection:
        actions = connection.execute(select(audit_log.c.action).order_by(audit_log.c.id)).all()
    assert [a for (a,) in actions] == ["sign-in failed"] * 3 + ["sign-in"]


def test_sign_in_is_rate_limited_per_address_and_per_email(harness: Harness) -> None:
    make_user(harness.services.engine, Role.ADMIN, "boss@school.test")
    limit = harness.settings.staff_login_attempts_per_minute
    attacker = harness.app.test_client()
    for _ in range(limit):
        assert sign_in(attacker, "boss@school.test", "guess-guess-guess") == 401
    # The next try is refused before the password is even checked, the right one too.
    assert sign_in(attacker, "boss@school.test") == 429
    # Another address may not try that email either (per-email window)...
    other = harness.app.test_client()
    answer = other.post(
        "/admin/login",
        data={
            "email": "boss@school.test",
            "password": PASSWORD,
            "csrf_token": csrf_token(other),
        },
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert answer.status_code == 429
    assert "Too many attempts" in answer.get_data(as_text=True)


def test_a_session_ends_when_idle_too_old_or_the_account_is_disabled(harness: Harness) -> None:
    engine = harness.services.engine
    make_user(engine, Role.TEACHER, "t@school.test")
    client = harness.app.test_client()
    assert sign_in(client, "t@school.test") == 302
    assert client.get("/admin/").status_code == 200

    with client.session_transaction() as session:
        session["staff_seen"] = time.time() - harness.settings.staff_idle_minutes * 60 - 5
    answer = client.get("/admin/")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/admin/login")
    assert "without activity" in client.get("/admin/login").get_data(as_text=True)

    assert sign_in(client, "t@school.test") == 302
    with client.session_transaction() as session:
        session["staff_since"] = time.time() - harness.settings.staff_session_hours * 3600 - 5
    assert client.get("/admin/").status_code == 302

    assert sign_in(client, "t@school.test") == 302
    assert client.get("/admin/").status_code == 200
    assert staff.disable(engine, "t@school.test")
    assert client.get("/admin/").status_code == 302
    assert sign_in(client, "t@school.test") == 401


@pytest.mark.reliability
def test_sign_in_starts_a_fresh_session(harness: Harness) -> None:
    """Injects: a value planted in the session cookie before sign-in (session fixation).
    Checks: after sign-in the planted value is gone and the session holds the new staff
    member's id."""
    make_user(harness.services.engine, Role.TEACHER, "t@school.test")
    client = harness.app.test_client()
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    assert sign_in(client, "t@school.test") == 302
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["staff_uid"]


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/admin", "//evil.example/admin", "/chat", "javascript:alert(1)"],
)
@pytest.mark.reliability
def test_sign_in_never_redirects_off_the_staff_app(harness: Harness, target: str) -> None:
    """Injects: a sign-in form whose `next` is another site, a scheme-relative URL, a page
    outside /admin or a javascript: URL (open redirect).
    Checks: the sign-in always redirects to /admin/."""
    make_user(harness.services.engine, Role.TEACHER, "t@school.test")
    client = harness.app.test_client()
    answer = client.post(
        "/admin/login",
        data={
            "email": "t@school.test",
            "password": PASSWORD,
            "next": target,
            "csrf_token": csrf_token(client),
        },
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/admin/"


def test_staff_pages_carry_their_security_headers(clients: dict[str, FlaskClient]) -> None:
    answer = clients["admin"].get("/admin/")
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    cookie = clients["admin"].get_cookie("session")
    assert cookie is not None and cookie.http_only


def test_the_command_line_creates_the_first_admin(harness: Harness) -> None:
    from click.testing import CliRunner

    from tutor.cli import main

    env = {"TUTOR_DATABASE_URL": harness.settings.database_url}
    result = CliRunner().invoke(
        main,
        ["users", "create", "--role", "admin", "root@school.test", "--password-stdin"],
        input=PASSWORD + "\n",
        env=env,
    )
    assert result.exit_code == 0, result.output
    client = harness.app.test_client()
    assert sign_in(client, "root@school.test") == 302
    assert "Audit log" in client.get("/admin/").get_data(as_text=True)
    with harness.services.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(audit_log)).scalar_one() >= 1
