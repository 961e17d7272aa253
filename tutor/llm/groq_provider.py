"""Groq (the FAST tier) through the official ``groq`` SDK: ``POST /openai/v1/chat/completions``."""

from __future__ import annotations

import json
import logging
from typing import cast

import groq
from groq.types.chat import ChatCompletionMessageParam

from tutor.llm.openai_compat import (
    chat_messages,
    connection_failed,
    parse_chat_completion,
    status_error,
    timed_out,
    unreadable_body,
)
from tutor.llm.types import ProviderRequest, ProviderResponse

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.groq.com"


class GroqProvider:
    """Groq chat completions; SDK retries are off because the router owns retries."""

    name = "groq"

    def __init__(
        self, api_key: str, base_url: str = DEFAULT_BASE_URL, *, http_timeout: float = 10.0
    ) -> None:
        self._secret = api_key
        self._client = groq.Groq(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=http_timeout
        )

    def complete(self, request: ProviderRequest) -> ProviderResponse:
        """One chat completion; raises :mod:`tutor.llm.errors` classes only."""
        try:
            completion = self._client.chat.completions.create(
                model=request.model,
                messages=cast("list[ChatCompletionMessageParam]", chat_messages(request)),
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                response_format={"type": "json_object"} if request.json_mode else groq.omit,
                timeout=request.timeout,
            )
        except groq.APIStatusError as exc:
            headers = exc.response.headers
            raise status_error(self.name, exc.status_code, headers, exc.body, self._secret) from exc
        except groq.APITimeoutError as exc:
            raise timed_out(self.name, request.timeout) from exc
        except groq.APIConnectionError as exc:
            raise connection_failed(self.name) from exc
        except json.JSONDecodeError as exc:  # a 200 whose body is not JSON
            raise unreadable_body(self.name) from exc
        return parse_chat_completion(completion, request, self.name)

    def close(self) -> None:
        """Release the SDK client's pooled connections (also done at garbage collection)."""
        self._client.close()
