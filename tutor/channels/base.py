"""The one interface the worker uses to talk back to a learner."""

from __future__ import annotations

from typing import Protocol

from tutor.messages import Channel, Reply


class ChannelAdapter(Protocol):
    """Sends a Reply to one chat; raises :class:`tutor.errors.ChannelError` subclasses."""

    channel: Channel

    def send(self, chat_id: str, reply: Reply) -> list[str]:
        """Deliver ``reply``; return the platform's ids of the messages sent."""
        ...

    def acknowledge(self, chat_id: str, callback_id: str) -> None:
        """Stop a button's spinner (Telegram callback queries); a no-op elsewhere."""
        ...
