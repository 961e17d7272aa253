"""Text embeddings: the ``Embedder`` protocol and an offline hashing embedder.

Vectors are shared between processes (the semantic cache keeps them in
Redis), so an embedder must be deterministic across processes and restarts.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

import numpy as np
import numpy.typing as npt

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


def embedder_for(settings: object) -> Embedder:
    """The embedder the settings choose: the offline hashing embedder by default."""
    return HashingEmbedder()
