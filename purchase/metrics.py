"""Per-version Prometheus counters, shown at /metrics (summed over workers) and in /model-info.

The counters are created on first use, not at import: BentoML switches prometheus_client to
multiprocess mode in each worker after the service module is imported.
"""

from __future__ import annotations

import functools
import os
from collections import defaultdict
from types import SimpleNamespace

import numpy as np


@functools.cache
def _counters() -> SimpleNamespace:
    import prometheus_client as prom

    return SimpleNamespace(
        requests=prom.Counter(
            "purchase_model_requests", "Requests (or parts of one, in an A/B split) scored, by version and role", ["model_version", "role"]
        ),
        predictions=prom.Counter("purchase_predictions", "Rows scored, by version and predicted class", ["model_version", "predicted_class"]),
        shadow=prom.Counter(
            "purchase_shadow_rows", "Rows a shadow version scored, by whether its class agreed with the answer", ["model_version", "agreed"]
        ),
        batch_requests=prom.Histogram(
            "purchase_batch_requests", "Requests whose rows one model call scored (adaptive batching)", buckets=(1, 2, 4, 8, 16, 32, 64, 128)
        ),
        batch_rows=prom.Histogram(
            "purchase_batch_rows", "Rows one model call scored", buckets=(1, 2, 5, 10, 50, 100, 500, 1000, 2000, 5000)
        ),
    )


def record_batch(requests: int, rows: int) -> None:
    counters = _counters()
    counters.batch_requests.observe(requests)
    counters.batch_rows.observe(rows)


def record_scored(version: str, role: str, classes: np.ndarray) -> None:
    counters = _counters()
    counters.requests.labels(version, role).inc()
    positives = int(classes.sum())
    counters.predictions.labels(version, "1").inc(positives)
    counters.predictions.labels(version, "0").inc(len(classes) - positives)


def record_shadow(version: str, agreed: int, total: int) -> None:
    counters = _counters()
    counters.shadow.labels(version, "true").inc(agreed)
    counters.shadow.labels(version, "false").inc(total - agreed)


def counts_by_version() -> dict[str, dict[str, float]]:
    """Totals over every worker of this server (one worker's own when not under `bentoml serve`)."""
    import prometheus_client as prom
    from prometheus_client import multiprocess

    _counters()
    registry = prom.REGISTRY
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = prom.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for family in registry.collect():
        for sample in family.samples:
            if not sample.name.endswith("_total") or "model_version" not in sample.labels:
                continue
            labels = sample.labels
            if family.name == "purchase_model_requests":
                totals[labels["model_version"]][f"{labels['role']}_requests"] += sample.value
            elif family.name == "purchase_predictions":
                totals[labels["model_version"]][f"predicted_{labels['predicted_class']}"] += sample.value
            elif family.name == "purchase_shadow_rows":
                key = "shadow_agreed" if labels["agreed"] == "true" else "shadow_disagreed"
                totals[labels["model_version"]][key] += sample.value
    return {version: dict(counts) for version, counts in totals.items()}
