"""What providers and the router exchange."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol


class Task(StrEnum):
    CLASSIFY = "classify"
    CHAT = "chat"
    CORRECT = "correct"
    EXPLAIN = "explain"
    SUMMARISE = "summarise"


class Tier(StrEnum):
    FAST = "fast"  # Groq
    STRONG = "strong"  # Anthropic Claude
    LOCAL = "local"  # any OpenAI-compatible server (Ollama, llama.cpp)
    OFFLINE = "offline"  # the curriculum-driven brain: no network


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    """One call to one model. ``json_mode`` asks for a JSON object when the API supports it."""

    model: str
    system: str
    messages: tuple[ChatMessage, ...]
    max_tokens: int = 400
    temperature: float = 0.4
    json_mode: bool = False
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class ProviderResponse:
    text: str
    input_tokens: int
    output_tokens: int
    model: str
    provider: str
    finish_reason: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


class Provider(Protocol):
    """A chat model behind one call; raises :mod:`tutor.llm.errors` classes only."""

    name: str

    def complete(self, request: ProviderRequest) -> ProviderResponse: ...
