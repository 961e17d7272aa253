"""The curriculum pages of the staff app, driven as a signed-in teacher through the real app:
errors shown at their line, publishing, the learner placed on the new version, diffs,
previews and the rules that keep shipped and published versions unchanged."""

from __future__ import annotations

import io
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.support.harness import Harness
from tests.support.staff import csrf_token, make_user, sign_in
from tests.test_curricula_store import BAD_POS_LINE, spanish, with_bad_pos, with_new_word
from tutor.models import audit_log, learners
from tutor.staff import Role

INDEX = "/admin/curricula/"


@pytest.fixture
def teacher(harness: Harness) -> FlaskClient:
    make_user(harness.services.engine, Role.TEACHER, "teacher@school.test")
    client = harness.app.test_client()
    assert sign_in(client, "teacher@school.test") == 302
    return client


def page(client: FlaskClient, path: str) -> str:
    answer = client.get(path)
    assert answer.status_code == 200, (path, answer.status_code)
    return answer.get_data(as_text=True)


def send(client: FlaskClient, path: str, form_page: str = INDEX, **data: object) -> tuple[int, str]:
    """POST a form with the CSRF token of ``form_page``: the status and where it leads."""
    token = csrf_token(client, form_page)
    answer = client.post(path, data={**data, "csrf_token": token})
    body = answer.headers.get("Location", "") or answer.get_data(as_text=True)
    return answer.status_code, body


def start_version(client: FlaskClient, key: str = "es-for-en@1") -> str:
    status, location = send(client, f"/admin/curricula/{key}/new-version")
    assert status == 302
    found = re.fullmatch(r"/admin/curricula/([a-z0-9-]+@\d+)/edit", location)
    assert found is not None, location
    return found.group(1)


def edit(client: FlaskClient, key: str, text: str, action: str) -> tuple[int, str]:
    path = f"/admin/curricula/{key}/edit"
    return send(client, path, path, source=text, action=action)


def test_the_list_shows_every_version_with_its_counts(teacher: FlaskClient) -> None:
    html = page(teacher, INDEX)
    row = re.search(r'<tr data-key="es-for-en@1">(.*?)</tr>', html, re.S)
    assert row is not None
    assert "Spanish for English speakers" in row.group(1) and "shipped" in row.group(1)
    assert re.search(r'<td class="num">\d{3,}</td>', row.group(1))  # the words
    assert 'name="file"' in html and "new version" in html


def test_an_error_is_shown_at_its_line_then_fixed_and_published(
    harness: Harness, teacher: FlaskClient
) -> None:
    key = start_version(teacher)
    assert key == "es-for-en@2"
    assert edit(teacher, key, with_bad_pos(spanish(2)), "save") == (
        302,
        f"/admin/curricula/{key}/edit",
    )

    html = page(teacher, f"/admin/curricula/{key}/edit")
    [item] = re.findall(r'<li class="problem" data-line="(\d+)">(.*?)</li>', html, re.S)
    assert item[0] == str(BAD_POS_LINE)
    assert f'href="#L{BAD_POS_LINE}"' in item[1] and f"line {BAD_POS_LINE}: levels.0" in item[1]
    assert f'<tr id="L{BAD_POS_LINE}" class="line-error">' in html
    assert html.count('class="line-error"') == 1
    assert '<textarea id="source" name="source" class="code"' in html

    status, body = edit(teacher, key, with_bad_pos(spanish(2)), "publish")
    assert status == 422 and "1 problem; fix them to publish" in body

    status, body = edit(teacher, key, spanish(2), "validate")
    assert status == 200 and "No problems found." in body and 'class="problem"' not in body
    assert edit(teacher, key, spanish(2), "publish") == (302, f"/admin/curricula/{key}")
    html = page(teacher, f"/admin/curricula/{key}")
    assert f"Published {key}." in html and "published" in html
    assert 'class="problem"' not in html

    with harness.services.engine.connect() as connection:
        audited = connection.execute(
            select(audit_log.c.action, audit_log.c.target).order_by(audit_log.c.id)
        ).all()
    assert [tuple(row) for row in audited if row[0].startswith("curriculum")] == [
        ("curriculum version started", "curriculum:es-for-en@1"),
        ("curriculum draft saved", f"curriculum:{key}"),
        ("curriculum draft saved", f"curriculum:{key}"),
        ("curriculum published", f"curriculum:{key}"),
    ]

    # The running worker teaches it: a new learner starts on the new version.
    harness.onboard(880001)
    harness.telegram_says(880001, "1")  # the role-play places and pins the learner
    with harness.services.engine.connect() as connection:
        profile = connection.execute(
            select(learners.c.profile).where(learners.c.key == "telegram:880001")
        ).scalar_one()
    assert profile["curriculum"] == "es-for-en@2"


def test_a_version_not_above_the_published_ones_is_refused(teacher: FlaskClient) -> None:
    lower, higher = start_version(teacher), start_version(teacher)
    assert (lower, higher) == ("es-for-en@2", "es-for-en@3")
    assert edit(teacher, higher, spanish(3), "publish")[0] == 302
    status, body = edit(teacher, lower, spanish(2), "publish")
    assert status == 409
    assert "version 3 (published) is already out" in body and "Change `version:` to 4" in body
    assert '<li class="problem"' not in body or 'data-line="2"' in body
    # Renumbering the draft in its text moves it, and then it publishes.
    status, location = edit(teacher, lower, spanish(4), "save")
    assert (status, location) == (302, "/admin/curricula/es-for-en@4/edit")
    assert edit(teacher, "es-for-en@4", spanish(4), "publish")[0] == 302


def test_the_diff_shows_an_added_word(teacher: FlaskClient) -> None:
    key = start_version(teacher)
    assert edit(teacher, key, with_new_word(spanish(2)), "save")[0] == 302
    html = page(teacher, f"/admin/curricula/diff?a=es-for-en@1&b={key}")
    assert '<pre class="diff">' in html
    assert '<span class="diff-add">+          - lemma: zanahoria</span>' in html
    assert '<span class="diff-del">-version: 1</span>' in html
    assert "word <strong>zanahoria</strong> added" in html
    index = page(teacher, INDEX)
    assert 'action="/admin/curricula/diff"' in index and f'value="{key}" selected' in index


def test_a_post_without_its_csrf_token_is_refused(teacher: FlaskClient) -> None:
    assert teacher.post("/admin/curricula/es-for-en@1/new-version").status_code == 400
    answer = teacher.post("/admin/curricula/upload", data={"source": spanish(2)})
    assert answer.status_code == 400 and "CSRF" in answer.get_data(as_text=True)
    assert "es-for-en@2" not in page(teacher, INDEX)


def test_a_shipped_file_is_never_edited_in_place(teacher: FlaskClient) -> None:
    answer = teacher.get("/admin/curricula/es-for-en@1/edit")
    assert (
        answer.status_code == 302 and answer.headers["Location"] == "/admin/curricula/es-for-en@1"
    )
    html = page(teacher, "/admin/curricula/es-for-en@1")
    assert "is shipped and cannot be changed; start a new version instead" in html
    assert "Start version 2 from this one" in html and "Edit draft" not in html
    shipped = "/admin/curricula/es-for-en@1"
    forced = {"source": "id: es-for-en\nversion: 1\n", "action": "save"}
    status, body = send(teacher, f"{shipped}/edit", shipped, **forced)
    assert status == 409 and "start a new version" in body
    assert page(teacher, INDEX).count('data-key="es-for-en@1"') == 1


def test_an_uploaded_file_with_an_error_is_kept_as_a_draft(teacher: FlaskClient) -> None:
    text = with_bad_pos(spanish(2))
    token = csrf_token(teacher, INDEX)
    answer = teacher.post(
        "/admin/curricula/upload",
        data={"file": (io.BytesIO(text.encode("utf-8")), "mine.yaml"), "csrf_token": token},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/es-for-en@2/edit")
    html = page(teacher, "/admin/curricula/es-for-en@2/edit")
    assert f'data-line="{BAD_POS_LINE}"' in html and "Saved es-for-en@2 as a draft." in html
    status, body = send(teacher, "/admin/curricula/upload", source=spanish())
    assert status == 409 and "es-for-en@1 already exists" in body
    assert "Spanish for English speakers" in body  # the pasted text is still there
    status, body = send(teacher, "/admin/curricula/upload", source="levels: [")
    assert status == 409 and "readable `id:` and `version:`" in body


def test_the_preview_shows_a_unit_as_the_chat_would(teacher: FlaskClient) -> None:
    path = "/admin/curricula/es-for-en@1/preview?unit=a1-01-greetings"
    html = page(teacher, f"{path}&lang=en")
    bubbles = re.findall(r'<div class="bubble tutor">(.*?)</div>', html, re.S)
    assert bubbles[0].startswith("New word: <strong>hola</strong>: hello, hi")
    assert any(b.startswith("📘 ") for b in bubbles)  # a grammar point
    assert any("💬 " in b for b in bubbles)  # a scenario's opening line
    assert any(b.startswith("🎙️ Send a voice note saying:") for b in bubbles)  # a drill
    spanish_page = page(teacher, f"{path}&lang=es")
    assert '<div class="bubble tutor">Palabra nueva: <strong>hola</strong>' in spanish_page
    assert '<option value="es" selected>' in spanish_page


MINI = """\
id: mini-es
version: 1
title: A tiny Spanish course
target_language: es
explanation_languages: [en, es]
levels:
  - code: A1
    units:
      - id: mini-01
        title: {en: "First words", es: "Primeras palabras"}
        vocabulary:
          - lemma: pan
            pos: noun
            gender: m
            translations: {en: "<b>bread</b>", es: "pan"}
            example: "Quiero pan, por favor."
            example_translation: {en: "I want bread, please.", es: "Quiero pan, por favor."}
"""


def test_a_small_curriculum_is_published_with_a_warning(teacher: FlaskClient) -> None:
    status, location = send(teacher, "/admin/curricula/upload", source=MINI)
    assert (status, location) == (302, "/admin/curricula/mini-es@1/edit")
    html = page(teacher, location)
    assert 'class="problem"' not in html
    assert "1 vocabulary (a shipped curriculum has at least 400)" in html
    assert edit(teacher, "mini-es@1", MINI, "publish") == (302, "/admin/curricula/mini-es@1")
    preview = page(teacher, "/admin/curricula/mini-es@1/preview?lang=en")
    # Text from the YAML is escaped; only the tutor's own *bold* becomes markup.
    assert "New word: <strong>el pan</strong>: &lt;b&gt;bread&lt;/b&gt;" in preview
    assert "<b>bread</b>" not in preview
