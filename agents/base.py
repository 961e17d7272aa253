"""What every tutoring agent shares: the context it reads and the outcome it returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from agents.rules import ErrorEvent
from memory.context import Memory
from tutor.messages import Inbound, Reply


@dataclass(frozen=True, slots=True)
class Context:
    """What an agent may know for one turn: the learner, their recent turns and what the
    tutor remembers of them (:mod:`memory.context`).

    ``profile`` holds target_language, explanation_language, level, timezone,
    practice_time; ``state`` holds the open flow (onboarding step, menu, ...).
    """

    learner_key: str
    profile: dict[str, Any]
    state: dict[str, Any]
    recent_turns: tuple[dict[str, Any], ...] = ()
    learner_id: int | None = None
    request_id: str = ""
    memory: Memory = Memory()
    #: "paid" while a subscription or pack lessons cover the learner, else "free": the
    #: model budget a learner gets (``tutor.llm.budget``).
    plan: str = "free"

    @property
    def lang(self) -> str:
        """The learner's explanation language, English until they choose."""
        return str(self.profile.get("explanation_language") or self.profile.get("ui_hint") or "en")

    @property
    def onboarded(self) -> bool:
        return bool(self.profile.get("onboarded"))


@dataclass(frozen=True, slots=True)
class Outcome:
    """An agent's answer: replies to send, and the learner's new profile and state.

    ``profile`` or ``state`` left as None means unchanged; ``errors`` are the
    learner's mistakes found in this turn, stored with it.
    """

    agent: str
    replies: tuple[Reply, ...]
    profile: dict[str, Any] | None = None
    state: dict[str, Any] | None = None
    errors: tuple[ErrorEvent, ...] = ()
    #: The learner was erased in this turn (their goodbye already queued): store nothing.
    erased: bool = False


class Agent(Protocol):
    """Turns one Inbound in its Context into an Outcome."""

    name: str

    def handle(self, inbound: Inbound, context: Context) -> Outcome: ...

    def start(self, context: Context) -> Outcome:
        """Chosen from the menu: open the agent's activity."""
        ...
