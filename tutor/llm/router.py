"""The model router: picks a tier per request, falls back down a chain, never fails the learner.

    task        base tier   chain (first that is set up, closed and within budget answers)
    ──────────  ─────────   ────────────────────────────────────────────────────────────
    classify    fast        fast (small model) → local → offline
    chat        fast        fast → local → strong → offline
    correct     fast        fast → local → strong → offline
    summarise   fast        fast → local → offline
    explain     strong      strong → fast → local → offline

A request escalates one tier (fast → strong) when its classifier confidence
sits near the decision boundary, or when its context is too long for the fast
tier. Before any tier: the answer already given to this request id (a
redelivered turn is never paid twice), then the exact cache, then the
semantic cache. Each tier is skipped while its breaker is open or a budget is
spent; a retryable error is retried once with jitter when time allows. The
offline brain (the caller's curriculum-driven fallback) always answers last,
so a learner gets a reply within the deadline whatever the providers do.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from pydantic import BaseModel, ValidationError

from tutor.llm.breaker import CircuitBreaker
from tutor.llm.budget import Budget
from tutor.llm.cache import CachedAnswer, ResponseCache, SemanticCache, is_cacheable
from tutor.llm.errors import (
    BadModelOutput,
    LLMError,
    ProviderRateLimited,
    ProviderUnavailable,
    TierUnavailable,
)
from tutor.llm.language import guess_language
from tutor.llm.ledger import Ledger, LedgerEntry
from tutor.llm.outputs import parse_json
from tutor.llm.prompts import prompt, quote
from tutor.llm.types import ChatMessage, Provider, ProviderRequest, ProviderResponse, Task, Tier

logger = logging.getLogger(__name__)

BASE_TIER = {
    Task.CLASSIFY: Tier.FAST,
    Task.CHAT: Tier.FAST,
    Task.CORRECT: Tier.FAST,
    Task.SUMMARISE: Tier.FAST,
    Task.EXPLAIN: Tier.STRONG,
}
CHAINS = {
    (Task.CLASSIFY, Tier.FAST): (Tier.FAST, Tier.LOCAL, Tier.OFFLINE),
    (Task.SUMMARISE, Tier.FAST): (Tier.FAST, Tier.LOCAL, Tier.OFFLINE),
}
DEFAULT_CHAIN = {
    Tier.FAST: (Tier.FAST, Tier.LOCAL, Tier.STRONG, Tier.OFFLINE),
    Tier.STRONG: (Tier.STRONG, Tier.FAST, Tier.LOCAL, Tier.OFFLINE),
}
ESCALATION_MARGIN = 0.15  # confidence within this of 0.5 is "near the boundary"
FAST_CONTEXT_TOKENS = 12_000  # longer prompts go to the strong tier
DEADLINE_SECONDS = 25.0  # leaves the offline brain time inside the learner's 30 s
MAX_INLINE_WAIT = 1.5  # longest retry-after honoured by waiting rather than falling back


@dataclass(frozen=True, slots=True)
class ModelChoice:
    model: str
    price_input: float  # USD per million tokens
    price_output: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.price_input + output_tokens * self.price_output) / 1_000_000


@dataclass(frozen=True, slots=True)
class TierConfig:
    """One configured tier: its provider, model per task and timeout."""

    tier: Tier
    provider: Provider
    model: ModelChoice
    timeout: float
    models_by_task: Mapping[Task, ModelChoice] = field(default_factory=dict)

    def model_for(self, task: Task) -> ModelChoice:
        return self.models_by_task.get(task, self.model)


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """One thing an agent wants from a model.

    ``template`` names the task prompt (see :mod:`tutor.llm.prompts`), filled
    with ``variables``; ``learner_text`` is quoted as data; ``fallback`` is the
    offline brain's answer for this request (the agent's curriculum rules).
    """

    task: Task
    agent: str
    request_id: str
    template: str
    variables: Mapping[str, str]
    learner_text: str = ""
    history: tuple[ChatMessage, ...] = ()
    learner_key: str | None = None
    plan: str = "free"
    language: str = "es"
    level: str = "A1"
    personal: bool = True
    schema: type[BaseModel] | None = None
    confidence: float | None = None
    expected_language: str | None = None
    max_tokens: int = 400
    fallback: Callable[[], str] | None = None


@dataclass(frozen=True, slots=True)
class LLMResult:
    text: str
    tier: Tier
    provider: str
    model: str
    cache: str = "none"  # none | request | exact | semantic
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    parsed: BaseModel | None = None
    skipped: tuple[tuple[str, str], ...] = ()  # (tier, reason) for tiers passed over


class Router:
    """Answers LLMRequests from the best tier available right now."""

    def __init__(
        self,
        tiers: Mapping[Tier, TierConfig],
        *,
        breaker: CircuitBreaker,
        budget: Budget,
        cache: ResponseCache,
        ledger: Ledger,
        semantic: SemanticCache | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        deadline_seconds: float = DEADLINE_SECONDS,
    ) -> None:
        self.tiers = dict(tiers)
        self.breaker = breaker
        self.budget = budget
        self.cache = cache
        self.ledger = ledger
        self.semantic = semantic
        self._clock = clock
        self._sleep = sleep
        self._deadline = deadline_seconds

    def close(self) -> None:
        """Close the providers' HTTP connection pools."""
        for config in self.tiers.values():
            close = getattr(config.provider, "close", None)
            if close is not None:
                close()

    # Choosing ---------------------------------------------------------------

    def chain(self, request: LLMRequest, context_tokens: int) -> tuple[Tier, ...]:
        """The tiers to try, in order, for ``request``."""
        base = BASE_TIER[request.task]
        near_boundary = (
            request.confidence is not None and abs(request.confidence - 0.5) < ESCALATION_MARGIN
        )
        if base is Tier.FAST and (near_boundary or context_tokens > FAST_CONTEXT_TOKENS):
            base = Tier.STRONG
        return CHAINS.get((request.task, base), DEFAULT_CHAIN[base])

    # Answering ----------------------------------------------------------------

    def complete(self, request: LLMRequest) -> LLMResult:
        """An answer for ``request``; the offline brain's when no model can give one."""
        started = self._clock()
        system, messages = build_messages(request)
        remembered = self.cache.get(self._request_key(request))
        if remembered is not None:
            return self._cached(request, remembered, "request", started)
        exact_key = None
        if is_cacheable(request.personal, request.task):
            exact_key = self.cache.key(
                request.task, "any", "any", system, messages, request.language, request.level
            )
            hit = self.cache.get(exact_key)
            if hit is not None:
                return self._remember(request, self._cached(request, hit, "exact", started))
        semantic_bucket = f"{request.language}>{request.variables.get('explanation_language', '')}"
        use_semantic = (
            self.semantic is not None
            and not request.personal
            and request.task is Task.EXPLAIN
            and request.schema is None
        )
        if use_semantic and self.semantic is not None:
            found = self.semantic.lookup(request.learner_text, semantic_bucket, request.level)
            if found is not None:
                return self._remember(request, self._cached(request, found[0], "semantic", started))
        context_tokens = estimate_tokens(system) + sum(estimate_tokens(m.content) for m in messages)
        skipped: list[tuple[str, str]] = []
        for tier in self.chain(request, context_tokens):
            if tier is Tier.OFFLINE:
                break
            try:
                result = self._try_tier(tier, request, system, messages, started)
            except LLMError as exc:
                skipped.append((tier.value, type(exc).__name__))
                continue
            result = replace(result, skipped=tuple(skipped))
            answer = CachedAnswer(result.text, result.provider, result.model)
            if exact_key is not None:
                self.cache.put(exact_key, answer)
            if use_semantic and self.semantic is not None:
                self.semantic.store(request.learner_text, semantic_bucket, request.level, answer)
            return self._remember(request, result)
        return self._offline(request, started, tuple(skipped))

    def _try_tier(
        self,
        tier: Tier,
        request: LLMRequest,
        system: str,
        messages: tuple[ChatMessage, ...],
        started: float,
    ) -> LLMResult:
        config = self.tiers.get(tier)
        if config is None:
            raise TierUnavailable("not configured")
        name = config.provider.name
        if not self.breaker.allow(name):
            raise TierUnavailable("breaker open", provider=name)
        refusal = self.budget.check(name, request.learner_key, request.plan)
        if refusal is not None:
            raise TierUnavailable(refusal, provider=name)
        choice = config.model_for(request.task)
        call = ProviderRequest(
            model=choice.model,
            system=system,
            messages=messages,
            max_tokens=request.max_tokens,
            json_mode=request.schema is not None,
            timeout=config.timeout,
        )
        for attempt in (1, 2):
            remaining = self._deadline - (self._clock() - started)
            if remaining < 0.5:
                raise TierUnavailable("out of time", provider=name)
            call = replace(call, timeout=min(config.timeout, remaining))
            try:
                response = self._call(config, call, request, attempt)
                text, parsed = self._validate(config, call, request, response, attempt)
            except ProviderRateLimited as exc:
                wait = exc.retry_after if exc.retry_after is not None else 0.5
                if attempt == 2 or wait > MAX_INLINE_WAIT or wait > remaining - 1:
                    raise
                self._sleep(wait + random.uniform(0, 0.2))
                continue
            except ProviderUnavailable:
                if attempt == 2 or remaining < config.timeout + 1:
                    raise
                self._sleep(random.uniform(0.05, 0.3))
                continue
            cost = choice.cost(response.input_tokens, response.output_tokens)
            return LLMResult(
                text=text,
                tier=tier,
                provider=name,
                model=response.model or choice.model,
                cost_usd=cost,
                latency_ms=(self._clock() - started) * 1000,
                parsed=parsed,
            )
        raise AssertionError("unreachable")

    def _call(
        self,
        config: TierConfig,
        call: ProviderRequest,
        request: LLMRequest,
        attempt: int,
    ) -> ProviderResponse:
        name = config.provider.name
        began = self._clock()
        try:
            response = config.provider.complete(call)
        except LLMError as exc:
            self.breaker.record_failure(
                name,
                rate_limited=isinstance(exc, ProviderRateLimited),
                retry_after=getattr(exc, "retry_after", None),
                error=type(exc).__name__,
            )
            self._record(request, config, call.model, None, began, f"{attempt}", type(exc).__name__)
            logger.warning(
                "model call failed",
                extra={"provider": name, "task": request.task.value, "error": type(exc).__name__},
            )
            raise
        self.breaker.record_success(name)
        fresh = self._record(request, config, call.model, response, began, f"{attempt}", "ok")
        if fresh:  # a call already in the ledger was already counted against the budget
            choice = config.model_for(request.task)
            cost = choice.cost(response.input_tokens, response.output_tokens)
            self.budget.record(name, request.learner_key, cost)
        return response

    def _validate(
        self,
        config: TierConfig,
        call: ProviderRequest,
        request: LLMRequest,
        response: ProviderResponse,
        attempt: int,
    ) -> tuple[str, BaseModel | None]:
        """Check language and schema; one repair round trip for a broken JSON answer."""
        text = response.text.strip()
        if request.expected_language and request.schema is None:
            found = guess_language(text)
            if found is not None and found != request.expected_language:
                raise BadModelOutput(f"answered in {found}", provider=config.provider.name)
        if request.schema is None:
            return text, None
        try:
            return text, parse_json(text, request.schema)
        except (ValueError, ValidationError) as exc:
            problem = str(exc).splitlines()[0][:300]
        repair = replace(
            call,
            messages=(
                *call.messages,
                ChatMessage("assistant", text[:4000]),
                ChatMessage("user", prompt("repair_json").render(problem=problem)),
            ),
        )
        repaired = self._call(config, repair, request, attempt * 10)
        try:
            return repaired.text.strip(), parse_json(repaired.text, request.schema)
        except (ValueError, ValidationError) as exc:
            raise BadModelOutput(
                "invalid JSON after one repair", provider=config.provider.name
            ) from exc

    # Results -------------------------------------------------------------------

    def _offline(
        self,
        request: LLMRequest,
        started: float,
        skipped: tuple[tuple[str, str], ...],
    ) -> LLMResult:
        text = request.fallback() if request.fallback is not None else ""
        parsed = None
        if request.schema is not None and text:
            try:
                parsed = parse_json(text, request.schema)
            except (ValueError, ValidationError):
                logger.error("offline brain produced invalid JSON", extra={"agent": request.agent})
        self.ledger.record(
            LedgerEntry(
                request_id=f"{request.request_id}:offline",
                learner_key=request.learner_key,
                agent=request.agent,
                task=request.task.value,
                tier=Tier.OFFLINE.value,
                provider="offline",
                model="offline",
            )
        )
        return LLMResult(
            text=text,
            tier=Tier.OFFLINE,
            provider="offline",
            model="offline",
            latency_ms=(self._clock() - started) * 1000,
            parsed=parsed,
            skipped=skipped,
        )

    def _cached(
        self, request: LLMRequest, answer: CachedAnswer, kind: str, started: float
    ) -> LLMResult:
        parsed = parse_json(answer.text, request.schema) if request.schema is not None else None
        latency = (self._clock() - started) * 1000
        if kind != "request":  # a replayed turn was recorded the first time round
            self.ledger.record(
                LedgerEntry(
                    request_id=f"{request.request_id}:{kind}",
                    learner_key=request.learner_key,
                    agent=request.agent,
                    task=request.task.value,
                    tier="cache",
                    provider=answer.provider,
                    model=answer.model,
                    latency_ms=int(latency),
                    cache="exact" if kind == "exact" else "semantic",
                )
            )
        return LLMResult(
            text=answer.text,
            tier=Tier.FAST,
            provider=answer.provider,
            model=answer.model,
            cache=kind,
            latency_ms=latency,
            parsed=parsed,
        )

    def _request_key(self, request: LLMRequest) -> str:
        return f"tutor:llm:request:{request.request_id}"

    def _remember(self, request: LLMRequest, result: LLMResult) -> LLMResult:
        """Keep the answer under the request id: a redelivered turn is never paid twice."""
        answer = CachedAnswer(result.text, result.provider, result.model)
        self.cache.put(self._request_key(request), answer)
        return result

    def _record(
        self,
        request: LLMRequest,
        config: TierConfig,
        model: str,
        response: ProviderResponse | None,
        began: float,
        attempt: str,
        outcome: str,
    ) -> bool:
        """One ledger row per provider call; False when this call id was already recorded."""
        choice = config.model_for(request.task)
        tokens_in = response.input_tokens if response else 0
        tokens_out = response.output_tokens if response else 0
        return self.ledger.record(
            LedgerEntry(
                request_id=f"{request.request_id}:{config.tier.value}:{attempt}",
                learner_key=request.learner_key,
                agent=request.agent,
                task=request.task.value,
                tier=config.tier.value,
                provider=config.provider.name,
                model=model,
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                cost_usd=choice.cost(tokens_in, tokens_out) if response else 0.0,
                latency_ms=int((self._clock() - began) * 1000),
                outcome=outcome,
            )
        )


# Prompt assembly ---------------------------------------------------------------

SYSTEM_VARIABLES = ("target_language", "explanation_language", "level")
MEMORY_INTRO = (
    "What you remember about this learner (use it when it helps this reply; never list it "
    "or say you keep notes):"
)


def build_messages(request: LLMRequest) -> tuple[str, tuple[ChatMessage, ...]]:
    """The system prompt (rules + task template) and the messages, learner text quoted."""
    values = {
        "target_language": request.language,
        "explanation_language": "English",
        "level": request.level,
        **request.variables,
    }
    system = prompt("tutor_system").render(**{k: values[k] for k in SYSTEM_VARIABLES})
    task = prompt(request.template).render(**values)
    messages = (*request.history, ChatMessage("user", quote(request.learner_text)))
    remembered = values.get("memory", "")
    if remembered:
        task += f"\n\n{MEMORY_INTRO}\n{remembered}"
    return f"{system}\n\n{task}", messages


def estimate_tokens(text: str) -> int:
    """About four characters a token: enough to choose a tier, not to bill."""
    return max(1, len(text) // 4)
