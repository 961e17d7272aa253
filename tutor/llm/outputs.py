"""Structured model outputs: JSON found, parsed and validated against a pydantic schema."""

from __future__ import annotations

import json
import re
from typing import TypeVar

from pydantic import BaseModel

Model = TypeVar("Model", bound=BaseModel)

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


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
