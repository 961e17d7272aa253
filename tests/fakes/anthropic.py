"""A fake Anthropic Messages API: ``POST /v1/messages``.

It checks the key (401 ``authentication_error``) in ``x-api-key`` or, as the
anthropic SDK 2.x sends it, ``Authorization: Bearer`` (``x-api-key`` wins when
both are sent), and ``anthropic-version`` (400). It validates what the real API
refuses that our adapter could get wrong: missing ``max_tokens``, an empty or
ill-roled ``messages``, and, from API version 2026-10-21 on, any sampling
parameter (``temperature``/``top_p``/``top_k``: "Extra inputs are not
permitted"; before it, temperature must be in 0-1). Errors come in Anthropic's shape
``{"type": "error", "error": {"type": ..., "message": ...}}``. No streams (the
service never asks for them).
"""

from __future__ import annotations

from typing import Any

from .openai_compat import ChatFake, Responder, ScriptedReply
from .server import FakeResponse, RecordedRequest

DEFAULT_API_KEY = "sk-ant-api03-test-fake-anthropic-key"
API_2026_10_21 = "2026-10-21"  # anthropic-version: no sampling params, "system" message role

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class FakeAnthropic(ChatFake):
    """Speaks the Messages API; ``overloaded()`` answers 529 like a busy Anthropic."""

    truncated_reason = "max_tokens"
    stop_reason = "end_turn"

    def __init__(self, responder: Responder | None = None, api_key: str = DEFAULT_API_KEY) -> None:
        super().__init__(responder)
        self.api_key = api_key

    def overloaded(self, times: int = 1) -> None:
        """Answer 529 ``overloaded_error``."""
        self.fail(529, "Overloaded", "overloaded_error", times=times)

    def handle(self, request: RecordedRequest) -> FakeResponse:
        if request.method != "POST" or request.path != "/v1/messages":
            return self._error(404, f"Not found: {request.path}")
        if not self.authorised(request):
            return self._error(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return self._error(400, "anthropic-version: header is required")
        body = request.json
        problem = self.validate(body, request.headers["anthropic-version"])
        if problem:
            return self._error(400, problem)
        reply = self.next_reply(body)
        return FakeResponse(
            200,
            self.completion_body(reply, body, str(body["model"])),
            {"request-id": f"req_fake{self.next_id():06d}"},
        )

    def authorised(self, request: RecordedRequest) -> bool:
        if "x-api-key" in request.headers:
            return request.headers["x-api-key"] == self.api_key
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    def validate(self, body: Any, version: str = API_2026_10_21) -> str:
        """What the real API rejects with 400; empty when the request is fine."""
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return "model: Field required"
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or max_tokens < 1:
            return "max_tokens: Field required"
        system = body.get("system")
        if system is not None and not isinstance(system, str | list):
            return "system: Input should be a valid string or list"
        for name in ("temperature", "top_p", "top_k"):
            if name in body and version >= API_2026_10_21:
                return f"{name}: Extra inputs are not permitted"
        temperature = body.get("temperature")
        if temperature is not None and not 0 <= temperature <= 1:
            return "temperature: Input should be less than or equal to 1"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "messages: at least one message is required"
        # 2026-10-21 added a "system" message role (the SDK's SystemMessageParam)
        roles = (
            ("user", "assistant", "system") if version >= API_2026_10_21 else ("user", "assistant")
        )
        for index, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in roles:
                return f"messages.{index}.role: Input should be one of {', '.join(roles)}"
            if not isinstance(message.get("content"), str | list):
                return f"messages.{index}.content: Input should be a string or a list"
        return ""

    def error_body(self, status: int, message: str, error_type: str | None) -> dict[str, Any]:
        kind = error_type or ERROR_TYPES.get(status, "api_error")
        text = message or f"fake error {status}"
        return {"type": "error", "error": {"type": kind, "message": text}}

    def completion_body(
        self, reply: ScriptedReply, request: dict[str, Any], model: str
    ) -> dict[str, Any]:
        input_tokens, output_tokens = self.token_counts(reply, request)
        content = [] if reply.empty else [{"type": "text", "text": reply.text}]
        return {
            "id": f"msg_fake{self.next_id():06d}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": reply.finish_reason or self.stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "service_tier": "standard",
            },
        }

    def _error(self, status: int, message: str) -> FakeResponse:
        return FakeResponse(status, self.error_body(status, message, None))
