"""``tutor simulate costs``: a month of learners replayed through the real router.

The router, breaker, budgets, caches and ledger are the real ones (on the
embedded store in a scratch folder); only the providers are simulated, in
process, priced like the configured tiers and answering with token counts
drawn from realistic sizes. The message mix per active learner-day:

    kind        share  task       personal  tokens in/out (mean)
    chat        55 %   chat       yes       900 / 80
    correction  20 %   correct    yes       400 / 120
    classify    25 %   classify   no        250 / 15   (messages the rules did not place)
    question     8 %   explain    40 % no   500 / 200  (40 % drawn from a Zipf pool of FAQs,
                                                      60 % questions of the learner's own)
    summary     1/day  summarise  yes       2000 / 150 (the nightly memory note)
"""

from __future__ import annotations

import random
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tutor.llm.router import LLMRequest, Router
from tutor.llm.service import build_router
from tutor.llm.types import ProviderRequest, ProviderResponse, Task, Tier
from tutor.settings import Settings

MIX = (("chat", 0.55), ("correction", 0.20), ("classify", 0.25))
QUESTION_SHARE = 0.08
FAQ_SHARE = 0.4  # of questions, the share that are common ones worded a common way
SIZES = {
    Task.CHAT: (900, 80),
    Task.CORRECT: (400, 120),
    Task.CLASSIFY: (250, 15),
    Task.EXPLAIN: (500, 200),
    Task.SUMMARISE: (2000, 150),
}
TEMPLATES = {
    Task.CHAT: "chat",
    Task.CORRECT: "correct",
    Task.CLASSIFY: "classify",
    Task.EXPLAIN: "explain",
    Task.SUMMARISE: "summarise",
}
FAQ_TOPICS = (
    "ser and estar",
    "por and para",
    "the subjunctive",
    "preterite or imperfect",
    "gender of nouns",
    "al and del",
    "gustar",
    "reflexive verbs",
    "direct object pronouns",
    "tú or usted",
    "the personal a",
    "adjective position",
    "past participles",
    "haber",
)


class SimulatedProvider:
    """Answers instantly with drawn token counts; ``fail_rate`` makes some calls fail."""

    def __init__(self, name: str, rng: random.Random, fail_rate: float = 0.0) -> None:
        self.name = name
        self._rng = rng
        self._fail_rate = fail_rate

    def complete(self, request: ProviderRequest) -> ProviderResponse:
        from tutor.llm.errors import ProviderUnavailable

        if self._fail_rate and self._rng.random() < self._fail_rate:
            raise ProviderUnavailable("simulated outage", provider=self.name)
        task = _task_of(request)
        mean_in, mean_out = SIZES[task]
        tokens_in = max(20, int(self._rng.gauss(mean_in, mean_in * 0.25)))
        tokens_out = max(5, int(self._rng.gauss(mean_out, mean_out * 0.3)))
        text = (
            '{"intent": "conversation", "confidence": 0.9}'
            if request.json_mode
            else "Muy bien. ¿Y qué más hiciste ayer con tus amigos en la playa?"
        )
        return ProviderResponse(text, tokens_in, tokens_out, request.model, self.name, "stop")


def _task_of(request: ProviderRequest) -> Task:
    system = request.system
    for task, marker in (
        (Task.CLASSIFY, "Classify the learner"),
        (Task.CORRECT, "Find grammar"),
        (Task.EXPLAIN, "Explain the learner"),
        (Task.SUMMARISE, "Summarise this"),
    ):
        if marker in system:
            return task
    return Task.CHAT


@dataclass(frozen=True)
class SimulationReport:
    learners: int
    active_learners: int
    days: int
    turns: int
    per_tier: Mapping[str, int]
    cache_hits: int
    cost_usd: float

    @property
    def fast_or_cache_share(self) -> float:
        good = self.per_tier.get("fast", 0) + self.per_tier.get("cache", 0)
        return good / self.turns if self.turns else 0.0

    @property
    def cost_per_active_learner_month(self) -> float:
        if not self.active_learners:
            return 0.0
        return self.cost_usd / self.active_learners * (30 / self.days)

    def lines(self) -> list[str]:
        lines = [
            f"{self.learners} learners ({self.active_learners} active) over {self.days} days: "
            f"{self.turns} model turns",
            "Turns per tier:",
        ]
        for tier in ("cache", "fast", "strong", "local", "offline"):
            count = self.per_tier.get(tier, 0)
            lines.append(f"  {tier:<8} {count:>9}  {count / max(self.turns, 1):6.1%}")
        lines += [
            f"Cache hit rate: {self.cache_hits / max(self.turns, 1):.1%}",
            f"Fast tier or cache: {self.fast_or_cache_share:.1%} (target at least 80%)",
            f"Model cost: ${self.cost_usd:.2f} in all, "
            f"${self.cost_per_active_learner_month:.3f} per active learner per month "
            "(target under $0.50)",
        ]
        return lines


def simulated_settings(base: Settings, folder: Path, redis_url: str = "") -> Settings:
    """The operator's prices and caps, on a scratch SQLite store (and Redis if given)."""
    return base.model_copy(
        update={
            "database_url": f"sqlite:///{folder / 'simulation.sqlite3'}",
            "redis_url": redis_url,
            "var_dir": folder,
            "groq_api_key": "simulated",
            "anthropic_api_key": "simulated",
            "local_llm_base_url": "",
        }
    )


def run(
    base: Settings,
    *,
    learners: int,
    days: int,
    seed: int = 7,
    fail_rate: float = 0.0,
    redis_url: str = "",
    progress: Callable[[int], None] | None = None,
) -> SimulationReport:
    """Replay ``days`` of traffic from ``learners`` through the real router.

    ``redis_url`` should name a scratch Redis database (budget counters and
    cache entries are written there). Without it the in-process store is used:
    the same answers, several times slower.
    """
    from tutor.services import build_services

    rng = random.Random(seed)
    shm = Path("/dev/shm")  # noqa: S108 - a private mkdtemp inside; the ledger needs no fsync
    scratch_root = str(shm) if shm.is_dir() else None
    with tempfile.TemporaryDirectory(prefix="tutor-sim-", dir=scratch_root) as scratch:
        settings = simulated_settings(base, Path(scratch), redis_url)
        services = build_services(settings)
        answers = random.Random(seed + 1)  # traffic stays the same whatever the providers do
        providers = {
            Tier.FAST: SimulatedProvider("groq", answers, fail_rate),
            Tier.STRONG: SimulatedProvider("anthropic", answers, fail_rate),
        }
        router = build_router(settings, services.redis, services.engine, providers)
        try:
            return _replay(router, rng, learners, days, progress)
        finally:
            router.close()
            services.close()


def _replay(
    router: Router,
    rng: random.Random,
    learners: int,
    days: int,
    progress: Callable[[int], None] | None,
) -> SimulationReport:
    per_tier: Counter[str] = Counter()
    cache_hits = 0
    cost = 0.0
    turns = 0
    active: set[int] = set()
    habits = [rng.betavariate(2, 3) for _ in range(learners)]  # how often each one practises
    faq_weights = [1 / (rank + 1) for rank in range(len(FAQ_TOPICS) * 4)]
    for day in range(days):
        for learner, habit in enumerate(habits):
            if rng.random() > habit:
                continue
            active.add(learner)
            messages = max(1, int(rng.expovariate(1 / 10)))
            requests = [_turn(rng, learner, day, n, faq_weights) for n in range(messages)]
            requests.append(_request(Task.SUMMARISE, learner, f"{day}:summary", "", True))
            for request in requests:
                result = router.complete(request)
                turns += 1
                tier = "cache" if result.cache != "none" else result.tier.value
                per_tier[tier] += 1
                cache_hits += result.cache != "none"
                cost += result.cost_usd
        if progress is not None:
            progress(1)
    return SimulationReport(learners, len(active), days, turns, dict(per_tier), cache_hits, cost)


def _turn(
    rng: random.Random,
    learner: int,
    day: int,
    n: int,
    faq_weights: list[float],
) -> LLMRequest:
    request_id = f"{day}:{n}"
    if rng.random() < QUESTION_SHARE:
        if rng.random() >= FAQ_SHARE:  # a question of their own: no cache can answer it
            text = f"pregunta {learner}-{day}-{n}"
            return _request(Task.EXPLAIN, learner, request_id, text, True)
        index = rng.choices(range(len(faq_weights)), faq_weights)[0]
        topic = FAQ_TOPICS[index % len(FAQ_TOPICS)]
        phrasing = (
            "When do I use {}?",
            "How does {} work?",
            "Can you explain {}?",
            "what's the rule for {}",
        )[index // len(FAQ_TOPICS)]
        return _request(Task.EXPLAIN, learner, request_id, phrasing.format(topic), False)
    kind = rng.choices([k for k, _ in MIX], [w for _, w in MIX])[0]
    task = {"chat": Task.CHAT, "correction": Task.CORRECT, "classify": Task.CLASSIFY}[kind]
    text = f"mensaje {learner}-{day}-{n}"
    return _request(task, learner, request_id, text, task is not Task.CLASSIFY)


def _request(task: Task, learner: int, request_id: str, text: str, personal: bool) -> LLMRequest:
    variables = {"explanation_language": "English"}
    if task is Task.CLASSIFY:
        variables["intents"] = "conversation, grammar_question, vocabulary_question"
    return LLMRequest(
        task=task,
        agent=task.value,
        request_id=f"sim:{learner}:{request_id}",
        template=TEMPLATES[task],
        variables=variables,
        learner_text=text,
        learner_key=f"sim:{learner}",
        plan="paid",
        language="Spanish",
        level="A2",
        personal=personal,
        fallback=lambda: "¿Seguimos?",
    )
