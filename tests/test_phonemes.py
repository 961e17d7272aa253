"""The phoneme view of words (Debian's espeak-ng) that names the sounds a drill scores."""

from __future__ import annotations

import pytest

from voice.phonemes import PATTERNS, carries, ipa
from voice.score import score
from voice.stt import Transcript, Word


@pytest.mark.parametrize(
    ("language", "sound", "yes", "no"),
    [
        ("es", "trilled_r", ["perro", "rosa", "honra"], ["pero", "caro", "mar"]),
        ("es", "tapped_r", ["pero", "caro"], ["perro", "rosa"]),
        ("es", "j_sound", ["gente", "gira", "caja"], ["gato", "guerra", "hola"]),
        ("es", "ll_y", ["llave", "yo"], ["hoy", "lana"]),
        ("es", "d_soft", ["cada", "nada"], ["donde"]),
        ("es", "n_tilde", ["niño", "año"], ["nino", "ano"]),
        ("es", "diphthong", ["bueno", "aire", "ciudad"], ["casa", "poeta"]),
        ("en", "h_sound", ["he", "house"], ["the", "hour", "ship"]),
        ("en", "short_i", ["ship", "sit", "women"], ["sheep", "like", "day"]),
        ("en", "long_ee", ["sheep", "eat", "people"], ["ship", "bread"]),
        ("en", "th_voiced", ["the", "they", "mother"], ["three", "tea"]),
        ("en", "th_voiceless", ["three", "bath"], ["the", "tree"]),
        ("en", "z_s", ["zoo", "his", "rooms"], ["sue", "this"]),
        ("en", "w_sound", ["west", "one"], ["vest", "write"]),
        ("en", "s_clusters", ["spain", "stop", "school"], ["sun", "ask"]),
        ("en", "ed_endings", ["walked", "wanted", "liked", "stopped"], ["bed", "need", "walk"]),
        ("en", "diphthong", ["day", "like", "boy", "now", "go"], ["cat", "sit", "will"]),
        ("en", "schwa", ["the", "about"], ["cat"]),
    ],
)
def test_words_carry_the_sounds_they_are_pronounced_with(
    language: str, sound: str, yes: list[str], no: list[str]
) -> None:
    words = yes + no
    pronounced = ipa(words, language)
    found = [w for w, p in zip(words, pronounced, strict=True) if carries(sound, w, p, language)]
    assert found == yes


def test_every_drill_sound_but_stress_has_a_pattern() -> None:
    from agents.library import Library

    library = Library()
    sounds = {
        sound
        for key in ("es-for-en@1", "en-for-es@1")
        for unit in library.get(key).units()  # type: ignore[union-attr]
        for drill in unit.drills
        for sound in drill.sounds
    }
    assert sounds - set(PATTERNS) == {"stress"}


def test_a_sound_is_scored_on_the_words_that_carry_it() -> None:
    """'the' has no h sound and 'like' no short i, whatever the spelling says."""
    words = (("he", 0.9), ("likes", 0.2), ("the", 0.3), ("ship", 0.8))
    timed = tuple(Word(w, 0.4 * i, 0.4 * i + 0.3, p) for i, (w, p) in enumerate(words))
    heard = Transcript("he likes the ship", "en", None, 2.0, timed, -0.3, 0.01, "faster-whisper")
    result = score("He likes the ship", heard, ["h_sound", "short_i", "th_voiced"])
    assert result.sounds == {"h_sound": 90, "short_i": 80, "th_voiced": 30}


def test_words_come_back_in_order_even_when_repeated_or_empty() -> None:
    assert ipa(["gato", "", "gato", "perro"], "es") == ["ɡato", "", "ɡato", "pero"]
