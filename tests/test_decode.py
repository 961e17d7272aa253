"""Tests for voice.decode: real voice-note containers, generated files and fuzzed bytes."""

from __future__ import annotations

import importlib
import io
import random
import shutil
import subprocess
import wave
from dataclasses import FrozenInstanceError
from pathlib import Path
from types import ModuleType

import numpy as np
import numpy.typing as npt
import pytest
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler

from voice.decode import (
    MAX_BYTES,
    MAX_SECONDS,
    SAMPLE_RATE,
    SILENCE_RMS,
    Audio,
    AudioError,
    decode,
)

AUDIO_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference" / "data" / "audio"
TELEGRAM_OGG = AUDIO_DIR / "telegram_container_samples" / "telegram.ogg"
TELEGRAM_MP3 = AUDIO_DIR / "telegram_container_samples" / "telegram.mp3"
JFK_FLAC = AUDIO_DIR / "whisper" / "jfk.flac"
LEOPARD_WAV = AUDIO_DIR / "picovoice_leopard" / "test.wav"
LEOPARD_EMPTY_WAV = AUDIO_DIR / "picovoice_leopard" / "empty.wav"
REAL_FILES = (TELEGRAM_OGG, TELEGRAM_MP3, JFK_FLAC, LEOPARD_WAV, LEOPARD_EMPTY_WAV)

FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")

OGG_FIRST_AUDIO_PAGE = 841
"""Byte offset of telegram.ogg's first audio page; OpusHead and OpusTags pages come before."""

needs_ffmpeg = pytest.mark.skipif(
    FFMPEG is None or FFPROBE is None, reason="ffmpeg/ffprobe not installed"
)


def _module() -> ModuleType:
    return importlib.import_module("voice.decode")


def _ffmpeg(*args: str) -> None:
    assert FFMPEG is not None
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args],
        check=True,
        capture_output=True,
    )


def _probe_seconds(path: Path) -> float:
    assert FFPROBE is not None
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip())


def _wav_bytes(channels: npt.NDArray[np.float64], rate: int = 16_000) -> bytes:
    """Return 16-bit PCM WAV bytes for a (channels, samples) array of values in [-1, 1]."""
    pcm = np.round(np.clip(channels, -1.0, 1.0) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(pcm.shape[0])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.T.tobytes())
    return buf.getvalue()


def _sine(seconds: float, rate: int = 16_000, freq: float = 440.0) -> npt.NDArray[np.float64]:
    t = np.arange(round(seconds * rate)) / rate
    return np.sin(2 * np.pi * freq * t)


def _check_audio(audio: Audio) -> None:
    assert isinstance(audio, Audio)
    assert audio.samples.dtype == np.float32
    assert audio.samples.ndim == 1
    assert audio.samples.size > 0
    assert float(audio.samples.min()) >= -1.0
    assert float(audio.samples.max()) <= 1.0
    assert audio.duration == pytest.approx(audio.samples.size / SAMPLE_RATE)
    assert audio.peak == pytest.approx(float(np.abs(audio.samples).max()))
    rms = float(np.sqrt(np.mean(np.square(audio.samples.astype(np.float64)))))
    assert audio.rms == pytest.approx(rms, rel=1e-5)
    assert audio.rms >= SILENCE_RMS


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Encode the formats the reference data lacks, once for the module."""
    if FFMPEG is None or FFPROBE is None:
        pytest.skip("ffmpeg/ffprobe not installed")
    out = tmp_path_factory.mktemp("audio")
    sine = ["-f", "lavfi", "-i", "sine=frequency=440:duration=2"]
    files = {
        "m4a": out / "sine.m4a",
        "opus": out / "jfk.ogg",
        "stereo_wav": out / "stereo.wav",
        "long_ogg": out / "long.ogg",
        "silent_wav": out / "silent.wav",
        "silent_opus": out / "silent.ogg",
        "video_only": out / "video.mp4",
    }
    _ffmpeg(*sine, "-c:a", "aac", "-b:a", "64k", str(files["m4a"]))
    _ffmpeg(
        "-i", str(JFK_FLAC), "-ac", "1", "-ar", "48000", "-c:a", "libopus", "-b:a", "24k",
        str(files["opus"]),
    )  # fmt: skip
    _ffmpeg(*sine, "-ac", "2", "-ar", "44100", "-c:a", "pcm_s16le", str(files["stereo_wav"]))
    _ffmpeg(
        "-f", "lavfi", "-i", "sine=frequency=300:duration=180", "-ac", "1",
        "-c:a", "libopus", "-b:a", "6k", str(files["long_ogg"]),
    )  # fmt: skip
    silence = ["-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-t", "2"]
    _ffmpeg(*silence, "-c:a", "pcm_s16le", str(files["silent_wav"]))
    _ffmpeg(*silence, "-c:a", "libopus", str(files["silent_opus"]))
    _ffmpeg(
        "-f", "lavfi", "-i", "color=size=32x32:duration=0.5", "-c:v", "mpeg4",
        str(files["video_only"]),
    )  # fmt: skip
    return files


def test_reference_files_exist() -> None:
    for path in REAL_FILES:
        assert path.is_file(), path


def test_public_constants() -> None:
    assert MAX_BYTES == 16 * 1024 * 1024
    assert MAX_SECONDS == 120.0
    assert SAMPLE_RATE == 16_000


@needs_ffmpeg
@pytest.mark.parametrize(
    ("path", "source_format"),
    [
        (TELEGRAM_OGG, "ogg"),
        (TELEGRAM_MP3, "mp3"),
        (JFK_FLAC, "flac"),
        (LEOPARD_WAV, "wav"),
        (LEOPARD_EMPTY_WAV, "wav"),
    ],
    ids=["telegram-ogg-opus", "telegram-mp3", "jfk-flac-stereo", "leopard-wav", "leopard-empty"],
)
def test_real_voice_notes(path: Path, source_format: str) -> None:
    audio = decode(path.read_bytes())
    _check_audio(audio)
    assert audio.source_format == source_format
    assert audio.duration == pytest.approx(_probe_seconds(path), abs=0.1)


def test_jfk_is_eleven_seconds() -> None:
    audio = decode(JFK_FLAC.read_bytes())
    assert audio.duration == pytest.approx(11.0, abs=0.1)
    assert audio.samples.size == pytest.approx(11 * SAMPLE_RATE, abs=0.1 * SAMPLE_RATE)


def test_leopard_empty_wav_is_room_noise_not_silence() -> None:
    """picovoice's empty.wav holds no speech but real background noise, so it is not silent."""
    audio = decode(LEOPARD_EMPTY_WAV.read_bytes())
    assert audio.rms > 10 * SILENCE_RMS


@pytest.mark.parametrize(
    ("key", "source_format"),
    [
        ("m4a", "mov,mp4,m4a,3gp,3g2,mj2"),
        ("opus", "ogg"),
        ("stereo_wav", "wav"),
    ],
)
def test_generated_formats(generated: dict[str, Path], key: str, source_format: str) -> None:
    path = generated[key]
    audio = decode(path.read_bytes())
    _check_audio(audio)
    assert audio.source_format == source_format
    assert audio.duration == pytest.approx(_probe_seconds(path), abs=0.1)


def test_sine_keeps_its_level(generated: dict[str, Path]) -> None:
    """ffmpeg's sine source is 1/8 full scale; resampling and downmixing keep it near that.

    The middle second is measured because AAC rings at the tone's onset.
    """
    for key in ("m4a", "stereo_wav"):
        audio = decode(generated[key].read_bytes())
        middle = audio.samples[SAMPLE_RATE // 2 : 3 * SAMPLE_RATE // 2]
        assert float(np.abs(middle).max()) == pytest.approx(0.125, abs=0.01)
        assert audio.rms == pytest.approx(0.125 / np.sqrt(2), abs=0.01)


def test_opus_from_jfk_matches_flac(generated: dict[str, Path]) -> None:
    flac = decode(JFK_FLAC.read_bytes())
    opus = decode(generated["opus"].read_bytes())
    assert opus.duration == pytest.approx(flac.duration, abs=0.1)
    assert opus.rms == pytest.approx(flac.rms, rel=0.1)


def test_stereo_is_downmixed_not_one_channel() -> None:
    """Opposite-phase channels cancel in a downmix; taking one channel would not."""
    tone = 0.5 * _sine(1.0)
    with pytest.raises(AudioError) as caught:
        decode(_wav_bytes(np.stack([tone, -tone])))
    assert caught.value.reason == "silent"

    left_only = decode(_wav_bytes(np.stack([tone, np.zeros_like(tone)])))
    both = decode(_wav_bytes(np.stack([tone, tone])))
    _check_audio(left_only)
    assert left_only.samples.ndim == 1
    assert 0.1 < left_only.peak < both.peak


def test_resamples_other_rates() -> None:
    audio = decode(_wav_bytes(0.5 * _sine(1.5, rate=8_000)[np.newaxis, :], rate=8_000))
    assert audio.samples.size == pytest.approx(1.5 * SAMPLE_RATE, abs=64)
    assert audio.peak == pytest.approx(0.5, abs=0.02)


def test_too_big_is_checked_before_decoding() -> None:
    data = TELEGRAM_OGG.read_bytes()
    with pytest.raises(AudioError) as caught:
        decode(data, max_bytes=len(data) - 1)
    assert caught.value.reason == "too_big"
    with pytest.raises(AudioError) as caught:
        decode(b"\x00" * 64, max_bytes=63)
    assert caught.value.reason == "too_big"
    _check_audio(decode(data, max_bytes=len(data)))


def test_three_minutes_is_too_long(generated: dict[str, Path]) -> None:
    with pytest.raises(AudioError) as caught:
        decode(generated["long_ogg"].read_bytes())
    assert caught.value.reason == "too_long"


def test_too_long_with_a_smaller_limit() -> None:
    data = JFK_FLAC.read_bytes()
    with pytest.raises(AudioError) as caught:
        decode(data, max_seconds=10.0)
    assert caught.value.reason == "too_long"
    assert decode(data, max_seconds=11.5).duration == pytest.approx(11.0, abs=0.1)


class _CountingResampler:
    """Wraps AudioResampler and adds up the samples it hands back."""

    produced = 0

    def __init__(self, format: str, layout: str, rate: int) -> None:
        self._inner = AudioResampler(format=format, layout=layout, rate=rate)

    def resample(self, frame: AudioFrame | None) -> list[AudioFrame]:
        frames = self._inner.resample(frame)
        type(self).produced += sum(f.samples for f in frames)
        return frames


@pytest.mark.parametrize("key", ["long_ogg", "jfk"])
def test_decoding_stops_soon_after_the_limit(
    generated: dict[str, Path], monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    """Without a declared duration, decoding stops just past the limit, not at the end."""
    module = _module()
    monkeypatch.setattr(module, "_declared_seconds", lambda *_: None)
    monkeypatch.setattr(module, "AudioResampler", _CountingResampler)
    monkeypatch.setattr(_CountingResampler, "produced", 0)
    data = JFK_FLAC.read_bytes() if key == "jfk" else generated["long_ogg"].read_bytes()
    limit = 5.0 if key == "jfk" else MAX_SECONDS
    with pytest.raises(AudioError) as caught:
        decode(data, max_seconds=limit)
    assert caught.value.reason == "too_long"
    assert limit * SAMPLE_RATE < _CountingResampler.produced < (limit + 0.5) * SAMPLE_RATE


@pytest.mark.parametrize("key", ["silent_wav", "silent_opus"])
def test_digital_silence_is_silent(generated: dict[str, Path], key: str) -> None:
    with pytest.raises(AudioError) as caught:
        decode(generated[key].read_bytes())
    assert caught.value.reason == "silent"


def test_dither_level_noise_is_silent() -> None:
    rng = np.random.default_rng(7)
    lsb_noise = rng.integers(-1, 2, size=16_000) / 32767
    with pytest.raises(AudioError) as caught:
        decode(_wav_bytes(lsb_noise[np.newaxis, :]))
    assert caught.value.reason == "silent"


def test_quiet_speech_is_not_silent() -> None:
    data = _wav_bytes(0.002 * _sine(1.0)[np.newaxis, :])
    audio = decode(data)
    assert audio.rms == pytest.approx(0.002 / np.sqrt(2), rel=0.05)


@pytest.mark.parametrize(
    "data", [b"", _wav_bytes(np.zeros((1, 0)))], ids=["no-bytes", "wav-without-frames"]
)
def test_empty(data: bytes) -> None:
    with pytest.raises(AudioError) as caught:
        decode(data)
    assert caught.value.reason == "empty"


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 8,
        "Hola, ¿qué tal? Esto es un mensaje de texto, no una nota de voz.\n".encode() * 20,
        b"%PDF-1.7\n" + b"\x00" * 500,
        b"\x00" * 4096,
    ],
    ids=["png", "text", "pdf", "zeros"],
)
def test_not_audio(data: bytes) -> None:
    with pytest.raises(AudioError) as caught:
        decode(data)
    assert caught.value.reason == "not_audio"


def test_video_without_audio_is_not_audio(generated: dict[str, Path]) -> None:
    with pytest.raises(AudioError) as caught:
        decode(generated["video_only"].read_bytes())
    assert caught.value.reason == "not_audio"


def test_ogg_truncated_inside_its_header_pages_is_corrupt() -> None:
    data = TELEGRAM_OGG.read_bytes()
    for cut in (40, 100, 500, OGG_FIRST_AUDIO_PAGE - 1):
        with pytest.raises(AudioError) as caught:
            decode(data[:cut])
        assert caught.value.reason == "corrupt", cut


def test_ogg_truncated_inside_its_audio_comes_back_shorter() -> None:
    data = TELEGRAM_OGG.read_bytes()
    full = decode(data)
    half = decode(data[: len(data) // 2])
    _check_audio(half)
    assert half.source_format == "ogg"
    assert 0.5 < half.duration < full.duration - 1.0
    np.testing.assert_allclose(half.samples[:8000], full.samples[:8000], atol=1e-6)


def test_ogg_bit_flip_in_a_header_page_is_corrupt() -> None:
    data = bytearray(TELEGRAM_OGG.read_bytes())
    data[100] ^= 0x10
    with pytest.raises(AudioError) as caught:
        decode(bytes(data))
    assert caught.value.reason == "corrupt"


def test_ogg_bit_flip_in_an_audio_page_drops_that_page() -> None:
    """The page checksum fails, the demuxer skips the page and the rest decodes."""
    data = TELEGRAM_OGG.read_bytes()
    full = decode(data)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    audio = decode(bytes(flipped))
    _check_audio(audio)
    assert full.duration - 0.5 < audio.duration < full.duration


def test_flac_that_breaks_while_decoding_is_corrupt() -> None:
    """A flipped bit in FLAC's STREAMINFO opens fine and fails in the decoder."""
    data = bytearray(JFK_FLAC.read_bytes())
    data[10] ^= 0x10
    with pytest.raises(AudioError) as caught:
        decode(bytes(data))
    assert caught.value.reason == "corrupt"


def test_implausible_sample_rate_is_corrupt() -> None:
    """A WAV header claiming about 537 MHz is refused at once instead of being resampled."""
    data = bytearray(_wav_bytes(0.5 * _sine(0.5)[np.newaxis, :]))
    data[24:28] = (536_886_912).to_bytes(4, "little")
    with pytest.raises(AudioError) as caught:
        decode(bytes(data))
    assert caught.value.reason == "corrupt"


def _decode_or_reason(data: bytes) -> Audio | str:
    try:
        audio = decode(data)
    except AudioError as exc:
        return exc.reason
    _check_audio(audio)
    return audio


def test_fuzz_random_bytes_only_raise_audio_error() -> None:
    rng = random.Random(20240611)
    prefixes = [b"", b"", b"OggS", b"fLaC", b"ID3", b"RIFF\x00\x10\x00\x00WAVE", b"\xff\xfb"]
    reasons = set()
    for _ in range(200):
        body = rng.randbytes(rng.randint(0, 4096))
        result = _decode_or_reason(rng.choice(prefixes) + body)
        if isinstance(result, str):
            reasons.add(result)
    assert reasons <= {"not_audio", "corrupt", "empty", "silent", "too_long"}


def test_fuzz_damaged_ogg_only_raises_audio_error() -> None:
    rng = random.Random(8675309)
    original = TELEGRAM_OGG.read_bytes()
    full = decode(original).duration
    for i in range(50):
        if i % 2:
            data = original[: rng.randrange(len(original))]
        else:
            flipped = bytearray(original)
            for _ in range(rng.randint(1, 16)):
                flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
            data = bytes(flipped)
        result = _decode_or_reason(data)
        if isinstance(result, Audio):
            assert result.duration <= full + 0.1


def test_audio_error_carries_its_reason() -> None:
    error = AudioError("corrupt", "bad page")
    assert error.reason == "corrupt"
    assert "bad page" in str(error)
    assert AudioError("empty").reason == "empty"
    with pytest.raises(ValueError, match="reason"):
        AudioError("weird")


def test_audio_is_frozen() -> None:
    audio = decode(LEOPARD_WAV.read_bytes())
    with pytest.raises(FrozenInstanceError):
        audio.duration = 1.0  # type: ignore[misc]
