"""Answer caches in Redis: exact match on normalised text, and semantic near-duplicates.

Only answers that do not depend on who asked may be cached (see
:func:`is_cacheable`); the router decides whether a request is personal.
Both caches fail open: on a Redis error they log, report ``on_error`` and
behave as a miss (reads) or skip (writes). A TTL of 0 turns a cache off.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import redis

from memory.embeddings import Embedder
from tutor.llm.types import ChatMessage, Task

logger = logging.getLogger(__name__)

# Generic answers: an intent label, a grammar explanation, an FAQ-like chat reply.
CACHEABLE_TASKS = frozenset({Task.CLASSIFY, Task.EXPLAIN, Task.CHAT})
# KEYS: entry, stats hash. ARGV: hit field, miss field. One round trip per read.
_COUNTED_GET = """
local value = redis.call('GET', KEYS[1])
redis.call('HINCRBY', KEYS[2], value and ARGV[1] or ARGV[2], 1)
return value
"""
_STAMP = struct.Struct("<d")  # a semantic entry: stored-at | float32 vector | answer JSON


def is_cacheable(personal: bool, task: Task | str) -> bool:
    """Whether an answer may be reused for another learner.

    Classify, explain and FAQ-like chat are; correct and summarise work on a
    learner's own text and never are, nor is anything the router marks personal.
    """
    return not personal and task in CACHEABLE_TASKS


def normalise(text: str) -> str:
    """NFC, casefolded, whitespace collapsed: what the exact cache compares."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A reusable model answer and what it cost to make."""

    text: str
    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> CachedAnswer:
        return cls(**json.loads(raw))


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int
    misses: int

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class _RedisCache:
    """What both caches share: the client, TTL, hit/miss counters and failing open."""

    kind = ""

    def __init__(
        self,
        client: redis.Redis,
        ttl_seconds: int,
        namespace: str,
        on_error: Callable[[str], None] | None,
    ) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._ns = namespace
        self._stats_key = f"{namespace}:stats"
        self._on_error = on_error or (lambda operation: None)

    def stats(self) -> CacheStats:
        """Hits and misses counted by every process since the counters were created."""
        fields = [f"{self.kind}_hits", f"{self.kind}_misses"]
        try:
            hits, misses = self._client.hmget(self._stats_key, fields)
        except Exception:
            self._failed("stats")
            return CacheStats(0, 0)
        return CacheStats(int(hits or 0), int(misses or 0))

    def _count(self, hit: bool) -> None:
        field = f"{self.kind}_hits" if hit else f"{self.kind}_misses"
        try:
            self._client.hincrby(self._stats_key, field, 1)
        except Exception:
            self._failed("count")

    def _failed(self, operation: str) -> None:
        logger.warning(
            "answer cache unavailable; treating as a miss",
            extra={"op": operation, "cache": self.kind},
        )
        self._on_error(operation)


class ResponseCache(_RedisCache):
    """Exact-match cache: same task, tier, model, prompt and conversation after normalising."""

    kind = "exact"

    def __init__(
        self,
        client: redis.Redis,
        ttl_seconds: int,
        *,
        namespace: str = "tutor:llm:cache",
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(client, ttl_seconds, namespace, on_error)
        self._get = client.register_script(_COUNTED_GET)

    def key(
        self,
        task: Task | str,
        tier: str,
        model: str,
        system: str,
        messages: Sequence[ChatMessage],
        language: str,
        level: str,
    ) -> str:
        """A Redis key that hashes everything that shapes the answer (never the text itself)."""
        conversation = [[message.role, normalise(message.content)] for message in messages]
        parts = [str(task), str(tier), model, normalise(system), language, level, conversation]
        digest = hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()
        return f"{self._ns}:exact:{digest}"

    def get(self, key: str) -> CachedAnswer | None:
        """The cached answer, or None on a miss, with the cache off or Redis down."""
        if self._ttl <= 0:
            return None
        try:
            raw = self._get(keys=[key, self._stats_key], args=["exact_hits", "exact_misses"])
        except Exception:
            self._failed("get")
            return None
        return _decode(raw)

    def put(self, key: str, answer: CachedAnswer) -> None:
        """Store ``answer`` for ``ttl_seconds``."""
        if self._ttl <= 0:
            return
        try:
            self._client.set(key, answer.to_json(), ex=self._ttl)
        except Exception:
            self._failed("put")


class SemanticCache(_RedisCache):
    """Near-duplicate questions per (language, level) bucket, newest first, bounded.

    ``language`` should name everything that changes the answer's wording, e.g.
    "es>en" for Spanish explained in English. Buckets are keyed by the
    embedder's dimensions; a different embedder of the same size needs its own
    ``namespace``. A lookup reads the whole bucket (``max_entries`` vectors), so
    the client must return bytes (redis-py's default, not ``decode_responses``).
    """

    kind = "semantic"

    def __init__(
        self,
        client: redis.Redis,
        embedder: Embedder,
        *,
        threshold: float = 0.92,
        ttl_seconds: int,
        max_entries: int = 500,
        namespace: str = "tutor:llm:cache",
        clock: Callable[[], float] = time.time,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(client, ttl_seconds, namespace, on_error)
        self._embedder = embedder
        self._threshold = threshold
        self._max = max_entries
        self._clock = clock

    def lookup(self, question: str, language: str, level: str) -> tuple[CachedAnswer, float] | None:
        """The fresh answer most similar to ``question`` and its cosine, if above the threshold."""
        if self._ttl <= 0:
            return None
        vector = self._embedder.embed([question])[0]
        found = None
        if vector.any():  # a question with no words matches nothing
            try:
                items = self._client.lrange(self._bucket(language, level), 0, self._max - 1)
            except Exception:
                self._failed("lookup")
                return None
            found = self._best(vector, list(items))
        self._count(found is not None)
        return found

    def store(self, question: str, language: str, level: str, answer: CachedAnswer) -> None:
        """Remember ``answer``; the oldest entries fall off past ``max_entries``."""
        if self._ttl <= 0:
            return
        vector = self._embedder.embed([question])[0]
        if not vector.any():
            return  # no words: nothing could ever match it
        payload = json.dumps({"q": normalise(question), "a": asdict(answer)}, ensure_ascii=False)
        item = _STAMP.pack(self._clock()) + vector.astype("<f4").tobytes() + payload.encode()
        bucket = self._bucket(language, level)
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.lpush(bucket, item)
            pipe.ltrim(bucket, 0, self._max - 1)
            pipe.expire(bucket, self._ttl)
            pipe.execute()
        except Exception:
            self._failed("store")

    def _bucket(self, language: str, level: str) -> str:
        dims = self._embedder.dimensions
        return f"{self._ns}:semantic:{dims}:{normalise(language)}:{normalise(level)}"

    def _best(
        self, vector: npt.NDArray[np.float32], items: list[Any]
    ) -> tuple[CachedAnswer, float] | None:
        width = _STAMP.size + 4 * self._embedder.dimensions
        oldest = self._clock() - self._ttl
        fresh = [
            item
            for item in items
            if isinstance(item, bytes)
            and len(item) > width
            and _STAMP.unpack_from(item)[0] >= oldest
        ]
        if not fresh:
            return None
        matrix = np.frombuffer(b"".join(item[_STAMP.size : width] for item in fresh), "<f4")
        scores = matrix.reshape(len(fresh), -1) @ vector
        best = int(np.argmax(scores))
        if scores[best] < self._threshold:
            return None
        try:
            answer = CachedAnswer(**json.loads(fresh[best][width:])["a"])
        except (ValueError, TypeError, KeyError):
            logger.warning("unreadable semantic cache entry ignored")
            return None
        return answer, float(scores[best])


def _decode(raw: Any) -> CachedAnswer | None:
    if raw is None:
        return None
    try:
        return CachedAnswer.from_json(raw)
    except (ValueError, TypeError):
        logger.warning("unreadable cached answer ignored")
        return None
