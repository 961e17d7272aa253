"""SQL and HTML injection, and file names built to escape a directory.

Hostile text comes in where it really comes in: learners' messages on the Telegram
webhook, and the staff app's own forms (class names, assignments, grant reasons, curriculum
titles, staff names). Every staff page that shows it must show it as text (escaped), the
database must keep it exactly, and the CSV export must not turn it into a formula.
tests/reliability/test_security_browser.py checks the same pages in a real browser.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from tests.support.harness import Harness
from tests.support.staff import csrf_token, make_user, sign_in
from tests.test_curricula_store import spanish
from tutor import cohorts, progress_card
from tutor.models import assignments, audit_log, curricula, learners, users
from tutor.staff import Role

pytestmark = [pytest.mark.reliability]

#: Each is a complete attack on its own; MARKERS are what must never appear unescaped.
HOSTILE = (
    "<script>window.__xss=1</script>",
    '"><img src=x onerror="window.__xss=2">',
    "'; DROP TABLE learners; --",
    "Robert'); DELETE FROM cohorts WHERE ('1'='1",
    "{{ 7*7 }} {% raw %}",
    "<svg onload=window.__xss=3>",
)
MARKERS = ("<script>window.__xss", "<img src=x onerror", "<svg onload")
NAME = " ".join(HOSTILE)
SHORT = NAME[:120].strip()  # what a 120-character name field keeps
FORMULAS = ('=HYPERLINK("http://evil.example")', "+1+1", "-2+3", "@SUM(A1)")


def _signed_in(harness: Harness, role: Role, email: str, name: str) -> FlaskClient:
    make_user(harness.services.engine, role, email, name)
    client = harness.app.test_client()
    assert sign_in(client, email) == 302
    return client


def _post(client: FlaskClient, path: str, form_page: str, **data: object) -> int:
    token = csrf_token(client, form_page)
    answer = client.post(path, data={**data, "csrf_token": token})
    return answer.status_code


def _assert_escaped(html: str, where: str) -> None:
    for marker in MARKERS:
        assert marker not in html, f"{marker!r} unescaped on {where}"


def test_hostile_text_is_escaped_on_every_staff_page_and_kept_intact(harness: Harness) -> None:
    """Injects: <script>, "><img onerror>, <svg onload>, '; DROP TABLE and a Jinja
    expression as a learner's messages (Telegram webhook) and name, a class name, an
    assignment, a grant reason, a curriculum title and staff display names (staff forms).
    Checks: no marker appears unescaped on the class list, class view, learner page,
    subscriptions list and search, subscription page, audit log, dashboard and curricula
    list; every text is stored exactly; the tables still exist."""
    engine = harness.services.engine
    admin = _signed_in(harness, Role.ADMIN, "admin@school.test", SHORT)
    teacher = _signed_in(harness, Role.TEACHER, "teacher@school.test", HOSTILE[1])

    token = csrf_token(teacher, "/admin/classes/")
    created = teacher.post(
        "/admin/classes/",
        data={"name": SHORT, "curriculum": "", "weekly_goal": "3", "csrf_token": token},
    )
    assert created.status_code == 302
    cohort_id = int(created.headers["Location"].rsplit("/", 1)[1])
    cohort = cohorts.get(engine, cohort_id)
    assert cohort is not None and cohort.name == SHORT

    harness.onboard(8801)
    assert harness.telegram_says(8801, f"/join {cohort.join_code}")
    for text in HOSTILE:
        harness.telegram_says(8801, text)
    with engine.begin() as connection:
        learner_id = connection.execute(
            select(learners.c.id).where(learners.c.key == "telegram:8801")
        ).scalar_one()
        profile = dict(
            connection.execute(
                select(learners.c.profile).where(learners.c.id == learner_id)
            ).scalar_one()
        )
        # No channel stores a learner's name yet; display_name reads it when one does.
        connection.execute(
            update(learners)
            .where(learners.c.id == learner_id)
            .values(profile={**profile, "name": HOSTILE[0]})
        )

    assert _post(
        teacher,
        f"/admin/classes/{cohort_id}/assignments",
        f"/admin/classes/{cohort_id}",
        body=NAME,
        kind="message",
    ) in (302, 303)
    assert (
        _post(
            admin,
            f"/admin/subscriptions/{learner_id}/grant",
            f"/admin/subscriptions/{learner_id}",
            days="7",
            lessons="",
            reason=NAME,
        )
        == 302
    )
    title = spanish().replace("title: Spanish for English speakers", f"title: {HOSTILE[1]!r}")
    title = title.replace("version: 1", "version: 7", 1)
    assert _post(teacher, "/admin/curricula/upload", "/admin/curricula/", source=title) == 302

    pages = {
        admin: [
            "/admin/",
            "/admin/classes/",
            f"/admin/classes/{cohort_id}",
            f"/admin/classes/learners/{learner_id}",
            "/admin/subscriptions",
            "/admin/subscriptions?q=" + HOSTILE[0],
            f"/admin/subscriptions/{learner_id}",
            "/admin/audit",
            "/admin/curricula/",
            "/admin/curricula/es-for-en@7",
        ],
        teacher: ["/admin/", "/admin/classes/", f"/admin/classes/{cohort_id}"],
    }
    escaped_somewhere = False
    for client, paths in pages.items():
        for path in paths:
            answer = client.get(path)
            assert answer.status_code == 200, (path, answer.status_code)
            html = answer.get_data(as_text=True)
            _assert_escaped(html, path)
            escaped_somewhere |= "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    assert escaped_somewhere  # the text is shown, as text

    with engine.connect() as connection:
        assert connection.execute(select(assignments.c.body)).scalar_one() == NAME
        reasons = [
            row.detail
            for row in connection.execute(
                select(audit_log.c.detail).where(audit_log.c.action.like("%grant%"))
            )
        ]
        assert any(detail.get("reason") == NAME for detail in reasons), reasons
        names = set(connection.execute(select(users.c.display_name)).scalars())
        assert names == {SHORT, HOSTILE[1]}
        stored_title = connection.execute(
            select(curricula.c.title).where(curricula.c.version == 7)
        ).scalar_one()
        assert "<img src=x onerror=" in stored_title, stored_title
        assert connection.execute(select(learners.c.id)).scalars().all()  # still there
    assert cohorts.get(engine, cohort_id) is not None


def test_the_csv_export_never_starts_a_cell_with_a_formula(harness: Harness) -> None:
    """Injects: learner data that starts with =, +, -, @ (a spreadsheet formula) shown in
    the subscriptions CSV export, via the learner's stored key.
    Checks: every such cell is prefixed with ' so a spreadsheet shows it as text, and the
    CSV still parses with one row per learner."""
    admin = _signed_in(harness, Role.ADMIN, "admin@school.test", "Admin")
    harness.onboard(8802)
    with harness.services.engine.begin() as connection:
        learner_id = connection.execute(
            select(learners.c.id).where(learners.c.key == "telegram:8802")
        ).scalar_one()
    page = f"/admin/subscriptions/{learner_id}"
    grant = _post(admin, f"{page}/grant", page, days="7", lessons="", reason="csv")
    assert grant == 302
    with harness.services.engine.begin() as connection:
        connection.execute(
            update(learners).where(learners.c.id == learner_id).values(key=FORMULAS[0])
        )
    answer = admin.get("/admin/subscriptions.csv")
    assert answer.status_code == 200
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    assert len(rows) >= 2
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "@")), row
            assert not (cell.startswith("-") and not re.fullmatch(r"-?\d+(\.\d+)?", cell)), row
    assert any(cell.startswith("'=HYPERLINK") for row in rows[1:] for cell in row), rows


TRAVERSALS = (
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "../../../etc/passwd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%252F..%252Fetc%252Fpasswd",
    "....//....//etc/passwd",
    "%2e%2e/%2e%2e/etc/passwd",
    "..\\..\\..\\windows\\win.ini",
    "%00",
    "/etc/passwd",
)


@pytest.mark.parametrize("route", ["/progress/{}.png", "/voice/{}.ogg"])
def test_path_traversal_in_media_addresses_finds_nothing(harness: Harness, route: str) -> None:
    """Injects: ../ in media addresses, plain and percent-encoded once and twice, with
    backslashes, a NUL byte and an absolute path, and a token signed for another purpose.
    Checks: each is a JSON 404 (the value is a signed token, never a file name; nothing is
    read from disk), and no answer contains a line of /etc/passwd."""
    secret = harness.app.config["SECRET_KEY"]
    foreign = progress_card.token(secret + "x", 1, "en")  # signed with another key
    for value in (*TRAVERSALS, foreign):
        answer = harness.client.get(route.format(value))
        assert answer.status_code in (404, 308), (value, answer.status_code)
        assert b"root:" not in answer.get_data()
        if answer.status_code == 404:
            assert answer.is_json, value


def test_curriculum_upload_file_names_are_never_used_as_paths(
    harness: Harness, tmp_path: Path
) -> None:
    """Injects: curriculum uploads whose file names are ../../ paths to an absolute place,
    and backslash paths with a NUL byte.
    Checks: each is stored as a draft keyed by the YAML's own id@version; no file appears
    at the named places; the app has no send_file/send_from_directory at all."""
    teacher = _signed_in(harness, Role.TEACHER, "teacher@school.test", "Teacher")
    escape = tmp_path / "escaped.yaml"
    names = [f"../../../../..{escape}", "..\\..\\evil\x00.yaml"]
    for version, name in enumerate(names, start=20):
        text = spanish().replace("version: 1", f"version: {version}", 1)
        token = csrf_token(teacher, "/admin/curricula/")
        answer = teacher.post(
            "/admin/curricula/upload",
            data={"file": (io.BytesIO(text.encode()), name), "csrf_token": token},
            content_type="multipart/form-data",
        )
        assert answer.status_code == 302, (name, answer.status_code)
        assert answer.headers["Location"].endswith(f"/es-for-en@{version}/edit")
    assert not escape.exists()
    root = Path(__file__).resolve().parents[2]
    for package in ("tutor", "agents", "memory", "payments", "voice"):
        for source in (root / package).rglob("*.py"):
            text = source.read_text(encoding="utf-8")
            assert "send_file(" not in text and "send_from_directory(" not in text, source
