"""Live quality from matured predictions: the training figures' definitions (`training.evaluate`), an
AUC confidence interval by DeLong's method, and the A/B verdict on log loss."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.stats import rankdata

from ..training.evaluate import PROBABILITY_FLOOR, evaluate, expected_calibration_error

Z_95 = 1.959963984540054  # two-sided 95 %
# The alert rules' thresholds (deploy/prometheus/purchase-alerts.yaml): live AUC below this share of the
# training AUC, or live ECE above this, over at least OUTCOME_MIN_ROWS matured rows.
ALERT_AUC_RATIO = 0.9
ALERT_ECE = 0.05
Verdict = Literal["better", "worse", "not yet distinguishable"]


def delong_interval(y: np.ndarray, p: np.ndarray) -> tuple[float, float] | None:
    """The AUC's 95 % interval from DeLong's variance (Sun and Xu's fast form); None with fewer than two
    rows of either class."""
    positives, negatives = p[y == 1], p[y == 0]
    m, n = len(positives), len(negatives)
    if m < 2 or n < 2:
        return None
    within_pos, within_neg = rankdata(positives), rankdata(negatives)
    overall = rankdata(np.concatenate([positives, negatives]))
    auc = (overall[:m].sum() - m * (m + 1) / 2) / (m * n)
    v_pos = (overall[:m] - within_pos) / n
    v_neg = 1.0 - (overall[m:] - within_neg) / m
    se = float(np.sqrt(v_pos.var(ddof=1) / m + v_neg.var(ddof=1) / n))
    return max(0.0, auc - Z_95 * se), min(1.0, auc + Z_95 * se)


def quality(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Rows, observed rate, mean probability, log loss, ECE; AUC and its interval once both classes are seen."""
    clipped = np.clip(p, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    figures: dict[str, Any] = {
        "rows": len(y),
        "purchase_rate": float(y.mean()),
        "mean_probability": float(clipped.mean()),
        "auc": None,
        "auc_95": None,
    }
    if 0 < y.sum() < len(y):
        scores = evaluate(y, p)
        figures.update(auc=scores["auc"], auc_95=delong_interval(y, p), log_loss=scores["log_loss"], ece=scores["ece"])
    else:
        losses = row_log_loss(y, p)
        figures.update(log_loss=float(losses.mean()), ece=expected_calibration_error(y, clipped))
    return figures


def row_log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    return -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))


@dataclass(frozen=True)
class Comparison:
    verdict: Verdict
    difference: float | None  # candidate's mean log loss minus the primary's: below 0 is better
    interval: tuple[float, float] | None
    reason: str


def compare(
    primary: tuple[np.ndarray, np.ndarray], candidate: tuple[np.ndarray, np.ndarray], min_rows: int
) -> Comparison:
    """Welch's two-sample test at 95 % on the mean log loss per row: the arms hold disjoint users drawn
    by a hash, so each is a random sample of the same traffic."""
    rows = min(len(primary[0]), len(candidate[0]))
    if rows < min_rows:
        return Comparison(
            "not yet distinguishable", None, None, f"{rows} matured rows in the smaller arm, {min_rows} needed"
        )
    a, b = row_log_loss(*primary), row_log_loss(*candidate)
    difference = float(b.mean() - a.mean())
    se = float(np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)))
    low, high = difference - Z_95 * se, difference + Z_95 * se
    if high < 0:
        return Comparison("better", difference, (low, high), "the candidate's log loss is lower at 95 %")
    if low > 0:
        return Comparison("worse", difference, (low, high), "the candidate's log loss is higher at 95 %")
    return Comparison("not yet distinguishable", difference, (low, high), "the 95 % interval holds 0")
