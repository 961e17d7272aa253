"""tutor: a language tutor for WhatsApp and Telegram learners."""

__version__ = "0.1.0"
