"""Anthropic Claude (the STRONG tier) through the official ``anthropic`` SDK: ``POST /v1/messages``.

The Messages API has no JSON mode: in json_mode the system prompt gains an
instruction and the text comes back as the model wrote it (no prefill); the
caller parses and validates it.

``request.temperature`` is not sent: SDK 2.x speaks API version 2026-10-21, which
answers 400 to any ``temperature``/``top_p``/``top_k`` (the SDK dropped them too).
"""

from __future__ import annotations

import json
import logging

import anthropic
from anthropic.types import MessageParam

from tutor.llm.errors import BadModelOutput
from tutor.llm.openai_compat import (
    JSON_INSTRUCTION,
    connection_failed,
    status_error,
    str_or_none,
    timed_out,
    token_count,
    unreadable_body,
)
from tutor.llm.types import ProviderRequest, ProviderResponse

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.anthropic.com"


class AnthropicProvider:
    """Claude messages; SDK retries (including its 529 retry) are off: the router owns retries."""

    name = "anthropic"

    def __init__(
        self, api_key: str, base_url: str = DEFAULT_BASE_URL, *, http_timeout: float = 20.0
    ) -> None:
        self._secret = api_key
        self._client = anthropic.Anthropic(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=http_timeout
        )

    def complete(self, request: ProviderRequest) -> ProviderResponse:
        """One messages.create; raises :mod:`tutor.llm.errors` classes only."""
        system = request.system
        if request.json_mode:
            system = f"{system}\n\n{JSON_INSTRUCTION}".strip()
        messages: list[MessageParam] = []
        for turn in request.messages:
            if turn.role == "user":
                messages.append({"role": "user", "content": turn.content})
            else:
                messages.append({"role": "assistant", "content": turn.content})
        try:
            message = self._client.messages.create(
                model=request.model,
                system=system or anthropic.omit,
                messages=messages,
                max_tokens=request.max_tokens,
                timeout=request.timeout,
            )
        except anthropic.APIStatusError as exc:  # includes 529 OverloadedError
            headers = exc.response.headers
            raise status_error(self.name, exc.status_code, headers, exc.body, self._secret) from exc
        except anthropic.APITimeoutError as exc:
            raise timed_out(self.name, request.timeout) from exc
        except anthropic.APIConnectionError as exc:
            raise connection_failed(self.name) from exc
        except json.JSONDecodeError as exc:  # a 200 whose body is not JSON
            raise unreadable_body(self.name) from exc
        return self._parse(message, request)

    def close(self) -> None:
        """Release the SDK client's pooled connections (also done at garbage collection)."""
        self._client.close()

    def _parse(self, message: object, request: ProviderRequest) -> ProviderResponse:
        if isinstance(message, str):  # the SDK hands back non-JSON bodies as text
            raise unreadable_body(self.name)
        blocks = getattr(message, "content", None)
        texts = [
            block.text
            for block in (blocks if isinstance(blocks, list) else [])
            if getattr(block, "type", None) == "text" and isinstance(block.text, str)
        ]
        text = "".join(texts)
        if not text.strip():
            raise BadModelOutput(f"{self.name}: the reply has no text", provider=self.name)
        stop_reason = str_or_none(getattr(message, "stop_reason", None))
        if request.json_mode and stop_reason == "max_tokens":
            raise BadModelOutput(
                f"{self.name}: JSON reply cut off at max_tokens={request.max_tokens}",
                provider=self.name,
            )
        usage = getattr(message, "usage", None)
        cached = {
            name: token_count(getattr(usage, name, None))
            for name in ("cache_creation_input_tokens", "cache_read_input_tokens")
        }
        extra = {name: str(count) for name, count in cached.items() if count}
        reply_id = str_or_none(getattr(message, "id", None))
        if reply_id:
            extra["id"] = reply_id
        return ProviderResponse(
            text=text,
            # every input token the model read; the cached share is in ``extra``
            input_tokens=token_count(getattr(usage, "input_tokens", None)) + sum(cached.values()),
            output_tokens=token_count(getattr(usage, "output_tokens", None)),
            model=str_or_none(getattr(message, "model", None)) or request.model,
            provider=self.name,
            finish_reason=stop_reason,
            extra=extra,
        )
