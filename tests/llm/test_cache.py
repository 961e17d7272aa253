"""The exact and semantic answer caches on the embedded store and a real Redis."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import Any

import pytest

from memory.embeddings import HashingEmbedder
from tests.llm.backends import REDIS_KINDS, redis_pair, unreachable
from tutor.llm.cache import CachedAnswer, ResponseCache, SemanticCache, is_cacheable
from tutor.llm.types import ChatMessage, Task

ANSWER = CachedAnswer("Ser is for identity, estar for states.", "groq", "llama", 40, 12)
SYSTEM = "You are a patient Spanish tutor."


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=REDIS_KINDS)
def client(request: pytest.FixtureRequest) -> Iterator[Any]:
    for first, _ in redis_pair(request):
        yield first


def ask(text: str) -> tuple[ChatMessage, ...]:
    return (ChatMessage("user", text),)


def exact_key(cache: ResponseCache, text: str, **changes: str) -> str:
    parts = {"task": "explain", "tier": "fast", "model": "llama", "language": "es>en"}
    parts.update({"level": "A2", **changes})
    return cache.key(
        parts["task"], parts["tier"], parts["model"], SYSTEM, ask(text), parts["language"],
        parts["level"],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("personal", "task", "cacheable"),
    [
        (False, Task.CLASSIFY, True),
        (False, Task.EXPLAIN, True),
        (False, Task.CHAT, True),
        (False, Task.CORRECT, False),
        (False, Task.SUMMARISE, False),
        (True, Task.EXPLAIN, False),
        (True, Task.CHAT, False),
    ],
)
def test_which_answers_may_be_shared(personal: bool, task: Task, cacheable: bool) -> None:
    assert is_cacheable(personal, task) is cacheable
    assert is_cacheable(personal, task.value) is cacheable


def test_the_exact_key_normalises_text(client: Any) -> None:
    cache = ResponseCache(client, 60)
    key = exact_key(cache, "¿Qué es  el subjuntivo?")
    assert exact_key(cache, unicodedata.normalize("NFD", "¿QUÉ es el\tSubjuntivo? ")) == key
    assert exact_key(cache, "¿Qué es el subjuntivo") != key  # punctuation is kept
    assert exact_key(cache, "¿Qué es el subjuntivo?", level="B1") != key
    assert exact_key(cache, "¿Qué es el subjuntivo?", model="claude") != key
    assert exact_key(cache, "¿Qué es el subjuntivo?", task="classify") != key
    assert "subjuntivo" not in key


def test_exact_hits_misses_and_stats(client: Any) -> None:
    cache = ResponseCache(client, 60)
    key = exact_key(cache, "What is the subjunctive?")
    assert cache.get(key) is None
    cache.put(key, ANSWER)
    assert cache.get(exact_key(cache, "what is  the SUBJUNCTIVE?")) == ANSWER
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.hit_rate) == (1, 1, 0.5)
    assert 0 < client.ttl(key) <= 60


def test_a_zero_ttl_turns_the_cache_off(client: Any) -> None:
    cache = ResponseCache(client, 0)
    key = exact_key(cache, "hola")
    cache.put(key, ANSWER)
    assert cache.get(key) is None
    assert client.exists(key) == 0


def test_exact_cache_fails_open() -> None:
    errors: list[str] = []
    cache = ResponseCache(unreachable(), 60, on_error=errors.append)
    key = exact_key(cache, "hola")
    cache.put(key, ANSWER)
    assert cache.get(key) is None
    assert cache.stats().hits == 0
    assert errors == ["put", "get", "stats"]


def semantic(client: Any, clock: Clock | None = None, **options: Any) -> SemanticCache:
    options.setdefault("ttl_seconds", 3600)
    return SemanticCache(client, HashingEmbedder(), clock=clock or Clock(), **options)


QUESTION = "Can you explain the preterite and the imperfect?"


def test_near_duplicates_hit_and_unrelated_questions_miss(client: Any) -> None:
    cache = semantic(client)
    assert cache.lookup(QUESTION, "es>en", "A2") is None
    cache.store(QUESTION, "es>en", "A2", ANSWER)
    cache.store("How do I order a coffee politely?", "es>en", "A2", CachedAnswer("x", "g", "m"))

    for variant in [
        "can you explain the preterite and imperfect",
        "¿Can you explain the PRETÉRITE and the imperfect??",
    ]:
        found = cache.lookup(variant, "es>en", "A2")
        assert found is not None, variant
        answer, similarity = found
        assert answer == ANSWER and 0.92 <= similarity <= 1.0001

    assert cache.lookup("What is the weather like in Madrid?", "es>en", "A2") is None
    assert cache.lookup("Can you explain ser and estar?", "es>en", "A2") is None
    assert cache.lookup("", "es>en", "A2") is None
    assert (cache.stats().hits, cache.stats().misses) == (2, 4)


def test_buckets_are_per_language_and_level(client: Any) -> None:
    cache = semantic(client)
    cache.store(QUESTION, "es>en", "A2", ANSWER)
    assert cache.lookup(QUESTION, "es>fr", "A2") is None
    assert cache.lookup(QUESTION, "es>en", "B1") is None
    assert cache.lookup(QUESTION, "es>en", "A2") is not None


def test_a_bucket_keeps_the_newest_entries(client: Any) -> None:
    cache = semantic(client, max_entries=3)
    questions = ["How do I say cat?", "How do I say dog?", "Where is the library?",
                 "What time is it?", "Conjugate the verb tener"]  # fmt: skip
    for n, question in enumerate(questions):
        cache.store(question, "es>en", "A1", CachedAnswer(str(n), "groq", "m"))
    assert client.llen("tutor:llm:cache:semantic:512:es>en:a1") == 3
    assert cache.lookup(questions[0], "es>en", "A1") is None
    found = cache.lookup(questions[4], "es>en", "A1")
    assert found is not None and found[0].text == "4"


def test_semantic_entries_expire(client: Any) -> None:
    clock = Clock()
    cache = semantic(client, clock, ttl_seconds=600)
    cache.store(QUESTION, "es>en", "A2", ANSWER)
    assert 0 < client.ttl("tutor:llm:cache:semantic:512:es>en:a2") <= 600
    clock.now += 599
    assert cache.lookup(QUESTION, "es>en", "A2") is not None
    clock.now += 2
    assert cache.lookup(QUESTION, "es>en", "A2") is None


def test_semantic_cache_fails_open() -> None:
    errors: list[str] = []
    cache = semantic(unreachable(), on_error=errors.append)
    cache.store(QUESTION, "es>en", "A2", ANSWER)
    assert cache.lookup(QUESTION, "es>en", "A2") is None
    assert errors == ["store", "lookup"]
