"""Prometheus metrics. Under gunicorn, PROMETHEUS_MULTIPROC_DIR makes every worker's counters add up."""

from __future__ import annotations

import os
from collections.abc import Iterator

import redis
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from rq.registry import FailedJobRegistry, StartedJobRegistry

from hub.core.state import HubState

REQUESTS = Counter("hub_http_requests_total", "HTTP requests", ["endpoint", "method", "status"])
LATENCY = Histogram(
    "hub_http_request_seconds",
    "HTTP request latency",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
MESSAGES_IN = Counter("hub_messages_in_total", "Inbound messages accepted", ["channel", "kind", "duplicate"])
PASSIVE_TIMEOUTS = Counter("hub_passive_reply_timeouts_total", "Passive replies not decided within the budget")
GROUP_COMMIT_SIZE = Histogram(
    "hub_group_commit_messages", "Webhook writes committed together in one transaction",
    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32),
)
INTAKE_JOURNAL_ROWS = Counter(
    "hub_intake_journal_rows_total", "Journaled webhook messages loaded into the database", ["outcome"])
GROUP_COMMIT_SPLITS = Counter(
    "hub_group_commit_splits_total", "Shared webhook transactions that failed and were rerun one write at a time")


class QueueCollector(Collector):
    """Queue depth, running and failed jobs, read from Redis at scrape time (shared by all processes)."""

    def __init__(self, state: HubState) -> None:
        self.state = state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("hub_queue_depth", "Jobs waiting in the queue", labels=["queue"])
        started = GaugeMetricFamily("hub_jobs_started", "Jobs being worked on", labels=["queue"])
        failed = GaugeMetricFamily("hub_jobs_failed", "Jobs in the failed registry", labels=["queue"])
        up = GaugeMetricFamily("hub_redis_up", "1 when Redis answers")
        queue = self.state.queue
        try:
            depth.add_metric([queue.name], queue.count)
            started.add_metric([queue.name], StartedJobRegistry(queue=queue).count)
            failed.add_metric([queue.name], FailedJobRegistry(queue=queue).count)
            up.add_metric([], 1)
        except redis.RedisError:
            up.add_metric([], 0)
        yield from (depth, started, failed, up)


def render(state: HubState) -> bytes:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        for collector in list(REGISTRY._collector_to_names):  # noqa: SLF001 - copy the default collectors
            registry.register(collector)
    registry.register(QueueCollector(state))
    return generate_latest(registry)
