"""Goodness of pronunciation from the recogniser's own evidence, by forced decoding.

The reference sentence is tokenised with the model's tokenizer and fed to the Whisper
decoder under teacher forcing, once with the learner's audio and once with silence of the
same length. At every reference token the decoder's distribution over the vocabulary gives
the probability of that token; punctuation is taken out and the rest renormalised, since
the recogniser's wish for a comma says nothing about how a word sounded. A word's
probability ``p`` is the geometric mean over its tokens.

With silence the decoder still rates the reference, from the text alone (how expected the
words are in that order). A word's score weighs the audio against that prior::

    score = 100 * p / (p + q ** PRIOR_WEIGHT)

where ``q`` is the word's probability given silence: 50 when the audio supports the word
exactly as much as the (weighted) prior does, towards 100 when the audio adds evidence,
towards 0 when it takes it away. ``PRIOR_WEIGHT`` 0.5 (the geometric mean of the prior
and a flat one) is a single global constant; ``bench/pronunciation_eval.py`` reports
the unweighted variants next to it. The utterance's accuracy is the mean word score, so
words not said pull it down.

Only the first 30 seconds of audio are scored (one Whisper window), and references are
limited to :data:`MAX_TOKENS` tokens.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from voice.score import words_of
from voice.stt import FasterWhisper, Samples

__all__ = [
    "HEARD_SCORE",
    "MAX_TOKENS",
    "PRIOR_WEIGHT",
    "Evidence",
    "Gop",
    "WordGop",
    "evidence",
    "gop",
    "scored",
]

PRIOR_WEIGHT = 0.5
"""How much the text-only prior counts against the audio (0: not at all, 1: fully)."""
HEARD_SCORE = 50
"""A word whose score reaches this is counted as heard: the audio supports it."""
MAX_TOKENS = 200
"""The longest reference, in tokens, the decoder is asked to follow."""

_SAMPLE_RATE = 16_000
_WINDOW_SAMPLES = 30 * _SAMPLE_RATE
_FLOOR = math.log(1e-12)


@dataclass(frozen=True, slots=True)
class WordGop:
    """One reference word: its score 0-100, its mean token log-probability given the audio
    (punctuation left out) and whether the audio supports it (score >= HEARD_SCORE)."""

    word: str
    score: int
    log_prob: float
    heard: bool


@dataclass(frozen=True, slots=True)
class Gop:
    """The utterance's accuracy 0-100 (the mean word score) and the words, in order."""

    accuracy: int
    words: tuple[WordGop, ...]


@dataclass(frozen=True, slots=True)
class Evidence:
    """Per reference word, the mean token log-probability given the audio and given silence."""

    words: tuple[str, ...]
    log_probs: tuple[float, ...]
    prior_log_probs: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    tokenizer: Any
    punctuation: npt.NDArray[np.int64]


_vocabularies: weakref.WeakKeyDictionary[FasterWhisper, _Vocabulary] = weakref.WeakKeyDictionary()
_vocabularies_lock = threading.Lock()


def _vocabulary(model: FasterWhisper) -> _Vocabulary:
    with _vocabularies_lock:
        known = _vocabularies.get(model)
        if known is not None:
            return known
        from faster_whisper.tokenizer import Tokenizer

        model.load()
        whisper = model._model
        tokenizer = Tokenizer(
            whisper.hf_tokenizer,
            bool(whisper.model.is_multilingual),
            task="transcribe",
            language="en",
        )
        texts = (whisper.hf_tokenizer.decode([index]) for index in range(tokenizer.eot))
        punctuation = np.array(
            [
                index
                for index, text in enumerate(texts)
                if text.strip() and not any(char.isalnum() for char in text)
            ],
            dtype=np.int64,
        )
        made = _Vocabulary(tokenizer, punctuation)
        _vocabularies[model] = made
        return made


def _sentence(words: Sequence[str]) -> list[str]:
    """The words as a recogniser writes them: lower case, a capital first letter and I."""
    lowered = [word.lower() for word in words]
    cased = [
        word.capitalize() if word in ("i", "i'm", "i'll", "i've", "i'd") else word
        for word in lowered
    ]
    if cased:
        cased[0] = cased[0][:1].upper() + cased[0][1:]
    return cased


def _log_softmax(logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    top = float(logits.max())
    shifted = logits - top
    result: npt.NDArray[np.float64] = shifted - math.log(float(np.exp(shifted).sum()))
    return result


def _token_log_probs(
    model: FasterWhisper, vocabulary: _Vocabulary, samples: Samples, tokens: list[int]
) -> list[float]:
    """Each token's log-probability under teacher forcing, punctuation renormalised away."""
    from faster_whisper.audio import pad_or_trim

    whisper = model._model
    tokenizer = vocabulary.tokenizer
    features = whisper.feature_extractor(samples[:_WINDOW_SAMPLES])
    encoded = whisper.encode(pad_or_trim(features))
    prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps, *tokens]
    result = whisper.model.generate(
        encoded,
        [prompt],
        beam_size=1,
        max_length=2 * len(tokens) + 4,
        return_logits_vocab=True,
        suppress_tokens=[],
        suppress_blank=False,
    )[0]
    rows = list(result.logits[0])[: len(tokens)]
    if len(rows) < len(tokens):
        aligned = whisper.model.align(
            encoded, tokenizer.sot_sequence, [tokens], int(features.shape[-1])
        )[0]
        return [math.log(max(float(p), 1e-12)) for p in aligned.text_token_probs]
    values = []
    for token, row in zip(tokens, rows, strict=True):
        log_probs = _log_softmax(np.asarray(row, dtype=np.float64))
        punctuation = float(np.exp(log_probs[vocabulary.punctuation]).sum())
        rest = max(1.0 - punctuation, 1e-6)
        values.append(max(float(log_probs[token]) - math.log(rest), _FLOOR))
    return values


def _per_word(values: Sequence[float], lengths: Sequence[int]) -> tuple[float, ...]:
    means = []
    start = 0
    for length in lengths:
        means.append(sum(values[start : start + length]) / length)
        start += length
    return tuple(means)


def evidence(model: FasterWhisper, samples: Samples, reference: str) -> Evidence:
    """Each reference word's mean token log-probability given the audio and given silence."""
    words = tuple(words_of(reference))
    if not words:
        return Evidence((), (), ())
    vocabulary = _vocabulary(model)
    word_tokens = [vocabulary.tokenizer.encode(" " + word) for word in _sentence(words)]
    tokens = [token for group in word_tokens for token in group]
    if len(tokens) > MAX_TOKENS:
        raise ValueError(f"reference too long: {len(tokens)} tokens, at most {MAX_TOKENS}")
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"expected mono samples (one dimension), got shape {audio.shape}")
    lengths = [len(group) for group in word_tokens]
    silence = np.zeros(min(max(audio.size, _SAMPLE_RATE), _WINDOW_SAMPLES), dtype=np.float32)
    prior = _per_word(_token_log_probs(model, vocabulary, silence, tokens), lengths)
    if audio.size == 0:
        return Evidence(words, tuple(_FLOOR for _ in words), prior)
    heard = _per_word(_token_log_probs(model, vocabulary, audio, tokens), lengths)
    return Evidence(words, heard, prior)


def scored(found: Evidence, prior_weight: float = PRIOR_WEIGHT) -> Gop:
    """Word scores and accuracy from the evidence (see the module docstring)."""
    words = []
    for word, log_prob, prior in zip(
        found.words, found.log_probs, found.prior_log_probs, strict=True
    ):
        if prior_weight == 0:  # no prior: the probability given the audio alone
            value = 100.0 * math.exp(log_prob) if log_prob > -700 else 0.0
        else:
            margin = log_prob - prior_weight * prior
            value = 100.0 / (1.0 + math.exp(-margin)) if margin > -700 else 0.0
        score = round(value)
        words.append(WordGop(word, score, log_prob, score >= HEARD_SCORE))
    if not words:
        return Gop(0, ())
    return Gop(round(sum(word.score for word in words) / len(words)), tuple(words))


def gop(model: FasterWhisper, samples: Samples, reference: str) -> Gop:
    """Score how well ``samples`` (16 kHz mono float32) pronounce ``reference``."""
    return scored(evidence(model, samples, reference))
