"""Per-version Prometheus counters, shown at /metrics (summed over workers) and in /model-info.

The counters are created on first use, not at import: BentoML switches prometheus_client to
multiprocess mode in each worker after the service module is imported.
"""

from __future__ import annotations

import functools
import os
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..segments import SEGMENTS


@functools.cache
def _counters() -> SimpleNamespace:
    import prometheus_client as prom

    return SimpleNamespace(
        requests=prom.Counter(
            "purchase_model_requests",
            "Requests (or parts of one, in an A/B split) scored, by version and role",
            ["model_version", "role"],
        ),
        predictions=prom.Counter(
            "purchase_predictions", "Rows scored, by version and predicted class", ["model_version", "predicted_class"]
        ),
        segments=prom.Counter(
            "purchase_segment_predictions", "Rows answered, by version and segment", ["model_version", "segment"]
        ),
        shadow=prom.Counter(
            "purchase_shadow_rows",
            "Rows a shadow version scored, by whether its class agreed with the answer",
            ["model_version", "agreed"],
        ),
        batch_requests=prom.Histogram(
            "purchase_batch_requests",
            "Requests whose rows one model call scored (adaptive batching)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
        ),
        batch_rows=prom.Histogram(
            "purchase_batch_rows", "Rows one model call scored", buckets=(1, 2, 5, 10, 50, 100, 500, 1000, 2000, 5000)
        ),
        probability=prom.Histogram(
            "purchase_probability",
            "Predicted purchase probabilities, by version",
            ["model_version"],
            buckets=tuple(i / 10 for i in range(1, 11)),
        ),
        responses=prom.Counter("purchase_http_responses", "Responses, by route and status code", ["path", "status"]),
        cache=prom.Counter(
            "purchase_cache_rows",
            "Rows looked up in the response cache, by level (local, shared) and result",
            ["level", "result"],
        ),
        loads=prom.Counter("purchase_model_loads", "Model loads in a worker, by outcome", ["outcome"]),
        store_rows=prom.Counter(
            "purchase_feature_store_rows",
            "Rows /predict completed from the online store: hit (it knew the user or the item), miss, error",
            ["result"],
        ),
        events=prom.Counter("purchase_events", "Events /events received, by outcome", ["outcome"]),
        drift_rows=prom.Counter(
            "purchase_drift_rows",
            "Rows scored, by version, monitored feature and bin of its reference (purchase.drift)",
            ["model_version", "feature", "bin"],
        ),
        drift_psi=prom.Gauge(
            "purchase_drift_psi",
            "Population stability index of the last DRIFT_WINDOW_S of traffic, by version and feature",
            ["model_version", "feature"],
            multiprocess_mode="livemax",
        ),
        explained=prom.Counter(
            "purchase_explained_rows", "Rows /explain explained, by version and method", ["model_version", "method"]
        ),
        serving=prom.Gauge(
            "purchase_model_serving",
            "1 for each version a worker serves, by role",
            ["model_version", "role"],
            multiprocess_mode="livemax",
        ),
    )


def record_response(route: str, status: int) -> None:
    """`route`: the route table's label, so the label set stays small whatever paths clients send."""
    _response_counter(route, status).inc()


# Labelled children, looked up once: `labels()` takes a lock and builds keys on every call (hot path).
@functools.lru_cache(maxsize=512)
def _response_counter(route: str, status: int) -> Any:
    return _counters().responses.labels(route, str(status))


@functools.lru_cache(maxsize=256)
def _scored_children(version: str, role: str) -> SimpleNamespace:
    counters = _counters()
    probability = counters.probability.labels(version)
    return SimpleNamespace(
        requests=counters.requests.labels(version, role),
        positive=counters.predictions.labels(version, "1"),
        negative=counters.predictions.labels(version, "0"),
        probability=probability,
        upper_bounds=np.asarray(probability._upper_bounds),
        segments=[counters.segments.labels(version, segment.value) for segment in SEGMENTS],
    )


def _observe_probabilities(children: SimpleNamespace, probabilities: np.ndarray) -> None:
    """Observe a whole batch at once. prometheus_client has no bulk observe, and 1000 single ones cost
    milliseconds in multiprocess mode, so this adds to the histogram's bucket and sum values directly."""
    histogram = children.probability
    bucket = np.searchsorted(children.upper_bounds, probabilities, side="left")
    for i, count in enumerate(np.bincount(bucket, minlength=len(children.upper_bounds)).tolist()):
        if count:
            histogram._buckets[i].inc(count)
    histogram._sum.inc(float(probabilities.sum()))


def record_cache(level: str, hits: int, misses: int) -> None:
    counters = _counters()
    counters.cache.labels(level, "hit").inc(hits)
    counters.cache.labels(level, "miss").inc(misses)


def record_store_rows(hits: int = 0, misses: int = 0, errors: int = 0) -> None:
    counters = _counters()
    for result, n in (("hit", hits), ("miss", misses), ("error", errors)):
        if n:
            counters.store_rows.labels(result).inc(n)


def record_events(**outcomes: int) -> None:
    """stored, duplicate, expired, refused (invalid) or failed (store unavailable): event counts."""
    counters = _counters()
    for outcome, n in outcomes.items():
        counters.events.labels(outcome).inc(n)


def record_explained(version: str, method: str, rows: int) -> None:
    _counters().explained.labels(version, method).inc(rows)


def record_load(ok: bool) -> None:
    _counters().loads.labels("success" if ok else "failure").inc()


def record_serving(before: dict[str, str], after: dict[str, str]) -> None:
    """Versions by role ({version: role}) before and after a change in this worker."""
    gauge = _counters().serving
    for version, role in before.items():
        if after.get(version) != role:
            gauge.labels(version, role).set(0)
    for version, role in after.items():
        gauge.labels(version, role).set(1)


def record_batch(requests: int, rows: int) -> None:
    counters = _counters()
    counters.batch_requests.observe(requests)
    counters.batch_rows.observe(rows)


def record_scored(
    version: str, role: str, probabilities: np.ndarray, threshold: float, segments: np.ndarray | None = None
) -> np.ndarray:
    """Count a scored request and its rows (by segment, for rows answered); returns the predicted classes."""
    children = _scored_children(version, role)
    if segments is not None:
        for counter, count in zip(children.segments, np.bincount(segments, minlength=len(SEGMENTS)).tolist()):
            if count:
                counter.inc(count)
    classes = probabilities >= threshold
    children.requests.inc()
    positives = int(np.count_nonzero(classes))
    if positives:
        children.positive.inc(positives)
    if positives < len(classes):
        children.negative.inc(len(classes) - positives)
    _observe_probabilities(children, probabilities)
    return classes


def record_shadow(version: str, agreed: int, total: int) -> None:
    counters = _counters()
    counters.shadow.labels(version, "true").inc(agreed)
    counters.shadow.labels(version, "false").inc(total - agreed)


def record_drift(version: str, counts: dict[str, np.ndarray]) -> None:
    """Rows per bin of each monitored feature (purchase.drift), only the bins that got any."""
    for feature, by_bin in counts.items():
        for index in np.flatnonzero(by_bin).tolist():
            _drift_counter(version, feature, index).inc(int(by_bin[index]))


@functools.lru_cache(maxsize=4096)
def _drift_counter(version: str, feature: str, index: int) -> Any:
    return _counters().drift_rows.labels(version, feature, str(index))


def record_drift_psi(version: str, indexes: dict[str, float]) -> None:
    gauge = _counters().drift_psi
    for feature, value in indexes.items():
        gauge.labels(version, feature).set(value)


def drift_totals() -> dict[str, dict[tuple[str, int], float]]:
    """{version: {(feature, bin): rows}} over every worker of this server."""
    totals: dict[str, dict[tuple[str, int], float]] = defaultdict(lambda: defaultdict(float))
    for family in _server_registry().collect():
        if family.name == "purchase_drift_rows":
            for sample in family.samples:
                labels = sample.labels
                if sample.name.endswith("_total"):
                    totals[labels["model_version"]][(labels["feature"], int(labels["bin"]))] += sample.value
    return totals


def _server_registry() -> Any:
    """The metrics of every worker of this server (one worker's own when not under `bentoml serve`)."""
    import prometheus_client as prom

    _counters()
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return prom.REGISTRY
    return _WrittenFiles(Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]))


class _WrittenFiles:
    """The workers' metric files, less those a starting worker has created but not yet sized: reading
    one of those fails (prometheus_client's own collector raises struct.error on it)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def collect(self) -> Any:
        from prometheus_client.multiprocess import MultiProcessCollector

        return MultiProcessCollector.merge([str(f) for f in self.folder.glob("*.db") if _written(f)])


def _written(file: Path) -> bool:
    try:
        return file.stat().st_size >= 8  # the header: the used length, then padding
    except FileNotFoundError:  # a dead worker's file, removed meanwhile
        return False


def counts_by_version() -> dict[str, dict[str, float]]:
    """Totals over every worker of this server."""
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for family in _server_registry().collect():
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
