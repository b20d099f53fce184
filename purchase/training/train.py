"""Training: examples → time-based split → XGBoost with early stopping, a logistic-regression
baseline and (on synthetic data) the oracle, all scored on the same test split."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..drift import reference_of
from ..features import CATEGORY_FEATURE, Preprocessor
from ..segments import SEGMENTS, segment_codes
from . import events, synthetic
from .evaluate import evaluate, format_segments, segment_quality
from .evaluation import Evaluation, measure
from .sampling import Sampling, segment_weights

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 42
    horizon_days: int = 7  # label: purchased within the next N days
    warmup_days: int = 28  # history before the first as-of time
    step_days: int = 7  # between as-of times
    n_users: int = 1500  # synthetic data only
    n_days: int = 77  # synthetic data only
    max_rounds: int = 400
    early_stopping_rounds: int = 30
    max_depth: int = 6
    learning_rate: float = 0.1
    min_category_count: int = 20
    # The population beyond the viewed pairs (`sampling`), and each segment's share of the requests the
    # model will answer (viewed, unviewed, new_user): the rows' weights in training and overall metrics.
    unviewed_per_user: int = 10
    new_user_items: int = 40
    segment_shares: tuple[float, float, float] = (0.5, 0.3, 0.2)

    @property
    def sampling(self) -> Sampling:
        return Sampling(self.seed, self.unviewed_per_user, self.new_user_items)


@dataclass
class Dataset:
    examples: pd.DataFrame
    source: str
    oracle: Callable[[pd.DataFrame], np.ndarray] | None = None


@dataclass
class TrainResult:
    booster: xgb.Booster
    preprocessor: Preprocessor
    metrics: dict[str, dict[str, float]]
    evaluation: Evaluation  # the test split's labels, scores and importance: what the report draws
    metadata: dict[str, Any] = field(default_factory=dict)


def load_dataset(config: TrainConfig, events_path: Path | None, progress: Progress = print) -> Dataset:
    """Examples from a real event log when given one, else from a freshly generated synthetic log."""
    if events_path is not None:
        progress(f"reading event log {events_path}")
        log, source, oracle = events.read_events(events_path), f"events:{events_path.name}", None
    else:
        progress(f"generating synthetic event log (seed {config.seed}, {config.n_users} users, {config.n_days} days)")
        generated = synthetic.generate(n_users=config.n_users, n_days=config.n_days, seed=config.seed)
        log, source = generated.events, "synthetic"

        def oracle(frame: pd.DataFrame) -> np.ndarray:
            return generated.oracle(
                frame["user_id"].to_numpy(), frame["item_id"].to_numpy(), frame["as_of"], config.horizon_days
            )

    times = events.snapshot_times(log, config.warmup_days, config.horizon_days, config.step_days)
    check_split_times(times)
    progress(f"{len(log):,} events; deriving features at {len(times)} as-of times")
    return Dataset(events.build_examples(log, times, config.horizon_days, config.sampling), source, oracle)


def check_split_times(times: Sequence[object]) -> None:
    """The time split needs three as-of times; checked before the examples are derived, too."""
    if len(times) < 3:
        raise ValueError(
            f"{len(times)} as-of times, and the time split needs 3 (train, validation, test): "
            "lower --warmup-days or --horizon-days, or give a longer log"
        )


def validation_time(times: Iterable[Any]) -> Any:
    """The time split, for both engines: the last as-of time → test, the one before (returned) →
    validation, the earlier ones → train."""
    ordered = sorted(set(times))
    check_split_times(ordered)
    return ordered[-2]


def split_by_time(examples: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    cut = validation_time(examples["as_of"].unique())
    as_of = examples["as_of"]
    return examples[as_of < cut], examples[as_of == cut], examples[as_of > cut]


def booster_params(config: TrainConfig) -> dict[str, Any]:
    """XGBoost's parameters, the same for the pandas and the Spark path."""
    return {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "tree_method": "hist",
        "max_depth": config.max_depth,
        "learning_rate": config.learning_rate,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "seed": config.seed,
    }


def fingerprint(frame: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()[:16]


def weighted(frame: pd.DataFrame, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """The rows' segment codes and weights."""
    codes = segment_codes(frame)
    return codes, segment_weights(codes, frame["as_of"].to_numpy(), config.segment_shares)


def fit(dataset: Dataset, config: TrainConfig, progress: Progress = print) -> TrainResult:
    train, val, test = split_by_time(dataset.examples)
    progress(f"split by time: train {len(train):,}, validation {len(val):,}, test {len(test):,} rows")
    preprocessor = Preprocessor.fit(train[CATEGORY_FEATURE].tolist(), min_count=config.min_category_count)
    x_train, x_val, x_test = (preprocessor.transform(frame) for frame in (train, val, test))
    y_train, y_val, y_test = (frame["label"].to_numpy() for frame in (train, val, test))
    (_, w_train), (_, w_val), (codes_test, w_test) = (weighted(frame, config) for frame in (train, val, test))

    params = {**booster_params(config), "nthread": os.cpu_count() or 1}
    progress(
        f"training XGBoost (up to {config.max_rounds} rounds, early stopping after {config.early_stopping_rounds})"
    )
    names = preprocessor.feature_names
    dtrain = xgb.DMatrix(x_train, label=y_train, weight=w_train, feature_names=names)
    dval = xgb.DMatrix(x_val, label=y_val, weight=w_val, feature_names=names)
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=config.max_rounds,
        evals=[(dval, "validation")],
        early_stopping_rounds=config.early_stopping_rounds,
        verbose_eval=False,
    )
    best_rounds = booster.best_iteration + 1
    booster = booster[:best_rounds]  # serve exactly the early-stopped model
    progress(f"best round {best_rounds}; fitting the logistic-regression baseline")

    baseline = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=2000))
    baseline.fit(x_train, y_train, logisticregression__sample_weight=w_train)

    scores = {"xgboost": booster.inplace_predict(x_test), "logistic_regression": baseline.predict_proba(x_test)[:, 1]}
    if dataset.oracle is not None:
        scores["oracle"] = dataset.oracle(test)
    metrics = {name: evaluate(y_test, p, w_test) for name, p in scores.items()}
    segments = segment_quality(y_test, scores, codes_test, w_test)
    progress("test split by segment:\n" + format_segments(segments))
    report_missing_segments(segments, progress)
    progress("global feature importance: exact contributions on the test split")
    evaluation = measure(y_test, scores, booster, preprocessor, x_test, config.seed, codes_test, w_test)

    metadata = describe(
        booster,
        preprocessor,
        metrics,
        x_train,
        source=dataset.source,
        fingerprint=fingerprint(dataset.examples),
        rows={"train": len(train), "validation": len(val), "test": len(test)},
        positive_rate_test=float(y_test.mean()),
        config=asdict(config),
        segments=segments,
    )
    return TrainResult(booster, preprocessor, metrics, evaluation, metadata)


def report_missing_segments(segments: dict[str, Any], progress: Progress) -> None:
    """One line per segment the test split has no rows of: a log too small to sample it."""
    for segment in SEGMENTS:
        if segment.value not in segments:
            progress(f"{segment.value}: no rows in the test split (the log is too small to sample it): not evaluated")


def describe(
    booster: xgb.Booster,
    preprocessor: Preprocessor,
    metrics: dict[str, dict[str, float]],
    x_train: np.ndarray,
    *,
    source: str,
    fingerprint: str,
    rows: dict[str, int],
    positive_rate_test: float,
    config: dict[str, Any],
    segments: dict[str, dict[str, Any]],
    packages: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A version's metadata in the store, whichever engine trained it; `x_train`: the training matrix
    (or, on Spark, a sample of it) that /drift's reference bins are drawn from."""
    return {
        "metrics": metrics,
        "segments": segments,  # the test split's quality per segment and overall (`evaluate.segment_quality`)
        "feature_names": preprocessor.feature_names,
        "categories": list(preprocessor.categories),
        "data_source": source,
        "data_fingerprint": fingerprint,
        "rows": rows,
        "positive_rate_test": positive_rate_test,
        "best_rounds": booster.num_boosted_rounds(),
        # What /drift compares traffic with: the training split's bins (purchase.drift).
        "drift_reference": reference_of(preprocessor, x_train, booster.inplace_predict(x_train)).model_dump(),
        "config": config,
        "library_versions": {
            "xgboost": xgb.__version__,
            **{pkg: version(pkg) for pkg in ("bentoml", "scikit-learn", "numpy", "pandas", *packages)},
        },
    }
