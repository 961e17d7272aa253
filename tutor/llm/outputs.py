"""Structured model outputs: JSON found, parsed and validated against a pydantic schema."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import TypeVar

from pydantic import BaseModel

Model = TypeVar("Model", bound=BaseModel)

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


def parse_json(text: str, schema: type[Model]) -> Model:
    """The first JSON object in ``text`` (code fences and chatter around it tolerated),
    validated against ``schema``; ValueError or pydantic's ValidationError otherwise."""
    cleaned = _FENCE.sub("", text.strip())
    start = cleaned.find("{")
    if start < 0:
        raise ValueError("no JSON object in the answer")
    try:
        value, _end = json.JSONDecoder().raw_decode(cleaned[start:])
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg}") from exc
    return schema.model_validate(value)


def normalise(text: str) -> str:
    """NFC, case-folded, whitespace collapsed: two prompts that differ only so are one."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text).casefold()).strip()


def normalised_key(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(normalise(part).encode())
        digest.update(b"\x1f")
    return digest.hexdigest()
