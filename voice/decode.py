"""Decode a voice note's bytes in memory to 16 kHz mono float32 samples.

Nothing touches the disk: the bytes are wrapped in ``io.BytesIO`` and handed to PyAV, whose
decoded frames are resampled to 16 kHz mono float32 and joined into one array.

Policy for damaged input:

* bytes PyAV cannot open, or a container without an audio stream, raise
  ``AudioError("not_audio")`` - unless the bytes begin with the signature of an audio
  container (OGG, FLAC, WAV, MP4/M4A, MP3/ADTS, Matroska/WebM, AMR), in which case the
  file is taken to be a broken note and the reason is "corrupt" (a note cut off or damaged
  inside its header pages, for instance);
* any FFmpeg error raised after the container opened (while demuxing, decoding or
  resampling) raises ``AudioError("corrupt")``; packets are not skipped, so a note is either
  decoded whole or refused;
* a stream claiming a sample rate no recording has (outside 1 kHz to 768 kHz) is "corrupt";
* damage the demuxer recovers from by itself is not an error: a file cut short in its audio
  data comes back as a shorter ``Audio`` holding what was there, and an OGG page whose
  checksum fails is dropped by the demuxer, so the note comes back shorter by that page.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Final

import av
import av.error
import numpy as np
import numpy.typing as npt
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from av.audio.stream import AudioStream
from av.container import InputContainer

__all__ = [
    "MAX_BYTES",
    "MAX_SECONDS",
    "REASONS",
    "SAMPLE_RATE",
    "SILENCE_RMS",
    "Audio",
    "AudioError",
    "decode",
]

MAX_BYTES = 16 * 1024 * 1024
MAX_SECONDS = 120.0
SAMPLE_RATE = 16_000

SILENCE_RMS: Final = 1e-4
"""RMS below which a note counts as silent: -80 dBFS, under the noise of 16-bit dither."""

REASONS: Final = frozenset({"too_big", "too_long", "not_audio", "corrupt", "empty", "silent"})

_AV_TIME_BASE: Final = 1_000_000
_RATE_RANGE: Final = (1_000, 768_000)
"""Sample rates a real recording can have; a header claiming another is damaged."""


class AudioError(Exception):
    """Why a voice note cannot be used.

    ``reason`` is one of: "too_big", "too_long", "not_audio", "corrupt", "empty", "silent";
    ``detail`` says more, for logs.
    """

    reason: str

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown audio error reason: {reason!r}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Audio:
    """A decoded voice note: 16 kHz mono float32 samples in [-1, 1] and their levels."""

    samples: npt.NDArray[np.float32]
    duration: float
    source_format: str
    peak: float
    rms: float


def decode(data: bytes, *, max_seconds: float = MAX_SECONDS, max_bytes: int = MAX_BYTES) -> Audio:
    """Decode ``data`` to 16 kHz mono float32 samples, or raise ``AudioError`` saying why not.

    Checks run in this order: size ("too_big"), container and audio stream ("not_audio"),
    the duration the container declares ("too_long"), then decoding, which stops as soon as
    more than ``max_seconds`` of audio has come out ("too_long") and turns FFmpeg errors into
    "corrupt". Zero bytes or zero decoded samples give "empty"; an RMS under ``SILENCE_RMS``
    gives "silent". No other exception escapes.
    """
    if len(data) > max_bytes:
        raise AudioError("too_big", f"{len(data)} bytes, limit {max_bytes}")
    if not data:
        raise AudioError("empty", "no bytes")

    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="replace")
    except (av.error.FFmpegError, ValueError, OverflowError) as exc:
        reason = "corrupt" if _has_audio_signature(data) else "not_audio"
        raise AudioError(reason, str(exc)) from exc

    with container:
        stream = _audio_stream(container)
        source_format = container.format.name
        declared = _declared_seconds(container, stream)
        if declared is not None and declared > max_seconds:
            raise AudioError("too_long", f"{declared:.1f} s declared, limit {max_seconds:g} s")
        try:
            samples = _decode_stream(container, stream, max_seconds)
        except (av.error.FFmpegError, ValueError, OverflowError) as exc:
            raise AudioError("corrupt", str(exc)) from exc

    if samples.size == 0:
        raise AudioError("empty", "no audio samples decoded")
    np.clip(samples, -1.0, 1.0, out=samples)
    peak = float(np.max(np.abs(samples)))
    rms = math.sqrt(float(np.mean(np.square(samples), dtype=np.float64)))
    if rms < SILENCE_RMS:
        raise AudioError("silent", f"rms {rms:.2e} below {SILENCE_RMS:g}")
    return Audio(
        samples=samples,
        duration=samples.size / SAMPLE_RATE,
        source_format=source_format,
        peak=peak,
        rms=rms,
    )


def _has_audio_signature(data: bytes) -> bool:
    """Say whether ``data`` begins like one of the audio containers voice notes come in."""
    if data.startswith((b"OggS", b"fLaC", b"ID3", b"\x1aE\xdf\xa3", b"#!AMR")):
        return True
    if data[:4] in (b"RIFF", b"RF64") and data[8:12] == b"WAVE":
        return True
    if data[4:8] == b"ftyp":
        return True
    return len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0


def _audio_stream(container: InputContainer) -> AudioStream:
    """Return the container's first decodable audio stream, or raise "not_audio"."""
    for stream in container.streams.audio:
        if stream.codec_context is not None:
            return stream
    raise AudioError("not_audio", f"no audio stream in {container.format.name!r}")


def _declared_seconds(container: InputContainer, stream: AudioStream) -> float | None:
    """Return the duration the container or stream header declares, if any."""
    if stream.duration is not None and stream.duration > 0 and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / _AV_TIME_BASE
    return None


def _decode_stream(
    container: InputContainer, stream: AudioStream, max_seconds: float
) -> npt.NDArray[np.float32]:
    """Decode, resample and join one audio stream, stopping once past ``max_seconds``."""
    limit = math.floor(max_seconds * SAMPLE_RATE)
    chunks: list[npt.NDArray[np.float32]] = []
    total = 0
    resampler: AudioResampler | None = None
    source: tuple[str, str, int] | None = None

    def take(frames: list[AudioFrame]) -> None:
        nonlocal total
        for out in frames:
            chunk = np.asarray(out.to_ndarray(), dtype=np.float32).reshape(-1)
            if chunk.size:
                chunks.append(chunk)
                total += chunk.size
        if total > limit:
            raise AudioError("too_long", f"over {max_seconds:g} s of audio decoded")

    for frame in container.decode(stream):
        shape = (frame.format.name, frame.layout.name, frame.sample_rate)
        if resampler is None or shape != source:
            if not _RATE_RANGE[0] <= frame.sample_rate <= _RATE_RANGE[1]:
                raise AudioError("corrupt", f"implausible sample rate {frame.sample_rate} Hz")
            if resampler is not None:
                take(resampler.resample(None))
            resampler = AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            source = shape
        take(resampler.resample(frame))
    if resampler is not None:
        take(resampler.resample(None))

    if not chunks:
        return np.zeros(0, dtype=np.float32)
    samples = np.concatenate(chunks)
    chunks.clear()
    return samples
