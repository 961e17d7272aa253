"""``/voice/<token>.ogg``: spoken replies, made on request and cached (voice/speech.py).

The token is the text, its language and speed, signed with the service's secret
key, so only texts the tutor chose can be spoken; the cache key is the words,
never the learner.
"""

from __future__ import annotations

import functools
from typing import Any

from flask import Blueprint, Response, abort, current_app

from tutor.settings import Settings
from voice import costs
from voice.speech import (
    ElevenLabsSpeaker,
    Espeak,
    Speaker,
    SpeechCache,
    SpeechFailed,
    read_token,
    spoken,
    token,
)

blueprint = Blueprint("spoken", __name__)


def speaker_for(settings: Settings, http: Any = None) -> Speaker:
    """ElevenLabs with a key (on the shared ``http`` client when given), espeak-ng without."""
    if settings.elevenlabs_api_key is not None:
        return ElevenLabsSpeaker(
            settings.elevenlabs_api_key.get_secret_value(),
            base_url=settings.elevenlabs_base_url,
            voice_id=settings.elevenlabs_voice_id,
            model_id=settings.elevenlabs_model_id,
            http=http,
        )
    return Espeak()


@functools.lru_cache(maxsize=8)
def _cache(redis: Any) -> SpeechCache:
    return SpeechCache(redis)


def address(settings: Settings, secret: str, text: str, language: str) -> str | None:
    """Where a channel can fetch ``text`` spoken slowly (None without a public address)."""
    if not settings.public_url or not secret:
        return None
    return f"{settings.public_url.rstrip('/')}/voice/{token(secret, text, language)}.ogg"


@blueprint.get("/voice/<value>.ogg")
def voice(value: str) -> Response:
    services = current_app.extensions["tutor"]
    found = read_token(current_app.config["SECRET_KEY"], value)
    if found is None:
        abort(404)
    text, language, slow = found
    speaker = current_app.extensions.get("tutor_speaker")
    if speaker is None:
        speaker = current_app.extensions["tutor_speaker"] = speaker_for(
            services.settings, services.http
        )
    try:
        audio = spoken(
            speaker,
            _cache(services.redis),
            text,
            language,
            slow=slow,
            spent=lambda: costs.record_speech(
                services.engine, services.settings, speaker.name, text
            ),
        )
    except SpeechFailed:
        abort(503)
    response = Response(audio, mimetype="audio/ogg")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
