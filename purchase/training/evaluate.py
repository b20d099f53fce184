"""Test-split metrics for probabilistic classifiers, overall and per segment, and the tables training
prints. Weights are the rows' segment weights: the overall figures are those of the serving mix."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from ..segments import SEGMENTS, quality_rows

METRICS: tuple[str, ...] = ("auc", "pr_auc", "log_loss", "brier", "ece")
OVERALL = "overall"
ECE_BINS = 10
PROBABILITY_FLOOR = 1e-7  # scores are clipped to [floor, 1 - floor]: log loss stays finite


def expected_calibration_error(
    y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS, weights: np.ndarray | None = None
) -> float:
    """Mean |observed rate - mean prediction| over equal-width probability bins, weighted by bin weight."""
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            weight = w[mask].sum()
            total += weight * abs(np.average(y[mask], weights=w[mask]) - np.average(p[mask], weights=w[mask]))
    return float(total / w.sum())


def evaluate(y: np.ndarray, p: np.ndarray, weights: np.ndarray | None = None) -> dict[str, float]:
    p = np.clip(p, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    return {
        "auc": float(roc_auc_score(y, p, sample_weight=weights)),
        "pr_auc": float(average_precision_score(y, p, sample_weight=weights)),
        "log_loss": float(log_loss(y, p, labels=[0, 1], sample_weight=weights)),
        "brier": float(brier_score_loss(y, p, sample_weight=weights)),
        "ece": expected_calibration_error(y, p, weights=weights),
    }


def segment_quality(
    y: np.ndarray, scores: dict[str, np.ndarray], codes: np.ndarray, weights: np.ndarray
) -> dict[str, dict[str, Any]]:
    """For each segment and overall (weighted): rows, the observed purchase rate and, per model, the mean
    probability, AUC (left out with one class only: the segment is not evaluated on ranking), log loss
    and ECE. A segment without rows is left out."""
    out: dict[str, dict[str, Any]] = {}
    parts: list[tuple[str, np.ndarray, np.ndarray | None]] = [(OVERALL, np.ones(len(y), dtype=bool), weights)]
    parts += [(segment.value, codes == k, None) for k, segment in enumerate(SEGMENTS)]
    for name, mask, w in parts:
        if not mask.any():
            continue
        labels, ws = y[mask], None if w is None else w[mask]
        entry: dict[str, Any] = {"rows": int(mask.sum()), "purchase_rate": float(np.average(labels, weights=ws))}
        for model, p in scores.items():
            clipped = np.clip(p[mask], PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
            figures = {
                "mean_probability": float(np.average(clipped, weights=ws)),
                "log_loss": float(log_loss(labels, clipped, labels=[0, 1], sample_weight=ws)),
                "ece": expected_calibration_error(labels, clipped, weights=ws),
            }
            if 0 < labels.sum() < len(labels):  # else no AUC: the key is left out (metadata holds no None)
                figures["auc"] = float(roc_auc_score(labels, clipped, sample_weight=ws))
            entry[model] = figures
        out[name] = entry
    return out


def format_table(results: dict[str, dict[str, float]]) -> str:
    header = f"{'model':<22}" + "".join(f"{m:>10}" for m in METRICS)
    lines = [header, "-" * len(header)]
    lines += [f"{name:<22}" + "".join(f"{scores[m]:>10.4f}" for m in METRICS) for name, scores in results.items()]
    return "\n".join(lines)


def format_segments(quality: dict[str, dict[str, Any]]) -> str:
    """XGBoost's quality by segment as the training command prints it."""
    header, rows = quality_rows(quality)
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    lines = [
        "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        for row in [header, *rows]
    ]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])
