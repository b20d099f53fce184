"""Tuning of the serving process: the garbage collector, and what BentoML traces.

With CPython's default thresholds a full collection ran about once a second under load and walked
every object of the worker (BentoML, FastAPI, pydantic, XGBoost: some 100k at start), stalling the
event loop for tens of milliseconds: that was the p99 of even a do-nothing endpoint (docs/performance.md).
Freezing what start-up built takes those objects out of every later collection, and larger
thresholds make collections rarer; young cyclic garbage is still collected every GC_GEN0 allocations.
"""

from __future__ import annotations

import gc

# BentoML records an OpenTelemetry span for every request even when no exporter is configured (its
# sampler always records), a cost on every request. The prediction route is left out.
UNTRACED = {"excluded_urls": ["/predict"]}
GC_GEN0 = 20_000  # CPython's default is 700
GC_GEN1 = 20
GC_GEN2 = 100


def tune_garbage_collector() -> None:
    """Call once per worker, after its models are loaded: all that exists then lives as long as it."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0, GC_GEN1, GC_GEN2)
