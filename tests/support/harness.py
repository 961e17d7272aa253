"""An in-process tutor for dialogue tests: real app, real worker, fake platforms at the edge."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp
from tests.support import payloads
from tutor.app import create_app
from tutor.services import Services, build_services
from tutor.settings import Settings
from tutor.worker import Worker

TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class Harness:
    """Posts webhooks through the Flask app, drains the inbox, reads what the fakes received."""

    def __init__(
        self,
        settings: Settings,
        telegram: FakeTelegram | None = None,
        whatsapp: FakeWhatsApp | None = None,
    ) -> None:
        self.settings = settings
        self.services: Services = build_services(settings)
        self.app = create_app(settings, self.services)
        self.client: FlaskClient = self.app.test_client()
        self.worker = Worker(self.services)
        self.telegram = telegram
        self.whatsapp = whatsapp

    def close(self) -> None:
        self.services.close()

    def post_telegram(self, body: dict[str, Any]) -> int:
        secret = self.settings.telegram_webhook_secret
        headers = {TELEGRAM_SECRET_HEADER: secret.get_secret_value() if secret else ""}
        response = self.client.post("/webhooks/telegram", json=body, headers=headers)
        return response.status_code

    def telegram_says(self, user_id: int, text: str, **options: Any) -> list[str]:
        """Send ``text`` as learner ``user_id``; return the tutor's texts sent back."""
        assert self.telegram is not None
        before = len(self.telegram.sent_texts(user_id))
        assert self.post_telegram(payloads.telegram_text(user_id, text, **options)) == 200
        self.worker.sweep()
        return self.telegram.sent_texts(user_id)[before:]

    def onboard(self, user_id: int, target: str = "es") -> None:
        """Finish first contact: ``target`` "es" explains in English, "en" in Spanish."""
        choice = "1" if target == "es" else "2"
        for answer in ("hi", choice, choice, "1", "skip", "skip"):
            self.telegram_says(user_id, answer)

    def telegram_taps(self, user_id: int, data: str) -> list[str]:
        assert self.telegram is not None
        before = len(self.telegram.sent_texts(user_id))
        assert self.post_telegram(payloads.telegram_callback(user_id, data)) == 200
        self.worker.sweep()
        return self.telegram.sent_texts(user_id)[before:]

    def post_whatsapp(self, body: dict[str, Any]) -> int:
        secret = self.settings.whatsapp_app_secret
        raw = payloads.encode(body)
        headers = payloads.whatsapp_headers(raw, secret.get_secret_value() if secret else "")
        return self.client.post("/webhooks/whatsapp", data=raw, headers=headers).status_code

    def whatsapp_says(self, wa_id: str, text: str) -> list[str]:
        assert self.whatsapp is not None
        before = len(self.whatsapp.sent_texts(wa_id))
        assert self.post_whatsapp(payloads.whatsapp_text(wa_id, text)) == 200
        self.worker.sweep()
        return self.whatsapp.sent_texts(wa_id)[before:]
