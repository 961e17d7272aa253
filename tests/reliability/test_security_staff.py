"""The staff app under attack: forms posted without their CSRF token or with another
session's, a teacher reaching for admin powers or another teacher's class, hidden form
fields edited, and session cookies forged without the key.

tests/test_staff_access.py already walks every route per role (401/403), refuses a post
without a token on one route, starts a fresh session at sign-in (fixation) and never
redirects off the app; those tests carry the ``reliability`` marker too.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.support.harness import Harness
from tests.support.staff import PASSWORD, csrf_token, make_user, sign_in
from tutor import cohorts
from tutor.models import audit_log, entitlements, learners, payment_events
from tutor.staff import Role

pytestmark = [pytest.mark.reliability]

_CONVERTER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _url(rule: str) -> str:
    return _CONVERTER.sub(lambda m: "1" if m.group(1) == "int" else "es-for-en@1", rule)


def _posts(app: Flask) -> list[str]:
    """Every state-changing staff route, read from the URL map."""
    return sorted(
        {
            _url(rule.rule)
            for rule in app.url_map.iter_rules()
            if rule.rule.startswith("/admin") and "POST" in (rule.methods or set())
        }
    )


def _signed_in(harness: Harness, role: Role, email: str) -> FlaskClient:
    make_user(harness.services.engine, role, email, email.split("@")[0])
    client = harness.app.test_client()
    assert sign_in(client, email) == 302
    return client


def _audit_count(harness: Harness) -> int:
    with harness.services.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(audit_log)).scalar_one())


def test_every_staff_post_needs_this_sessions_csrf_token(harness: Harness) -> None:
    """Injects: a POST to every state-changing /admin route (walked from the URL map) by a
    signed-in admin, first with no CSRF token, then with a valid token taken from another
    signed-in session, then with a token for the right session but altered by one letter.
    Checks: every one is 400 (the CSRF page), nothing is written to the audit log, and the
    admin is still signed in afterwards."""
    admin = _signed_in(harness, Role.ADMIN, "admin@school.test")
    other = _signed_in(harness, Role.ADMIN, "other@school.test")
    theirs = csrf_token(other, "/admin/")
    mine = csrf_token(admin, "/admin/")
    # Not the last character: base64's final one has spare bits, so some changes decode the same.
    altered = mine[:-5] + ("A" if mine[-5] != "A" else "Q") + mine[-4:]
    posts = _posts(harness.app)
    assert len(posts) >= 12, posts
    before = _audit_count(harness)
    for path in posts:
        for label, data in (
            ("none", {}),
            ("another session's", {"csrf_token": theirs}),
            ("altered", {"csrf_token": altered}),
        ):
            answer = admin.post(path, data={**data, "reason": "x", "confirm": "1"})
            assert answer.status_code == 400, (path, label, answer.status_code)
            assert "CSRF" in answer.get_data(as_text=True), (path, label)
    assert _audit_count(harness) == before
    assert admin.get("/admin/").status_code == 200


def test_a_teacher_cannot_use_admin_powers_or_another_teachers_class(harness: Harness) -> None:
    """Injects: a teacher with valid CSRF tokens posting to admin-only routes (grant,
    revoke, refund, delete, export) for a real learner, editing, archiving, re-coding and
    assigning in another's class, and a hidden teacher_id field set to the other teacher.
    Checks: 403/404 everywhere, no payment, entitlement or audit change, the other class
    untouched, and the new class belongs to the teacher who created it."""
    engine = harness.services.engine
    ana = _signed_in(harness, Role.TEACHER, "ana@school.test")
    ben = _signed_in(harness, Role.TEACHER, "ben@school.test")
    token = csrf_token(ana, "/admin/classes/")
    made = ana.post(
        "/admin/classes/",
        data={"name": "Ana's", "curriculum": "", "weekly_goal": "3", "csrf_token": token},
    )
    assert made.status_code == 302
    anas_class = int(made.headers["Location"].rsplit("/", 1)[1])
    before_class = cohorts.get(engine, anas_class)
    harness.onboard(8901)
    with engine.connect() as connection:
        learner_id = connection.execute(
            select(learners.c.id).where(learners.c.key == "telegram:8901")
        ).scalar_one()

    def money() -> tuple[Any, ...]:
        with engine.connect() as connection:
            return (
                connection.execute(select(func.count()).select_from(payment_events)).scalar(),
                tuple(connection.execute(select(entitlements)).all()),
                connection.execute(select(func.count()).select_from(learners)).scalar(),
            )

    before = money()
    audits = _audit_count(harness)
    token = csrf_token(ben, "/admin/")
    for action in ("grant", "revoke", "refund", "delete", "export"):
        answer = ben.post(
            f"/admin/subscriptions/{learner_id}/{action}",
            data={
                "csrf_token": token,
                "days": "30",
                "reason": "me",
                "charge": "x",
                "confirm": str(learner_id),
                "role": "admin",
            },
        )
        assert answer.status_code == 403, (action, answer.status_code)
    for action, data in (
        ("settings", {"name": "Ben's now", "weekly_goal": "9", "curriculum": ""}),
        ("archive", {}),
        ("code", {}),
        ("assignments", {"body": "homework from Ben", "kind": "message"}),
    ):
        answer = ben.post(
            f"/admin/classes/{anas_class}/{action}",
            data={**data, "csrf_token": token, "teacher_id": "1"},
        )
        assert answer.status_code in (403, 404), (action, answer.status_code)
    assert ben.get(f"/admin/classes/{anas_class}").status_code in (403, 404)
    assert money() == before
    assert _audit_count(harness) == audits
    assert cohorts.get(engine, anas_class) == before_class

    ana_user = cohorts.get(engine, anas_class)
    assert ana_user is not None
    hidden = ben.post(
        "/admin/classes/",
        data={
            "name": "Ben's",
            "curriculum": "",
            "weekly_goal": "3",
            "teacher_id": str(ana_user.teacher_id),
            "role": "admin",
            "csrf_token": token,
        },
    )
    assert hidden.status_code == 302
    bens_class = cohorts.get(engine, int(hidden.headers["Location"].rsplit("/", 1)[1]))
    assert bens_class is not None and bens_class.teacher_id != ana_user.teacher_id
    assert ben.get("/admin/subscriptions").status_code == 403  # still a teacher


def test_a_role_field_at_sign_in_is_ignored(harness: Harness) -> None:
    """Injects: a teacher's sign-in form with extra role=admin, staff_uid and is_admin
    fields.
    Checks: the session is the teacher's own, admin pages stay 403."""
    make_user(harness.services.engine, Role.TEACHER, "t@school.test")
    make_user(harness.services.engine, Role.ADMIN, "a@school.test")
    client = harness.app.test_client()
    answer = client.post(
        "/admin/login",
        data={
            "email": "t@school.test",
            "password": PASSWORD,
            "role": "admin",
            "staff_uid": "2",
            "is_admin": "1",
            "csrf_token": csrf_token(client),
        },
    )
    assert answer.status_code == 302
    assert client.get("/admin/audit").status_code == 403
    assert client.get("/admin/subscriptions").status_code == 403


def _cookie(app: Flask, secret: str, data: dict[str, Any]) -> str:
    forger = Flask("forger")
    forger.config.update(SECRET_KEY=secret)
    serializer = SecureCookieSessionInterface().get_signing_serializer(forger)
    assert serializer is not None
    del app
    return str(serializer.dumps(data))


def test_a_session_cookie_forged_without_the_key_is_refused(harness: Harness) -> None:
    """Injects: session cookies claiming the admin's staff_uid: signed with a wrong key,
    unsigned (payload only), with the signature of another payload, and (as control) one
    signed with the real key.
    Checks: every forgery lands on the sign-in page (302 to /admin/login) and an admin
    page never answers 200; only the cookie signed with the real key is let in."""
    admin = make_user(harness.services.engine, Role.ADMIN, "a@school.test")
    now = time.time()
    claim = {"staff_uid": admin.id, "staff_since": now, "staff_seen": now}
    real = _cookie(harness.app, harness.app.config["SECRET_KEY"], claim)
    other = _cookie(harness.app, harness.app.config["SECRET_KEY"], {"learner": "x"})
    forged = {
        "wrong key": _cookie(harness.app, "not-the-key", claim),
        "payload only": real.split(".", 1)[0],
        "another signature": real.rsplit(".", 1)[0] + "." + other.rsplit(".", 1)[1],
        "empty signature": real.rsplit(".", 1)[0] + ".",
    }
    for name, value in forged.items():
        client = harness.app.test_client()
        client.set_cookie("session", value)
        answer = client.get("/admin/audit")
        assert answer.status_code == 302, (name, answer.status_code)
        assert answer.headers["Location"].startswith("/admin/login"), name
    control = harness.app.test_client()
    control.set_cookie("session", real)
    assert control.get("/admin/audit").status_code == 200


def test_a_cookie_from_before_sign_in_stays_signed_out(harness: Harness) -> None:
    """Injects: session fixation with signed cookies: an attacker keeps the session cookie a
    victim's browser had before signing in (planted, e.g., via the learner chat at /).
    Checks: that cookie, replayed after the victim signs in, is still signed out (302 to
    sign-in); the victim's new cookie differs from it."""
    make_user(harness.services.engine, Role.ADMIN, "a@school.test")
    victim = harness.app.test_client()
    assert victim.get("/").status_code == 200  # the chat page starts a session
    csrf_token(victim)
    planted = victim.get_cookie("session")
    assert planted is not None
    assert sign_in(victim, "a@school.test") == 302
    after = victim.get_cookie("session")
    assert after is not None and after.value != planted.value
    attacker = harness.app.test_client()
    attacker.set_cookie("session", planted.value)
    answer = attacker.get("/admin/audit")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/admin/login")
