"""The classes pages: a teacher creates a class, learners join from the chat, the class
view and learner page show them, teachers see only their own, notes are marked wrong,
and assignments go out (templates on WhatsApp outside the 24-hour window)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import insert, select, update

from memory import notes
from memory.embeddings import HashingEmbedder
from tests.conftest import channel_env, settings_from_env
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp
from tests.support.harness import Harness
from tests.support.staff import csrf_token, make_user, post, sign_in
from tutor import cohorts
from tutor.models import assignments, audit_log, error_events, learners, memory_notes, utcnow
from tutor.settings import Settings

WA_PHONE = "5215512345678"


def _client(harness: Harness, role: str, email: str, name: str) -> FlaskClient:
    make_user(harness.services.engine, role, email, name)
    client = harness.app.test_client()
    assert sign_in(client, email) == 302
    return client


def _create(client: FlaskClient, name: str, **fields: str) -> int:
    token = csrf_token(client, "/admin/classes/")
    data = {"name": name, "curriculum": "", "weekly_goal": "3", **fields}
    response = client.post("/admin/classes/", data={**data, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    found = re.search(r"/admin/classes/(\d+)$", response.headers["Location"])
    assert found is not None
    return int(found.group(1))


def _learner_id(harness: Harness, **where: str) -> int:
    column, value = next(iter(where.items()))
    with harness.services.engine.connect() as connection:
        return int(
            connection.execute(
                select(learners.c.id).where(learners.c[column] == value)
            ).scalar_one()
        )


def _class(harness: Harness, cohort_id: int) -> cohorts.Cohort:
    found = cohorts.get(harness.services.engine, cohort_id)
    assert found is not None
    return found


def test_a_class_is_created_joined_from_both_chats_and_shown(harness: Harness) -> None:
    ana = _client(harness, "teacher", "ana@school.test", "Ana")
    cohort_id = _create(ana, "Spanish A1", curriculum="es-for-en@1", weekly_goal="2")
    code = _class(harness, cohort_id).join_code
    index = ana.get("/admin/classes/").get_data(as_text=True)
    assert "Spanish A1" in index and code in index

    harness.onboard(4201)
    assert harness.telegram_says(4201, f"/join {code}")[0].startswith("You joined Spanish A1")
    said = harness.whatsapp_says(WA_PHONE, f"join {code}")
    assert said[0].startswith("You joined Spanish A1 (teacher Ana).")

    telegram_learner = _learner_id(harness, key="telegram:4201")
    with harness.services.engine.begin() as connection:
        connection.execute(
            insert(error_events).values(
                learner_id=telegram_learner,
                created_at=utcnow(),
                code="GENDER",
                category="gender_agreement",
                rule="es-gender",
                source="rules",
                wrong="la coche",
                correction="el coche",
                span_start=0,
                span_end=8,
                sentence="la coche es rojo",
            )
        )
    page = ana.get(f"/admin/classes/{cohort_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Telegram ···4201" in html
    assert "WhatsApp ···5678" in html and WA_PHONE not in html  # phones are masked
    assert "gender agreement" in html  # the heatmap's column
    assert "<svg" in html and "<script" not in html
    assert "0 / 2" in html or "1 / 2" in html

    learner_page = ana.get(f"/admin/classes/learners/{telegram_learner}")
    assert learner_page.status_code == 200
    text = learner_page.get_data(as_text=True)
    assert "la coche" in text and "Account and subscription" not in text


def test_teachers_cannot_see_each_others_classes_but_admins_can(harness: Harness) -> None:
    ana = _client(harness, "teacher", "ana@school.test", "Ana")
    ben = _client(harness, "teacher", "ben@school.test", "Ben")
    boss = _client(harness, "admin", "boss@school.test", "Boss")
    cohort_id = _create(ana, "Class of Ana")
    harness.telegram_says(4301, f"/join {_class(harness, cohort_id).join_code}")
    learner = _learner_id(harness, key="telegram:4301")

    assert "Class of Ana" not in ben.get("/admin/classes/").get_data(as_text=True)
    assert ben.get(f"/admin/classes/{cohort_id}").status_code == 404
    assert ben.get(f"/admin/classes/learners/{learner}").status_code == 404
    form = "/admin/classes/"
    assert post(ben, f"/admin/classes/{cohort_id}/settings", form, name="Mine") == 404
    assert post(ben, f"/admin/classes/{cohort_id}/assignments", form, body="hi") == 404
    assert post(ben, f"/admin/classes/{cohort_id}/archive", form) == 404
    assert _class(harness, cohort_id).name == "Class of Ana"

    listing = boss.get("/admin/classes/").get_data(as_text=True)
    assert "Class of Ana" in listing and "Ana" in listing
    assert boss.get(f"/admin/classes/{cohort_id}").status_code == 200
    admin_view = boss.get(f"/admin/classes/learners/{learner}").get_data(as_text=True)
    assert "Account and subscription" in admin_view
    assert f"/admin/subscriptions/{learner}" in admin_view
    assert boss.get("/admin/classes/999999").status_code == 404
    assert boss.get("/admin/classes/learners/999999").status_code == 404


def test_settings_archive_and_a_new_code(harness: Harness) -> None:
    ana = _client(harness, "teacher", "ana@school.test", "Ana")
    cohort_id = _create(ana, "Evening")
    page = f"/admin/classes/{cohort_id}"
    assert (
        post(
            ana,
            f"{page}/settings",
            page,
            name="Evening B1",
            curriculum="es-for-en@1",
            weekly_goal="5",
        )
        == 302
    )
    changed = _class(harness, cohort_id)
    assert (changed.name, changed.curriculum, changed.weekly_goal) == (
        "Evening B1",
        "es-for-en@1",
        5,
    )
    assert post(ana, f"{page}/settings", page, name="x", weekly_goal="lots") == 302
    assert "whole number" in ana.get(page).get_data(as_text=True)
    old = changed.join_code
    assert post(ana, f"{page}/code", page) == 302
    assert _class(harness, cohort_id).join_code != old
    assert post(ana, f"{page}/archive", page) == 302
    assert _class(harness, cohort_id).archived
    closed = harness.telegram_says(4401, f"/join {_class(harness, cohort_id).join_code}")
    assert "is closed now" in closed[0]
    with harness.services.engine.connect() as connection:
        actions = connection.execute(select(audit_log.c.action)).scalars().all()
    assert {"cohort created", "cohort changed", "cohort archived"} <= set(actions)


def test_a_teacher_marks_a_note_wrong(harness: Harness) -> None:
    ana = _client(harness, "teacher", "ana@school.test", "Ana")
    ben = _client(harness, "teacher", "ben@school.test", "Ben")
    cohort_id = _create(ana, "Notes")
    harness.onboard(4501)
    harness.telegram_says(4501, f"/join {_class(harness, cohort_id).join_code}")
    learner = _learner_id(harness, key="telegram:4501")
    draft = notes.Draft(
        "error:es-ser-estar",
        "error",
        {
            "code": "SER_ESTAR",
            "count": 4,
            "days": 2,
            "examples": [{"wrong": "soy cansado", "correction": "estoy cansado"}],
        },
        "ser or estar ser o estar soy cansado estoy cansado",
    )
    with harness.services.engine.begin() as connection:
        notes.write(connection, learner, [draft], HashingEmbedder(), utcnow())
    [note] = notes.listing(harness.services.engine, learner)
    page = f"/admin/classes/learners/{learner}"
    html = ana.get(page).get_data(as_text=True)
    assert "ser or estar: 4 times on 2 day(s)" in html and "Mark wrong" in html

    wrong = f"{page}/notes/{note.id}/wrong"
    assert post(ben, wrong, "/admin/classes/") == 404
    assert post(ana, wrong, page) == 302
    assert notes.listing(harness.services.engine, learner) == []
    assert "marked wrong" in ana.get(page).get_data(as_text=True)
    with harness.services.engine.connect() as connection:
        row = connection.execute(
            select(audit_log.c.target, audit_log.c.detail).where(
                audit_log.c.action == "note marked wrong"
            )
        ).one()
        wrong_at = connection.execute(
            select(memory_notes.c.wrong_at).where(memory_notes.c.id == note.id)
        ).scalar_one()
    assert row.target == f"learner:{learner}" and row.detail == {"note": note.id}
    assert wrong_at is not None


def _silent_for_two_days(harness: Harness, learner_id: int) -> None:
    with harness.services.engine.begin() as connection:
        connection.execute(
            update(learners)
            .where(learners.c.id == learner_id)
            .values(last_inbound_at=utcnow() - timedelta(days=2))
        )


def test_an_assignment_reaches_the_class_and_skips_whatsapp_after_24_hours(
    harness: Harness,
) -> None:
    ana = _client(harness, "teacher", "ana@school.test", "Ana")
    cohort_id = _create(ana, "Homework")
    code = _class(harness, cohort_id).join_code
    harness.onboard(4601)
    harness.onboard(4602, target="en")  # explains in Spanish
    for user_id in (4601, 4602):
        harness.telegram_says(user_id, f"/join {code}")
    harness.whatsapp_says(WA_PHONE, f"join {code}")
    _silent_for_two_days(harness, _learner_id(harness, chat_id=WA_PHONE))
    whatsapp_before = len(harness.whatsapp.sent)  # type: ignore[union-attr]

    page = f"/admin/classes/{cohort_id}"
    assert post(ana, f"{page}/assignments", page, kind="exercise", body="Describe tu casa.") == 302
    harness.worker.sweep()
    assert harness.telegram is not None and harness.whatsapp is not None
    english = harness.telegram.sent_texts(4601)[-1]
    spanish = harness.telegram.sent_texts(4602)[-1]
    assert english.startswith("Exercise from your teacher Ana:\nDescribe tu casa.")
    assert spanish.startswith("Ejercicio de tu profe Ana:\nDescribe tu casa.")
    assert len(harness.whatsapp.sent) == whatsapp_before  # not reachable: skipped
    with harness.services.engine.connect() as connection:
        outcome = connection.execute(select(assignments.c.outcome)).scalar_one()
    assert outcome == {"members": 3, "sent": 2, "template": 0, "skipped": 1}
    html = ana.get(page).get_data(as_text=True)
    assert "not reachable on WhatsApp until they write" in html
    assert "Describe tu casa." in html

    assert post(ana, f"{page}/assignments", page, kind="message", body="  ") == 302
    assert "Write the message" in ana.get(page).get_data(as_text=True)


@pytest.fixture
def templated(
    make_settings: Callable[..., Settings], fake_telegram: FakeTelegram, fake_whatsapp: FakeWhatsApp
) -> Iterator[Harness]:
    env = {
        **channel_env(fake_telegram, fake_whatsapp),
        "TUTOR_WHATSAPP_ASSIGNMENT_TEMPLATE": "teacher_note",
    }
    harness = Harness(settings_from_env(make_settings, env), fake_telegram, fake_whatsapp)
    yield harness
    harness.close()


def test_whatsapp_learners_outside_the_window_get_the_template(templated: Harness) -> None:
    harness = templated
    ana = _client(harness, "teacher", "ana@school.test", "Ana")
    cohort_id = _create(ana, "Templates")
    code = _class(harness, cohort_id).join_code
    harness.whatsapp_says(WA_PHONE, f"join {code}")
    harness.whatsapp_says("447700900123", f"join {code}")
    _silent_for_two_days(harness, _learner_id(harness, chat_id=WA_PHONE))
    assert harness.whatsapp is not None
    harness.whatsapp.close_window(WA_PHONE)  # the platform would refuse free text too

    page = f"/admin/classes/{cohort_id}"
    assert post(ana, f"{page}/assignments", page, body="Class is on Friday.") == 302
    harness.worker.sweep()
    [template] = [m for m in harness.whatsapp.sent if m.body.get("type") == "template"]
    assert template.to == WA_PHONE
    assert template.body["template"]["name"] == "teacher_note"
    assert template.body["template"]["language"]["code"] == "en"
    [parameter] = template.body["template"]["components"][0]["parameters"]
    assert parameter["text"] == "From your teacher Ana: Class is on Friday."
    reachable = harness.whatsapp.sent_texts("447700900123")[-1]
    assert reachable == "From your teacher Ana:\nClass is on Friday."
    with harness.services.engine.connect() as connection:
        outcome = connection.execute(select(assignments.c.outcome)).scalar_one()
    assert outcome == {"members": 2, "sent": 1, "template": 1, "skipped": 0}
