"""Property-based tests of what reads every learner message: the answer checker, the grammar
rules (curriculum patterns, Spanish and English checks) and the small text parsers.

They get arbitrary unicode (emoji, right-to-left text, combining marks, control characters,
lone surrogates, a few KB long) and must answer within a time bound without an exception;
the answer checker must also keep its promises (the expected form itself, and its case,
space, punctuation and accent variants, are accepted).
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from agents.answers import KINDS, check_answer, normalise
from agents.checks_en import EnglishChecks
from agents.checks_es import SpanishChecks
from agents.curriculum import shipped
from agents.grammar import CHECK_CHARS, apply, corrected_sentence
from agents.rules import ErrorEvent, RuleEngine
from tests.support.properties import examples
from tutor import curricula, text

pytestmark = [pytest.mark.reliability]
T = TypeVar("T")

DEFAULT = examples(300)
LONG = settings(DEFAULT, max_examples=5000)
#: Seconds one check may take on a message: generous for a loaded CI machine (most take
#: milliseconds), far under what quadratic work on a 4 KB message would take.
TIME_BOUND = 3.0

#: Pieces of hostile text: RTL marks and script, combining marks, zero-width characters,
#: emoji with modifiers, controls, a lone surrogate, characters Apertium's stream format uses.
HOSTILE = st.sampled_from(
    ["\u202e", "\u200f", "مرحبا", "שלום", "e\u0301", "\u0301", "\u200b", "\ufeff", "👍🏽",
     "👩‍👩‍👧", "🇪🇸", "\0", "\x1b[2J", "\r\n", "\t", "\ud800", "^$/<>[]{}@*#+~", "\\", "ǅ",
     "ß", "İ", "ﬁ", "Ⅻ", "²", "٣", "𝔸", "¿¡", "...", "una perro", "a apple", "more bigger"]
)  # fmt: skip
TEXTS = (
    st.text(max_size=200)
    | st.lists(HOSTILE | st.text(max_size=8), max_size=40).map("".join)
    | st.lists(HOSTILE | st.text(max_size=8), max_size=40).map(" ".join)
    | st.text(min_size=1000, max_size=CHECK_CHARS)
)
LONG_TEXTS = TEXTS | st.text(min_size=2000, max_size=4096)


@pytest.fixture(scope="module")
def engines() -> dict[str, RuleEngine]:
    """The rule engine of each shipped curriculum, as the grammar checker builds it."""
    built = {}
    for path in shipped():
        curriculum = curricula.check(path.read_text(encoding="utf-8")).curriculum
        assert curriculum is not None
        built[curriculum.target_language] = RuleEngine(curriculum)
    return built


def _timed(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)``, which must return within TIME_BOUND."""
    started = time.perf_counter()
    result = function(*args, **kwargs)
    elapsed = time.perf_counter() - started
    assert elapsed < TIME_BOUND, f"{elapsed:.2f} s"
    return result


def _assert_events(source: str, events: list[ErrorEvent], *, ordered: bool) -> None:
    """Offsets inside the text, ``wrong`` at its offsets, non-overlapping when merged."""
    for event in events:
        assert 0 <= event.start < event.end <= len(source), event
        assert source[event.start : event.end] == event.wrong, event
        assert isinstance(event.correction, str) and isinstance(event.note, str)
        assert event.code
        apply(source, event)
        corrected_sentence(source, event)
    if ordered:
        for before, after in zip(events, events[1:], strict=False):
            assert before.end <= after.start


def _as_the_checker_sees(raw: str) -> str:
    """What GrammarChecker.check hands the rules: the first CHECK_CHARS characters, NFC."""
    return unicodedata.normalize("NFC", raw[:CHECK_CHARS])


@DEFAULT
@given(raw=TEXTS, explain_in=st.sampled_from(["en", "es", "fr", ""]))
@example(raw="Vivo en un casa \ud800 y tengo una perro.", explain_in="en")
@example(raw="Tengo una perro\0 negro. ^una$ /casa/", explain_in="es")
@example(raw="e\u0301l es un chico alto, la problema es grave", explain_in="es")
def test_the_rule_engines_never_fail(
    engines: dict[str, RuleEngine], raw: str, explain_in: str
) -> None:
    """Injects: arbitrary unicode up to 1,000 characters (RTL, combining marks, emoji, controls,
    NULs, lone surrogates, Apertium's stream characters) into both curricula's rule engines
    (patterns, agreement, the Spanish and English checks).
    Checks: within 3 s, a list of non-overlapping findings whose offsets hold their text."""
    source = _as_the_checker_sees(raw)
    for engine in engines.values():
        _assert_events(source, _timed(engine.check, source, explain_in), ordered=True)


@DEFAULT
@given(raw=TEXTS)
@example(raw="hola \ud800 casa")
def test_the_built_in_checks_never_fail(raw: str) -> None:
    """Injects: arbitrary unicode straight into the Spanish and English checks (no curriculum,
    no truncation, not normalised).
    Checks: within 3 s, findings whose offsets hold their text in the NFC text."""
    source = unicodedata.normalize("NFC", raw)
    _assert_events(source, _timed(SpanishChecks("es").check, raw, "en"), ordered=False)
    _assert_events(source, _timed(EnglishChecks("en").check, raw, "es"), ordered=False)


#: What the curricula hold: words and short phrases in Latin letters, as a learner types.
WORD = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzáéíóúüñç"), min_size=1, max_size=12)
PHRASE = st.lists(WORD, min_size=1, max_size=4).map(" ".join)
PUNCTUATION = st.sampled_from(["", ".", "!", "?", "¿", "¡", ",", ";", "'", '"', "…", " "])


def _strip_accents(value: str) -> str:
    decomposed = unicodedata.normalize("NFD", value)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@DEFAULT
@given(
    expected=PHRASE,
    language=st.sampled_from(["es", "en"]),
    before=PUNCTUATION,
    after=PUNCTUATION,
    spaces=st.sampled_from([" ", "  ", "\t", " \u00a0"]),
    case=st.sampled_from([str.upper, str.lower, str.title, str.capitalize, str]),
)
@example(expected="el agua", language="es", before="¿", after="?", spaces="  ", case=str.upper)
def test_the_expected_form_and_its_variants_are_accepted(
    expected: str,
    language: str,
    before: str,
    after: str,
    spaces: str,
    case: object,
) -> None:
    """Injects: curriculum-like words and phrases as their own answer, and re-cased, re-spaced,
    wrapped in punctuation (¿...?, quotes) and with every accent removed.
    Checks: the form itself is "exact"; the case/space/punctuation variant is "exact" too
    (the docstring's promise); the unaccented one is correct ("accent" or better)."""
    assert callable(case)
    assume(normalise(expected) == " ".join(expected.split()))
    verdict = check_answer(expected, expected, language=language)
    assert (verdict.correct, verdict.kind) == (True, "exact"), verdict
    variant = before + spaces.join(case(expected).split(" ")) + after
    assume(normalise(variant) == normalise(case(expected)))
    assume(normalise(case(expected)) == normalise(expected))  # "ß".upper() is "SS"
    verdict = check_answer(expected, variant, language=language)
    assert (verdict.correct, verdict.kind) == (True, "exact"), (variant, verdict)
    bare = check_answer(expected, _strip_accents(expected), language=language)
    assert bare.correct and bare.kind in ("exact", "accent", "typo"), bare


@DEFAULT
@given(
    expected=st.text(max_size=80) | PHRASE,
    answer=LONG_TEXTS,
    language=st.sampled_from(["es", "en", "fr", "es-MX", ""]),
    explain_in=st.sampled_from(["en", "es", "pt", ""]),
)
@example(expected="el perro", answer="x" * 4096, language="es", explain_in="en")
@example(expected="aaaaaaaaa a", answer="0" * 4096, language="es", explain_in="en")
@example(expected="ा", answer="ा", language="es", explain_in="en")
@example(expected="el/la", answer="\ud800", language="es", explain_in="es")
def test_any_answer_gets_a_verdict(
    expected: str, answer: str, language: str, explain_in: str
) -> None:
    """Injects: arbitrary expected forms (up to 80 characters) and answers (up to 4 KB of any
    unicode: emoji, RTL, combining marks, controls, lone surrogates).
    Checks: within 3 s, a Verdict of a known kind, correct exactly for the accepted kinds;
    only an expected text with no form in it is refused (ValueError)."""
    try:
        verdict = _timed(check_answer, expected, answer, language=language, explain_in=explain_in)
    except ValueError:
        parts = expected.replace(";", "/").split("/")
        assert not any(normalise(part) for part in parts), expected
        return
    assert verdict.kind in KINDS
    assert verdict.correct == (verdict.kind in ("exact", "accent", "article_missing", "typo"))
    assert isinstance(verdict.note, str) and isinstance(verdict.expected, str)


@DEFAULT
@given(raw=TEXTS, count=st.integers(0, 12))
@example(raw="２", count=3)
@example(raw="UTC+99:99", count=1)
@example(raw="../../etc/passwd", count=1)
@example(raw="America", count=1)
@example(raw="Europe" * 100, count=1)
def test_the_text_parsers_never_fail(raw: str, count: int) -> None:
    """Injects: arbitrary unicode into the dispatcher's small parsers (folding, menu choices,
    clock times, time zones), full-width and Arabic digits, path-like zone names.
    Checks: each returns its type or None within 3 s; a parsed zone name loads."""
    _timed(text.fold, raw)
    choice = _timed(text.parse_choice, raw, count)
    assert choice is None or 1 <= choice <= count
    clock = _timed(text.parse_clock, raw)
    assert clock is None or (len(clock) == 5 and clock[2] == ":")
    zone = _timed(text.parse_timezone, raw)
    if zone is not None:
        assert text.parse_zone(zone) is not None, zone
    text.parse_zone(raw)
    text.local_zone(raw)
    assert "\ud800" not in text.without_surrogates(raw)


@LONG
@pytest.mark.long
@given(raw=LONG_TEXTS, expected=PHRASE)
def test_learner_text_long(engines: dict[str, RuleEngine], raw: str, expected: str) -> None:
    """Injects: thousands of arbitrary messages up to 4 KB into the rule engines, the built-in
    checks, the answer checker and the text parsers.
    Checks: no exception, each within 3 s, findings at their offsets."""
    source = _as_the_checker_sees(raw)
    for engine in engines.values():
        _assert_events(source, _timed(engine.check, source, "en"), ordered=True)
    verdict = _timed(check_answer, expected, raw)
    assert verdict.kind in KINDS
    text.parse_timezone(raw)
    text.parse_choice(raw, 5)
