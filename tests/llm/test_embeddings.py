"""The offline hashing embedder: the Embedder contract, folding, and stability across processes."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from memory.embeddings import Embedder, HashingEmbedder, fold


def test_rows_are_unit_float32_vectors() -> None:
    embedder: Embedder = HashingEmbedder(dimensions=256)
    rows = embedder.embed(["¿Dónde está la biblioteca?", "where is the library", "", "  ?! "])
    assert rows.shape == (4, 256) and rows.dtype == np.float32
    assert np.linalg.norm(rows[:2], axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)
    assert not rows[2].any() and not rows[3].any()  # no words: a zero row, similar to nothing
    assert embedder.embed([]).shape == (0, 256)


def test_case_accents_and_punctuation_do_not_matter() -> None:
    assert fold("Él ESTÁ en Múnich") == "el esta en munich"
    rows = HashingEmbedder().embed(["¿Cuándo se usa el subjuntivo?", "cuando se usa el SUBJUNTIVO"])
    assert float(rows[0] @ rows[1]) == pytest.approx(1.0, abs=1e-5)


def test_similarity_is_lexical() -> None:
    rows = HashingEmbedder().embed([
        "What is the difference between ser and estar?",
        "What is the difference between ser and estar",
        "What is the difference between por and para?",
        "How do I order a coffee politely?",
    ])  # fmt: skip
    scores = rows[1:] @ rows[0]
    assert scores[0] > 0.99 > 0.92 > scores[1] > 0.3 > scores[2]


def test_vectors_are_the_same_in_another_process() -> None:
    code = (
        "from memory.embeddings import HashingEmbedder;"
        "import sys; sys.stdout.buffer.write(HashingEmbedder().embed(['hola amigos']).tobytes())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, check=True)
    here = HashingEmbedder().embed(["hola amigos"])
    assert np.frombuffer(other.stdout, dtype=np.float32).tolist() == here[0].tolist()
