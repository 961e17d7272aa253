"""Functional checks of the forced-decoding pronunciation scorer on real recordings."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from voice.decode import decode
from voice.gop import Gop, gop
from voice.score import words_of
from voice.stt import FasterWhisper

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "data"
SPEECHOCEAN = DATA / "speechocean762"
JFK = DATA / "audio" / "whisper" / "jfk.flac"
JFK_TEXT = (
    "And so my fellow Americans ask not what your country can do for you "
    "ask what you can do for your country"
)
WRONG_TEXT = "The quick brown fox jumps over the lazy dog near the river bank today"

pytestmark = pytest.mark.skipif(
    not (SPEECHOCEAN / "utterances.tsv").is_file() or not JFK.is_file(),
    reason="reference data not available",
)


@pytest.fixture(scope="module")
def model() -> FasterWhisper:
    whisper = FasterWhisper()
    try:
        whisper.load()
    except Exception as exc:
        pytest.skip(f"speech model not available: {exc}")
    return whisper


def _check(result: Gop, reference: str) -> None:
    assert [word.word for word in result.words] == words_of(reference)
    assert 0 <= result.accuracy <= 100
    for word in result.words:
        assert 0 <= word.score <= 100
        assert word.log_prob <= 0.0
        assert word.heard == (word.score >= 50)


def test_speechocean_utterances_score_in_range(model: FasterWhisper) -> None:
    with (SPEECHOCEAN / "utterances.tsv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))[:4]
    for row in rows:
        samples = decode((SPEECHOCEAN / row["wav_path"]).read_bytes()).samples
        right = gop(model, samples, row["text"])
        _check(right, row["text"])
        wrong = gop(model, samples, WRONG_TEXT)
        _check(wrong, WRONG_TEXT)
        assert wrong.accuracy < right.accuracy


def test_jfk_right_text_scores_far_above_a_wrong_one(model: FasterWhisper) -> None:
    samples = decode(JFK.read_bytes()).samples
    right = gop(model, samples, JFK_TEXT)
    wrong = gop(model, samples, WRONG_TEXT)
    _check(right, JFK_TEXT)
    _check(wrong, WRONG_TEXT)
    assert right.accuracy >= 80
    assert right.accuracy - wrong.accuracy >= 40
    assert sum(word.heard for word in right.words) >= len(right.words) - 2


def test_empty_reference_and_silence(model: FasterWhisper) -> None:
    import numpy as np

    assert gop(model, np.zeros(16_000, dtype=np.float32), "") == Gop(0, ())
    silent = gop(model, np.zeros(0, dtype=np.float32), "hello there")
    assert [word.word for word in silent.words] == ["hello", "there"]
    assert silent.accuracy < 20
