"""Text embeddings: the ``Embedder`` protocol, an offline hashing embedder, and a hosted one.

Vectors are shared between processes (the semantic cache keeps them in
Redis), so an embedder must be deterministic across processes and restarts.
Every embedder has a ``name`` for its vector space (stored beside each note's
vector): vectors with different names are never compared.

Errors of the hosted embedder::

    EmbeddingError             any failure to embed (the message names no key)
    ├── EmbeddingUnavailable   timeout, connection, 408/409/429/5xx, unreadable answer
    └── EmbeddingRejected      other 4xx (bad key, unknown model, wrong dimensions)

:func:`embedder_for` wraps the hosted embedder in :class:`FallbackEmbedder`, so a
turn is answered without recalled notes when the service fails, while writing notes
(:func:`memory.notes.write`) raises instead of storing empty vectors.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
import openai

if TYPE_CHECKING:
    from tutor.settings import Settings

logger = logging.getLogger(__name__)

_WORD = re.compile(r"\w+")


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 rows (an all-zero row for a text with no words)."""

    @property
    def dimensions(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


class HashingEmbedder:
    """Hashes accent-folded word unigrams and character 3-5-grams into a fixed-size vector.

    Needs no model and no download, and is stable across processes (blake2b, not
    ``hash()``). Term counts are damped (1 + log tf) and words and character
    n-grams weigh ``word_weight`` : 1 before normalising.

    Quality, honestly: it measures *lexical* overlap, not meaning. Measured with
    the defaults: case, punctuation and accents change nothing (1.0); a dropped
    article scores about 0.95; a typo, "what's" for "what is" or "should" for
    "do" about 0.87; "ser and estar" against "por and para" in the same frame
    about 0.65 and "good morning" against "good night" about 0.8; unrelated
    questions near 0. A true paraphrase in other words ("when is it estar
    rather than ser") scores low (0.23). So: behind a high threshold (0.92) it
    finds near-duplicates only, which is what a cache can safely reuse; swap in
    a sentence-embedding model through :class:`Embedder` to match meaning.
    """

    def __init__(
        self,
        dimensions: int = 512,
        *,
        ngram_sizes: tuple[int, ...] = (3, 4, 5),
        word_weight: float = 1.0,
    ) -> None:
        if dimensions < 16:
            raise ValueError("dimensions must be at least 16")
        self._dimensions = dimensions
        self._ngram_sizes = ngram_sizes
        self._word_weight = word_weight

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def name(self) -> str:
        """Names the vector space: vectors from different embedders are never compared."""
        sizes = "".join(str(size) for size in self._ngram_sizes)
        return f"hashing-{self._dimensions}-{sizes}-{self._word_weight:g}"

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        rows = np.zeros((len(texts), self._dimensions), dtype=np.float32)
        for index, text in enumerate(texts):
            rows[index] = self._vector(text)
        return rows

    def _vector(self, text: str) -> npt.NDArray[np.float32]:
        words = _WORD.findall(fold(text))
        vector = np.zeros(self._dimensions, dtype=np.float64)
        self._add(vector, Counter(f"w:{word}" for word in words), self._word_weight)
        padded = f" {' '.join(words)} "
        grams = Counter(
            padded[start : start + size]
            for size in self._ngram_sizes
            for start in range(len(padded) - size + 1)
        )
        self._add(vector, grams, 1.0)
        norm = float(np.linalg.norm(vector))
        return (vector / norm if norm else vector).astype(np.float32)

    def _add(self, vector: npt.NDArray[np.float64], counts: Counter[str], weight: float) -> None:
        if not counts:
            return
        part = np.zeros_like(vector)
        for feature, count in counts.items():
            index, sign = _slot(feature, self._dimensions)
            part[index] += sign * (1.0 + math.log(count))
        norm = float(np.linalg.norm(part))
        if norm:
            vector += weight * part / norm  # each group counts the same whatever its size


def fold(text: str) -> str:
    """Casefolded, accent-free text for matching: "Él está" -> "el esta"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@lru_cache(maxsize=65536)
def _slot(feature: str, dimensions: int) -> tuple[int, float]:
    """A stable bucket and sign for ``feature`` (the sign keeps collisions from adding up)."""
    digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
    return digest % dimensions, 1.0 if digest >> 63 else -1.0


# Hosted embeddings -------------------------------------------------------------------


class EmbeddingError(Exception):
    """The embedding service could not embed the texts."""


class EmbeddingUnavailable(EmbeddingError):
    """A failure worth retrying later: timeout, connection, 408/409/429/5xx, a garbled answer."""


class EmbeddingRejected(EmbeddingError):
    """The service refused the request (bad key, unknown model, unsupported dimensions)."""


class OpenAICompatibleEmbedder:
    """``POST {base_url}/embeddings`` in OpenAI's wire format: OpenAI, gateways speaking it
    (Voyage, LiteLLM), a local Ollama or llama.cpp server.

    ``base_url`` is the API root with its version ("https://api.openai.com/v1",
    "http://localhost:11434/v1"). Texts go in batches of ``batch_size``; rows come back
    L2-normalised float32 in input order, an all-zero row for a blank text (not sent).
    ``dimensions`` (0: the model's own) is sent to the service and checked on every
    answer, so a vector of another width is never stored under this embedder's name.
    The SDK's retries are off: a turn must not wait through them, and the nightly job
    retries a learner on its next run.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        dimensions: int = 0,
        batch_size: int = 64,
        timeout: float = 3.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._model = model
        self._wanted = dimensions
        self._seen = dimensions
        self._batch_size = batch_size
        self._timeout = timeout
        self._secret = api_key or ""
        self._host = urlsplit(base_url).netloc or base_url
        self._client = openai.OpenAI(
            base_url=base_url.rstrip("/"),
            api_key=api_key or "none",  # the SDK insists on a key; local servers ignore it
            max_retries=0,
            timeout=timeout,
        )

    @property
    def dimensions(self) -> int:
        """The configured width, else the width of the last answer (0 before any)."""
        return self._seen

    @property
    def name(self) -> str:
        """Provider host, model and width: ``openai:api.openai.com/text-embedding-3-small@512``."""
        width = str(self._wanted) if self._wanted else "native"
        name = f"openai:{self._host}/{self._model}@{width}"
        if len(name) <= 64:
            return name
        digest = hashlib.blake2b(name.encode(), digest_size=6).hexdigest()
        return f"{name[:51]}~{digest}"  # stays unique within the 64-character column

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        wanted = [index for index, text in enumerate(texts) if text.strip()]
        batches = [
            wanted[i : i + self._batch_size] for i in range(0, len(wanted), self._batch_size)
        ]
        answers = [self._request([texts[index] for index in batch]) for batch in batches]
        width = answers[0].shape[1] if answers else max(self._seen, 1)
        rows = np.zeros((len(texts), width), dtype=np.float32)
        for batch, vectors in zip(batches, answers, strict=True):
            if vectors.shape[1] != width:
                raise EmbeddingUnavailable(f"embeddings: {self._host} changed width mid-request")
            rows[batch] = vectors
        return rows

    def _request(self, texts: list[str]) -> npt.NDArray[np.float32]:
        try:
            answer = self._client.embeddings.create(
                input=texts,
                model=self._model,
                encoding_format="float",
                dimensions=self._wanted or openai.omit,
            )
        except openai.APIStatusError as exc:
            status = exc.status_code
            message = self._redact(f"embeddings: HTTP {status} from {self._host}")
            if status >= 500 or status in (408, 409, 429):
                raise EmbeddingUnavailable(message) from exc
            raise EmbeddingRejected(message) from exc
        except openai.APITimeoutError as exc:
            raise EmbeddingUnavailable(
                f"embeddings: no answer from {self._host} within {self._timeout:g}s"
            ) from exc
        except openai.APIConnectionError as exc:
            raise EmbeddingUnavailable(f"embeddings: cannot connect to {self._host}") from exc
        except (openai.OpenAIError, ValueError) as exc:  # a 200 whose body is not the format
            raise EmbeddingUnavailable(f"embeddings: unreadable answer from {self._host}") from exc
        return self._rows(answer, len(texts))

    def _rows(self, answer: object, count: int) -> npt.NDArray[np.float32]:
        data = sorted(getattr(answer, "data", None) or [], key=lambda item: item.index)
        if len(data) != count or [item.index for item in data] != list(range(count)):
            raise EmbeddingUnavailable(
                f"embeddings: {len(data)} vectors from {self._host} for {count} texts"
            )
        try:
            matrix = np.asarray([item.embedding for item in data], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise EmbeddingUnavailable(f"embeddings: malformed vectors from {self._host}") from exc
        if matrix.ndim != 2 or not np.all(np.isfinite(matrix)) or matrix.shape[1] == 0:
            raise EmbeddingUnavailable(f"embeddings: malformed vectors from {self._host}")
        if self._wanted and matrix.shape[1] != self._wanted:
            raise EmbeddingRejected(
                f"embeddings: {self._model} answered {matrix.shape[1]} dimensions, "
                f"not the {self._wanted} configured"
            )
        self._seen = matrix.shape[1]
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        unit = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
        return np.asarray(unit, dtype=np.float32)

    def _redact(self, message: str) -> str:
        return message.replace(self._secret, "***") if self._secret else message


class FallbackEmbedder:
    """A hosted embedder for turns that never fails them: on :class:`EmbeddingError` it logs,
    answers all-zero rows (so :func:`memory.notes.relevant` recalls no notes and the
    learner is answered without them), and leaves the service alone for ``cooldown``
    seconds so a down service does not add its timeout to every turn.

    It keeps ``primary``'s name: its zero rows match nothing. Writing notes goes to
    ``primary`` directly (see :func:`strict`), so a failure there raises instead of
    storing empty vectors.
    """

    def __init__(self, primary: OpenAICompatibleEmbedder, *, cooldown: float = 30.0) -> None:
        self.primary = primary
        self._cooldown = cooldown
        self._resume_at = 0.0
        self._lock = threading.Lock()

    @property
    def dimensions(self) -> int:
        return self.primary.dimensions

    @property
    def name(self) -> str:
        return self.primary.name

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if time.monotonic() >= self._resume_at:
            try:
                return self.primary.embed(texts)
            except EmbeddingError as exc:
                with self._lock:
                    self._resume_at = time.monotonic() + self._cooldown
                logger.warning(
                    "embeddings failed, recalling no notes for %.0fs: %s (%s)",
                    self._cooldown,
                    type(exc).__name__,
                    exc,
                )
        return np.zeros((len(texts), max(self.primary.dimensions, 1)), dtype=np.float32)


def strict(embedder: Embedder) -> Embedder:
    """The embedder without its turn-time fallback, for writing notes."""
    return embedder.primary if isinstance(embedder, FallbackEmbedder) else embedder


def embedder_for(settings: Settings) -> Embedder:
    """The embedder the settings choose: a hosted one (behind :class:`FallbackEmbedder`)
    when ``TUTOR_EMBEDDINGS_BASE_URL`` is set, else the offline hashing embedder."""
    if not settings.embeddings_base_url:
        return HashingEmbedder()
    key = settings.embeddings_api_key
    hosted = OpenAICompatibleEmbedder(
        settings.embeddings_base_url,
        settings.embeddings_model,
        api_key=key.get_secret_value() if key is not None else None,
        dimensions=settings.embeddings_dimensions,
        batch_size=settings.embeddings_batch_size,
        timeout=settings.embeddings_timeout_seconds,
    )
    return FallbackEmbedder(hosted, cooldown=settings.embeddings_cooldown_seconds)
