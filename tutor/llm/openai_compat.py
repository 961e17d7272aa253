"""OpenAI-style chat completions: the local-server provider, and the edge helpers all share.

The groq, anthropic and openai SDKs are generated from one template (Stainless),
so their failures have one shape: ``APIStatusError`` (``status_code``,
``response.headers``, ``body``), ``APITimeoutError`` ⊂ ``APIConnectionError``,
and a bare ``json.JSONDecodeError`` when a 200 body is not JSON. Each adapter
catches its own SDK's classes and calls the helpers here to build the
:mod:`tutor.llm.errors` exception, so the mapping lives in one place:

    429                              → ProviderRateLimited(retry_after)
    408, 409, ≥500 (Anthropic 529)   → ProviderUnavailable
    other 4xx                        → ProviderRejected
    connection error, timeout        → ProviderUnavailable
    200 whose body is not JSON       → ProviderUnavailable (a broken transport or
                                       proxy page, not something the model said)
    no choices, empty text, or a
    json_mode reply cut at max_tokens → BadModelOutput

Messages carry the vendor's error type and message, never the API key.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import cast

import openai
from openai.types.chat import ChatCompletionMessageParam

from tutor.llm.errors import (
    BadModelOutput,
    LLMError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from tutor.llm.types import ProviderRequest, ProviderResponse

logger = logging.getLogger(__name__)

JSON_INSTRUCTION = "Answer with one JSON object and nothing else."
_RETRYABLE_4XX = frozenset({408, 409})
_MAX_DETAIL = 200


# Error translation (shared by every adapter) -----------------------------------


def status_error(
    provider: str, status: int, headers: Mapping[str, str], body: object, secret: str
) -> LLMError:
    """The tree's exception for an HTTP error status the SDK raised."""
    kind, detail = _error_detail(body)
    message = redact(f"{provider}: HTTP {status} {kind}: {detail}".rstrip(": "), secret)
    logger.debug("model call failed: provider=%s status=%s type=%s", provider, status, kind)
    if status == 429:
        return ProviderRateLimited(
            message, provider=provider, status=status, retry_after=retry_after_seconds(headers)
        )
    if status >= 500 or status in _RETRYABLE_4XX:
        return ProviderUnavailable(message, provider=provider, status=status)
    return ProviderRejected(message, provider=provider, status=status)


def timed_out(provider: str, seconds: float) -> ProviderUnavailable:
    logger.debug("model call timed out: provider=%s after=%ss", provider, seconds)
    return ProviderUnavailable(f"{provider}: no answer within {seconds:g}s", provider=provider)


def connection_failed(provider: str) -> ProviderUnavailable:
    logger.debug("model call could not connect: provider=%s", provider)
    return ProviderUnavailable(f"{provider}: connection failed", provider=provider)


def unreadable_body(provider: str) -> ProviderUnavailable:
    logger.debug("model call returned a body that is not JSON: provider=%s", provider)
    return ProviderUnavailable(f"{provider}: response body is not JSON", provider=provider)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` (preferred) or ``retry-after`` (seconds or HTTP date)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            seconds = _seconds_until(value) if name == "retry-after" else math.nan
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return None


def redact(text: str, secret: str) -> str:
    """``text`` without ``secret`` (placeholder keys such as "none" are left alone)."""
    return text.replace(secret, "[redacted]") if len(secret) >= 8 else text


def _seconds_until(http_date: str) -> float:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return math.nan
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - datetime.now(UTC)).total_seconds()


def _error_detail(body: object) -> tuple[str, str]:
    """(type, message) from OpenAI's ``{"error": {...}}``, its unwrapped form, or Anthropic's.

    Ollama's native ``{"error": "model not found"}`` and plain-text bodies give their text.
    """
    error = body.get("error", body) if isinstance(body, Mapping) else body
    if isinstance(error, str):
        return "error", error[:_MAX_DETAIL]
    if not isinstance(error, Mapping):
        return "error", ""
    kind = error.get("type") or error.get("code") or "error"
    detail = error.get("message")
    text = detail if isinstance(detail, str) else ""
    return str(kind), text[:_MAX_DETAIL]


# The OpenAI wire shape (shared with Groq) ------------------------------------------


def system_prompt(request: ProviderRequest) -> str:
    """The system prompt; in json_mode it makes sure some message mentions JSON.

    OpenAI-style APIs refuse ``response_format=json_object`` unless a message says "json".
    """
    if not request.json_mode:
        return request.system
    turns = " ".join(message.content for message in request.messages)
    if "json" in f"{request.system} {turns}".lower():
        return request.system
    return f"{request.system}\n\n{JSON_INSTRUCTION}".strip()


def parse_chat_completion(
    completion: object, request: ProviderRequest, provider: str
) -> ProviderResponse:
    """Read a chat.completion object; BadModelOutput when there is nothing usable."""
    if isinstance(completion, str):  # the SDK hands back non-JSON bodies as text
        raise unreadable_body(provider)
    choices = getattr(completion, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise BadModelOutput(f"{provider}: the reply has no choices", provider=provider)
    choice = choices[0]
    finish_reason = str_or_none(getattr(choice, "finish_reason", None))
    content = getattr(getattr(choice, "message", None), "content", None)
    if not isinstance(content, str) or not content.strip():
        raise BadModelOutput(f"{provider}: the reply has no text", provider=provider)
    if request.json_mode and finish_reason == "length":
        raise BadModelOutput(
            f"{provider}: JSON reply cut off at max_tokens={request.max_tokens}", provider=provider
        )
    usage = getattr(completion, "usage", None)
    reply_id = str_or_none(getattr(completion, "id", None))
    return ProviderResponse(
        text=content,
        input_tokens=token_count(getattr(usage, "prompt_tokens", None)),
        output_tokens=token_count(getattr(usage, "completion_tokens", None)),
        model=str_or_none(getattr(completion, "model", None)) or request.model,
        provider=provider,
        finish_reason=finish_reason,
        extra={"id": reply_id} if reply_id else {},
    )


def token_count(value: object) -> int:
    """A usage field as a count; 0 when the server left it out."""
    return value if isinstance(value, int) and value >= 0 else 0


def str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


# The provider -------------------------------------------------------------------------


class OpenAICompatibleProvider:
    """A chat model behind an OpenAI-compatible server (Ollama, llama.cpp, vLLM).

    ``base_url`` includes the ``/v1`` as operators write it (``http://localhost:11434/v1``);
    requests go to ``{base_url}/chat/completions``. SDK retries are off: the router retries.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        name: str = "local",
        *,
        http_timeout: float = 15.0,
    ) -> None:
        self.name = name
        self._secret = api_key or ""
        self._client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or "none",  # the SDK insists on a key; local servers ignore it
            max_retries=0,
            timeout=http_timeout,
        )

    def complete(self, request: ProviderRequest) -> ProviderResponse:
        """One POST /chat/completions; raises :mod:`tutor.llm.errors` classes only."""
        try:
            completion = self._client.chat.completions.create(
                model=request.model,
                messages=cast("list[ChatCompletionMessageParam]", chat_messages(request)),
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                response_format={"type": "json_object"} if request.json_mode else openai.omit,
                timeout=request.timeout,
            )
        except openai.APIStatusError as exc:
            headers = exc.response.headers
            raise status_error(self.name, exc.status_code, headers, exc.body, self._secret) from exc
        except openai.APITimeoutError as exc:
            raise timed_out(self.name, request.timeout) from exc
        except openai.APIConnectionError as exc:
            raise connection_failed(self.name) from exc
        except json.JSONDecodeError as exc:  # a 200 whose body is not JSON
            raise unreadable_body(self.name) from exc
        return parse_chat_completion(completion, request, self.name)

    def close(self) -> None:
        """Release the SDK client's pooled connections (also done at garbage collection)."""
        self._client.close()


def chat_messages(request: ProviderRequest) -> list[dict[str, str]]:
    """The system prompt and turns in the OpenAI chat shape (Groq uses it too)."""
    system = system_prompt(request)
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": turn.role, "content": turn.content} for turn in request.messages]
    return messages
