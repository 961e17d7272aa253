"""Scoring a spoken attempt against the sentence it should be, from the recogniser's words.

Each word of the reference is aligned with the transcript (accents and case
folded). A word heard gets the recogniser's probability for it as its score
(0-100), a word missed or replaced gets 0. From those come the utterance's
accuracy (the mean word score), completeness (the share of reference words
heard) and fluency (speech rate against 2-3.5 words a second and pauses over
0.6 s between words), and per sound the mean score of the words whose pronunciation
carries it (the trilled r: perro, rosa; see :mod:`voice.phonemes`). This is the
recogniser-confidence baseline; it measures how sure the model is of each word, which
a badly rolled r lowers but does not always show.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from tutor.text import fold
from voice import phonemes
from voice.stt import Transcript

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


@dataclass(frozen=True, slots=True)
class WordScore:
    word: str
    score: int  # 0-100
    heard: str  # what the recogniser wrote there ("" if nothing)


@dataclass(frozen=True, slots=True)
class Score:
    accuracy: int
    completeness: int
    fluency: int
    words: tuple[WordScore, ...]
    sounds: dict[str, int] = field(default_factory=dict)

    def weakest(self, limit: int = 3, below: int = 70) -> list[WordScore]:
        """The words to work on, worst first."""
        return sorted((w for w in self.words if w.score < below), key=lambda w: w.score)[:limit]


def words_of(text: str) -> list[str]:
    return _WORD.findall(text)


def score(
    reference: str,
    transcript: Transcript,
    sounds: Sequence[str] = (),
    *,
    language: str | None = None,
) -> Score:
    """The attempt's scores against ``reference`` (the drill sentence, or the learner's own
    transcript when they spoke freely), in ``language`` (default: the transcript's)."""
    wanted = words_of(reference)
    heard = list(transcript.words)
    heard_keys = [fold(w.text) for w in heard]
    wanted_keys = [fold(w) for w in wanted]
    matcher = difflib.SequenceMatcher(a=wanted_keys, b=heard_keys, autojunk=False)
    scores: list[WordScore] = [WordScore(w, 0, "") for w in wanted]
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for offset in range(i2 - i1):
                word = heard[j1 + offset]
                probability = word.probability if word.probability is not None else 0.8
                scores[i1 + offset] = WordScore(
                    wanted[i1 + offset], round(100 * probability), word.text.strip()
                )
        elif op == "replace":
            for offset in range(i2 - i1):
                near = heard[min(j1 + offset, j2 - 1)].text.strip()
                scores[i1 + offset] = WordScore(wanted[i1 + offset], 0, near)
    matched = sum(1 for s in scores if s.score > 0)
    accuracy = round(sum(s.score for s in scores) / len(scores)) if scores else 0
    completeness = round(100 * matched / len(scores)) if scores else 0
    return Score(
        accuracy=accuracy,
        completeness=completeness,
        fluency=_fluency(transcript),
        words=tuple(scores),
        sounds=_sounds(scores, sounds, language or transcript.language or "en"),
    )


def _fluency(transcript: Transcript) -> int:
    words = transcript.words
    if len(words) < 2:
        return 100 if words else 0
    spoken = max(words[-1].end - words[0].start, 0.1)
    rate = len(words) / spoken
    pauses = sum(1 for a, b in zip(words, words[1:], strict=False) if b.start - a.end > 0.6)
    rate_score = 100 if 2.0 <= rate <= 3.5 else max(0, 100 - round(40 * min(abs(rate - 2.75), 2.5)))
    return max(0, rate_score - 15 * pauses)


def _sounds(scores: list[WordScore], sounds: Sequence[str], language: str) -> dict[str, int]:
    if not sounds or not scores:
        return {}
    pronounced = phonemes.ipa([s.word for s in scores], language)
    found: dict[str, int] = {}
    for sound in sounds:
        carriers = [
            s
            for s, ipa in zip(scores, pronounced, strict=True)
            if phonemes.carries(sound, s.word, ipa, language)
        ]
        if carriers:
            found[sound] = round(sum(s.score for s in carriers) / len(carriers))
    return found


def from_evidence(
    words: Sequence[tuple[str, int, bool]],
    transcript: Transcript,
    sounds: Sequence[str] = (),
    *,
    language: str | None = None,
) -> Score:
    """The attempt's scores from per-word scores measured on the audio (:mod:`voice.gop`):
    ``(word, score 0-100, heard)`` for each word of the reference, in order; fluency still
    comes from the recogniser's timing."""
    heard_by_recogniser = {fold(w.text) for w in transcript.words}
    scores = [
        WordScore(word, value, word if fold(word) in heard_by_recogniser else "")
        for word, value, _ in words
    ]
    heard = sum(1 for _, _, was_heard in words if was_heard)
    return Score(
        accuracy=round(sum(s.score for s in scores) / len(scores)) if scores else 0,
        completeness=round(100 * heard / len(scores)) if scores else 0,
        fluency=_fluency(transcript),
        words=tuple(scores),
        sounds=_sounds(scores, sounds, language or transcript.language or "en"),
    )
