"""A fake OpenAI-compatible server (Ollama, llama.cpp): ``POST /v1/chat/completions``.

Also home of :class:`ChatFake`, the base every model fake here shares: a queue of
scripted replies (``respond``), else a default responder (request JSON → text), a
call counter, and vendor-shaped fault helpers built on ``FakeServer.inject``.

    with FakeOpenAICompatible() as fake:
        fake.respond("Hola", input_tokens=12, output_tokens=3)
        fake.rate_limit(retry_after=2)   # the next request answers 429

Streams (SSE) are not spoken: the service never asks for ``stream=true``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .server import FakeResponse, FakeServer, RecordedRequest

Responder = Callable[[dict[str, Any]], str]

MALFORMED_JSON = '{"id": "chatcmpl-broken", "choices": [{"index": 0, "mess'


@dataclass(frozen=True)
class ScriptedReply:
    """One answer the fake will give; ``empty`` drops the choices/content list."""

    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None
    empty: bool = False


def echo(body: dict[str, Any]) -> str:
    """Default responder: echo the last user message."""
    messages = body.get("messages") or [{}]
    content = messages[-1].get("content", "")
    return f"echo: {content}" if isinstance(content, str) else "echo"


def word_count(body: dict[str, Any]) -> int:
    """A deterministic stand-in for a tokenizer: words in the system prompt and messages."""
    parts: list[str] = []
    system = body.get("system")
    if isinstance(system, str):
        parts.append(system)
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
    return max(1, len(" ".join(parts).split()))


class ChatFake(FakeServer):
    """Base for model fakes: scripted replies, call counting, vendor-shaped faults."""

    #: subclasses name the finish reason the vendor uses for "hit max_tokens"
    truncated_reason = "length"
    stop_reason = "stop"

    def __init__(self, responder: Responder | None = None) -> None:
        super().__init__()
        self.responder: Responder = responder or echo
        self._script: deque[ScriptedReply] = deque()
        self._calls = 0
        self._ids = itertools.count(1)
        self._state = threading.Lock()

    # scripting -------------------------------------------------------------------

    def respond(
        self,
        text: str,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        finish_reason: str | None = None,
    ) -> None:
        """Queue one answer; unqueued requests go to the default responder."""
        with self._state:
            self._script.append(ScriptedReply(text, input_tokens, output_tokens, finish_reason))

    def respond_truncated(self, text: str = '{"reply": "Hola, ¿qué tal') -> None:
        """Queue an answer cut off at max_tokens."""
        self.respond(text, finish_reason=self.truncated_reason)

    def respond_empty(self) -> None:
        """Queue an answer with an empty choices (or content) list."""
        with self._state:
            self._script.append(ScriptedReply("", empty=True))

    @property
    def calls(self) -> int:
        """Completions answered by the fake (injected faults not counted)."""
        with self._state:
            return self._calls

    # faults ------------------------------------------------------------------------

    def fail(
        self,
        status: int,
        message: str = "",
        error_type: str | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests with the vendor's error body for ``status``."""
        body = self.error_body(status, message, error_type)
        self.inject(status, body, headers, times)

    def rate_limit(
        self, retry_after: float | None = 1, retry_after_ms: float | None = None, times: int = 1
    ) -> None:
        """Answer 429 with ``retry-after`` (seconds) and/or ``retry-after-ms`` headers."""
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        if retry_after_ms is not None:
            headers["retry-after-ms"] = f"{retry_after_ms:g}"
        self.fail(429, "Rate limit reached. Please try again later.", headers=headers, times=times)

    def stall(self, seconds: float, times: int = 1) -> None:
        """Answer (a valid completion) only after ``seconds``: past a short client timeout."""
        body = self.completion_body(ScriptedReply("too late"), {}, "fake-model")
        self.inject(200, body, times=times, delay=seconds)

    def malformed(self, times: int = 1) -> None:
        """Answer 200 with a JSON content type and a body that is not JSON."""
        self.inject(200, MALFORMED_JSON, {"Content-Type": "application/json"}, times)

    # for subclasses ------------------------------------------------------------------

    def error_body(self, status: int, message: str, error_type: str | None) -> dict[str, Any]:
        """The vendor's error JSON (OpenAI's shape here); an empty message gets a stock one."""
        kind = error_type or ("invalid_request_error" if status < 500 else "api_error")
        text = message or f"fake error {status}"
        return {"error": {"message": text, "type": kind, "param": None, "code": None}}

    def completion_body(
        self, reply: ScriptedReply, request: dict[str, Any], model: str
    ) -> dict[str, Any]:
        """The vendor's success JSON for ``reply`` (OpenAI's chat.completion here)."""
        prompt_tokens, completion_tokens = self.token_counts(reply, request)
        choices = (
            []
            if reply.empty
            else [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "logprobs": None,
                    "finish_reason": reply.finish_reason or self.stop_reason,
                }
            ]
        )
        return {
            "id": f"chatcmpl-{self.next_id()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def token_counts(self, reply: ScriptedReply, request: dict[str, Any]) -> tuple[int, int]:
        prompt = reply.input_tokens if reply.input_tokens is not None else word_count(request)
        completion = reply.output_tokens
        if completion is None:
            completion = len(reply.text.split())
        return prompt, completion

    def next_id(self) -> int:
        return next(self._ids)

    def next_reply(self, request: dict[str, Any]) -> ScriptedReply:
        """Pop the next scripted reply, else ask the responder; count the call."""
        with self._state:
            self._calls += 1
            if self._script:
                return self._script.popleft()
        return ScriptedReply(self.responder(request))


class FakeOpenAICompatible(ChatFake):
    """Ollama's OpenAI endpoint: no auth unless ``api_key`` is given (llama.cpp --api-key)."""

    prefix = "/v1"

    def __init__(self, responder: Responder | None = None, api_key: str | None = None) -> None:
        super().__init__(responder)
        self.api_key = api_key

    def handle(self, request: RecordedRequest) -> FakeResponse:
        if request.method != "POST" or request.path != f"{self.prefix}/chat/completions":
            return FakeResponse(404, self.error_body(404, "not found", "not_found_error"))
        if not self.authorised(request):
            return FakeResponse(401, self.error_body(401, "Invalid API Key", "invalid_api_key"))
        body = request.json
        problem = self.validate(body)
        if problem:
            return FakeResponse(400, self.error_body(400, problem, "invalid_request_error"))
        reply = self.next_reply(body)
        return FakeResponse(200, self.completion_body(reply, body, str(body["model"])))

    def authorised(self, request: RecordedRequest) -> bool:
        if self.api_key is None:
            return True
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    def validate(self, body: Any) -> str:
        """What the real endpoint rejects with 400; empty when the request is fine."""
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return "'model' is required"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "'messages' must be a non-empty array"
        for message in messages:
            if not isinstance(message, dict) or message.get("role") not in (
                "system",
                "user",
                "assistant",
            ):
                return "each message needs a role of system, user or assistant"
            if not isinstance(message.get("content"), str):
                return "message content must be a string"
        max_tokens = body.get("max_tokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            return "'max_tokens' must be a positive integer"
        response_format = body.get("response_format")
        if response_format == {"type": "json_object"}:
            text = " ".join(str(message["content"]) for message in messages)
            if "json" not in text.lower():
                return (
                    "'messages' must contain the word 'json' in some form, "
                    "to use 'response_format' of type 'json_object'."
                )
        return ""
