"""`training.evaluate`'s test-split metrics computed where the rows are: each aggregate runs on the
executors and only sums reach the driver. AUC and average precision come from one table of the
distinct scores with their (weighted) positives and negatives, in the order of the score, exactly as
scikit-learn defines them with sample weights (ties counted together)."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from ..training.evaluate import ECE_BINS, PROBABILITY_FLOOR
from .frames import one_row


def evaluate(frame: DataFrame, label: str, score: str, weight: str) -> dict[str, float]:
    """The metrics of `training.evaluate.evaluate` for the label, score and weight columns of `frame`."""
    y = F.col(label).cast("double")
    p = F.least(F.greatest(F.col(score).cast("double"), F.lit(PROBABILITY_FLOOR)), F.lit(1 - PROBABILITY_FLOOR))
    rows = frame.select(y.alias("y"), p.alias("p"), F.col(weight).cast("double").alias("w")).cache()
    w, yy, pp = F.col("w"), F.col("y"), F.col("p")
    try:
        sums = one_row(
            rows.agg(
                F.sum(w).alias("n"),
                F.sum(w * yy).alias("positives"),
                F.sum(-w * (yy * F.log(pp) + (1 - yy) * F.log(1 - pp))).alias("log_loss"),
                F.sum(w * (pp - yy) ** 2).alias("brier"),
            )
        )
        n, positives = float(sums["n"]), float(sums["positives"])
        return {
            **_ranking(rows, positives, n - positives),
            "log_loss": float(sums["log_loss"]) / n,
            "brier": float(sums["brier"]) / n,
            "ece": _calibration(rows, n),
        }
    finally:
        rows.unpersist()


def _ranking(rows: DataFrame, positives: float, negatives: float) -> dict[str, float]:
    """ROC AUC (the trapezoid under the ROC curve) and average precision (sum over thresholds of the
    recall gained times the precision there), both from the highest score down."""
    w = F.col("w")
    by_score = rows.groupBy("p").agg(F.sum(w * F.col("y")).alias("tp"), F.sum(w * (1 - F.col("y"))).alias("fp"))
    # One ordered pass over the distinct scores: at most one row per score, not per example.
    above = Window.orderBy(F.desc("p")).rowsBetween(Window.unboundedPreceding, Window.currentRow)
    curve = by_score.select(
        "tp",
        "fp",
        F.sum("tp").over(above).alias("cum_tp"),
        F.sum("fp").over(above).alias("cum_fp"),
    )
    sums = one_row(
        curve.agg(
            F.sum(F.col("fp") * (F.col("cum_tp") - F.col("tp") / 2)).alias("auc"),
            F.sum(F.col("tp") * F.col("cum_tp") / (F.col("cum_tp") + F.col("cum_fp"))).alias("ap"),
        )
    )
    return {"auc": float(sums["auc"]) / (positives * negatives), "pr_auc": float(sums["ap"]) / positives}


def _calibration(rows: DataFrame, n: float) -> float:
    w = F.col("w")
    which = F.least(F.floor(F.col("p") * ECE_BINS), F.lit(ECE_BINS - 1))
    bins = rows.groupBy(which.alias("bin")).agg(
        F.sum(w).alias("weight"), F.sum(w * F.col("y")).alias("wy"), F.sum(w * F.col("p")).alias("wp")
    )
    total = one_row(bins.agg(F.sum(F.abs(F.col("wy") - F.col("wp")))))
    return float(total[0]) / n
