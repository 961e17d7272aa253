"""Taking a message in: store it once in the inbox, then hand it to the workers.

Every entry point uses this: the webhooks, the chat page and ``tutor chat``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tutor import inbox, logs, metrics
from tutor.messages import Inbound

if TYPE_CHECKING:
    from tutor.services import Services

logger = logging.getLogger(__name__)


def receive(services: Services, inbound: Inbound) -> bool:
    """Store ``inbound`` once and notify the workers; False for a redelivery."""
    correlation_id = logs.new_correlation_id()
    with logs.bound(
        correlation_id=correlation_id,
        channel=inbound.channel.value,
        learner_key=inbound.learner_key,
    ):
        if not inbox.accept(services.engine, inbound, correlation_id):
            metrics.DUPLICATES.labels(inbound.channel.value).inc()
            logger.info("duplicate delivery ignored")
            return False
        metrics.MESSAGES_IN.labels(inbound.channel.value).inc()
        try:
            services.queue.notify(inbound.learner_key)
        except Exception:  # the row is safe in the inbox; the sweeper will find it
            metrics.ENQUEUE_ERRORS.inc()
            logger.warning("queue hand-off failed; the sweeper will re-drive the message")
        logger.info("message accepted", extra={"kind": inbound.kind.value})
        return True
