"""Spoken replies: espeak-ng offline and ElevenLabs (against a local fake speaking its wire
format), OGG/Opus voice notes our own decoder reads, the text-keyed cache, and the signed
address the web app answers."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import channel_env, settings_from_env
from tests.fakes.server import FakeResponse, FakeServer, RecordedRequest
from tests.fakes.telegram import FakeTelegram
from tests.support.harness import Harness
from tutor.models import llm_calls
from tutor.settings import Settings
from voice.decode import decode
from voice.speech import (
    ElevenLabsSpeaker,
    Espeak,
    SpeechCache,
    SpeechFailed,
    duration_of,
    key_for,
    opus_from_wav,
    read_token,
    spoken,
    token,
)


class FakeElevenLabs(FakeServer):
    """``POST /v1/text-to-speech/{voice_id}?output_format=...`` answering OGG/Opus."""

    def __init__(self, audio: bytes) -> None:
        super().__init__()
        self.audio = audio

    def handle(self, request: RecordedRequest) -> FakeResponse:
        if request.headers.get("xi-api-key") != "el-test-key":
            return FakeResponse(401, {"detail": {"status": "invalid_api_key"}})
        if request.method != "POST" or not request.path.startswith("/v1/text-to-speech/"):
            return FakeResponse(404, {"detail": "not found"})
        return FakeResponse(200, self.audio)


@pytest.fixture(scope="module")
def clip() -> bytes:
    return Espeak().speak("The chairs and tables are in his rooms.", "en", slow=True)


def test_espeak_makes_a_voice_note_in_both_languages(clip: bytes) -> None:
    assert clip.startswith(b"OggS")
    assert 1.5 < duration_of(clip) < 8
    assert 1.5 < decode(clip).duration < 8  # our own decoder reads it back
    spanish = Espeak().speak("El perro de San Roque no tiene rabo.", "es")
    assert spanish.startswith(b"OggS") and decode(spanish).duration > 1.0


def test_slow_is_slower(clip: bytes) -> None:
    fast = Espeak().speak("The chairs and tables are in his rooms.", "en", slow=False)
    assert duration_of(fast) < duration_of(clip)


def test_a_broken_wav_is_a_speech_failure() -> None:
    with pytest.raises(SpeechFailed):
        opus_from_wav(b"RIFF" + bytes(40))


class _Counting:
    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def speak(self, text: str, language: str, *, slow: bool = False) -> bytes:
        self.calls += 1
        return b"OggS" + text.encode()


def test_identical_texts_are_spoken_once_and_keys_know_no_learner() -> None:
    speaker, cache = _Counting(), SpeechCache()
    first = spoken(speaker, cache, "Hola", "es", slow=True)
    assert spoken(speaker, cache, "Hola", "es", slow=True) == first
    spoken(speaker, cache, "Hola", "es", slow=False)
    assert speaker.calls == 2
    assert key_for("counting", "es", True, "Hola") == key_for("counting", "es", True, "Hola")


def test_the_cache_lives_in_redis_when_there_is_one(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    speaker = _Counting()
    spoken(speaker, SpeechCache(client), "Buenos días", "es", slow=True)
    spoken(speaker, SpeechCache(client), "Buenos días", "es", slow=True)  # another process
    assert speaker.calls == 1
    key = key_for("counting", "es", True, "Buenos días")
    assert 0 < client.ttl(f"tts:{key}") <= 7 * 24 * 3600
    client.close()


def test_elevenlabs_speaks_opus_and_its_faults_are_speech_failures(clip: bytes) -> None:
    with FakeElevenLabs(clip) as fake:
        speaker = ElevenLabsSpeaker("el-test-key", base_url=fake.url, timeout=5)
        assert speaker.speak("Hola", "es", slow=True) == clip
        [request] = fake.requests
        assert request.query.get("output_format") == ["opus_48000_32"]
        fake.inject(500, {"detail": "boom"})
        fake.inject(500, {"detail": "boom"})
        fake.inject(500, {"detail": "boom"})
        with pytest.raises(SpeechFailed) as caught:
            speaker.speak("Hola", "es")
        assert "el-test-key" not in str(caught.value)
        wrong = ElevenLabsSpeaker("bad-key", base_url=fake.url, timeout=5)
        with pytest.raises(SpeechFailed):
            wrong.speak("Hola", "es")
        speaker.close()
        wrong.close()


def test_tokens_are_signed() -> None:
    value = token("secret", "Hola", "es")
    assert read_token("secret", value) == ("Hola", "es", True)
    assert read_token("other", value) is None
    assert read_token("secret", value[:-2] + "xx") is None


@pytest.fixture
def public(
    make_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> Iterator[Harness]:
    env = {**channel_env(fake_telegram, None), "TUTOR_PUBLIC_URL": "https://tutor.example.org"}
    harness = Harness(settings_from_env(make_settings, env), fake_telegram)
    yield harness
    harness.close()


def test_a_drill_comes_with_its_sentence_spoken_slowly(
    public: Harness, fake_telegram: FakeTelegram
) -> None:
    public.onboard(950, target="en")
    public.telegram_says(950, "menú")
    drill = public.telegram_says(950, "3")[0]
    sentence = drill.split("«", 1)[1].split("»", 1)[0]
    [voice] = [m for m in fake_telegram.sent if m.method == "sendVoice"]
    url = str(voice.payload["voice"])
    assert url.startswith("https://tutor.example.org/voice/") and url.endswith(".ogg")
    response = public.client.get(url.removeprefix("https://tutor.example.org"))
    assert response.status_code == 200 and response.mimetype == "audio/ogg"
    assert response.data.startswith(b"OggS") and decode(response.data).duration > 1.0
    assert read_token(public.app.config["SECRET_KEY"], url.rsplit("/", 1)[1][:-4]) == (
        sentence,
        "en",
        True,
    )
    assert public.client.get("/voice/forged.ogg").status_code == 404


def test_espeak_missing_is_a_speech_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(*args: object, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        raise FileNotFoundError("espeak-ng")

    monkeypatch.setattr(subprocess, "run", missing)
    with pytest.raises(SpeechFailed):
        Espeak().speak("hola", "es")


def test_no_spoken_audio_reaches_the_disk(public: Harness, tmp_path: Path) -> None:
    public.onboard(951, target="en")
    public.telegram_says(951, "menú")
    public.telegram_says(951, "3")
    for path in Path(public.settings.var_dir).rglob("*"):
        if path.is_file():
            assert not path.read_bytes()[:4] == b"OggS", path


def test_elevenlabs_speech_is_charged_once_per_text(
    make_settings: Callable[..., Settings], fake_telegram: FakeTelegram, clip: bytes
) -> None:
    """The drill's model answer spoken by ElevenLabs costs characters once: the second
    fetch comes from the cache and adds nothing to the ledger."""
    with FakeElevenLabs(clip) as fake:
        env = {
            **channel_env(fake_telegram, None),
            "TUTOR_PUBLIC_URL": "https://tutor.example.org",
            "TUTOR_ELEVENLABS_API_KEY": "el-test-key",
            "TUTOR_ELEVENLABS_BASE_URL": fake.url,
        }
        harness = Harness(settings_from_env(make_settings, env), fake_telegram)
        try:
            harness.onboard(951, target="en")
            harness.telegram_says(951, "menú")
            drill = harness.telegram_says(951, "3")[0]
            sentence = drill.split("«", 1)[1].split("»", 1)[0]
            [voice] = [m for m in fake_telegram.sent if m.method == "sendVoice"]
            path = str(voice.payload["voice"]).removeprefix("https://tutor.example.org")
            for _ in range(2):
                assert harness.client.get(path).data == clip
            assert len(fake.requests) == 1
            with harness.services.engine.connect() as connection:
                rows = [dict(r._mapping) for r in connection.execute(select(llm_calls))]
        finally:
            harness.close()
    [row] = rows
    assert (row["provider"], row["task"], row["tier"]) == ("elevenlabs", "speak", "voice")
    assert row["learner_key"] is None and row["input_tokens"] == len(sentence)
    assert row["cost_usd"] == pytest.approx(len(sentence) / 1000 * 0.10, abs=1e-6)
