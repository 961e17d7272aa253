"""What the paid voice back ends cost, recorded in the model ledger beside the model calls.

Hosted transcription (Groq) is billed by audio length with a 10-second minimum, hosted
speech (ElevenLabs) by characters; prices come from the settings. Each row goes into
``llm_calls`` (:mod:`tutor.llm.ledger`) with tier ``voice`` and task ``transcribe`` or
``speak``, so cost reports and the monthly cap of a provider count voice with the rest.
A voice note's row is keyed by its channel message, so a redelivered note is never
charged twice; a spoken text is charged on each cache miss (it is never tied to a learner).
"""

from __future__ import annotations

import uuid

from sqlalchemy import Engine

from tutor.llm.ledger import Ledger, LedgerEntry
from tutor.messages import Inbound
from tutor.settings import Settings

GROQ_MINIMUM_SECONDS = 10.0


def transcription_cost(settings: Settings, seconds: float) -> float:
    """US dollars Groq charges for transcribing ``seconds`` of audio."""
    billed = max(seconds, GROQ_MINIMUM_SECONDS)
    return billed / 3600 * settings.groq_stt_price_per_hour


def speech_cost(settings: Settings, text: str) -> float:
    """US dollars ElevenLabs charges for speaking ``text``."""
    return len(text) / 1000 * settings.elevenlabs_price_per_1k_chars


def record_transcription(
    engine: Engine, settings: Settings, inbound: Inbound, agent: str, seconds: float
) -> None:
    """One row for a voice note the hosted recogniser transcribed (local ones are free)."""
    if settings.stt_backend != "groq":
        return
    entry = LedgerEntry(
        request_id=f"stt:{inbound.channel.value}:{inbound.provider_message_id}"[:64],
        agent=agent,
        task="transcribe",
        tier="voice",
        provider="groq",
        model=settings.groq_stt_model,
        cost_usd=transcription_cost(settings, seconds),
        learner_key=inbound.learner_key,
    )
    Ledger(engine).record(entry)


def record_speech(engine: Engine, settings: Settings, speaker: str, text: str) -> None:
    """One row for a text the hosted voice spoke (espeak-ng is free)."""
    if speaker != "elevenlabs":
        return
    entry = LedgerEntry(
        request_id=f"tts:{uuid.uuid4().hex}",
        agent="spoken",
        task="speak",
        tier="voice",
        provider="elevenlabs",
        model=settings.elevenlabs_model_id,
        input_tokens=len(text),  # characters: what ElevenLabs bills
        cost_usd=speech_cost(settings, text),
    )
    Ledger(engine).record(entry)
