"""The browser chat page and the terminal chat: channels with no platform behind them.

Sending is recording: the outbox row marked sent *is* the delivered message,
which the chat page fetches; the terminal chat hands it to a callback.
"""

from __future__ import annotations

from collections.abc import Callable

from tutor.messages import Channel, Reply


class WebChannel:
    """Replies to the chat page; the page polls the outbox for rows marked sent."""

    channel = Channel.WEB

    def send(self, chat_id: str, reply: Reply) -> list[str]:
        return []

    def acknowledge(self, chat_id: str, callback_id: str) -> None:
        return None


class ConsoleChannel:
    """Replies to ``tutor chat``: each one is handed to ``show``."""

    channel = Channel.CONSOLE

    def __init__(self, show: Callable[[str, Reply], None]) -> None:
        self._show = show

    def send(self, chat_id: str, reply: Reply) -> list[str]:
        self._show(chat_id, reply)
        return []

    def acknowledge(self, chat_id: str, callback_id: str) -> None:
        return None
