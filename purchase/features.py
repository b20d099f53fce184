"""The feature contract: names, order, types, categories, and the one transform to the model matrix.

Training and serving both call `Preprocessor.transform`, so the matrix a model is trained on and
the matrix it scores in production are built by the same code.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

# Request features the spec defines, in model order. Counts are integers, the rest floats.
COUNT_FEATURES: tuple[str, ...] = (
    "view_count_7d",
    "view_count_30d",
    "cart_count_7d",
    "cart_count_30d",
    "purchase_count_7d",
    "purchase_count_30d",
    "session_item_count",
    "item_view_count",
    "item_cart_count",
)
BEHAVIOUR_FEATURES: tuple[str, ...] = (
    "days_since_last_view",
    "days_since_last_item_view",
    *COUNT_FEATURES,
    "cart_to_purchase_ratio",
    "avg_session_duration",
    "session_duration_minutes",
)
PRICE_FEATURES: tuple[str, ...] = ("item_price", "item_base_price", "item_discount_pct")
NUMERIC_FEATURES: tuple[str, ...] = BEHAVIOUR_FEATURES + PRICE_FEATURES
CATEGORY_FEATURE = "item_category"
ID_FIELDS: tuple[str, ...] = ("user_id", "item_id")
# What a request must carry. A behaviour feature may be missing: a count left out is 0 (no events are
# known), the others reach the model as NaN.
REQUIRED_FEATURES: tuple[str, ...] = (*PRICE_FEATURES, CATEGORY_FEATURE)

_COUNT_ROWS = [NUMERIC_FEATURES.index(name) for name in COUNT_FEATURES]

ENGINEERED_FEATURES: tuple[str, ...] = (
    "price_ratio",  # item_price / item_base_price
    "log_item_price",
    "recent_view_share",  # view_count_7d / view_count_30d
    "cart_rate_30d",  # cart_count_30d / view_count_30d
    "item_view_share_30d",  # item_view_count / view_count_30d
)


def normalize_category(value: str) -> str:
    """Categories match case- and space-insensitively ("Electronics" == "electronics ")."""
    return value.strip().casefold()


@dataclass(frozen=True)
class Preprocessor:
    """Raw request features → float32 model matrix. Fitted state: the known categories only.

    A category unseen in training one-hot encodes to all zeros; a missing count is 0, as it is for a pair
    without events; other missing numbers stay NaN, which XGBoost routes down each split's default branch.
    """

    categories: tuple[str, ...]

    @classmethod
    def fit(cls, categories: Sequence[str], min_count: int = 1) -> Preprocessor:
        return cls.fit_counts(Counter(categories), min_count)

    @classmethod
    def fit_counts(cls, counts: Mapping[str, int], min_count: int = 1) -> Preprocessor:
        """From each category's row count, as Spark counts them where the rows are."""
        merged: Counter[str] = Counter()
        for category, n in counts.items():
            merged[normalize_category(category)] += n
        return cls(categories=tuple(sorted(c for c, n in merged.items() if n >= min_count)))

    @property
    def feature_names(self) -> list[str]:
        return [*NUMERIC_FEATURES, *ENGINEERED_FEATURES, *(f"category={c}" for c in self.categories)]

    @property
    def num_features(self) -> int:
        return len(NUMERIC_FEATURES) + len(ENGINEERED_FEATURES) + len(self.categories)

    @functools.cached_property
    def _category_columns(self) -> dict[str, int]:
        """Each known category's one-hot column, computed once per loaded model."""
        first = len(NUMERIC_FEATURES) + len(ENGINEERED_FEATURES)
        return {category: first + k for k, category in enumerate(self.categories)}

    def transform(self, columns: Mapping[str, Sequence[Any] | np.ndarray]) -> np.ndarray:
        """Build the matrix from columns keyed by feature name; None or a missing column is missing."""
        n = len(columns[CATEGORY_FEATURE])
        missing = [None] * n
        # One conversion for all numeric columns: per-column calls dominated the cost of small requests.
        raw = np.array([columns.get(name, missing) for name in NUMERIC_FEATURES], dtype=np.float64)
        counts = raw[_COUNT_ROWS]
        raw[_COUNT_ROWS] = np.where(np.isnan(counts), 0.0, counts)
        f = dict(zip(NUMERIC_FEATURES, raw))
        with np.errstate(divide="ignore", invalid="ignore"):
            engineered = np.stack(
                (
                    f["item_price"] / f["item_base_price"],
                    np.log1p(f["item_price"]),
                    f["view_count_7d"] / f["view_count_30d"],
                    f["cart_count_30d"] / f["view_count_30d"],
                    f["item_view_count"] / f["view_count_30d"],
                )
            )
        engineered[~np.isfinite(engineered)] = np.nan  # 0/0 and x/0 carry no information: missing, not infinite
        out = np.zeros((n, self.num_features), dtype=np.float32)
        base = len(NUMERIC_FEATURES)
        out[:, :base] = raw.T
        out[:, base : base + len(ENGINEERED_FEATURES)] = engineered.T
        index = self._category_columns
        categories = columns[CATEGORY_FEATURE]
        column_of = {c: index.get(normalize_category(c)) for c in set(categories)}  # few distinct in many rows
        known = [(i, j) for i, j in enumerate(map(column_of.__getitem__, categories)) if j is not None]
        if known:
            out[tuple(zip(*known))] = 1.0
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"categories": list(self.categories), "feature_names": self.feature_names}

    @classmethod
    def from_dict(cls, data: object) -> Preprocessor:
        """From stored metadata, checked as a schema (it may come from any archive): ValueError if wrong."""
        stored = StoredPreprocessor.model_validate(data)
        pre = cls(categories=tuple(stored.categories))
        if stored.feature_names is not None and stored.feature_names != pre.feature_names:
            raise ValueError("the model's feature order does not match this service's feature contract")
        return pre


class StoredPreprocessor(BaseModel):
    """The preprocessor as a model's metadata stores it."""

    model_config = ConfigDict(strict=True)

    categories: list[str]
    feature_names: list[str] | None = None
