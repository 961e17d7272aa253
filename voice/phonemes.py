"""Words as sounds: espeak-ng's IPA for each word, and which of the curricula's sounds a
word carries.

Spelling cannot say which sound a word holds ("the" has no h sound, "like" no short i,
"gente" the Spanish j), so the per-sound statistics of a drill are taken over the words
whose pronunciation, as Debian's espeak-ng transcribes it in IPA, contains the sound.
Words go to espeak-ng one per line, so each comes back in its citation form; results are
cached per language and word. The sound ids are those the curricula's drills use; the
patterns match espeak-ng's symbols (Castilian Spanish, General American English), with
stress marks removed. "stress" has no pattern: it belongs to a word, not to a sound.
"""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Sequence

from wordfreq import zipf_frequency

logger = logging.getLogger(__name__)

VOICES = {"es": "es", "en": "en-us"}
_STRESS = str.maketrans("", "", "ˈˌ")
_VOWEL = "aeiouɛɔæɑʌəɐɪʊɜɚᵻ"

# Sound id -> a pattern over a word's IPA (stress removed).
PATTERNS: dict[str, re.Pattern[str]] = {
    sound: re.compile(pattern)
    for sound, pattern in {
        # Spanish
        "trilled_r": r"r",
        "tapped_r": r"ɾ",
        "j_sound": r"x",
        "ll_y": r"ʎ|ʝ",
        "b_v": r"b|β",
        "d_soft": r"ð",
        "n_tilde": r"ɲ",
        "vowel_a": r"a(?![ɪʊ])",
        "vowel_e": r"e(?![ɪʊ])|ɛ",
        "vowel_i": r"i",
        "vowel_o": r"o(?![ɪʊ])",
        "vowel_u": r"u",
        # English
        "h_sound": r"h",
        "th_voiced": r"ð",
        "th_voiceless": r"θ",
        "schwa": r"ə|ɐ|ᵻ|ɚ",
        "short_i": r"(?<![aeɔoɑ])ɪ",
        "long_ee": r"iː",
        "z_s": r"z",
        "w_sound": r"w",
        "r_sound": r"ɹ|ɚ|ɝ",
        "v_b": r"v",
        "sh_ch": r"ʃ|ʒ",
        "s_clusters": rf"^s[^{_VOWEL}ː]",
        "final_consonants": rf"[^{_VOWEL}ːjw]$",
        "ed_endings": r"(?:t|d|ᵻd)$",
        # Two vowels in one syllable: English eɪ, aɪ, ɔɪ, aʊ, oʊ
        "diphthong": r"[aeoɛɔæɑʌə][ɪʊ]",
    }.items()
}
# Spanish diphthongs also rise and fall through the glides j and w ("bueno", "ciudad")
# and unglided vowel pairs ("llueve"); a stressed í or ú ("día") is read as one too.
_SPANISH: dict[str, re.Pattern[str]] = {
    "diphthong": re.compile(r"[aeoɛɔ][ɪʊ]|[jw][aeiouɛɔ]|[aeoɛɔ][jw]|[iu][aeoɛɔ]|[aeoɛɔ][iu]"),
}


def ipa(words: Sequence[str], language: str) -> list[str]:
    """Each word's IPA (stress removed, "" where espeak-ng gave nothing), in order."""
    folded = [word.casefold() for word in words]
    missing = sorted({w for w in folded if w and _lookup(language, w) is None})
    if missing:
        for word, sounds in zip(missing, _espeak(missing, language), strict=True):
            _store(language, word, sounds)
    return [_lookup(language, w) or "" for w in folded]


_CACHE: dict[tuple[str, str], str] = {}
_CACHE_LIMIT = 20_000


def _lookup(language: str, word: str) -> str | None:
    return _CACHE.get((language, word))


def _store(language: str, word: str, sounds: str) -> None:
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.clear()
    _CACHE[(language, word)] = sounds


def _espeak(words: list[str], language: str) -> list[str]:
    voice = VOICES.get(language, language)
    try:
        done = subprocess.run(
            ["espeak-ng", "-q", "--ipa", "-v", voice],
            input="\n".join(words) + "\n",
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        logger.warning("espeak-ng could not transcribe words: %s", type(exc).__name__)
        return [""] * len(words)
    lines = [line.strip().translate(_STRESS) for line in done.stdout.splitlines()]
    lines = [line for line in lines if line]
    if len(lines) != len(words):  # a word espeak-ng split or joined: ask one at a time
        if len(words) == 1:
            return ["".join(lines)]
        return [_espeak([word], language)[0] for word in words]
    return lines


def carries(sound: str, word: str, pronounced: str, language: str) -> bool:
    """Whether ``word`` (pronounced ``pronounced`` in IPA) holds ``sound``."""
    pattern = (_SPANISH if language == "es" else {}).get(sound) or PATTERNS.get(sound)
    if pattern is None or not pronounced:
        return False
    if sound == "ed_endings" and not _past_tense(word.casefold()):
        return False
    return pattern.search(pronounced) is not None


def _past_tense(word: str) -> bool:
    """A regular past ("walked", "liked", "stopped"): -ed on a common English word, so
    "bed" and "need" do not count ("seed" and "feed" still do)."""
    if not word.endswith("ed"):
        return False
    stems = [word[:-2], word[:-1]]
    if len(word) > 4 and word[-3] == word[-4]:
        stems.append(word[:-3])
    return any(len(stem) >= 3 and zipf_frequency(stem, "en") >= 3.5 for stem in stems)
