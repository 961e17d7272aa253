"""docs/openapi.yaml against the running app: schemathesis sends what the description allows
(and, in its negative mode, what it forbids) to a real ``tutor serve``, signed as each
platform signs and also unsigned, and every answer must be one the description lists.

A plain test keeps the description from drifting: every route of the Flask URL map outside
the staff app must be in it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from tests.conftest import TELEGRAM_SECRET, WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN, channel_env
from tests.fakes.stripe import DEFAULT_API_KEY, FakeStripe
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp, sign
from tests.support.harness import Harness
from tests.support.serve import Server
from tests.support.staff import csrf_token, make_user, sign_in
from tutor import progress_card
from tutor.app import create_app
from tutor.models import learners
from tutor.staff import Role

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTION = ROOT / "docs" / "openapi.yaml"
STRIPE_SECRET = "whsec_openapi_test"
#: The one /admin operation described (a JSON export) needs a staff session and CSRF token.
schema = schemathesis.openapi.from_path(DESCRIPTION).exclude(path_regex="^/admin")
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
#: What an unsigned call to each webhook must get: refused, never handled, never a crash
#: (a body past the size limit is refused before its signature is even computed).
REFUSED = {401, 403, 413}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``tutor serve`` with Telegram, WhatsApp and Stripe all configured against the fakes."""
    with FakeTelegram() as telegram, FakeWhatsApp() as whatsapp, FakeStripe() as fake_stripe:
        env = {
            **channel_env(telegram, whatsapp),
            "TUTOR_STRIPE_API_KEY": DEFAULT_API_KEY,
            "TUTOR_STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
            "TUTOR_STRIPE_API_URL": fake_stripe.url,
        }
        server = Server(tmp_path_factory.mktemp("openapi"), env)
        try:
            server.wait_healthy(timeout=120)  # starting takes 10-30 s on two busy cores
            yield server
        finally:
            server.stop()


def _signed(kwargs: dict[str, Any], *, keep_query: bool) -> dict[str, Any]:
    """The request as each platform would sign it: the exact bytes sent are what is signed."""
    signed = dict(kwargs)
    headers = dict(signed.get("headers") or {})
    if "json" in signed:
        signed["data"] = json.dumps(signed.pop("json")).encode()
        headers.setdefault("Content-Type", "application/json")
    raw = signed.get("data") or b""
    raw = raw.encode() if isinstance(raw, str) else raw
    path = signed["url"].split("://", 1)[-1].split("/", 1)[-1]
    if path.startswith("webhooks/telegram"):
        headers["X-Telegram-Bot-Api-Secret-Token"] = TELEGRAM_SECRET
    elif path.startswith("webhooks/whatsapp") and signed["method"] == "GET" and not keep_query:
        params = dict(signed.get("params") or {})
        if "hub.verify_token" in params:
            params["hub.verify_token"] = WHATSAPP_VERIFY_TOKEN
        signed["params"] = params
    elif path.startswith("webhooks/whatsapp"):
        headers["X-Hub-Signature-256"] = sign(raw, WHATSAPP_APP_SECRET)
    elif path.startswith("webhooks/stripe"):
        stamp = int(time.time())
        digest = hmac.new(STRIPE_SECRET.encode(), f"{stamp}.".encode() + raw, hashlib.sha256)
        headers["Stripe-Signature"] = f"t={stamp},v1={digest.hexdigest()}"
    signed["headers"] = headers
    return signed


def _unsigned(kwargs: dict[str, Any]) -> dict[str, Any]:
    unsigned = dict(kwargs)
    unsigned["headers"] = {
        name: value
        for name, value in (kwargs.get("headers") or {}).items()
        if name.lower()
        not in {"x-telegram-bot-api-secret-token", "x-hub-signature-256", "stripe-signature"}
    }
    return unsigned


def _exercise(case: Any, server: Server, checks: list[CheckFunction], *, keep_query: bool) -> None:
    kwargs = case.as_transport_kwargs(base_url=server.url)
    kwargs.setdefault("timeout", 30)
    kwargs.setdefault("allow_redirects", False)
    signed = requests.request(**_signed(kwargs, keep_query=keep_query))
    case.validate_response(signed, checks=checks)
    own_method = kwargs["method"].upper() == case.operation.method.upper()
    if case.operation.definition.raw.get("security") and own_method:
        unsigned = requests.request(**_unsigned(kwargs))
        case.validate_response(unsigned, checks=checks)
        assert unsigned.status_code in REFUSED, (case.operation.label, unsigned.status_code)


def _negated(case: Any) -> set[str]:
    """Where this case breaks the description on purpose (schemathesis' negative mode)."""
    if case.meta is None:
        return set()
    return {
        str(location.value)
        for location, info in case.meta.components.items()
        if info.mode.is_negative
    }


def _run(case: Any, server: Server) -> None:
    negated = _negated(case)
    checks = list(CHECKS)
    # Signing replaces a negated auth header with a valid one; what stays invalid after
    # that (query, path, and bodies outside the webhooks) must be refused. A platform's
    # webhook acknowledges parts it does not use (statuses, unknown fields, other event
    # types) by design, so there invalid data need only get a described answer.
    webhook = case.operation.path.startswith("/webhooks/") and case.operation.method == "post"
    if negated & {"query", "path"} or ("body" in negated and not webhook):
        checks.append(negative_data_rejection)
    _exercise(case, server, checks, keep_query="query" in negated)


@schema.parametrize()
@settings(
    max_examples=12,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_described_operation_answers_as_described(case: Any, served: Server) -> None:
    """Injects: schema-generated requests to every operation outside /admin (valid and, in
    negative mode, invalid), each signed as its platform signs it and again unsigned.
    Checks: no 5xx; every status, content type, body and header as docs/openapi.yaml says;
    unsigned webhook calls get 401/403; invalid data is refused with a 4xx."""
    _run(case, served)


@pytest.mark.long
@schema.parametrize()
@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_described_operation_answers_as_described_long(case: Any, served: Server) -> None:
    """Injects: as the default variant, with 300 examples per operation.
    Checks: no 5xx; every answer as docs/openapi.yaml describes; unsigned webhooks refused."""
    _run(case, served)


_CONVERTER = re.compile(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>")


def test_every_route_outside_the_staff_app_is_described(make_settings: Any) -> None:
    """Injects: the app's URL map, read afresh (a route added later is seen at once).
    Checks: every method of every route outside /admin and /static is in docs/openapi.yaml,
    and the description names no route the app does not have."""
    app = create_app(make_settings())
    routes = {
        (_CONVERTER.sub(r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if not rule.rule.startswith(("/admin", "/static"))
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    described = {
        (path, method)
        for path, item in schema.raw_schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    outside_admin = {(path, method) for path, method in described if not path.startswith("/admin")}
    assert routes - outside_admin == set(), "routes missing from docs/openapi.yaml"
    assert outside_admin - routes == set(), "docs/openapi.yaml describes routes the app lacks"
    admin_rules = {
        (_CONVERTER.sub(r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin")
        for method in rule.methods or set()
    }
    in_admin = described - outside_admin
    assert in_admin <= admin_rules, "docs/openapi.yaml describes staff routes the app lacks"


FULL = schemathesis.openapi.from_path(DESCRIPTION)


def test_the_staff_json_export_and_real_media_answer_as_described(harness: Harness) -> None:
    """Injects: what schemathesis cannot make alone: the learner export posted by an admin
    with its CSRF token, by a teacher, for an unknown learner and without a token; a real
    progress card of a learner with no mistakes (its emoji caption has no font glyph).
    Checks: each answer (200 JSON attachment, 403, 404, 400; 200 image/png with its
    Cache-Control) conforms to docs/openapi.yaml."""
    engine = harness.services.engine
    make_user(engine, Role.ADMIN, "admin@school.test")
    make_user(engine, Role.TEACHER, "teacher@school.test")
    admin, teacher = harness.app.test_client(), harness.app.test_client()
    assert sign_in(admin, "admin@school.test") == 302
    assert sign_in(teacher, "teacher@school.test") == 302
    harness.onboard(6601)
    with engine.connect() as connection:
        learner_id = connection.execute(
            select(learners.c.id).where(learners.c.key == "telegram:6601")
        ).scalar_one()
    export = FULL["/admin/subscriptions/{learner_id}/export"]["POST"]
    page = f"/admin/subscriptions/{learner_id}"
    answers = {
        200: admin.post(f"{page}/export", data={"csrf_token": csrf_token(admin, page)}),
        403: teacher.post(f"{page}/export", data={"csrf_token": csrf_token(teacher, "/admin/")}),
        404: admin.post(
            "/admin/subscriptions/999999/export", data={"csrf_token": csrf_token(admin, page)}
        ),
        400: admin.post(f"{page}/export"),
    }
    for status, answer in answers.items():
        assert answer.status_code == status, (status, answer.get_data()[:200])
        export.validate_response(answer)
    assert answers[200].get_json()["learner"]["id"] == learner_id

    secret = harness.app.config["SECRET_KEY"]
    card = harness.client.get(f"/progress/{progress_card.token(secret, learner_id, 'en')}.png")
    assert card.status_code == 200 and card.mimetype == "image/png"
    FULL["/progress/{value}.png"]["GET"].validate_response(card)


def test_the_embedded_server_refuses_a_huge_body_before_buffering_it(served: Server) -> None:
    """Injects: a webhook POST to `tutor serve` declaring a 50 MB body, of which 10 bytes come.
    Checks: a 413 at once, without waiting to buffer the body (waitress reads a whole body
    before the app sees it, so the limit is waitress's own); the server still answers."""
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /webhooks/telegram HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 50000000\r\n\r\n{"a": 1}  '
        )
        status_line = connection.recv(200).split(b"\r\n", 1)[0]
    assert status_line.split()[1] == b"413", status_line
    assert requests.get(f"{served.url}/healthz", timeout=10).status_code == 200
