"""Property-based tests of the voice-note decoder: damaged audio is refused, never a crash.

:func:`voice.decode.decode` gets random bytes and real notes (Telegram's OGG/Opus, an
OGG/Opus, M4A, FLAC and WAV made with ffmpeg at test time) truncated, bit-flipped, overwritten,
spliced and with forged container signatures. It must return decoded audio that keeps its
invariants or raise its own ``AudioError`` with a known reason, within a time limit.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.conftest import REFERENCE_DATA
from tests.support.properties import examples
from voice.decode import REASONS, SAMPLE_RATE, Audio, AudioError, decode

pytestmark = [pytest.mark.reliability]

DEFAULT = examples(500)
LONG = settings(DEFAULT, max_examples=5000)
TELEGRAM_OGG = REFERENCE_DATA / "audio" / "telegram_container_samples" / "telegram.ogg"
FFMPEG = shutil.which("ffmpeg")
#: Beginnings of every container the decoder sniffs, to forge in front of junk.
SIGNATURES = [
    b"OggS", b"fLaC", b"ID3", b"\x1aE\xdf\xa3", b"#!AMR", b"RIFF\x24\x00\x00\x00WAVEfmt ",
    b"\x00\x00\x00\x18ftypM4A ", b"\xff\xfb", b"\xff\xf1",
]  # fmt: skip


def _wav(seconds: float = 0.5) -> bytes:
    t = np.arange(int(seconds * 8000)) / 8000
    pcm = (np.sin(2 * np.pi * 440 * t) * 12000).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def _encoded(out: Path, suffix: str, *codec: str) -> bytes:
    """One second of a tone, encoded by ffmpeg."""
    assert FFMPEG is not None
    path = out / f"tone.{suffix}"
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi",
         "-i", "sine=frequency=330:duration=1", "-ac", "1", *codec, str(path)],
        check=True, capture_output=True,
    )  # fmt: skip
    return path.read_bytes()


def _seeds() -> list[bytes]:
    seeds = [TELEGRAM_OGG.read_bytes(), _wav()]
    if FFMPEG is not None:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder)
            seeds += [
                _encoded(out, "ogg", "-ar", "48000", "-c:a", "libopus", "-b:a", "16k"),
                _encoded(out, "m4a", "-c:a", "aac", "-b:a", "32k"),
                _encoded(out, "flac", "-ar", "16000", "-c:a", "flac"),
            ]
    return seeds


SEEDS = _seeds()


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A real note, damaged one to four times."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["cut", "flip", "overwrite", "drop", "repeat", "splice"]))
        if action == "cut":
            del data[at:]
        elif action == "flip":
            for _ in range(draw(st.integers(1, 16))):
                spot = draw(st.integers(0, len(data) - 1))
                data[spot] ^= 1 << draw(st.integers(0, 7))
        elif action == "overwrite":
            junk = draw(st.binary(min_size=1, max_size=64))
            data[at : at + len(junk)] = junk
        elif action == "drop":
            del data[at : at + draw(st.integers(1, 4096))]
        elif action == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 4096))]
        else:
            other = draw(st.sampled_from(SEEDS))
            data[at:] = other[draw(st.integers(0, len(other) - 1)) :]
    return bytes(data)


NOTES = (
    st.binary(max_size=2048)
    | damaged()
    | st.tuples(st.sampled_from(SIGNATURES), st.binary(max_size=512)).map(b"".join)
)


def _decoded_or_refused(data: bytes) -> None:
    try:
        audio = decode(data, max_seconds=30)
    except AudioError as error:
        reason = error.reason
        assert reason in REASONS
        return
    assert isinstance(audio, Audio)
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert 0 < audio.samples.size <= 30 * SAMPLE_RATE + SAMPLE_RATE
    assert np.isfinite(audio.samples).all()
    assert -1.0 <= float(audio.samples.min()) and float(audio.samples.max()) <= 1.0
    assert audio.duration == audio.samples.size / SAMPLE_RATE


@DEFAULT
@given(data=NOTES)
@example(data=b"")
@example(data=b"OggS")
@example(data=SEEDS[0][: len(SEEDS[0]) // 2])
@example(data=b"RIFF\xff\xff\xff\xffWAVEfmt " + b"\x00" * 64)
def test_any_bytes_decode_or_are_refused(data: bytes) -> None:
    """Injects: random bytes, forged container signatures before junk, and real OGG/Opus,
    M4A, FLAC and WAV notes truncated, bit-flipped, overwritten, cut and spliced together.
    Checks: decode() returns finite 16 kHz mono float32 samples in [-1, 1] or raises
    AudioError with a known reason, each within 5 s; never another exception or a hang."""
    _decoded_or_refused(data)


def test_the_seeds_decode() -> None:
    """Injects: nothing: the undamaged notes the mutations start from.
    Checks: each decodes, so the damaged ones start from real audio."""
    for seed in SEEDS:
        assert decode(seed).duration > 0.3


@LONG
@pytest.mark.long
@given(data=NOTES)
def test_any_bytes_decode_or_are_refused_long(data: bytes) -> None:
    """Injects: thousands of random and damaged voice notes.
    Checks: decoded audio or an AudioError with a known reason; never a crash or a hang."""
    _decoded_or_refused(data)
