"""Training on Spark: the time split and the preprocessor as the pandas path has them, XGBoost's own
Spark estimator with early stopping on the validation split, Spark ML's logistic regression as the
baseline, and the metrics computed on the executors. What reaches the driver is bounded: category
counts, aggregates, and fixed-size samples for the report's evidence and /drift's reference bins."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.ml import Pipeline
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import Imputer, StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from xgboost.spark import SparkXGBClassifier

from ..features import CATEGORY_FEATURE, Preprocessor
from ..training.evaluate import format_segments, segment_quality
from ..training.evaluation import measure
from ..training.train import (
    Progress,
    TrainConfig,
    TrainResult,
    booster_params,
    describe,
    report_missing_segments,
    validation_time,
)
from .frames import one_row
from .matrix import MatrixColumns, model_matrix, with_probabilities
from .metrics import evaluate
from .segments import with_weights

EVIDENCE_ROWS = 200_000  # test rows drawn for the report (its curves and histograms) and the importance
DRIFT_ROWS = 200_000  # training rows drawn for /drift's reference bins (deciles)


def fit(examples: DataFrame, config: TrainConfig, source: str, workers: int, progress: Progress) -> TrainResult:
    examples = examples.persist(StorageLevel.MEMORY_AND_DISK)
    cut = F.lit(validation_time(row.as_of for row in examples.select("as_of").distinct().collect()))
    split = F.when(F.col("as_of") < cut, "train").when(F.col("as_of") == cut, "validation").otherwise("test")
    examples = with_weights(examples.withColumn("split", split), config.segment_shares)
    sizes = {row.split: int(row["count"]) for row in examples.groupBy("split").count().collect()}
    rows = {name: sizes.get(name, 0) for name in ("train", "validation", "test")}
    progress(f"split by time: train {rows['train']:,}, validation {rows['validation']:,}, test {rows['test']:,} rows")

    counts = examples.where(F.col("split") == "train").groupBy(CATEGORY_FEATURE).count().collect()
    preprocessor = Preprocessor.fit_counts({r[0]: int(r[1]) for r in counts}, min_count=config.min_category_count)
    columns = MatrixColumns.of(preprocessor)
    matrix = model_matrix(examples, preprocessor, keep=("label", "split", "segment", "weight")).persist(
        StorageLevel.MEMORY_AND_DISK
    )

    progress(
        f"training XGBoost on Spark with {workers} workers "
        f"(up to {config.max_rounds} rounds, early stopping after {config.early_stopping_rounds})"
    )
    params = {k: v for k, v in booster_params(config).items() if k != "objective"}  # the estimator sets it
    estimator = SparkXGBClassifier(
        features_col=list(columns.features),
        label_col="label",
        weight_col="weight",
        validation_indicator_col="is_validation",
        n_estimators=config.max_rounds,
        early_stopping_rounds=config.early_stopping_rounds,
        num_workers=workers,
        verbose=False,  # no log line per round
        **params,
    )
    fitting = matrix.where(F.col("split") != "test").withColumn("is_validation", F.col("split") == "validation")
    booster = estimator.fit(fitting).get_booster()
    best_rounds = booster.best_iteration + 1
    booster = booster[:best_rounds]  # serve exactly the early-stopped model
    booster.feature_names = preprocessor.feature_names
    progress(f"best round {best_rounds}; fitting the logistic-regression baseline")

    baseline = _baseline(columns, rows["train"]).fit(matrix.where(F.col("split") == "train"))
    test = matrix.where(F.col("split") == "test")
    scored = baseline.transform(with_probabilities(test, booster, columns, "xgboost")).select(
        "label",
        "segment",
        "weight",
        *columns.features,
        "xgboost",
        vector_to_array(F.col("probability"))[1].alias("logistic_regression"),
    )
    scored = scored.persist(StorageLevel.MEMORY_AND_DISK)
    metrics = {name: evaluate(scored, "label", name, "weight") for name in ("xgboost", "logistic_regression")}
    progress("global feature importance: exact contributions on a sample of the test split")
    evidence = _sample(scored, EVIDENCE_ROWS, rows["test"], config.seed)
    labels, codes, weights = (evidence[name].to_numpy() for name in ("label", "segment", "weight"))
    scores = {name: evidence[name].to_numpy() for name in ("xgboost", "logistic_regression")}
    segments = segment_quality(labels, scores, codes, weights)  # on the evidence: all test rows, or a sample
    progress("test split by segment:\n" + format_segments(segments))
    report_missing_segments(segments, progress)
    matrix_rows = evidence[list(columns.features)].to_numpy(np.float32)
    evaluation = measure(labels, scores, booster, preprocessor, matrix_rows, config.seed, codes, weights)
    drift_rows = _sample(matrix.where(F.col("split") == "train"), DRIFT_ROWS, rows["train"], config.seed)
    positives = one_row(test.agg(F.avg("label")))[0]
    metadata = describe(
        booster,
        preprocessor,
        metrics,
        drift_rows[list(columns.features)].to_numpy(np.float32),
        source=source,
        fingerprint=_fingerprint(examples),
        rows=rows,
        positive_rate_test=float(positives),
        config={**asdict(config), "engine": "spark", "workers": workers},
        segments=segments,
        packages=("pyspark",),
    )
    for frame in (scored, matrix, examples):
        frame.unpersist()
    return TrainResult(booster, preprocessor, metrics, evaluation, metadata)


def _baseline(columns: MatrixColumns, train_rows: int) -> Pipeline:
    """scikit-learn's baseline of the pandas path in Spark ML: median imputation, standard scaling, and
    logistic regression with the same L2 penalty (scikit-learn's C = 1 is regParam = 1 / rows here)."""
    imputed = [f"{name}_imputed" for name in columns.features]
    return Pipeline(
        stages=[
            Imputer(inputCols=list(columns.features), outputCols=imputed, strategy="median"),
            VectorAssembler(inputCols=imputed, outputCol="assembled", handleInvalid="keep"),
            StandardScaler(inputCol="assembled", outputCol="scaled", withMean=True, withStd=True),
            LogisticRegression(
                featuresCol="scaled",
                labelCol="label",
                weightCol="weight",
                regParam=1.0 / max(train_rows, 1),
                standardization=False,
            ),
        ]
    )


def _sample(frame: DataFrame, wanted: int, rows: int, seed: int) -> pd.DataFrame:
    """At most about `wanted` rows, drawn with the training seed; all of them when there are fewer."""
    fraction = min(1.0, wanted / max(rows, 1))
    sampled = frame if fraction >= 1.0 else frame.sample(fraction=fraction, seed=seed)
    return sampled.limit(wanted).toPandas()


def _fingerprint(examples: DataFrame) -> str:
    """Of the examples as a set of rows (Spark has no row order): xor of each row's 64-bit hash."""
    hashed: Any = one_row(examples.agg(F.bit_xor(F.xxhash64(*examples.columns))))[0]
    return f"{int(hashed) & (2**64 - 1):016x}"
