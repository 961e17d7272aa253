"""Spoken replies: a model answer for a drill, as an OGG/Opus voice note.

Two voices: espeak-ng offline (Debian's ``espeak-ng``, WAV on its standard
output, encoded to Opus in memory with PyAV: no files) and ElevenLabs in
production (its SDK, ``opus_48000_32`` output). Identical texts are spoken
once: the audio is cached by a hash of the voice, language, speed and text
(never by learner), in Redis when the service has it and in memory otherwise,
for ``TTL`` seconds. Replies carry a signed address ``/voice/<token>.ogg`` that
the web app answers from the cache (speaking the text on a miss), so the
worker never holds audio and nothing is written to disk.
"""

from __future__ import annotations

import hashlib
import io
import logging
import subprocess
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from fractions import Fraction
from typing import Any, Protocol, cast

import av
import numpy as np
from itsdangerous import BadSignature, URLSafeSerializer

logger = logging.getLogger(__name__)

TTL = 7 * 24 * 3600
_SALT = "spoken-reply"
_ESPEAK_VOICES = {"es": "es", "en": "en-us"}


class SpeechFailed(Exception):
    """The voice could not be made (the reply goes out as text only)."""


class Speaker(Protocol):
    name: str

    def speak(self, text: str, language: str, *, slow: bool = False) -> bytes: ...


def opus_from_wav(wav: bytes) -> bytes:
    """WAV bytes to an OGG/Opus voice note (48 kHz mono, 32 kbit/s), in memory."""
    try:
        source = av.open(io.BytesIO(wav), mode="r")
    except (av.error.FFmpegError, ValueError) as exc:
        raise SpeechFailed(f"unreadable speech: {type(exc).__name__}") from None
    out_buffer = io.BytesIO()
    target = av.open(out_buffer, mode="w", format="ogg")
    try:
        stream = cast(Any, target.add_stream("libopus", rate=48_000))
        stream.layout = "mono"
        stream.bit_rate = 32_000
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48_000)
        pts = 0
        for frame in source.decode(audio=0):
            for chunk in resampler.resample(frame):
                chunk.pts = pts
                chunk.time_base = Fraction(1, 48_000)
                pts += chunk.samples
                for packet in stream.encode(chunk):
                    target.mux(packet)
        for chunk in resampler.resample(None):
            chunk.pts = pts
            pts += chunk.samples
            for packet in stream.encode(chunk):
                target.mux(packet)
        for packet in stream.encode(None):
            target.mux(packet)
    except (av.error.FFmpegError, ValueError) as exc:
        raise SpeechFailed(f"encoding failed: {type(exc).__name__}") from None
    finally:
        target.close()
        source.close()
    return out_buffer.getvalue()


class Espeak:
    """espeak-ng, offline: clear if robotic, in both languages."""

    name = "espeak-ng"

    def speak(self, text: str, language: str, *, slow: bool = False) -> bytes:
        voice = _ESPEAK_VOICES.get(language, language)
        rate = "120" if slow else "150"
        try:
            done = subprocess.run(
                ["espeak-ng", "-v", voice, "-s", rate, "--stdout", text],
                capture_output=True,
                check=True,
                timeout=20,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise SpeechFailed(f"espeak-ng failed: {type(exc).__name__}") from None
        return opus_from_wav(done.stdout)


class ElevenLabsSpeaker:
    """ElevenLabs text to speech (multilingual voice), Opus output."""

    name = "elevenlabs"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = "https://api.elevenlabs.io",
        voice_id: str = "JBFqnCBsd6RMkjVDRZzb",
        model_id: str = "eleven_multilingual_v2",
        timeout: float = 20.0,
        http: Any = None,
    ) -> None:
        """``http``: an ``httpx.Client`` to share (its owner closes it); else one of its own."""
        import httpx
        from elevenlabs.client import ElevenLabs

        self.voice_id = voice_id
        self.model_id = model_id
        self._own_http = http is None
        self._http = httpx.Client(timeout=timeout) if http is None else http
        self._client = ElevenLabs(
            api_key=api_key, base_url=base_url, timeout=timeout, httpx_client=self._http
        )

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def speak(self, text: str, language: str, *, slow: bool = False) -> bytes:
        from elevenlabs.core.api_error import ApiError

        settings = {"speed": 0.85} if slow else None
        try:
            chunks = self._client.text_to_speech.convert(
                self.voice_id,
                text=text,
                model_id=self.model_id,
                output_format="opus_48000_32",
                language_code=language,
                voice_settings=cast(Any, settings),
            )
            audio = b"".join(chunks)
        except ApiError as exc:
            raise SpeechFailed(f"elevenlabs answered {exc.status_code}") from None
        except Exception as exc:  # network errors of the SDK's own httpx client
            raise SpeechFailed(f"elevenlabs failed: {type(exc).__name__}") from None
        if not audio.startswith(b"OggS"):
            raise SpeechFailed("elevenlabs did not return OGG/Opus")
        return audio


class SpeechCache:
    """Spoken texts by key: Redis (shared by processes) when given, else this process's
    memory (at most ``size`` clips)."""

    def __init__(self, redis: Any = None, *, ttl: int = TTL, size: int = 256) -> None:
        self.redis = redis
        self.ttl = ttl
        self.size = size
        self._memory: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        if self.redis is not None:
            try:
                value = self.redis.get(f"tts:{key}")
                return bytes(value) if value is not None else None
            except Exception:  # Redis down: speak again rather than fail
                return None
        with self._lock:
            found = self._memory.get(key)
            if found is None or found[0] < time.monotonic():
                self._memory.pop(key, None)
                return None
            self._memory.move_to_end(key)
            return found[1]

    def put(self, key: str, audio: bytes) -> None:
        if self.redis is not None:
            try:
                self.redis.set(f"tts:{key}", audio, ex=self.ttl)
            except Exception:
                logger.warning("could not cache a spoken reply in Redis", exc_info=True)
            return
        with self._lock:
            self._memory[key] = (time.monotonic() + self.ttl, audio)
            self._memory.move_to_end(key)
            while len(self._memory) > self.size:
                self._memory.popitem(last=False)


def key_for(speaker: str, language: str, slow: bool, text: str) -> str:
    """The cache key: the voice and the words, nothing about who asked."""
    raw = f"{speaker}\0{language}\0{int(slow)}\0{text}".encode()
    return hashlib.sha256(raw).hexdigest()


def spoken(
    speaker: Speaker,
    cache: SpeechCache,
    text: str,
    language: str,
    *,
    slow: bool,
    spent: Callable[[], None] | None = None,
) -> bytes:
    """The voice note for ``text``, from the cache or spoken now (then cached, and
    ``spent`` called to record what speaking it cost)."""
    key = key_for(speaker.name, language, slow, text)
    audio = cache.get(key)
    if audio is None:
        audio = speaker.speak(text, language, slow=slow)
        cache.put(key, audio)
        if spent is not None:
            spent()
    return audio


def token(secret: str, text: str, language: str, *, slow: bool = True) -> str:
    return str(URLSafeSerializer(secret, salt=_SALT).dumps([text, language, slow]))


def read_token(secret: str, value: str) -> tuple[str, str, bool] | None:
    try:
        text, language, slow = URLSafeSerializer(secret, salt=_SALT).loads(value)
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(text, str) or not isinstance(language, str) or len(text) > 500:
        return None
    return text, language, bool(slow)


def duration_of(audio: bytes) -> float:
    """Seconds of speech in an OGG/Opus clip (for tests and logs)."""
    with av.open(io.BytesIO(audio), mode="r") as container:
        samples = sum(
            np.asarray(frame.to_ndarray()).shape[-1] for frame in container.decode(audio=0)
        )
    return float(samples) / 48_000
