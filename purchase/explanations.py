"""Why a model scored a row as it did: each feature's contribution to the score, in log-odds.

Training (global importance in the report) and serving (`POST /explain`) both call `contributions`,
so both name and group the model's columns the same way: the one-hot category columns are summed
back into `item_category`, and engineered features keep their own names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import xgboost as xgb

from .features import CATEGORY_FEATURE, ENGINEERED_FEATURES, NUMERIC_FEATURES, Preprocessor

Method = Literal["exact", "approximate"]
# The features an explanation names, in model order, the category last.
EXPLAINED_FEATURES: tuple[str, ...] = (*NUMERIC_FEATURES, *ENGINEERED_FEATURES, CATEGORY_FEATURE)


@dataclass(frozen=True)
class Contributions:
    """Per row: `base` + the sum of `values` is the model's logit (its margin) for that row."""

    base: np.ndarray  # (rows,)
    values: np.ndarray  # (rows, len(EXPLAINED_FEATURES))

    @property
    def logits(self) -> np.ndarray:
        return self.base + self.values.sum(axis=1)


def contributions(
    booster: xgb.Booster, preprocessor: Preprocessor, matrix: np.ndarray, method: Method = "exact"
) -> Contributions:
    """Exact: TreeSHAP (consistent attributions). Approximate: each split's change in the expected
    score credited to its feature (Saabas), about the cost of a prediction; both sum to the logit."""
    data = xgb.DMatrix(matrix, feature_names=preprocessor.feature_names)
    raw = booster.predict(data, pred_contribs=True, approx_contribs=method == "approximate").astype(np.float64)
    raw = raw.reshape(len(matrix), -1)  # (rows, columns + 1): the last column is the base value
    named = len(NUMERIC_FEATURES) + len(ENGINEERED_FEATURES)
    values = np.empty((len(matrix), len(EXPLAINED_FEATURES)))
    values[:, :named] = raw[:, :named]
    values[:, named] = raw[:, named:-1].sum(axis=1)  # every category column: one feature, item_category
    return Contributions(base=raw[:, -1], values=values)


def mean_absolute(found: Contributions) -> dict[str, float]:
    """Global importance: each feature's mean |contribution| over the rows, largest first."""
    means = np.abs(found.values).mean(axis=0) if len(found.values) else np.zeros(len(EXPLAINED_FEATURES))
    order = np.argsort(-means, kind="stable")
    return {EXPLAINED_FEATURES[i]: float(means[i]) for i in order}
