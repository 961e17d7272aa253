"""The Provider contract, run against Groq, Anthropic and an OpenAI-compatible server.

Each provider talks to its fake over real HTTP through the real vendor SDK, so
these tests cover the wire shape, the SDK's own behaviour (retries off, per-call
timeouts) and the translation of every failure into :mod:`tutor.llm.errors`.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from tests.fakes.anthropic import DEFAULT_API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.groq import DEFAULT_API_KEY as GROQ_KEY
from tests.fakes.groq import FakeGroq
from tests.fakes.openai_compat import ChatFake, FakeOpenAICompatible
from tutor.llm.errors import (
    BadModelOutput,
    LLMError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from tutor.llm.openai_compat import JSON_INSTRUCTION, retry_after_seconds
from tutor.llm.providers import (
    AnthropicProvider,
    GroqProvider,
    OpenAICompatibleProvider,
    build_providers,
)
from tutor.llm.types import ChatMessage, Provider, ProviderRequest, Tier
from tutor.settings import Settings

LOCAL_KEY = "local-llama-server-key-42"
SYSTEM = "You are a patient Spanish tutor."
REQUEST = ProviderRequest(
    model="test-model",
    system=SYSTEM,
    messages=(
        ChatMessage("user", "Hola, ¿cómo estás?"),
        ChatMessage("assistant", "¡Muy bien! ¿Y tú?"),
        ChatMessage("user", "Bien, gracias."),
    ),
    max_tokens=120,
    temperature=0.2,
    timeout=2.0,
)
TURNS = [
    {"role": "user", "content": "Hola, ¿cómo estás?"},
    {"role": "assistant", "content": "¡Muy bien! ¿Y tú?"},
    {"role": "user", "content": "Bien, gracias."},
]


@dataclass
class Case:
    """One provider wired to its fake."""

    name: str
    provider: Provider
    fake: ChatFake
    key: str
    stop_reason: str

    @property
    def openai_style(self) -> bool:
        return self.name != "anthropic"

    def body(self) -> dict[str, Any]:
        [request] = self.fake.requests
        assert isinstance(request.json, dict)
        return request.json


Closable = GroqProvider | AnthropicProvider | OpenAICompatibleProvider


@contextmanager
def wired(name: str, key: str = "") -> Iterator[Case]:
    """Start the fake, build the provider against it; close both afterwards."""
    fake: ChatFake
    provider: Closable
    if name == "groq":
        fake = FakeGroq().start()
        provider = GroqProvider(key or GROQ_KEY, fake.url)
        default_key, stop = GROQ_KEY, "stop"
    elif name == "anthropic":
        fake = FakeAnthropic().start()
        provider = AnthropicProvider(key or ANTHROPIC_KEY, fake.url)
        default_key, stop = ANTHROPIC_KEY, "end_turn"
    else:
        fake = FakeOpenAICompatible(api_key=LOCAL_KEY).start()
        provider = OpenAICompatibleProvider(fake.url + "/v1", key or LOCAL_KEY)
        default_key, stop = LOCAL_KEY, "stop"
    try:
        yield Case(name, provider, fake, key or default_key, stop)
    finally:
        provider.close()  # else a pooled keep-alive socket leaks into a ResourceWarning
        fake.stop()


PROVIDERS = ["groq", "anthropic", "local"]


@pytest.fixture(params=PROVIDERS)
def case(request: pytest.FixtureRequest) -> Iterator[Case]:
    with wired(request.param) as wired_case:
        yield wired_case


def _fails(
    case: Case, error: type[LLMError], request: ProviderRequest = REQUEST, *, chained: bool = True
) -> LLMError:
    """complete() raises ``error`` after exactly one HTTP request (from the SDK's, if chained)."""
    with pytest.raises(error) as caught:
        case.provider.complete(request)
    assert len(case.fake.requests) == 1, "SDK retries must be off: the router owns retries"
    assert (caught.value.__cause__ is not None) is chained
    assert caught.value.provider == case.name
    assert case.key not in str(caught.value)
    return caught.value


# The contract ---------------------------------------------------------------------


def test_a_reply_comes_back_with_text_and_token_counts(case: Case) -> None:
    case.fake.respond("¡Qué bien!", input_tokens=31, output_tokens=4)

    response = case.provider.complete(REQUEST)

    assert response.text == "¡Qué bien!"
    assert (response.input_tokens, response.output_tokens) == (31, 4)
    assert response.provider == case.provider.name == case.name
    assert response.model == "test-model"
    assert response.finish_reason == case.stop_reason
    assert response.extra["id"]
    assert case.fake.calls == 1 and len(case.fake.requests) == 1


def test_the_system_prompt_and_turns_arrive_in_the_wire_shape(case: Case) -> None:
    case.provider.complete(REQUEST)

    body = case.body()
    assert body["model"] == "test-model"
    assert body["max_tokens"] == 120
    if case.openai_style:
        assert body["messages"] == [{"role": "system", "content": SYSTEM}, *TURNS]
        assert body["temperature"] == 0.2
    else:
        assert body["system"] == SYSTEM
        assert body["messages"] == TURNS
        assert "temperature" not in body  # API 2026-10-21 answers 400 to sampling params
    assert "response_format" not in body
    assert "stream" not in body


def test_the_key_reaches_the_server_as_a_bearer_token(case: Case) -> None:
    case.provider.complete(REQUEST)

    [request] = case.fake.requests
    assert request.headers["authorization"] == f"Bearer {case.key}"  # anthropic 2.x too
    assert request.headers["x-stainless-retry-count"] == "0"


def test_json_mode_asks_for_a_json_object(case: Case) -> None:
    case.fake.respond('{"reply": "Hola"}')

    response = case.provider.complete(replace(REQUEST, json_mode=True))

    assert json.loads(response.text) == {"reply": "Hola"}
    body = case.body()
    if case.openai_style:
        assert body["response_format"] == {"type": "json_object"}
        # nothing in the prompt said "JSON", which these APIs require: the provider adds it
        assert body["messages"][0]["content"].endswith(JSON_INSTRUCTION)
    else:
        assert "response_format" not in body
        assert body["system"].endswith(JSON_INSTRUCTION)


def test_json_mode_leaves_a_prompt_that_already_says_json_alone(case: Case) -> None:
    system = 'Reply with JSON: {"reply": str}.'
    case.provider.complete(replace(REQUEST, system=system, json_mode=True))

    body = case.body()
    sent = body["messages"][0]["content"] if case.openai_style else body["system"]
    assert sent == (system if case.openai_style else f"{system}\n\n{JSON_INSTRUCTION}")


def test_a_truncated_plain_reply_is_returned_with_its_finish_reason(case: Case) -> None:
    case.fake.respond_truncated("Hola, me llamo")

    response = case.provider.complete(REQUEST)

    assert response.text == "Hola, me llamo"
    assert response.finish_reason == case.fake.truncated_reason


def test_the_default_responder_answers_unscripted_calls() -> None:
    with FakeOpenAICompatible(responder=lambda body: body["model"].upper()) as fake:
        provider = OpenAICompatibleProvider(fake.url + "/v1")  # Ollama needs no key
        try:
            assert provider.complete(REQUEST).text == "TEST-MODEL"
        finally:
            provider.close()
        assert fake.requests[0].headers["authorization"] == "Bearer none"  # SDK placeholder


# The fault matrix -------------------------------------------------------------------


def test_429_raises_rate_limited_with_retry_after(case: Case) -> None:
    case.fake.rate_limit(retry_after=7)

    error = _fails(case, ProviderRateLimited)

    assert isinstance(error, ProviderRateLimited)
    assert (error.status, error.retry_after) == (429, 7.0)


def test_429_prefers_retry_after_ms(case: Case) -> None:
    case.fake.rate_limit(retry_after=2, retry_after_ms=1500)

    error = _fails(case, ProviderRateLimited)

    assert isinstance(error, ProviderRateLimited) and error.retry_after == 1.5


def test_429_without_a_header_has_no_retry_after(case: Case) -> None:
    case.fake.rate_limit(retry_after=None)

    error = _fails(case, ProviderRateLimited)

    assert isinstance(error, ProviderRateLimited) and error.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_raises_unavailable(case: Case, status: int) -> None:
    case.fake.fail(status)

    error = _fails(case, ProviderUnavailable)

    assert not isinstance(error, ProviderRateLimited)
    assert error.status == status
    assert f"HTTP {status}" in str(error)


def test_anthropic_529_overloaded_raises_unavailable() -> None:
    with wired("anthropic") as case:
        assert isinstance(case.fake, FakeAnthropic)
        case.fake.overloaded()

        error = _fails(case, ProviderUnavailable)

        assert error.status == 529
        assert "overloaded_error" in str(error)


def test_a_reply_slower_than_the_timeout_raises_unavailable(case: Case) -> None:
    case.fake.stall(3.0)
    started = time.monotonic()

    error = _fails(case, ProviderUnavailable, replace(REQUEST, timeout=0.5))

    assert time.monotonic() - started < 2.0
    assert "0.5s" in str(error)


def test_a_refused_connection_raises_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the call: nothing listens
    providers: list[Closable] = [
        GroqProvider(GROQ_KEY, f"http://127.0.0.1:{port}"),
        AnthropicProvider(ANTHROPIC_KEY, f"http://127.0.0.1:{port}"),
        OpenAICompatibleProvider(f"http://127.0.0.1:{port}/v1"),
    ]
    for provider in providers:
        with pytest.raises(ProviderUnavailable, match="connection failed"):
            provider.complete(replace(REQUEST, timeout=1.0))
        provider.close()


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_wrong_key_raises_rejected_without_the_key_in_the_message(name: str) -> None:
    wrong = "sk-wrong-key-that-must-stay-secret"
    with wired(name, key=wrong) as case:
        error = _fails(case, ProviderRejected)
        assert error.status == 401
        assert wrong not in str(error) and wrong not in repr(error)


def test_a_vendor_message_quoting_the_key_is_redacted(case: Case) -> None:
    case.fake.fail(401, f"Incorrect API key provided: {case.key}.")

    error = _fails(case, ProviderRejected)

    assert "[redacted]" in str(error)


def test_neither_the_provider_nor_the_sdk_logs_the_key(
    case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    case.fake.fail(401, f"Incorrect API key provided: {case.key}.")
    with caplog.at_level(logging.DEBUG):
        _fails(case, ProviderRejected)

    assert "model call failed" in caplog.text
    assert case.key not in caplog.text


def test_ollamas_plain_error_string_is_kept() -> None:
    with wired("local") as case:
        case.fake.inject(404, {"error": 'model "llama9" not found, try pulling it first'})

        error = _fails(case, ProviderRejected)

    assert 'model "llama9" not found' in str(error)


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_other_4xx_raise_rejected(case: Case, status: int) -> None:
    case.fake.fail(status, "bad request")

    error = _fails(case, ProviderRejected)

    assert error.status == status


def test_a_request_the_real_api_refuses_raises_rejected(case: Case) -> None:
    error = _fails(case, ProviderRejected, replace(REQUEST, max_tokens=0))

    assert error.status == 400


def test_a_body_that_is_not_json_raises_unavailable(case: Case) -> None:
    # A broken transfer or a proxy's page: the transport failed, not the model.
    case.fake.malformed()

    error = _fails(case, ProviderUnavailable)

    assert "not JSON" in str(error)


def test_a_plain_text_body_raises_unavailable(case: Case) -> None:
    case.fake.inject(200, "<html>Bad gateway</html>")

    _fails(case, ProviderUnavailable, chained=False)


def test_a_truncated_json_reply_raises_bad_output(case: Case) -> None:
    case.fake.respond_truncated('{"reply": "Hola, ¿qué')

    error = _fails(case, BadModelOutput, replace(REQUEST, json_mode=True), chained=False)

    assert "max_tokens=120" in str(error)


def test_empty_choices_raise_bad_output(case: Case) -> None:
    case.fake.respond_empty()

    _fails(case, BadModelOutput, chained=False)


def test_blank_content_raises_bad_output(case: Case) -> None:
    case.fake.respond("   ")

    _fails(case, BadModelOutput, chained=False)


def test_a_reply_without_choices_raises_bad_output(case: Case) -> None:
    case.fake.inject(200, {"id": "x", "object": "chat.completion", "type": "message"})

    _fails(case, BadModelOutput, chained=False)


# Helpers and the factory ---------------------------------------------------------------


def test_retry_after_accepts_seconds_milliseconds_and_http_dates() -> None:
    later = datetime.now(UTC) + timedelta(seconds=30)

    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "3"}) == 0.25
    assert 25 < (retry_after_seconds({"retry-after": format_datetime(later)}) or 0) <= 30
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({"retry-after": "-5"}) == 0.0
    assert retry_after_seconds({}) is None


@pytest.fixture
def no_model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GROQ_API_KEY", "ANTHROPIC_API_KEY", "LOCAL_LLM_BASE_URL", "LOCAL_LLM_API_KEY"):
        monkeypatch.delenv(f"TUTOR_{name}", raising=False)


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.mark.usefixtures("no_model_env")
def test_build_providers_sets_up_only_the_configured_tiers() -> None:
    assert build_providers(_settings()) == {}

    providers = build_providers(
        _settings(
            groq_api_key="gsk_x",
            anthropic_api_key="sk-ant-x",
            local_llm_base_url="http://localhost:11434/v1",
        )
    )

    assert set(providers) == {Tier.FAST, Tier.STRONG, Tier.LOCAL}
    assert isinstance(providers[Tier.FAST], GroqProvider)
    assert isinstance(providers[Tier.STRONG], AnthropicProvider)
    assert isinstance(providers[Tier.LOCAL], OpenAICompatibleProvider)
    assert providers[Tier.LOCAL].name == "local"


@pytest.mark.usefixtures("no_model_env")
def test_built_providers_reach_the_configured_urls() -> None:
    with FakeGroq() as groq_fake, FakeAnthropic() as anthropic_fake:
        providers = build_providers(
            _settings(
                groq_api_key=GROQ_KEY,
                groq_base_url=groq_fake.url,
                anthropic_api_key=ANTHROPIC_KEY,
                anthropic_base_url=anthropic_fake.url + "/",
            )
        )
        try:
            assert providers[Tier.FAST].complete(REQUEST).provider == "groq"
            assert providers[Tier.STRONG].complete(REQUEST).provider == "anthropic"
        finally:
            for provider in providers.values():
                assert isinstance(provider, GroqProvider | AnthropicProvider)
                provider.close()
    assert groq_fake.requests[0].path == "/openai/v1/chat/completions"
    assert anthropic_fake.requests[0].path == "/v1/messages"
