"""Hostile requests to the webhooks and the chat API: forged signatures, bodies too large to
read, JSON built to crash a parser. Each must be refused with a clear 4xx and leave nothing
in the inbox or the ledger; none may reach a 500.

The unit tests of the verifiers (tests/channels/test_whatsapp.py ``test_signature``,
tests/channels/test_telegram.py ``test_secret_token``) and the Stripe refusals in
tests/test_payments_stripe.py cover the basic cases; these go through the HTTP routes.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import io
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import TELEGRAM_SECRET, WHATSAPP_APP_SECRET, channel_env, settings_from_env
from tests.fakes.stripe import DEFAULT_API_KEY, FakeStripe
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp, sign
from tests.support import payloads
from tests.support.harness import TELEGRAM_SECRET_HEADER, Harness
from tutor.channels import telegram, whatsapp
from tutor.models import inbox, payment_events
from tutor.settings import Settings

pytestmark = [pytest.mark.reliability]

STRIPE_SECRET = "whsec_security_test"
TG = {TELEGRAM_SECRET_HEADER: TELEGRAM_SECRET, "Content-Type": "application/json"}


@pytest.fixture
def shop(
    make_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    fake_whatsapp: FakeWhatsApp,
) -> Iterator[Harness]:
    """The in-process tutor with all three webhooks configured (fakes at the edge)."""
    with FakeStripe() as fake_stripe:
        env = channel_env(fake_telegram, fake_whatsapp)
        env.update(
            TUTOR_STRIPE_API_KEY=DEFAULT_API_KEY,
            TUTOR_STRIPE_WEBHOOK_SECRET=STRIPE_SECRET,
            TUTOR_STRIPE_API_URL=fake_stripe.url,
        )
        harness = Harness(settings_from_env(make_settings, env), fake_telegram, fake_whatsapp)
        yield harness
        harness.close()


def _stored(harness: Harness) -> tuple[int, int]:
    with harness.services.engine.connect() as connection:
        return (
            connection.execute(select(func.count()).select_from(inbox)).scalar_one(),
            connection.execute(select(func.count()).select_from(payment_events)).scalar_one(),
        )


def _stripe_header(raw: bytes, *, age: int = 0, secret: str = STRIPE_SECRET) -> tuple[int, str]:
    stamp = int(time.time()) - age
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return stamp, digest


def _event() -> bytes:
    return json.dumps(
        {"id": "evt_sec_1", "object": "event", "type": "ping", "data": {"object": {}}}
    ).encode()


def _post(harness: Harness, path: str, raw: bytes, headers: dict[str, str]) -> int:
    return harness.client.post(path, data=raw, headers=headers).status_code


def test_whatsapp_signature_bypass_attempts_are_refused(shop: Harness) -> None:
    """Injects: WhatsApp webhooks whose X-Hub-Signature-256 has the scheme in capitals, no
    "sha256=" prefix, nothing, a truncated digest, the digest of another body, another
    secret's digest, or a valid digest of a body then changed by one byte.
    Checks: each is 403 (401 with no header at all) and nothing reaches the inbox; the
    correctly signed body (hex in either case) is accepted once."""
    raw = payloads.encode(payloads.whatsapp_text("15550009001", "hola"))
    good = sign(raw, WHATSAPP_APP_SECRET)
    digest = good.removeprefix("sha256=")
    flipped = bytearray(raw)
    flipped[raw.index(b"hola")] = ord("H")
    forged = {
        "scheme in capitals": "SHA256=" + digest,
        "no prefix": digest,
        "empty": "",
        "prefix only": "sha256=",
        "truncated": good[:-1],
        "half": good[: len(good) // 2],
        "other body": sign(raw + b" ", WHATSAPP_APP_SECRET),
        "other secret": sign(raw, WHATSAPP_APP_SECRET + "x"),
        "doubled": good + digest,
        "two values": f"{good},{good}",
        "sha1": "sha1=" + hashlib.sha1(raw).hexdigest(),  # noqa: S324 - the forgery itself
    }
    for name, header in forged.items():
        headers = {"X-Hub-Signature-256": header, "Content-Type": "application/json"}
        assert _post(shop, "/webhooks/whatsapp", raw, headers) == 403, name
    modified = {"X-Hub-Signature-256": good, "Content-Type": "application/json"}
    assert _post(shop, "/webhooks/whatsapp", bytes(flipped), modified) == 403
    assert _post(shop, "/webhooks/whatsapp", raw, {"Content-Type": "application/json"}) == 401
    assert _stored(shop) == (0, 0)
    upper = {"X-Hub-Signature-256": "sha256=" + digest.upper()}
    assert _post(shop, "/webhooks/whatsapp", raw, upper) == 200  # hex is case-blind
    assert _stored(shop) == (1, 0)


def test_telegram_secret_variants_are_refused(shop: Harness) -> None:
    """Injects: Telegram updates whose secret-token header is the secret with spaces, tabs
    or newlines around it, in other letter cases, a prefix of it, it doubled, or empty.
    Checks: each is 403 (401 without the header) and nothing reaches the inbox."""
    raw = payloads.encode(payloads.telegram_text(9101, "hola"))
    variants = [
        " " + TELEGRAM_SECRET,
        TELEGRAM_SECRET + " ",
        TELEGRAM_SECRET + "\t",
        TELEGRAM_SECRET.upper(),
        TELEGRAM_SECRET.swapcase(),
        TELEGRAM_SECRET[:-1],
        TELEGRAM_SECRET * 2,
        "",
    ]
    for variant in variants:
        headers = {TELEGRAM_SECRET_HEADER: variant, "Content-Type": "application/json"}
        assert _post(shop, "/webhooks/telegram", raw, headers) == 403, repr(variant)
    assert _post(shop, "/webhooks/telegram", raw, {"Content-Type": "application/json"}) == 401
    assert _stored(shop) == (0, 0)
    assert _post(shop, "/webhooks/telegram", raw, TG) == 200
    assert _stored(shop) == (1, 0)


def test_secrets_are_compared_in_constant_time() -> None:
    """Injects: nothing; reads the verifiers' source (a timing leak is not testable here).
    Checks: Telegram's secret, WhatsApp's signature and verify token are compared with
    hmac.compare_digest and never with == or startswith."""
    for function in (telegram.verify_secret, whatsapp.verify_signature, whatsapp.verify_challenge):
        source = inspect.getsource(function)
        assert "hmac.compare_digest(" in source, function.__name__
        for unsafe in ("== secret", "== app_secret", "== verify_token", "== expected"):
            assert unsafe not in source, (function.__name__, unsafe)
        assert "startswith(" not in source, function.__name__


def test_stripe_signature_bypass_attempts_are_refused(shop: Harness) -> None:
    """Injects: Stripe events signed 301 s ago (a replay past the tolerance), with only a
    v0 signature, with several v1 entries none of which is right, with a timestamp that
    differs from the signed one, and the valid header on a body changed by one byte.
    Checks: each is 403 and records nothing; several v1 entries of which one is right (a
    secret being rolled) is accepted, as Stripe documents."""
    raw = _event()
    stamp, digest = _stripe_header(raw)
    _, other = _stripe_header(raw, secret=STRIPE_SECRET + "x")
    old_stamp, old_digest = _stripe_header(raw, age=301)
    forged = {
        "too old": f"t={old_stamp},v1={old_digest}",
        "v0 only": f"t={stamp},v0={digest}",
        "v1 all wrong": f"t={stamp},v1={other},v1={'0' * 64}",
        "other timestamp": f"t={stamp + 1},v1={digest}",
        "no timestamp": f"v1={digest}",
        "scheme in capitals": f"t={stamp},V1={digest}",
        "empty": ",",
    }
    for name, header in forged.items():
        headers = {"Stripe-Signature": header, "Content-Type": "application/json"}
        assert _post(shop, "/webhooks/stripe", raw, headers) == 403, name
    changed = raw.replace(b"ping", b"pong")
    headers = {"Stripe-Signature": f"t={stamp},v1={digest}"}
    assert _post(shop, "/webhooks/stripe", changed, headers) == 403
    assert _stored(shop) == (0, 0)
    rolled = {"Stripe-Signature": f"t={stamp},v1={other},v1={digest}"}
    assert _post(shop, "/webhooks/stripe", raw, rolled) == 200


class _Guarded(io.BytesIO):
    """A request body that counts what is read of it (a client still sending 10 MB)."""

    def __init__(self, size: int) -> None:
        super().__init__(b"[" * size)
        self.read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.read_bytes += len(chunk)
        return chunk

    def readline(self, size: int | None = -1) -> bytes:
        chunk = super().readline(size)
        self.read_bytes += len(chunk)
        return chunk

    def readinto(self, buffer: Any) -> int:
        count = super().readinto(buffer)
        self.read_bytes += count
        return count


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/webhooks/telegram", TG),
        ("/webhooks/whatsapp", {"X-Hub-Signature-256": "sha256=" + "0" * 64}),
        ("/webhooks/stripe", {"Stripe-Signature": "t=1,v1=" + "0" * 64}),
        ("/chat/api/messages", {"Content-Type": "application/json"}),
    ],
)
def test_an_oversized_body_is_refused_before_it_is_read(
    shop: Harness, path: str, headers: dict[str, str]
) -> None:
    """Injects: a body declared (Content-Length) at 10x max_webhook_bytes on each webhook
    and on the chat API.
    Checks: 413 with a JSON error, and no more than a few KB of the body is read."""
    size = shop.settings.max_webhook_bytes * 10
    body = _Guarded(size)
    answer = shop.client.post(
        path,
        input_stream=body,
        headers={**headers, "Content-Length": str(size)},
    )
    assert answer.status_code == 413
    assert answer.get_json() == {"error": "body too large"}
    assert body.read_bytes <= 64 * 1024, body.read_bytes


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _signed_for(path: str, raw: bytes) -> dict[str, str]:
    if path == "/webhooks/whatsapp":
        return {"X-Hub-Signature-256": sign(raw, WHATSAPP_APP_SECRET)}
    if path == "/webhooks/stripe":
        stamp, digest = _stripe_header(raw)
        return {"Stripe-Signature": f"t={stamp},v1={digest}"}
    if path == "/webhooks/telegram":
        return dict(TG)
    return {"Content-Type": "application/json"}


HOSTILE_JSON = {
    "100,000 nested arrays": _deep(100_000),
    "65 nested objects": b'{"a":' * 65 + b"1" + b"}" * 65,
    "NaN": b'{"update_id": 1, "object": "event", "text": NaN}',
    "Infinity": b'{"update_id": 1, "object": "event", "text": Infinity}',
    "-Infinity": b'{"update_id": 1, "object": "event", "text": -Infinity}',
    "1e999": b'{"update_id": 1, "object": "event", "text": 1e999}',
    "5,000-digit integer": b'{"update_id": ' + b"9" * 5000 + b"}",
    "not UTF-8": b'{"text": "\xff\xfe"}',
}


@pytest.mark.parametrize(
    "path", ["/webhooks/telegram", "/webhooks/whatsapp", "/webhooks/stripe", "/chat/api/messages"]
)
def test_hostile_json_gets_a_clear_400(shop: Harness, path: str) -> None:
    """Injects: correctly signed bodies of 100,000 nested arrays, 65 nested objects, NaN,
    Infinity, 1e999, a 5,000-digit integer and bytes that are not UTF-8.
    Checks: each is 400 with a JSON error (no RecursionError 500) and nothing is stored."""
    for name, raw in HOSTILE_JSON.items():
        answer = shop.client.post(path, data=raw, headers=_signed_for(path, raw))
        assert answer.status_code == 400, (name, answer.status_code, answer.get_data()[:200])
        assert "error" in answer.get_json(), name
    assert _stored(shop) == (0, 0)


def test_duplicate_keys_and_far_off_numbers_are_handled_not_crashed(shop: Harness) -> None:
    """Injects: a Telegram update whose keys repeat (update_id and text twice), and updates
    whose message date is 2**70 or -2**70 (PTB overflows turning it into a datetime).
    Also web chat messages with a lone surrogate or an id of 0/false/[], and `after` past
    BIGINT.
    Checks: the duplicate keys are read as JSON's last-wins (one message, 200); the far-off
    dates are 400, not 500; the surrogate is replaced before storing; the odd ids and
    `after` values are 400."""
    update = payloads.telegram_text(9201, "first")
    raw = json.dumps(update).encode()
    repeated = (
        raw[:-1]
        + b', "update_id": 777001, "message": '
        + json.dumps({**update["message"], "text": "second"}).encode()
        + b"}"
    )
    assert _post(shop, "/webhooks/telegram", repeated, TG) == 200
    with shop.services.engine.connect() as connection:
        rows = connection.execute(select(inbox.c.provider_message_id)).all()
    assert len(rows) == 1
    for date in (2**70, -(2**70)):
        far = payloads.telegram_text(9202, "hola")
        far["message"]["date"] = date
        answer = shop.client.post("/webhooks/telegram", json=far, headers=TG)
        assert answer.status_code == 400, answer.get_data()
    assert _stored(shop)[0] == 1
    lone = shop.client.post("/chat/api/messages", json={"text": "hola \ud800", "id": "lone-0001"})
    assert lone.status_code == 202
    with shop.services.engine.connect() as connection:
        stored = connection.execute(select(inbox).where(inbox.c.channel == "web")).one()
    json.dumps(dict(stored._mapping), default=str).encode()  # storable text, no surrogate
    for falsy in (0, 0.0, False, [], {}):  # not taken for "no id" (the server makes one up)
        answer = shop.client.post("/chat/api/messages", json={"text": "hola", "id": falsy})
        assert answer.status_code == 400, (falsy, answer.status_code)
    for after in ("99999999999999999999999", "-1", str(2**63)):
        answer = shop.client.get(f"/chat/api/messages?after={after}")
        assert answer.status_code == 400, (after, answer.get_data()[:200])
