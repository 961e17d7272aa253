"""The browser chat: a learner's view over the same inbox, worker and outbox as the webhooks."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request, session

from tutor import outbox
from tutor.errors import PayloadError
from tutor.messages import Channel, Inbound, Kind
from tutor.text import json_without_surrogates
from tutor.webhooks import accept, read_json, services

blueprint = Blueprint("chat", __name__)

_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_TEXT = 4000
MAX_ID = 2**63 - 1


def _learner_id() -> str:
    if "learner" not in session:
        session["learner"] = uuid.uuid4().hex
        session.permanent = True
    return str(session["learner"])


@blueprint.get("/")
def page() -> str:
    _learner_id()
    return render_template("chat.html")


@blueprint.post("/chat/api/messages")
def send() -> tuple[Response, int]:
    # JSON only: a cross-site form cannot send application/json without a CORS preflight.
    if not request.is_json:
        raise PayloadError("send application/json", status=415)
    body = json_without_surrogates(read_json())  # "\ud800": text no database can store
    if not isinstance(body, dict):
        raise PayloadError("expected a JSON object")
    text = body.get("text", "")
    button = body.get("button")
    client_id = body.get("id")
    if client_id is None or client_id == "":  # not `or`: 0, false and [] are refused below
        client_id = uuid.uuid4().hex
    if not isinstance(text, str) or not isinstance(client_id, str):
        raise PayloadError("text and id must be strings")
    if button is not None and not isinstance(button, str):
        raise PayloadError("button must be a string")
    if not _CLIENT_ID.match(client_id):
        raise PayloadError("id must be 8-64 letters, digits, - or _")
    text = text.strip()[:MAX_TEXT]
    if not text and not button:
        raise PayloadError("empty message")
    learner = _learner_id()
    kind = Kind.BUTTON if button else (Kind.COMMAND if text.startswith("/") else Kind.TEXT)
    inbound = Inbound(
        channel=Channel.WEB,
        chat_id=learner,
        learner_key=f"web:{learner}",
        provider_message_id=f"{learner}:{client_id}",
        kind=kind,
        text=text,
        button=button,
        language_hint=request.accept_languages.best_match(["en", "es"]),
        sent_at=datetime.now(UTC),
    )
    created = accept(inbound)
    return jsonify(accepted=True, duplicate=not created), 202


@blueprint.get("/chat/api/messages")
def receive() -> Response:
    try:
        after = int(request.args.get("after", "0"))
    except ValueError as exc:
        raise PayloadError("after must be an integer") from exc
    if not 0 <= after <= MAX_ID:  # past a BIGINT the database refuses the bound parameter
        raise PayloadError(f"after must be between 0 and {MAX_ID}")
    rows = outbox.sent_since(services().engine, f"web:{_learner_id()}", after)
    messages: list[dict[str, Any]] = [
        {
            "id": row["id"],
            "text": row["reply"].get("text", ""),
            "options": row["reply"].get("options", []),
        }
        for row in rows
    ]
    return jsonify(messages=messages)
