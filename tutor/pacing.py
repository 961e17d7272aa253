"""Outbound pacing: token buckets in Redis, shared by every process that sends.

A send takes one token per platform message from each bucket that covers it, or
learns how long to wait; nothing is taken unless every bucket can give. A bucket
holds at most ``burst`` tokens and refills at ``per_second``: a burst goes out at
once up to ``burst``, the rest is spread at the sustained rate.

    channel    bucket                     default          where the number comes from
    Telegram   the bot, all chats         30/s, burst 5    about 30 msg/s overall
    Telegram   one chat                   1/s, burst 3     about 1 msg/s per chat, short
                                                           bursts tolerated
    WhatsApp   the business phone number  80/s, burst 10   80 msg/s per number (130429 beyond)
    WhatsApp   one user (pair limit)      1 per 6 s,       about one message every 6 s to a
                                          burst 10         user; bursts of up to 45 in 6 s
                                                           borrow future quota (131056,
                                                           retry after 4^X s)

The numbers are those of PLATFORM_FACTS.md ("Rate limits / throughput" for WhatsApp,
python-telegram-bot's ``FloodLimit`` for Telegram); each is a ``TUTOR_PACE_*``
setting. The pair limit's burst stays well under WhatsApp's 45 but above a tutor turn's
few messages, so a learner answering quickly is not slowed down while a pile of queued
messages to one user is still spread at one every 6 seconds. The overall buckets keep a
small burst: any second may carry ``burst + per_second`` messages, so a full bucket of 30
on Telegram's 30/s would let the first second of a morning burst reach 60.
A platform that still answers "slow down" pushes the matching bucket back
(:meth:`Pacer.push_back`), so every process slows down, not only the one told.

Both scripts read the clock with Redis ``TIME``, so processes on hosts whose clocks
disagree still share one timeline (tests may inject a clock instead). When Redis
fails, each process paces with buckets of its own: the limits then hold per process
only, but sending never stops and never waits on a dead store.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from tutor.messages import Channel, Reply

if TYPE_CHECKING:
    from tutor.settings import Settings

logger = logging.getLogger(__name__)

#: Tokens a bucket may lack and still give (float rounding, as in the scripts).
_FORGIVEN = 0.001

#: Buckets one process keeps while Redis is down before idle ones are dropped; a bucket
#: idle this long has refilled (the slowest default, 10 at one per 6 s, takes 60 s).
_LOCAL_BUCKETS, _IDLE_SECONDS = 10_000, 600.0

#: Which bucket a platform's "slow down" concerns: the whole sender or one recipient.
Scope = Literal["sender", "recipient"]

# KEYS: one hash per bucket. ARGV: now ('' = Redis TIME), cost, then rate and burst per key.
# Takes `cost` tokens from every bucket if each holds min(cost, burst), else none; a bucket
# may go below zero (a reply of several messages), which the next sends pay back.
# Returns the wait in whole microseconds (0: taken). Times are stored to the microsecond
# and a thousandth of a token is forgiven, so float rounding never costs a wait.
_TAKE = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local cost = tonumber(ARGV[2])
local wait = 0
local levels = {}
for i, key in ipairs(KEYS) do
  local rate, burst = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local state = redis.call('HMGET', key, 'tokens', 'at', 'until')
  local tokens = tonumber(state[1]) or burst
  local at = tonumber(state[2]) or now
  local blocked = tonumber(state[3]) or 0
  if now > at then tokens = math.min(burst, tokens + (now - at) * rate) end
  levels[i] = tokens
  local need = math.min(cost, burst)
  local w = 0
  if tokens + 0.001 < need then w = (need - tokens) / rate end
  if blocked - now > w then w = blocked - now end
  if w > wait then wait = w end
end
if wait > 0 then return math.ceil(wait * 1000000) end
for i, key in ipairs(KEYS) do
  local rate, burst = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local left = levels[i] - cost
  redis.call('HSET', key, 'tokens', tostring(left), 'at', string.format('%.6f', now),
    'until', '0')
  redis.call('PEXPIRE', key, math.ceil((burst - left) / rate * 1000) + 1000)
end
return 0
"""

# KEYS: one bucket. ARGV: now ('' = Redis TIME), rate, burst, seconds to hold it shut.
# Empties the bucket (every process falls back to the sustained rate) and, given seconds,
# holds it shut until then.
_PUSH_BACK = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local rate, burst, hold = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'until')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
local blocked = tonumber(state[3]) or 0
if now > at then tokens = math.min(burst, tokens + (now - at) * rate) end
tokens = math.min(tokens, 0)
if hold > 0 and now + hold > blocked then blocked = now + hold end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', string.format('%.6f', now),
  'until', string.format('%.6f', blocked))
local shut = math.max(blocked - now, 0)
redis.call('PEXPIRE', KEYS[1], math.ceil((shut + (burst - tokens) / rate) * 1000) + 1000)
return 1
"""


@dataclass(frozen=True, slots=True)
class Rate:
    """A bucket's shape: sustained ``per_second`` and at most ``burst`` at once."""

    per_second: float
    burst: float


@dataclass(frozen=True, slots=True)
class Limits:
    """The four buckets' shapes; defaults as in the module docstring."""

    telegram: Rate = Rate(30.0, 5.0)
    telegram_chat: Rate = Rate(1.0, 3.0)
    whatsapp: Rate = Rate(80.0, 10.0)
    whatsapp_user: Rate = Rate(1 / 6, 10.0)

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            telegram=Rate(settings.pace_telegram_per_second, settings.pace_telegram_burst),
            telegram_chat=Rate(
                settings.pace_telegram_chat_per_second, settings.pace_telegram_chat_burst
            ),
            whatsapp=Rate(settings.pace_whatsapp_per_second, settings.pace_whatsapp_burst),
            whatsapp_user=Rate(
                1 / settings.pace_whatsapp_user_interval_seconds, settings.pace_whatsapp_user_burst
            ),
        )


@dataclass(slots=True)
class _Local:
    """One bucket in this process: the fallback while Redis is unreachable."""

    tokens: float
    at: float
    until: float = 0.0


class Pacer:
    """Decides when a message may go out; see the module docstring for the buckets."""

    def __init__(
        self,
        client: Any,
        limits: Limits | None = None,
        *,
        whatsapp_sender: str = "",
        clock: Callable[[], float] | None = None,
        namespace: str = "tutor:pace",
        on_error: Callable[[str], None] | None = None,
        store_retry_seconds: float = 5.0,
    ) -> None:
        self._client = client
        self._limits = limits or Limits()
        self._whatsapp_sender = whatsapp_sender or "default"
        self._clock = clock  # None: Redis TIME (shared); the fallback uses time.time
        self._ns = namespace
        self._on_error = on_error or (lambda operation: None)
        self._take = client.register_script(_TAKE)
        self._push_back = client.register_script(_PUSH_BACK)
        self._local: dict[str, _Local] = {}
        self._lock = threading.Lock()
        self._degraded = False
        # After a failure, Redis is asked again only this much later: meanwhile no send
        # waits for a connection timeout.
        self._store_retry = store_retry_seconds
        self._store_back_at = 0.0

    def take(self, channel: Channel, chat_id: str, cost: int = 1) -> float:
        """Take ``cost`` tokens (messages) for ``chat_id``: 0.0 when taken, else the seconds to
        wait before asking again (nothing was taken)."""
        buckets = self._buckets(channel, chat_id)
        if not buckets:
            return 0.0
        cost = max(1, cost)
        if self._store_down():
            return self._local_take(buckets, cost)
        args: list[Any] = [self._now_arg(), cost]
        for _, rate in buckets:
            args += [rate.per_second, rate.burst]
        try:
            wait_us = int(self._take(keys=[key for key, _ in buckets], args=args))
        except Exception:
            self._failed("take")
            return self._local_take(buckets, cost)
        self._recovered()
        return wait_us / 1_000_000

    def push_back(self, channel: Channel, chat_id: str, scope: Scope, seconds: float) -> None:
        """The platform said "slow down": empty the matching bucket and, given ``seconds``,
        hold it shut that long, for every process."""
        buckets = self._buckets(channel, chat_id)
        if not buckets:
            return
        key, rate = buckets[0] if scope == "sender" else buckets[-1]
        hold = max(0.0, seconds)
        if self._store_down():
            self._local_push_back(key, rate, hold)
            return
        try:
            self._push_back(keys=[key], args=[self._now_arg(), rate.per_second, rate.burst, hold])
        except Exception:
            self._failed("push_back")
            self._local_push_back(key, rate, hold)
            return
        self._recovered()

    def _buckets(self, channel: Channel, chat_id: str) -> list[tuple[str, Rate]]:
        """The buckets a message to ``chat_id`` draws on, the sender's first."""
        recipient = hashlib.sha256(chat_id.encode()).hexdigest()[:20]  # no phone numbers
        if channel is Channel.TELEGRAM:
            return [
                (f"{self._ns}:telegram", self._limits.telegram),
                (f"{self._ns}:telegram:chat:{recipient}", self._limits.telegram_chat),
            ]
        if channel is Channel.WHATSAPP:
            sender = f"{self._ns}:whatsapp:{self._whatsapp_sender}"
            return [
                (sender, self._limits.whatsapp),
                (f"{sender}:user:{recipient}", self._limits.whatsapp_user),
            ]
        return []  # the chat page and the terminal have no platform limits

    def _now_arg(self) -> float | str:
        return "" if self._clock is None else self._clock()

    # The per-process fallback: the same rules as the Lua scripts above. -------------

    def _local_now(self) -> float:
        return time.time() if self._clock is None else self._clock()

    def _level(self, key: str, rate: Rate, now: float) -> _Local:
        if key not in self._local and len(self._local) >= _LOCAL_BUCKETS:
            self._forget_idle(now)
        bucket = self._local.setdefault(key, _Local(rate.burst, now))
        if now > bucket.at:
            bucket.tokens = min(rate.burst, bucket.tokens + (now - bucket.at) * rate.per_second)
        bucket.at = max(bucket.at, now)
        return bucket

    def _local_take(self, buckets: list[tuple[str, Rate]], cost: int) -> float:
        with self._lock:
            now = self._local_now()
            wait = 0.0
            for key, rate in buckets:
                bucket = self._level(key, rate, now)
                need = min(cost, rate.burst)
                short = 0.0
                if bucket.tokens + _FORGIVEN < need:
                    short = (need - bucket.tokens) / rate.per_second
                wait = max(wait, short, bucket.until - now)
            if wait > 0:
                return wait
            for key, _ in buckets:
                self._local[key].tokens -= cost
            return 0.0

    def _forget_idle(self, now: float) -> None:
        """Drop buckets untouched for ``_IDLE_SECONDS``: full again, so nothing is lost."""
        self._local = {
            key: bucket
            for key, bucket in self._local.items()
            if now - bucket.at < _IDLE_SECONDS or bucket.until > now
        }

    def _local_push_back(self, key: str, rate: Rate, hold: float) -> None:
        with self._lock:
            now = self._local_now()
            bucket = self._level(key, rate, now)
            bucket.tokens = min(bucket.tokens, 0.0)
            bucket.until = max(bucket.until, now + hold)

    def _store_down(self) -> bool:
        return time.monotonic() < self._store_back_at

    def _failed(self, operation: str) -> None:
        self._store_back_at = time.monotonic() + self._store_retry
        self._on_error(operation)
        if not self._degraded:  # once per outage, not once per message
            self._degraded = True
            logger.warning(
                "pacing store unavailable; pacing in this process only", extra={"op": operation}
            )

    def _recovered(self) -> None:
        if self._degraded:
            self._degraded = False
            logger.info("pacing store reachable again")


def build_pacer(
    settings: Settings, client: Any, on_error: Callable[[str], None] | None = None
) -> Pacer | None:
    """The service's pacer, or None when ``TUTOR_SEND_PACING`` is off."""
    if not settings.send_pacing:
        return None
    return Pacer(
        client,
        Limits.from_settings(settings),
        whatsapp_sender=settings.whatsapp_phone_number_id,
        on_error=on_error,
    )


def message_count(channel: Channel, chat_id: str, reply: Reply) -> int:
    """How many platform messages ``reply`` becomes: the tokens its send takes."""
    count = 1
    try:
        if channel is Channel.TELEGRAM:
            from tutor.channels import telegram_render

            calls = telegram_render.render(reply)
            link = reply.invoice is not None and telegram_render.is_invoice_link(reply.invoice)
            count = len(calls) + int(link)
        elif channel is Channel.WHATSAPP:
            from tutor.channels import whatsapp_render

            count = len(whatsapp_render.render(reply, chat_id))
    except ValueError:
        return 1  # the adapter refuses it; one token is enough to learn that
    return max(1, count + int(bool(reply.document)))
