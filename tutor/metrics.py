"""Prometheus metrics: messages in, processed, failed, sends, queue depth, latencies.

Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` (set by ``gunicorn.conf.py`` and
the CLI before this module is imported) lets every process write its samples
where ``/metrics`` can aggregate them. The queue depth is read from the inbox
at scrape time, so it is true whichever process did the work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

MESSAGES_IN = Counter("tutor_messages_in_total", "Messages accepted into the inbox", ["channel"])
DUPLICATES = Counter("tutor_messages_duplicate_total", "Redelivered webhooks ignored", ["channel"])
REJECTED = Counter(
    "tutor_webhooks_rejected_total",
    "Webhooks refused (signature, size, shape)",
    ["channel", "reason"],
)
PROCESSED = Counter(
    "tutor_messages_processed_total", "Messages turned into replies", ["channel", "agent"]
)
FAILED = Counter("tutor_messages_failed_total", "Processing attempts that failed", ["channel"])
SENDS = Counter("tutor_sends_total", "Outbound sends by outcome", ["channel", "outcome"])
HOT_ERRORS = Counter("tutor_hot_memory_errors_total", "Redis errors in the hot tier", ["op"])
LLM_STORE_ERRORS = Counter(
    "tutor_llm_store_errors_total",
    "Redis errors in the model router's breaker, budget, caches",
    ["component", "op"],
)
ENQUEUE_ERRORS = Counter(
    "tutor_enqueue_errors_total", "Task queue hand-offs that failed (the sweeper re-drives)"
)
WEBHOOK_SECONDS = Histogram(
    "tutor_webhook_seconds",
    "Time to acknowledge a webhook",
    ["channel"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
PROCESSING_SECONDS = Histogram(
    "tutor_processing_seconds",
    "Worker time per message (dispatch + store)",
    ["channel"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
)


class QueueDepthCollector(Collector):
    """Reads the inbox's pending count at scrape time."""

    def __init__(self, pending: Callable[[], dict[str, int]]) -> None:
        self._pending = pending

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("tutor_queue_depth", "Inbox rows by status", labels=["status"])
        try:
            for status, count in self._pending().items():
                gauge.add_metric([status], count)
        except Exception:  # a scrape must not fail because the store is down
            return
        yield gauge


def render(pending: Callable[[], dict[str, int]], multiproc_dir: str | None) -> tuple[bytes, str]:
    """The exposition text for ``/metrics``."""
    registry = CollectorRegistry()
    if multiproc_dir:
        multiprocess.MultiProcessCollector(registry, path=multiproc_dir)  # type: ignore[no-untyped-call]
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    depth = CollectorRegistry()
    depth.register(QueueDepthCollector(pending))
    return generate_latest(registry) + generate_latest(depth), CONTENT_TYPE_LATEST
