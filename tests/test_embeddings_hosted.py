"""The hosted embedder against a local server speaking OpenAI's ``/v1/embeddings`` format."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import insert

from memory import context, notes
from memory.embeddings import (
    EmbeddingRejected,
    EmbeddingUnavailable,
    FallbackEmbedder,
    HashingEmbedder,
    OpenAICompatibleEmbedder,
    embedder_for,
    strict,
)
from tests.fakes.server import FakeResponse, FakeServer, RecordedRequest
from tutor import migrate
from tutor.db import make_engine
from tutor.models import learners
from tutor.settings import load_settings

KEY = "sk-test-secret-123"


class FakeEmbeddings(FakeServer):
    """``POST /v1/embeddings``: deterministic, unnormalised vectors (a hashing embedder's
    rows times three) of the requested width, 12 when none is asked for."""

    def handle(self, request: RecordedRequest) -> FakeResponse:
        if request.method != "POST" or request.path != "/v1/embeddings":
            return FakeResponse(404, {"error": {"message": "not found", "type": "invalid"}})
        body: dict[str, Any] = request.json
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        width = int(body.get("dimensions") or 12)
        rows = 3.0 * HashingEmbedder(dimensions=max(width, 16)).embed(texts)[:, :width]
        data = [
            {"object": "embedding", "index": index, "embedding": row.tolist()}
            for index, row in reversed(list(enumerate(rows)))  # order is the index's job
        ]
        tokens = sum(len(text.split()) for text in texts)
        return FakeResponse(
            200,
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


@pytest.fixture
def fake() -> Iterator[FakeEmbeddings]:
    with FakeEmbeddings() as server:
        yield server


def _embedder(fake: FakeEmbeddings, **options: Any) -> OpenAICompatibleEmbedder:
    options = {"api_key": KEY, "dimensions": 8, "timeout": 1.0, **options}
    return OpenAICompatibleEmbedder(f"{fake.url}/v1", "text-embedding-3-small", **options)


def test_vectors_come_back_normalised_float32_in_input_order(fake: FakeEmbeddings) -> None:
    embedder = _embedder(fake, batch_size=2)
    texts = ["ser o estar", "por y para", "the third person s", "género"]
    rows = embedder.embed(texts)

    assert rows.dtype == np.float32 and rows.shape == (4, 8)
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-6)
    again = embedder.embed([texts[2]])[0]
    assert np.allclose(rows[2], again)  # order follows "index", not the answer's order
    bodies = [r.json for r in fake.requests[:2]]
    assert [b["input"] for b in bodies] == [texts[:2], texts[2:]]  # batches of two
    assert all(b["dimensions"] == 8 and b["model"] == "text-embedding-3-small" for b in bodies)
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_blank_texts_are_zero_rows_and_not_sent(fake: FakeEmbeddings) -> None:
    rows = _embedder(fake).embed(["", "hola", "   "])

    assert not rows[0].any() and not rows[2].any() and rows[1].any()
    assert [r.json["input"] for r in fake.requests] == [["hola"]]
    assert _embedder(fake).embed(["  "]).shape == (1, 8)
    assert len(fake.requests) == 1


def test_the_name_holds_provider_model_and_width(fake: FakeEmbeddings) -> None:
    host = fake.url.removeprefix("http://")
    assert _embedder(fake).name == f"openai:{host}/text-embedding-3-small@8"
    assert _embedder(fake, dimensions=0).name.endswith("@native")
    long = OpenAICompatibleEmbedder("https://gateway.example.com/v1", "m" * 80)
    assert (
        len(long.name) == 64
        and long.name != OpenAICompatibleEmbedder("https://gateway.example.com/v1", "m" * 81).name
    )


def test_the_models_own_width_is_learned(fake: FakeEmbeddings) -> None:
    embedder = _embedder(fake, dimensions=0)
    assert embedder.dimensions == 0
    assert embedder.embed(["hola"]).shape == (1, 12)
    assert embedder.dimensions == 12
    assert "dimensions" not in fake.requests[0].json


def test_a_server_error_is_unavailable_and_names_no_key(fake: FakeEmbeddings) -> None:
    fake.inject(503, {"error": {"message": f"overloaded {KEY}", "type": "server_error"}})
    with pytest.raises(EmbeddingUnavailable) as raised:
        _embedder(fake).embed(["hola"])
    assert "503" in str(raised.value) and KEY not in str(raised.value)


def test_a_refusal_is_rejected(fake: FakeEmbeddings) -> None:
    fake.inject(401, {"error": {"message": "bad key", "type": "invalid_request_error"}})
    with pytest.raises(EmbeddingRejected):
        _embedder(fake).embed(["hola"])


def test_a_timeout_is_unavailable(fake: FakeEmbeddings) -> None:
    fake.inject(200, {"object": "list", "data": []}, delay=2.0)
    with pytest.raises(EmbeddingUnavailable, match="within 0.2s"):
        _embedder(fake, timeout=0.2).embed(["hola"])


@pytest.mark.parametrize(
    "body",
    [
        "<html>gateway</html>",
        {"object": "list", "data": []},
        {"object": "list", "data": [{"index": 0, "embedding": [1.0, 2.0]}]},  # wrong width
        {"object": "list", "data": [{"index": 0, "embedding": ["x"] * 8}]},
    ],
)
def test_an_answer_that_is_not_one_vector_per_text_raises(fake: FakeEmbeddings, body: Any) -> None:
    fake.inject(200, body)
    with pytest.raises((EmbeddingUnavailable, EmbeddingRejected)):
        _embedder(fake).embed(["hola"])


def test_the_fallback_answers_zero_rows_then_waits_out_its_cooldown(
    fake: FakeEmbeddings, caplog: pytest.LogCaptureFixture
) -> None:
    hosted = _embedder(fake)
    embedder = FallbackEmbedder(hosted, cooldown=60)
    fake.inject(500, {"error": {"message": "boom", "type": "server_error"}})

    with caplog.at_level(logging.WARNING, logger="memory.embeddings"):
        rows = embedder.embed(["¿cuándo uso ser?"])
    assert rows.shape == (1, 8) and not rows.any()  # no notes are recalled for this turn
    assert "EmbeddingUnavailable" in caplog.text and KEY not in caplog.text
    embedder.embed(["otra vez"])
    assert len(fake.requests) == 1  # the cooldown spares the next turns the wait
    assert embedder.name == hosted.name and strict(embedder) is hosted
    fake.inject(500, {"error": {"message": "boom", "type": "server_error"}})
    with pytest.raises(EmbeddingUnavailable):  # writing notes must not store empty vectors
        strict(embedder).embed(["nota"])


def test_the_fallback_passes_answers_through(fake: FakeEmbeddings) -> None:
    embedder = FallbackEmbedder(_embedder(fake), cooldown=0)
    assert np.allclose(np.linalg.norm(embedder.embed(["hola", "adiós"]), axis=1), 1.0)


def test_settings_choose_the_embedder(fake: FakeEmbeddings) -> None:
    assert isinstance(embedder_for(load_settings()), HashingEmbedder)
    chosen = embedder_for(
        load_settings(
            embeddings_base_url=f"{fake.url}/v1",
            embeddings_api_key=KEY,
            embeddings_model="nomic-embed-text",
            embeddings_dimensions=16,
        )
    )
    assert isinstance(chosen, FallbackEmbedder)
    assert chosen.name.endswith("/nomic-embed-text@16")
    assert chosen.embed(["hola"]).shape == (1, 16)
    assert fake.requests[0].json["model"] == "nomic-embed-text"


def test_a_turn_goes_on_without_notes_and_a_night_fails_cleanly(
    fake: FakeEmbeddings, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'notes.sqlite3'}")
    migrate.upgrade(engine)
    now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    embedder = FallbackEmbedder(_embedder(fake), cooldown=0)
    drafts = [notes.Draft("error:es-ser-estar", "error", {"code": "SER_ESTAR"}, "ser o estar")]
    with engine.begin() as connection:
        learner_id = connection.execute(
            insert(learners)
            .values(key="web:h", channel="web", chat_id="h", profile={}, state={},
                    created_at=now, updated_at=now)
            .returning(learners.c.id)
        ).scalar_one()  # fmt: skip
        assert notes.write(connection, learner_id, drafts, embedder, now) == 1

    def recalled() -> tuple[notes.Note, ...]:
        with engine.connect() as connection:
            found = context.assemble(
                connection, learner_id, "ser o estar?", embedder, now=now, idle=timedelta(0)
            )
        return found.notes

    assert [note.key for note in recalled()] == ["error:es-ser-estar"]
    fake.inject(503, {"error": {"message": "down", "type": "server_error"}})
    assert recalled() == ()  # answered, without notes
    fake.inject(503, {"error": {"message": "down", "type": "server_error"}})
    with pytest.raises(EmbeddingUnavailable), engine.begin() as connection:
        notes.write(connection, learner_id, drafts, embedder, now)
    engine.dispose()
