"""Pronunciation: the scorer, and voice notes as a learner sends them (real decoder, real
tiny.en model, fake Telegram at the edge), bad audio, and no audio kept anywhere."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from agents.pronunciation import _unrecognised
from tests.conftest import channel_env, settings_from_env
from tests.fakes.telegram import FakeTelegram
from tests.support import payloads
from tests.support.harness import Harness
from tests.support.stores import KINDS, store_env, stored_values
from tutor.models import pronunciation_attempts
from tutor.settings import Settings
from voice.decode import decode
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


def test_another_language_gets_a_friendly_answer(harness: Harness, tmp_path: Path) -> None:
    """With the English-only model, Spanish comes out as no words at all and German as
    unsure English: both answers say it may have been another language."""
    harness.onboard(909, target="en")
    spanish = _speak(tmp_path, "Mañana voy a la playa con mis amigos.", "es")
    assert _send_voice(harness, 909, "es-note", spanish)[0].startswith(
        "No he distinguido palabras en inglés (¿ruido, música u otro idioma?)"
    )
    harness.telegram_says(909, "menú")
    harness.telegram_says(909, "3")
    german = _speak(tmp_path, "Guten Tag, ich heiße Peter und wohne in Berlin.", "de")
    reply = _send_voice(harness, 909, "de-note", german)[0]
    assert "otro idioma" in reply and "en inglés" in reply


def test_a_drill_attempt_with_none_of_its_words_is_questioned() -> None:
    sure = _transcript(("look", 0.9), ("at", 0.9), ("that", 0.9))
    unsure = Transcript("Look at that.", "en", None, 2.0, sure.words, -1.1, 0.4, "faster-whisper")
    nothing = score("I'm going to the park.", unsure)
    assert nothing.completeness == 0
    assert _unrecognised(nothing, unsure)
    assert not _unrecognised(score("Look at the cat.", unsure), unsure)  # words heard
    assert not _unrecognised(nothing, sure)  # the recogniser is sure of what it heard


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


def _learner_windows(data: bytes) -> list[bytes]:
    """Stretches of a learner's note as sent (container bytes) and as decoded (float32 and
    16-bit PCM): none of them may be stored anywhere."""
    samples = decode(data).samples
    pcm16 = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    pcm32 = samples.astype("<f4").tobytes()
    windows = []
    for blob in (data, pcm16, pcm32):
        middle = len(blob) // 2
        windows += [blob[at : at + 48] for at in (len(blob) // 5, middle, 4 * len(blob) // 5)]
    return [w for w in windows if len(w) == 48 and w.strip(b"\x00")]


def _stored_values(harness: Harness) -> Iterator[tuple[str, bytes]]:
    """Every value in the SQL store and in Redis, and every file under var/."""
    yield from stored_values(harness)
    for path in Path(harness.settings.var_dir).rglob("*"):
        if path.is_file():
            yield str(path), path.read_bytes()


@pytest.fixture(params=KINDS)
def stores(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
) -> Iterator[Harness]:
    """The tutor on its embedded stores (SQLite, in-process Redis) and on real servers."""
    env = {
        **channel_env(fake_telegram, None),
        "TUTOR_PUBLIC_URL": "https://tutor.example.org",
        **store_env(request),
    }
    harness = Harness(settings_from_env(make_settings, env), fake_telegram)
    yield harness
    harness.close()


def test_no_audio_is_kept_anywhere(stores: Harness, tmp_path: Path) -> None:
    """After notes go through the whole pipeline (drill, free speech, spoken model answers
    fetched so the speech cache fills), nothing a learner said is stored: no container
    magic outside the cache of the tutor's own spoken texts, and no stretch of a note's
    bytes or of its decoded samples in SQL, Redis or the files under var/ or the temp dir."""
    began = time.time()
    stores.onboard(906, target="en")
    stores.telegram_says(906, "menú")
    stores.telegram_says(906, "3")
    notes = [
        (AUDIO / "whisper" / "jfk.flac").read_bytes(),
        _speak(tmp_path, "The weather is nice today."),
    ]
    for number, note in enumerate(notes):
        assert _send_voice(stores, 906, f"keep-{number}", note)
    assert stores.telegram is not None
    spoken = [str(m.payload["voice"]) for m in stores.telegram.sent if m.method == "sendVoice"]
    assert spoken
    for url in spoken:
        assert stores.client.get(url.removeprefix("https://tutor.example.org")).status_code == 200
    windows = [w for note in notes for w in _learner_windows(note)]
    cached = 0
    for place, value in _stored_values(stores):
        assert not any(window in value for window in windows), place
        if place.startswith("tts:"):
            cached += 1
            continue
        assert not any(magic in value for magic in AUDIO_MAGIC), place
    assert cached >= 1  # the scan saw the spoken replies' cache, so it reads Redis
    for path in Path(tempfile.gettempdir()).iterdir():
        if path.is_file() and path.stat().st_mtime >= began:
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
