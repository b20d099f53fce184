"""Test-split metrics for probabilistic classifiers, and the comparison table training prints."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

METRICS: tuple[str, ...] = ("auc", "pr_auc", "log_loss", "brier", "ece")
ECE_BINS = 10
PROBABILITY_FLOOR = 1e-7  # scores are clipped to [floor, 1 - floor]: log loss stays finite


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """Mean |observed rate - mean prediction| over equal-width probability bins, weighted by bin size."""
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(y[mask].mean() - p[mask].mean())
    return float(total / len(y))


def evaluate(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    p = np.clip(p, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    return {
        "auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
    }


def format_table(results: dict[str, dict[str, float]]) -> str:
    header = f"{'model':<22}" + "".join(f"{m:>10}" for m in METRICS)
    lines = [header, "-" * len(header)]
    lines += [f"{name:<22}" + "".join(f"{scores[m]:>10.4f}" for m in METRICS) for name, scores in results.items()]
    return "\n".join(lines)
