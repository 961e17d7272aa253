"""One way for an agent to phrase a model request for a learner's turn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agents.base import Context
from memory.context import for_model
from tutor.i18n import language_name
from tutor.llm.router import LLMRequest
from tutor.llm.types import Task

#: Learner text a model reads at most (a 10,000-character paste is cut here).
MODEL_CHARS = 1000


def request(
    context: Context,
    target: str,
    *,
    task: Task,
    agent: str,
    purpose: str,
    template: str,
    learner_text: str,
    fallback: Callable[[], str],
    variables: dict[str, str] | None = None,
    **options: Any,
) -> LLMRequest:
    """An :class:`LLMRequest` for this turn: ids, languages and level filled in, and for
    a chat what the tutor remembers of the learner (:func:`memory.context.for_model`).

    ``purpose`` makes the request id unique within the turn (one turn can ask for a
    correction and a reply), so a redelivered turn hits the router's request cache.
    """
    return LLMRequest(
        task=task,
        agent=agent,
        request_id=f"{context.request_id}:{purpose}",
        template=template,
        variables={
            "target_language": language_name(target, "en"),
            "explanation_language": language_name(context.lang, "en"),
            **({"memory": for_model(context.memory)} if task is Task.CHAT else {}),
            **(variables or {}),
        },
        learner_text=learner_text[:MODEL_CHARS],
        learner_key=context.learner_key,
        plan=context.plan,
        language=target,
        level=str(context.profile.get("level") or "A1"),
        fallback=fallback,
        **options,
    )
