"""A fake Groq API: ``POST /openai/v1/chat/completions`` (OpenAI's wire shape plus ``x_groq``).

It checks ``Authorization: Bearer <key>`` (401 ``invalid_api_key`` otherwise) and
refuses ``response_format: json_object`` when no message mentions JSON, as Groq
does. Point ``groq.Groq(base_url=fake.url)`` at it. No streams (the service never
asks for them).
"""

from __future__ import annotations

from typing import Any

from .openai_compat import FakeOpenAICompatible, Responder, ScriptedReply

DEFAULT_API_KEY = "gsk_test_fake_groq_key_0123456789"


class FakeGroq(FakeOpenAICompatible):
    """Speaks Groq's chat completions; errors in Groq's ``{"error": {...}}`` shape."""

    prefix = "/openai/v1"

    def __init__(self, responder: Responder | None = None, api_key: str = DEFAULT_API_KEY) -> None:
        super().__init__(responder, api_key=api_key)

    def error_body(self, status: int, message: str, error_type: str | None) -> dict[str, Any]:
        if status == 401:
            return {
                "error": {
                    "message": message or "Invalid API Key",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            }
        if status == 429:
            return {
                "error": {
                    "message": message or "Rate limit reached. Please try again later.",
                    "type": error_type or "tokens",
                    "code": "rate_limit_exceeded",
                }
            }
        kind = error_type or ("invalid_request_error" if status < 500 else "internal_server_error")
        return {"error": {"message": message or f"fake error {status}", "type": kind}}

    def completion_body(
        self, reply: ScriptedReply, request: dict[str, Any], model: str
    ) -> dict[str, Any]:
        body = super().completion_body(reply, request, model)
        body["id"] = body["id"].replace("chatcmpl-", "chatcmpl-groq-")
        body["usage"].update(
            queue_time=0.01, prompt_time=0.002, completion_time=0.02, total_time=0.022
        )
        body["usage_breakdown"] = None
        body["x_groq"] = {"id": f"req_fake{self.next_id():06d}"}
        return body
