"""The scoring core every path shares (the service, batch jobs, Spark): the model matrix's probabilities
from the booster, and each row's class and confidence at a threshold. Rows are checked before they get here
(purchase.schemas, jobs.rows) and turned into the matrix by `Preprocessor.transform`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xgboost as xgb

# Confidence is how far the probability sits from the threshold, as a share of the way to 0 or 1.
HIGH_CONFIDENCE_MARGIN = 0.5
MEDIUM_CONFIDENCE_MARGIN = 0.2


def score_matrix(booster: xgb.Booster, matrix: np.ndarray) -> np.ndarray:
    """P(purchase) of each row of the model matrix, as float64."""
    if not len(matrix):
        return np.empty(0)
    return np.asarray(booster.inplace_predict(matrix), dtype=np.float64)


def classes_at(probability: np.ndarray, threshold: float) -> np.ndarray:
    """1 where the probability reaches the threshold."""
    return (probability >= threshold).astype(np.int8)


def confidence(probability: Sequence[float], threshold: float) -> list[str]:
    # Plain Python: for the usual few rows numpy's per-call overhead costs more than the arithmetic.
    levels = []
    for p in probability:
        room = 1.0 - threshold if p >= threshold else threshold
        margin = abs(p - threshold) / room if room > 0 else 1.0
        levels.append(
            "high" if margin >= HIGH_CONFIDENCE_MARGIN else "medium" if margin >= MEDIUM_CONFIDENCE_MARGIN else "low"
        )
    return levels
