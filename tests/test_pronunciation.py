"""Pronunciation: the scorer, and voice notes as a learner sends them (real decoder, real
tiny.en model, fake Telegram at the edge), bad audio, and no audio kept anywhere."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support import payloads
from tests.support.harness import Harness
from tutor.models import pronunciation_attempts
from voice.score import score
from voice.stt import Transcript, Word

AUDIO = Path(__file__).resolve().parents[2] / "shared" / "reference" / "data" / "audio"
AUDIO_MAGIC = (b"OggS", b"RIFF", b"ID3", b"fLaC", b"\xff\xfb", b"ftypM4A")


def _transcript(*words: tuple[str, float]) -> Transcript:
    timed = tuple(
        Word(text, 0.4 * index, 0.4 * index + 0.3, probability)
        for index, (text, probability) in enumerate(words)
    )
    text = " ".join(w for w, _ in words)
    return Transcript(text, "es", 0.99, 3.0, timed, -0.2, 0.01, "faster-whisper")


def test_the_score_follows_the_words_heard() -> None:
    perfect = score("El perro corre", _transcript(("el", 0.99), ("perro", 0.95), ("corre", 0.9)))
    assert (perfect.completeness, perfect.accuracy) == (100, 95)
    shaky = score(
        "El perro corre", _transcript(("el", 0.99), ("pero", 0.7), ("corre", 0.9)), ["trilled_r"]
    )
    assert shaky.completeness == 67 and shaky.accuracy < perfect.accuracy
    assert [w.word for w in shaky.weakest()] == ["perro"]
    assert shaky.sounds == {"trilled_r": 45}  # perro (not heard) and corre (90) carry the rr
    missing = score("El perro corre", _transcript(("el", 0.99)))
    assert missing.completeness == 33
    assert score("", _transcript()).accuracy == 0


def _speak(tmp_path: Path, text: str, voice: str = "en-us") -> bytes:
    out = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "140", "-w", str(out), text], check=True)
    return out.read_bytes()


def _send_voice(harness: Harness, user_id: int, file_id: str, data: bytes) -> list[str]:
    assert harness.telegram is not None
    harness.telegram.add_file(file_id, data)
    before = len(harness.telegram.sent_texts(user_id))
    assert harness.post_telegram(payloads.telegram_voice(user_id, file_id, size=len(data))) == 200
    harness.worker.sweep()
    return harness.telegram.sent_texts(user_id)[before:]


def _attempts(harness: Harness) -> list[dict[str, object]]:
    with harness.services.engine.connect() as connection:
        rows = connection.execute(
            select(pronunciation_attempts).order_by(pronunciation_attempts.c.id)
        )
        return [dict(row._mapping) for row in rows]


def test_an_english_drill_is_heard_scored_and_remembered(harness: Harness, tmp_path: Path) -> None:
    harness.onboard(901, target="en")  # English practised, explained in Spanish
    harness.telegram_says(901, "menú")
    drill = harness.telegram_says(901, "3")[0]
    assert drill.startswith("🎙️ Manda una nota de voz diciendo:")
    sentence = drill.split("«", 1)[1].split("»", 1)[0]

    reply = _send_voice(harness, 901, "drill-1", _speak(tmp_path, sentence))[0]
    assert reply.startswith("🎙️ He oído: «")
    assert "Precisión" in reply and "compleción" in reply and "fluidez" in reply
    [attempt] = _attempts(harness)
    assert attempt["language"] == "en" and attempt["drill_id"]
    assert 0 <= int(str(attempt["accuracy"])) <= 100 and attempt["transcript"]
    assert isinstance(attempt["words"], list) and attempt["words"]


def test_free_speech_is_scored_against_what_was_heard(harness: Harness) -> None:
    harness.onboard(902, target="en")
    reply = _send_voice(harness, 902, "jfk", (AUDIO / "whisper" / "jfk.flac").read_bytes())[0]
    assert "ask not what your country can do for you" in reply.casefold()
    [attempt] = _attempts(harness)
    assert attempt["drill_id"] is None


def test_spanish_needs_a_multilingual_model(harness: Harness, tmp_path: Path) -> None:
    harness.onboard(903)  # Spanish practised, with the shipped English-only model
    reply = _send_voice(harness, 903, "es-1", _speak(tmp_path, "el perro corre", "es"))[0]
    assert reply.startswith("I can only listen to English voice notes on this server")
    assert _attempts(harness) == []


@pytest.mark.parametrize(
    ("data", "answer"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(2000), "No encuentro sonido"),
        (b"hello, this is not a voice note", "No encuentro sonido"),
    ],
)
def test_bad_audio_gets_a_friendly_answer(harness: Harness, data: bytes, answer: str) -> None:
    harness.onboard(904, target="en")
    reply = _send_voice(harness, 904, "bad", data)[0]
    assert reply.startswith(answer)


def test_a_damaged_recording_and_silence_get_friendly_answers(
    harness: Harness, tmp_path: Path
) -> None:
    harness.onboard(905, target="en")
    ogg = (AUDIO / "telegram_container_samples" / "telegram.ogg").read_bytes()
    damaged = ogg[:200] + bytes(b ^ 0x5A for b in ogg[200:800])
    reply = _send_voice(harness, 905, "damaged", damaged)[0]
    assert reply.startswith(("Esa grabación parece dañada", "No encuentro sonido", "No he oído"))
    silence = tmp_path / "silence.wav"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=16000:cl=mono",
            "-t",
            "2",
            str(silence),
        ],
        check=True,
    )
    assert _send_voice(harness, 905, "quiet", silence.read_bytes())[0].startswith("No he oído")


def test_no_audio_is_kept_anywhere(harness: Harness, tmp_path: Path) -> None:
    harness.onboard(906, target="en")
    _send_voice(harness, 906, "keep-1", (AUDIO / "whisper" / "jfk.flac").read_bytes())
    _send_voice(harness, 906, "keep-2", _speak(tmp_path, "The weather is nice today."))
    engine = harness.services.engine
    with engine.connect() as connection:
        tables = [t for t in harness.services.engine.dialect.get_table_names(connection)]
        for table in tables:
            for row in connection.exec_driver_sql(f'SELECT * FROM "{table}"'):
                for value in row:
                    blob = value if isinstance(value, bytes) else str(value).encode()
                    assert not any(magic in blob for magic in AUDIO_MAGIC), table
    var = Path(harness.settings.var_dir)
    for path in var.rglob("*"):
        if path.is_file():
            head = path.read_bytes()[:64]
            assert not any(head.startswith(magic) for magic in AUDIO_MAGIC), path


def _lavfi(tmp_path: Path, name: str, source: str, seconds: float) -> bytes:
    out = tmp_path / name
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            source,
            "-t",
            str(seconds),
            "-c:a",
            "libopus",
            "-b:a",
            "16k",
            str(out),
        ],
        check=True,
    )
    return out.read_bytes()


@pytest.mark.parametrize(
    ("name", "source", "seconds", "answers"),
    [
        ("noise.ogg", "anoisesrc=color=white:amplitude=0.3:r=16000", 1, ("No he distinguido",)),
        (
            "music.ogg",
            "sine=frequency=440:r=16000,aeval=val(0)*0.5+0.3*sin(2*PI*554*t)",
            6,
            ("No he distinguido",),
        ),
        ("long.ogg", "sine=frequency=300:r=16000", 185, ("¡Qué larga!",)),
    ],
)
def test_noise_music_and_long_notes_get_friendly_answers(
    harness: Harness,
    tmp_path: Path,
    name: str,
    source: str,
    seconds: float,
    answers: tuple[str, ...],
) -> None:
    harness.onboard(907, target="en")
    reply = _send_voice(harness, 907, name, _lavfi(tmp_path, name, source, seconds))[0]
    assert reply.startswith(answers)


def test_pronunciation_shows_in_progress(harness: Harness, tmp_path: Path) -> None:
    harness.onboard(908, target="en")
    harness.telegram_says(908, "menú")
    drill = harness.telegram_says(908, "3")[0]
    sentence = drill.split("«", 1)[1].split("»", 1)[0]
    _send_voice(harness, 908, "p1", _speak(tmp_path, sentence))
    report = harness.telegram_says(908, "mi progreso")[0]
    assert "🎙️ Pronunciación esta semana: 1 nota(s) de voz, precisión" in report


def test_a_whatsapp_voice_note_is_fetched_with_the_token_and_heard(harness: Harness) -> None:
    assert harness.whatsapp is not None
    for answer in ("hi", "2", "2", "1", "skip", "skip"):  # English, explained in Spanish
        harness.whatsapp_says("34600111222", answer)
    harness.whatsapp.add_media("wa-voice-1", (AUDIO / "whisper" / "jfk.flac").read_bytes())
    before = len(harness.whatsapp.sent_texts("34600111222"))
    assert harness.post_whatsapp(payloads.whatsapp_voice("34600111222", "wa-voice-1")) == 200
    harness.worker.sweep()
    [reply] = harness.whatsapp.sent_texts("34600111222")[before:]
    assert reply.startswith("🎙️ He oído: «") and "ask not" in reply.casefold()


def test_a_review_can_be_answered_by_voice(harness: Harness, tmp_path: Path) -> None:
    from sqlalchemy import update

    from tutor.models import cards as cards_table
    from tutor.models import utcnow

    harness.onboard(909, target="en")
    harness.telegram_says(909, "menú")
    first = harness.telegram_says(909, "4")[0]
    assert "Palabra nueva:" in first
    with harness.services.engine.begin() as connection:
        connection.execute(update(cards_table).values(reps=4, due=utcnow()))
    harness.telegram_says(909, "menú")
    question = harness.telegram_says(909, "4")[0]
    assert "🎙️ Dilo en una nota de voz" in question
    word = first.split("*", 2)[1]  # "Palabra nueva: *word*: ..."
    reply = _send_voice(harness, 909, "say-1", _speak(tmp_path, word))[0]
    assert reply.startswith("¡Correcto!")
    with harness.services.engine.connect() as connection:
        from tutor.models import card_reviews

        [review] = connection.execute(select(card_reviews)).all()
    assert review.exercise == "say"


def test_a_weak_sound_becomes_a_card_and_leads_the_next_drill(
    harness: Harness, tmp_path: Path
) -> None:
    from agents.registry import shipped_library
    from tutor.models import cards as cards_table

    drills = {
        d.sentence: d
        for unit in shipped_library().get("en-for-es@1").units()  # type: ignore[union-attr]
        for d in unit.drills
    }
    harness.onboard(910, target="en")
    harness.telegram_says(910, "menú")
    drill = drills[harness.telegram_says(910, "3")[0].split("«", 1)[1].split("»", 1)[0]]
    reply = _send_voice(harness, 910, "off", _speak(tmp_path, "Good morning everybody, nice day."))
    assert "Inténtalo otra vez" in reply[0]
    with harness.services.engine.connect() as connection:
        keys = {
            row.item_key
            for row in connection.execute(
                select(cards_table.c.item_key).where(cards_table.c.kind == "sound")
            )
        }
    assert keys and all(key.removeprefix("sound:") in drill.sounds for key in keys)
    harness.telegram_says(910, "menú")
    following = drills[harness.telegram_says(910, "3")[0].split("«", 1)[1].split("»", 1)[0]]
    assert {key.removeprefix("sound:") for key in keys} & set(following.sounds)
