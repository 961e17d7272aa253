"""A circuit breaker per provider, shared by every process through Redis.

    closed ──(N consecutive failures | 429 storm | long retry-after)──▶ open
    open ──(cooldown over)──▶ half_open: one caller, in any process, gets a probe
    half_open ──probe ok──▶ closed          half_open ──probe fails──▶ open again

State lives in one Redis hash per provider, changed by Lua scripts so that
concurrent processes never half-apply a transition. Times come from the
injected ``clock`` (epoch seconds), so hosts should keep their clocks in sync.
Fails open: on a Redis error it logs, reports ``on_error`` and answers from a
per-process breaker with the same rules, so a dead provider is still skipped.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import redis

logger = logging.getLogger(__name__)

State = Literal["closed", "open", "half_open"]
# Each hash expires a day after its last change (plus any open time): idle providers are forgotten.

# KEYS: state hash, probe key. ARGV: now, probe lease ms. 1 closed, 2 probe granted, 0 refused.
_ALLOW = """
local opened_until = tonumber(redis.call('HGET', KEYS[1], 'opened_until') or '0')
if opened_until == 0 then return 1 end
if tonumber(ARGV[1]) < opened_until then return 0 end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then return 2 end
return 0
"""

# KEYS: state hash, probe key, 429 zset.
# ARGV: now, failure threshold, cooldown, 429 threshold, window, rate_limited, retry_after
#       (-1: none), error ('' keeps the last), nonce. Returns 1 when this failure opened it.
_FAILURE = """
local now = tonumber(ARGV[1])
local cooldown = tonumber(ARGV[3])
local opened_until = tonumber(redis.call('HGET', KEYS[1], 'opened_until') or '0')
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if ARGV[8] ~= '' then redis.call('HSET', KEYS[1], 'last_error', ARGV[8]) end
local open_for = 0
if opened_until > 0 and now >= opened_until then open_for = cooldown end
if failures >= tonumber(ARGV[2]) then open_for = cooldown end
if ARGV[6] == '1' then
  redis.call('ZADD', KEYS[3], now, ARGV[9])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[5]))
  redis.call('EXPIRE', KEYS[3], math.ceil(tonumber(ARGV[5])) + 1)
  if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[4]) then open_for = cooldown end
end
local retry_after = tonumber(ARGV[7])
if retry_after > cooldown then open_for = retry_after end
local opened = 0
if open_for > 0 and now + open_for > opened_until then
  if opened_until == 0 or now >= opened_until then opened = 1 end
  opened_until = now + open_for
  redis.call('HSET', KEYS[1], 'opened_until', tostring(opened_until))
  redis.call('DEL', KEYS[2])
end
redis.call('EXPIRE', KEYS[1], math.ceil(math.max(opened_until - now, 0)) + 86400)
return opened
"""

# KEYS: state hash, probe key, 429 zset. ARGV: now. A success while still open (a straggler
# that started before the breaker opened) only resets the count; a probe's success closes.
_SUCCESS = """
local opened_until = tonumber(redis.call('HGET', KEYS[1], 'opened_until') or '0')
if opened_until > 0 and tonumber(ARGV[1]) < opened_until then
  redis.call('HSET', KEYS[1], 'failures', 0)
  return 0
end
redis.call('HSET', KEYS[1], 'failures', 0, 'opened_until', 0)
redis.call('EXPIRE', KEYS[1], 86400)
if opened_until > 0 then redis.call('DEL', KEYS[2], KEYS[3]) end
return 1
"""


@dataclass(frozen=True, slots=True)
class BreakerState:
    """What ``tutor llm status`` shows for one provider."""

    state: State
    consecutive_failures: int
    opened_until: float | None
    last_error: str | None


@dataclass(slots=True)
class _Local:
    """One provider's breaker in this process: the fallback while Redis is down."""

    failures: int = 0
    opened_until: float = 0.0
    last_error: str | None = None
    probe_until: float = 0.0
    rate_limits: list[float] = field(default_factory=list)


class CircuitBreaker:
    """Decides whether a provider may be called; see the module docstring for the states."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        failure_threshold: int,
        cooldown_seconds: float,
        rate_limit_threshold: int = 3,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
        namespace: str = "tutor:llm:breaker",
        probe_timeout_seconds: float = 30.0,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._client = client
        self._threshold = failure_threshold
        self._cooldown = cooldown_seconds
        self._rate_threshold = rate_limit_threshold
        self._window = window_seconds
        self._clock = clock
        self._ns = namespace
        # A probe that never reports (its process died) frees the slot after this long.
        self._probe_ms = max(1, int(probe_timeout_seconds * 1000))
        self._on_error = on_error or (lambda operation: None)
        self._allow = client.register_script(_ALLOW)
        self._failure = client.register_script(_FAILURE)
        self._success = client.register_script(_SUCCESS)
        self._local: dict[str, _Local] = {}
        self._lock = threading.Lock()

    def _keys(self, provider: str) -> list[str]:
        base = f"{self._ns}:{provider}"
        return [base, f"{base}:probe", f"{base}:429"]

    def allow(self, provider: str) -> bool:
        """True when a call may go out: closed, or this caller won the half-open probe."""
        now = self._clock()
        try:
            verdict = int(self._allow(keys=self._keys(provider)[:2], args=[now, self._probe_ms]))
        except Exception:
            self._failed("allow")
            return self._local_allow(provider, now)
        if verdict == 2:
            logger.info("breaker half-open: probing", extra={"provider": provider})
        return verdict != 0

    def record_success(self, provider: str) -> None:
        """Reset the failure count; a probe's success closes the breaker."""
        now = self._clock()
        try:
            closed = int(self._success(keys=self._keys(provider), args=[now]))
        except Exception:
            self._failed("success")
            closed = self._local_success(provider, now)
        if closed:
            logger.debug("breaker closed", extra={"provider": provider})

    def record_failure(
        self,
        provider: str,
        *,
        rate_limited: bool = False,
        retry_after: float | None = None,
        error: str | None = None,
    ) -> None:
        """Count one failed call; ``error`` is an exception class name, never a message."""
        now = self._clock()
        args: list[Any] = [
            now, self._threshold, self._cooldown, self._rate_threshold, self._window,
            "1" if rate_limited else "0", -1 if retry_after is None else retry_after,
            error or "", uuid.uuid4().hex,
        ]  # fmt: skip
        try:
            opened = int(self._failure(keys=self._keys(provider), args=args))
        except Exception:
            self._failed("failure")
            opened = self._local_failure(provider, now, rate_limited, retry_after, error)
        if opened:
            logger.warning(
                "breaker opened", extra={"provider": provider, "error": error or "unknown"}
            )

    def state(self, provider: str) -> BreakerState:
        """The provider's breaker as this process sees it (Redis, or the local fallback)."""
        now = self._clock()
        try:
            raw = self._client.hgetall(self._keys(provider)[0])
        except Exception:
            self._failed("state")
            with self._lock:
                local = self._local.get(provider, _Local())
                return _describe(now, local.failures, local.opened_until, local.last_error)
        fields = {_text(key): _text(value) for key, value in dict(raw).items()}
        return _describe(
            now,
            int(fields.get("failures") or 0),
            float(fields.get("opened_until") or 0),
            fields.get("last_error") or None,
        )

    # The per-process fallback: the same rules as the Lua scripts above. -------------

    def _local_allow(self, provider: str, now: float) -> bool:
        with self._lock:
            local = self._local.setdefault(provider, _Local())
            if local.opened_until == 0:
                return True
            if now < local.opened_until or time.monotonic() < local.probe_until:
                return False
            local.probe_until = time.monotonic() + self._probe_ms / 1000  # like PX: real time
            return True

    def _local_success(self, provider: str, now: float) -> bool:
        with self._lock:
            local = self._local.setdefault(provider, _Local())
            local.failures = 0
            if local.opened_until and now < local.opened_until:
                return False
            if local.opened_until:
                local.rate_limits.clear()
            local.opened_until = local.probe_until = 0.0
            return True

    def _local_failure(
        self,
        provider: str,
        now: float,
        rate_limited: bool,
        retry_after: float | None,
        error: str | None,
    ) -> bool:
        with self._lock:
            local = self._local.setdefault(provider, _Local())
            local.failures += 1
            local.last_error = error or local.last_error
            open_for = 0.0
            if (local.opened_until and now >= local.opened_until) or (
                local.failures >= self._threshold
            ):
                open_for = self._cooldown
            if rate_limited:
                local.rate_limits = [t for t in local.rate_limits if t > now - self._window]
                local.rate_limits.append(now)
                if len(local.rate_limits) >= self._rate_threshold:
                    open_for = self._cooldown
            if retry_after is not None and retry_after > self._cooldown:
                open_for = retry_after
            if open_for <= 0 or now + open_for <= local.opened_until:
                return False
            opened = not local.opened_until or now >= local.opened_until
            local.opened_until = now + open_for
            local.probe_until = 0.0
            return opened

    def _failed(self, operation: str) -> None:
        logger.warning(
            "breaker store unavailable; using this process's breaker", extra={"op": operation}
        )
        self._on_error(operation)


def _describe(
    now: float, failures: int, opened_until: float, last_error: str | None
) -> BreakerState:
    if not opened_until:
        return BreakerState("closed", failures, None, last_error)
    state: State = "open" if now < opened_until else "half_open"
    return BreakerState(state, failures, opened_until, last_error)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
