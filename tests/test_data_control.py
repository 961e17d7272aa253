"""The learner in control of their data, through the real app with fake platforms at the
edge: what is remembered (list, forget, "is wrong"), the export as a file on Telegram and
WhatsApp, and the erasure (asked first; afterwards nothing of them is left in SQL or Redis,
and a redelivered webhook does not bring them back)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from memory import erase, export, notes, sessions
from memory.embeddings import HashingEmbedder
from tests.conftest import channel_env, settings_from_env
from tests.fakes.anthropic import DEFAULT_API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.groq import DEFAULT_API_KEY as GROQ_KEY
from tests.fakes.groq import FakeGroq
from tests.fakes.telegram import FakeTelegram
from tests.support import payloads
from tests.support.harness import Harness
from tests.support.stores import stored_values
from tutor import cli
from tutor.llm.cache import CachedAnswer
from tutor.models import learners, llm_calls, memory_notes, metadata, outbox, turns, utcnow
from tutor.settings import Settings

EMBEDDER = HashingEmbedder()
DRAFTS = (
    notes.Draft(
        "error:es-ser-estar",
        "error",
        {
            "code": "SER_ESTAR",
            "count": 7,
            "days": 3,
            "examples": [{"wrong": "soy en casa", "correction": "estoy en casa"}],
        },
        "ser or estar ser o estar soy en casa estoy en casa",
    ),
    notes.Draft(
        "helped:audio",
        "helped",
        {"what": "audio", "before": 55, "after": 80},
        "hearing the model answer helps escuchar la respuesta modelo ayuda",
    ),
    notes.Draft(
        "progress:words",
        "progress",
        {"what": "words", "count": 100},
        "learned 100 words ha aprendido 100 palabras",
    ),
)
SER_ESTAR_EN = "ser or estar: 7 times on 3 day(s), e.g. «soy en casa» → «estoy en casa»"
AUDIO_EN = "Hearing the model answer and trying again helps you (55 → 80 on a drill)"
WORDS_EN = "You have learned 100+ words"


def _learner_id(harness: Harness, key: str) -> int:
    with harness.services.engine.connect() as connection:
        found = connection.execute(select(learners.c.id).where(learners.c.key == key)).scalar()
    assert found is not None
    return int(found)


def _remember(harness: Harness, key: str) -> int:
    learner_id = _learner_id(harness, key)
    with harness.services.engine.begin() as connection:
        notes.write(connection, learner_id, DRAFTS, EMBEDDER, utcnow())
    return learner_id


# What is remembered ------------------------------------------------------------------


def test_the_notes_are_listed_and_can_be_forgotten_or_marked_wrong(harness: Harness) -> None:
    harness.onboard(700000001)
    harness.telegram_says(700000001, "1")
    harness.telegram_says(700000001, "Tengo un problema con la coche.")
    # The sitting ends (30 idle minutes): its summary is what "last session" reads.
    sessions.close_idle(
        harness.services.engine, timedelta(minutes=30), utcnow() + timedelta(hours=1)
    )
    learner_id = _remember(harness, "telegram:700000001")
    listing, how = harness.telegram_says(700000001, "What do you remember about me?")
    assert listing.splitlines() == [
        "Here's what I keep in mind:",
        f"1. {SER_ESTAR_EN}",
        f"2. {AUDIO_EN}",
        f"3. {WORDS_EN}",
        "Last session, earlier today: 8 messages; hardest: gender agreement.",
    ]
    assert '"forget 2"' in how and '"2 is wrong"' in how and '"export my data"' in how

    assert harness.telegram_says(700000001, "forget 2") == [
        f"Done, I've forgotten it: «{AUDIO_EN}»"
    ]
    assert harness.telegram_says(700000001, "3 is wrong") == [
        f"Thanks for telling me! I won't use it again: «{WORDS_EN}»"
    ]
    assert harness.telegram_says(700000001, "forget 2") == ["Note 2 is already gone."]
    assert harness.telegram_says(700000001, "forget 7") == [
        "I don't have a note 7: pick a number from 1 to 3."
    ]
    kept = notes.listing(harness.services.engine, learner_id, include_wrong=True)
    assert [(n.key, n.wrong) for n in kept] == [
        ("error:es-ser-estar", False),
        ("progress:words", True),
    ]
    listing, _ = harness.telegram_says(700000001, "what do you remember about me")
    assert listing.splitlines()[:3] == [
        "Here's what I keep in mind:",
        f"1. {SER_ESTAR_EN}",
        "Last session, earlier today: 8 messages; hardest: gender agreement.",
    ]
    # Anything else closes the list: the message is an ordinary turn again.
    harness.telegram_says(700000001, "Hoy como en casa con mi familia.")
    assert harness.telegram_says(700000001, "forget 1")
    assert len(notes.listing(harness.services.engine, learner_id)) == 1


def test_in_spanish_olvida_and_esta_mal(harness: Harness) -> None:
    harness.onboard(700000002, target="en")
    learner_id = _remember(harness, "telegram:700000002")
    listing, how = harness.telegram_says(700000002, "¿Qué recuerdas de mí?")
    lines = listing.splitlines()
    assert lines[0] == "Esto es lo que tengo presente:"
    assert lines[1].startswith("1. ser o estar: 7 veces en 3 día(s)")
    assert len(lines) == 4
    assert '"olvida la 2"' in how and '"la 2 está mal"' in how
    assert harness.telegram_says(700000002, "olvida la 1")[0].startswith(
        "Hecho, lo he olvidado: «ser o estar"
    )
    assert harness.telegram_says(700000002, "la 2 está mal")[0].startswith(
        "¡Gracias por avisarme! No volveré a usarla: «Escuchar"
    )
    kept = notes.listing(harness.services.engine, learner_id, include_wrong=True)
    assert [(n.key, n.wrong) for n in kept] == [("helped:audio", True), ("progress:words", False)]


def test_with_nothing_remembered_it_says_what_will_be(harness: Harness) -> None:
    harness.onboard(700000003)
    (answer,) = harness.telegram_says(700000003, "what do you remember about me?")
    assert answer.startswith("I don't remember anything about you yet")
    harness.onboard(700000004, target="en")
    (answer,) = harness.telegram_says(700000004, "¿qué recuerdas de mí?")
    assert answer.startswith("Todavía no recuerdo nada sobre ti")


# Export ------------------------------------------------------------------------------


def test_the_export_arrives_as_a_json_file_on_telegram(harness: Harness) -> None:
    assert harness.telegram is not None
    harness.onboard(700000005)
    harness.telegram_says(700000005, "Mi gato Zanahorio duerme en la cocina.")
    _remember(harness, "telegram:700000005")
    assert harness.telegram_says(700000005, "export my data") == [
        "Here's everything I have stored about you, as a JSON file 📎"
    ]
    (upload,) = harness.telegram.documents(700000005)
    assert upload.filename.endswith(".json") and upload.mime_type == "application/json"
    data = json.loads(upload.content)
    assert data["learner"]["key"] == "telegram:700000005"
    assert data["learner"]["profile"]["target_language"] == "es"
    said = [turn["inbound"]["text"] for turn in data["turns"]]
    assert "Mi gato Zanahorio duerme en la cocina." in said
    assert {note["key"] for note in data["memory_notes"]} == {d.key for d in DRAFTS}
    assert all("embedding" not in note for note in data["memory_notes"])
    assert data["sessions"] and data["inbox"] and data["outbox"] and data["llm_calls"] == []
    # The outbox row names the document; the file itself is never stored.
    with harness.services.engine.connect() as connection:
        rows = connection.execute(select(outbox.c.reply)).all()
    exports = [row.reply for row in rows if row.reply.get("document")]
    assert exports == [
        {
            "text": "Here's everything I have stored about you, as a JSON file 📎",
            "options": [],
            "voice_url": None,
            "image_url": None,
            "template": None,
            "invoice": None,
            "document": "export",
        }
    ]


def _whatsapp_onboard(harness: Harness, wa_id: str) -> None:
    for answer in ("hi", "1", "1", "1", "skip", "skip"):
        harness.whatsapp_says(wa_id, answer)


def test_the_export_arrives_as_a_document_on_whatsapp(harness: Harness) -> None:
    assert harness.whatsapp is not None
    _whatsapp_onboard(harness, "15550001234")
    harness.whatsapp_says("15550001234", "Mañana voy al mercado con mi hermana Lucía.")
    _remember(harness, "whatsapp:US.15550001234")
    assert harness.whatsapp_says("15550001234", "export my data") == [
        "Here's everything I have stored about you, as a JSON file 📎"
    ]
    (upload,) = harness.whatsapp.documents("15550001234")
    assert upload.filename.endswith(".json")
    assert upload.mime_type == "text/plain"  # the Cloud API takes no application/json documents
    document = next(m.body for m in harness.whatsapp.sent if m.body.get("type") == "document")
    assert document["document"]["filename"] == upload.filename
    data = json.loads(upload.content)
    assert data["learner"]["key"] == "whatsapp:US.15550001234"
    said = [turn["inbound"]["text"] for turn in data["turns"]]
    assert "Mañana voy al mercado con mi hermana Lucía." in said
    assert len(data["memory_notes"]) == 3


def test_the_chat_page_explains_that_files_go_to_telegram_or_whatsapp(harness: Harness) -> None:
    from agents.base import Context
    from agents.registry import build_agents
    from tutor.messages import Channel, Inbound, Kind

    agent = build_agents(harness.services)["data"]
    inbound = Inbound(Channel.WEB, "page-1", "web:page-1", "m1", Kind.TEXT, "export my data")
    context = Context("web:page-1", {"explanation_language": "es"}, {}, learner_id=1)
    (reply,) = agent.handle(inbound, context).replies
    assert reply.document is None and "Telegram o WhatsApp" in reply.text


# Erasure -----------------------------------------------------------------------------

ERASED_USER = 987654321
OTHER_USER = 912345678
ERASED_TEXTS = ("Mi gato Zanahorio duerme en la cocina.", "Vivo en Villaquejida desde enero.")
OTHER_TEXT = "Mi perro Bartolomeo come manzanas."


def _traces(harness: Harness, needles: tuple[str, ...]) -> list[tuple[str, str]]:
    return [
        (place, needle)
        for place, value in stored_values(harness)
        for needle in needles
        if needle.encode() in value
    ]


def _count_rows(harness: Harness, key: str) -> dict[str, int]:
    """How many rows of each learner-owned table belong to ``key``."""
    counts: dict[str, int] = {}
    with harness.services.engine.connect() as connection:
        learner_id = connection.execute(select(learners.c.id).where(learners.c.key == key)).scalar()
        for table in export.BY_LEARNER_ID:
            query = select(func.count()).where(table.c.learner_id == learner_id)
            counts[table.name] = int(connection.execute(query).scalar_one())
        for table in export.BY_LEARNER_KEY:
            query = select(func.count()).where(table.c.learner_key == key)
            counts[table.name] = int(connection.execute(query).scalar_one())
    return counts


def _busy_learner(harness: Harness, user: int, texts: tuple[str, ...]) -> None:
    """A learner with turns, mistakes, a review card, notes and cached hot turns."""
    harness.onboard(user)
    for text in texts:
        harness.telegram_says(user, text)
    harness.telegram_says(user, "Tengo un problema con la coche.")  # an error event
    harness.telegram_says(user, "menu")
    harness.telegram_says(user, "4")  # vocabulary: cards
    harness.telegram_says(user, "no sé")  # a review
    _remember(harness, f"telegram:{user}")


def test_delete_asks_first_and_no_keeps_everything(harness: Harness) -> None:
    _busy_learner(harness, ERASED_USER, ERASED_TEXTS)
    before = _count_rows(harness, f"telegram:{ERASED_USER}")
    (question,) = harness.telegram_says(ERASED_USER, "delete my data")
    assert question.splitlines()[-2:] == ["1. Yes, delete it all", "2. No, keep it"]
    assert "It can't be undone" in question
    assert harness.telegram_says(ERASED_USER, "no") == [
        "Okay, I haven't deleted anything. Everything stays as it was."
    ]
    after = _count_rows(harness, f"telegram:{ERASED_USER}")
    assert after["memory_notes"] == before["memory_notes"] == 3
    assert after["cards"] == before["cards"] >= 1
    assert after["turns"] == before["turns"] + 2


def test_a_yes_long_after_the_question_gets_the_question_again(harness: Harness) -> None:
    harness.onboard(956789012)
    harness.telegram_says(956789012, "delete my data")
    engine = harness.services.engine
    with engine.begin() as connection:
        state = connection.execute(
            select(learners.c.state).where(learners.c.key == "telegram:956789012")
        ).scalar_one()
        state["exercise"]["asked_at"] = "2026-01-01T00:00:00+00:00"
        connection.execute(
            update(learners).where(learners.c.key == "telegram:956789012").values(state=state)
        )
    harness.services.hot.forget("telegram:956789012")
    (again,) = harness.telegram_says(956789012, "yes")
    assert "It can't be undone" in again
    assert _count_rows(harness, "telegram:956789012")["turns"] > 0
    assert harness.telegram_says(956789012, "yes")[0].startswith("Done: everything")


def test_yes_erases_everything_and_nothing_is_left(stores: Harness) -> None:
    assert stores.telegram is not None
    _busy_learner(stores, OTHER_USER, (OTHER_TEXT,))
    _busy_learner(stores, ERASED_USER, ERASED_TEXTS)
    key = f"telegram:{ERASED_USER}"
    needles = (key, str(ERASED_USER), *ERASED_TEXTS)
    assert _traces(stores, needles)  # the scan sees them while they are stored
    other_before = _count_rows(stores, f"telegram:{OTHER_USER}")
    assert stores.services.hot.recent_turns(key)

    stores.telegram_says(ERASED_USER, "delete my data")
    confirming = payloads.telegram_text(ERASED_USER, "1")
    sent_before = len(stores.telegram.sent)
    assert stores.post_telegram(confirming) == 200
    stores.worker.sweep()
    assert stores.telegram.sent_texts(ERASED_USER)[-1].startswith(
        "Done: everything I had stored about you is deleted"
    )
    assert len(stores.telegram.sent) == sent_before + 1

    assert _traces(stores, needles) == []
    assert _count_rows(stores, f"telegram:{OTHER_USER}") == other_before
    assert _traces(stores, (f"telegram:{OTHER_USER}", OTHER_TEXT))

    # The platform redelivers the confirming webhook: a duplicate, nobody is recreated.
    assert stores.post_telegram(confirming) == 200
    stores.worker.sweep()
    assert len(stores.telegram.sent) == sent_before + 1
    assert _traces(stores, needles) == []


def _model(body: dict[str, Any]) -> str:
    """The model behind the fake providers: a label when asked to classify, else a chat line."""
    if "Classify the learner's message" in json.dumps(body):
        return json.dumps({"intent": "conversation", "confidence": 0.9})
    return "¡Qué bien! ¿Y qué más te gusta?"


@pytest.fixture
def modelled(
    make_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> Iterator[Harness]:
    """The tutor with Groq and Anthropic configured (fakes at the edge): the model ledger,
    the budget counters and the answer caches fill as they do in production."""
    groq, anthropic = FakeGroq(_model).start(), FakeAnthropic(_model).start()
    env = channel_env(fake_telegram, None)
    env.update(
        TUTOR_GROQ_API_KEY=GROQ_KEY,
        TUTOR_GROQ_BASE_URL=groq.url,
        TUTOR_ANTHROPIC_API_KEY=ANTHROPIC_KEY,
        TUTOR_ANTHROPIC_BASE_URL=anthropic.url,
    )
    harness = Harness(settings_from_env(make_settings, env), fake_telegram)
    yield harness
    harness.close()
    groq.stop()
    anthropic.stop()


def test_model_calls_and_cached_answers_are_erased_too(modelled: Harness) -> None:
    modelled.onboard(945678901)
    said = (
        "me gusta mucho la playa de valencia con mi gata zanahoria.",
        "hmm maybe something with zanahoria and the kitchen stuff",
        "how do you say zanahoriafono?",  # explained by the strong tier
    )
    for text in said:
        modelled.telegram_says(945678901, text)
    # Questions shared through the semantic cache (the router stores non-personal
    # explanations there): theirs goes with them, another learner's question stays.
    semantic = modelled.services.router.semantic
    assert semantic is not None
    answer = CachedAnswer("Se dice así.", "groq", "fake")
    semantic.store(said[2], "es>English", "A1", answer)
    semantic.store("how do you say lighthouse keeper?", "es>English", "A1", answer)
    needles = ("telegram:945678901", "945678901", "zanahoria")
    in_redis = {place for place, _ in _traces(modelled, needles) if place.startswith("tutor:")}
    assert any(":budget:learner:" in place for place in in_redis), in_redis
    assert any(":semantic:" in place for place in in_redis), in_redis
    redis = modelled.services.redis
    assert list(redis.scan_iter(match="tutor:llm:request:*"))  # answers kept per turn
    with modelled.services.engine.connect() as connection:
        calls = connection.execute(select(func.count()).select_from(llm_calls)).scalar_one()
    assert calls > 0

    modelled.telegram_says(945678901, "delete my data")
    assert modelled.telegram_says(945678901, "yes")[0].startswith("Done: everything")
    assert _traces(modelled, needles) == []
    assert list(redis.scan_iter(match="tutor:llm:request:*")) == []
    assert semantic.lookup("how do you say lighthouse keeper?", "es>English", "A1")
    with modelled.services.engine.connect() as connection:
        kept = connection.execute(select(llm_calls.c.learner_key, llm_calls.c.cost_usd)).all()
    assert len(kept) == calls  # the costs stay in the reports, tied to nobody
    assert {row.learner_key for row in kept} == {None}


def test_a_whatsapp_learner_is_erased_and_the_goodbye_arrives(harness: Harness) -> None:
    assert harness.whatsapp is not None
    wa_id = "15550005555"
    _whatsapp_onboard(harness, wa_id)
    harness.whatsapp_says(wa_id, "Los domingos cocino paella para mi abuela Remedios.")
    _remember(harness, f"whatsapp:US.{wa_id}")
    needles = (f"whatsapp:US.{wa_id}", f"US.{wa_id}", wa_id, "Remedios")
    assert _traces(harness, needles)
    harness.whatsapp_says(wa_id, "delete my data")
    buttons = harness.whatsapp.sent[-1].body["interactive"]["action"]["buttons"]
    assert [b["reply"]["id"] for b in buttons] == ["erase:yes", "erase:no"]
    confirming = payloads.whatsapp_text(wa_id, "1")
    assert harness.post_whatsapp(confirming) == 200
    harness.worker.sweep()
    goodbye = harness.whatsapp.sent[-1]
    assert goodbye.to == wa_id and str(goodbye.text).startswith("Done: everything")
    assert _traces(harness, needles) == []
    sent = len(harness.whatsapp.sent)
    assert harness.post_whatsapp(confirming) == 200  # redelivered: a duplicate
    harness.worker.sweep()
    assert len(harness.whatsapp.sent) == sent
    assert _traces(harness, needles) == []


def test_a_tapped_yes_in_spanish_erases_too(harness: Harness) -> None:
    assert harness.telegram is not None
    harness.onboard(923456789, target="en")
    harness.telegram_says(923456789, "I live in Springfieldtown with two cats.")
    (question,) = harness.telegram_says(923456789, "borrar mis datos")
    assert question.splitlines()[-2:] == ["1. Sí, bórralo todo", "2. No, mejor no"]
    keyboard = harness.telegram.sent[-1].payload["reply_markup"]["inline_keyboard"]
    assert [row[0]["callback_data"] for row in keyboard] == ["erase:yes", "erase:no"]
    assert harness.telegram_taps(923456789, "erase:yes") == [
        "Hecho: he borrado todo lo que guardaba sobre ti 👋 Si vuelves a escribir, "
        "empezaremos desde cero."
    ]
    needles = ("telegram:923456789", "923456789", "Springfieldtown")
    assert _traces(harness, needles) == []
    # Writing again is a new first contact (in the language their app is set to).
    assert harness.telegram_says(923456789, "hola")[0].startswith("Hi! I'm your")


def test_every_table_is_exported_and_erased_or_declared_not_personal() -> None:
    """A new table must say whether it holds learner data, so export and erase cover it."""
    covered = {
        t.name
        for t in (
            *export.BY_LEARNER_ID,
            *export.BY_LEARNER_KEY,
            *export.KEPT_ANONYMISED,
            *export.NOT_PERSONAL,
            learners,
        )
    }
    assert covered == set(metadata.tables)


def test_the_command_line_exports_and_erases(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    harness.onboard(934567890)
    harness.telegram_says(934567890, "Trabajo en Albacete como panadero.")
    for name, value in {
        "TUTOR_DATABASE_URL": str(harness.settings.database_url),
        "TUTOR_VAR_DIR": str(harness.settings.var_dir),
    }.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    out = tmp_path / "export.json"
    result = runner.invoke(cli.main, ["learner", "export", "telegram:934567890", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Albacete" in json.dumps(json.loads(out.read_text())["turns"], ensure_ascii=False)
    refused = runner.invoke(cli.main, ["learner", "delete", "telegram:934567890"])
    assert refused.exit_code != 0 and "--yes" in refused.output
    result = runner.invoke(cli.main, ["learner", "delete", "telegram:934567890", "--yes"])
    assert result.exit_code == 0, result.output
    assert "learners: 1 deleted" in result.output and "inbox:" in result.output
    with harness.services.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(turns)).scalar_one() == 0
        assert connection.execute(select(func.count()).select_from(memory_notes)).scalar_one() == 0
    missing = runner.invoke(cli.main, ["learner", "delete", "telegram:934567890", "--yes"])
    assert missing.exit_code != 0 and "no learner" in missing.output


def test_the_erasure_report_reads_plainly() -> None:
    report = erase.Erasure(True, {"learners": 1, "turns": 0}, {"inbox": 4}, 2, True)
    assert report.lines() == [
        "learners: 1 deleted",
        "inbox: 4 scrubbed",
        "redis: 2 key(s) or entries removed",
        "redis: unavailable; what is left there expires with its TTL",
    ]
