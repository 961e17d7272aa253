"""The hot tier: each learner's last turns and current state in Redis, with TTLs.

Fails open: a Redis error is logged and counted, reads return None so the
caller falls back to the SQL store, writes are skipped. It never raises.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class RedisLike(Protocol):
    """The slice of redis-py's client the hot tier uses."""

    def pipeline(self, transaction: bool = True) -> Any: ...

    def lrange(self, name: str, start: int, end: int) -> Any: ...

    def get(self, name: str) -> Any: ...

    def delete(self, *names: str) -> Any: ...


class HotMemory:
    """Recent turns (newest last) and the open state per learner, keyed by a hashed id."""

    def __init__(
        self,
        client: RedisLike,
        *,
        max_turns: int = 15,
        ttl_seconds: int = 7 * 24 * 3600,
        on_error: Callable[[str], None] | None = None,
        namespace: str = "tutor:hot",
    ) -> None:
        self._client = client
        self._max_turns = max_turns
        self._ttl = ttl_seconds
        self._on_error = on_error or (lambda operation: None)
        self._ns = namespace

    def _key(self, learner_key: str, part: str) -> str:
        return f"{self._ns}:{part}:{learner_key}"

    def recent_turns(self, learner_key: str) -> list[dict[str, Any]] | None:
        """The cached turns, oldest first; None on a miss or when Redis is down."""
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.exists(self._key(learner_key, "turns"))
            pipe.lrange(self._key(learner_key, "turns"), 0, -1)
            exists, raw = pipe.execute()
        except Exception:  # any Redis or connection error: fail open
            self._failed("read")
            return None
        if not exists:
            return None
        return [json.loads(item) for item in raw]

    def remember(self, learner_key: str, turn: dict[str, Any], state: dict[str, Any]) -> None:
        """Append one turn (trimmed to the last ``max_turns``) and store the state."""
        turns_key = self._key(learner_key, "turns")
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.rpush(turns_key, json.dumps(turn, ensure_ascii=False, default=str))
            pipe.ltrim(turns_key, -self._max_turns, -1)
            pipe.expire(turns_key, self._ttl)
            pipe.set(self._key(learner_key, "state"), json.dumps(state), ex=self._ttl)
            pipe.execute()
        except Exception:
            self._failed("write")

    def prime(self, learner_key: str, turns: list[dict[str, Any]]) -> None:
        """Replace the cached turns with ``turns`` loaded from the SQL store."""
        if not turns:
            return  # Redis has no empty lists; a new learner's miss costs one small query
        turns_key = self._key(learner_key, "turns")
        encoded = [json.dumps(turn, ensure_ascii=False, default=str) for turn in turns]
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.delete(turns_key)
            pipe.rpush(turns_key, *encoded[-self._max_turns :])
            pipe.expire(turns_key, self._ttl)
            pipe.execute()
        except Exception:
            self._failed("write")

    def state(self, learner_key: str) -> dict[str, Any] | None:
        try:
            raw = self._client.get(self._key(learner_key, "state"))
        except Exception:
            self._failed("read")
            return None
        return json.loads(raw) if raw else None

    def forget(self, learner_key: str) -> None:
        try:
            self._client.delete(self._key(learner_key, "turns"), self._key(learner_key, "state"))
        except Exception:
            self._failed("delete")

    def _failed(self, operation: str) -> None:
        logger.warning("hot memory unavailable; using the SQL store", extra={"op": operation})
        self._on_error(operation)
