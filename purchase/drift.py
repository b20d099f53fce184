"""Drift: how far the traffic a version scores has moved from the data it was trained on.

Each version stores a reference: for every model input (the request's numbers, the engineered
features, the category) and for the predicted probability, the share of training rows per bin. Bins
come from the training split's deciles, missing values get a bin of their own, and the category has
one bin per known category plus one for the rest. Training (the reference) and serving (the counts)
put rows into bins with the same `Binning`, so a value lands in the same bin on both sides.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from .features import CATEGORY_FEATURE, ENGINEERED_FEATURES, NUMERIC_FEATURES, Preprocessor

PROBABILITY = "probability"
NUMBERS: tuple[str, ...] = (*NUMERIC_FEATURES, *ENGINEERED_FEATURES)  # the matrix's first columns
MONITORED: tuple[str, ...] = (*NUMBERS, CATEGORY_FEATURE, PROBABILITY)
QUANTILES = np.linspace(0.1, 0.9, 9)
WATCH_PSI, DRIFT_PSI = 0.1, 0.25  # the usual rule of thumb: under 0.1 stable, over 0.25 a real shift
Status = Literal["ok", "watch", "drift", "too little traffic", "no traffic"]
SMOOTHING = 1e-4  # a share floor: a bin empty on one side would make the index infinite


class Reference(BaseModel):
    """As a version's metadata stores it: inner bin edges per number, and each feature's bin shares."""

    model_config = ConfigDict(strict=True)

    edges: dict[str, list[float]]  # NUMBERS and PROBABILITY
    shares: dict[str, list[float]]  # MONITORED; numbers: len(edges) + 2 bins (the last: missing)
    rows: int


@dataclass(frozen=True)
class Binning:
    """Puts a batch of model rows into bins (serving bins a second's rows at a time, off the request path)."""

    edges: dict[str, np.ndarray]
    categories: int

    @classmethod
    def of(cls, reference: Reference, preprocessor: Preprocessor) -> Binning:
        return cls({k: np.asarray(v) for k, v in reference.edges.items()}, len(preprocessor.categories))

    @functools.cached_property
    def sizes(self) -> dict[str, int]:
        """Bins per monitored feature, in MONITORED order."""
        numbers = {name: len(self.edges[name]) + 2 for name in NUMBERS}
        return {**numbers, CATEGORY_FEATURE: self.categories + 1, PROBABILITY: len(self.edges[PROBABILITY]) + 2}

    @functools.cached_property
    def _offsets(self) -> np.ndarray:
        return np.cumsum([0, *self.sizes.values()])

    def counts(self, matrix: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
        """Rows per bin, every monitored feature's bins one after another (MONITORED order)."""
        sizes, offsets = self.sizes, self._offsets
        flat: list[np.ndarray] = []
        for j, name in enumerate(NUMBERS):
            # Bin k holds edges[k-1] < v <= edges[k] (searchsorted's "left"); missing: the last bin.
            column = matrix[:, j].astype(np.float64)
            bins = np.searchsorted(self.edges[name], column)
            bins[np.isnan(column)] = sizes[name] - 1
            flat.append(bins + offsets[j])
        onehot = matrix[:, len(NUMBERS) :]
        category = np.where(onehot.any(axis=1), onehot.argmax(axis=1), self.categories) if self.categories else 0
        flat.append(np.broadcast_to(category + offsets[len(NUMBERS)], len(matrix)))
        p = np.asarray(probabilities, dtype=np.float64)
        p_bins = np.where(np.isnan(p), sizes[PROBABILITY] - 1, np.searchsorted(self.edges[PROBABILITY], p))
        flat.append(p_bins + offsets[len(NUMBERS) + 1])
        return np.bincount(np.concatenate(flat), minlength=int(offsets[-1]))

    def split(self, counts: np.ndarray) -> dict[str, np.ndarray]:
        """The flat counts of `counts` per feature."""
        offsets = self._offsets
        return {name: counts[offsets[i] : offsets[i + 1]] for i, name in enumerate(MONITORED)}


def reference_of(preprocessor: Preprocessor, matrix: np.ndarray, probabilities: np.ndarray) -> Reference:
    """The training rows' bins: deciles of each number (ties merged), then each bin's share."""
    edges: dict[str, list[float]] = {}
    for j, name in enumerate(NUMBERS):
        column = matrix[:, j].astype(np.float64)
        known = column[~np.isnan(column)]
        edges[name] = np.unique(np.quantile(known, QUANTILES)).tolist() if len(known) else []
    edges[PROBABILITY] = np.unique(np.quantile(np.asarray(probabilities, dtype=np.float64), QUANTILES)).tolist()
    binning = Binning({k: np.asarray(v) for k, v in edges.items()}, len(preprocessor.categories))
    counted = binning.split(binning.counts(matrix, probabilities))
    shares = {name: (c / max(len(matrix), 1)).tolist() for name, c in counted.items()}
    return Reference(edges=edges, shares=shares, rows=len(matrix))


def psi(expected: np.ndarray, counts: np.ndarray) -> float:
    """Population stability index of observed `counts` against `expected` shares (same bins)."""
    actual = np.maximum(counts / max(counts.sum(), 1), SMOOTHING)
    expected = np.maximum(expected, SMOOTHING)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def status(index: float) -> Status:
    return "drift" if index >= DRIFT_PSI else "watch" if index >= WATCH_PSI else "ok"
