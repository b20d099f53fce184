"""POST /explain: each row explained by the version that scores it in /predict (the same A/B routing),
its contributions sorted largest first."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from ...explanations import EXPLAINED_FEATURES, Method
from ...features import CATEGORY_FEATURE, NUMERIC_FEATURES
from ...schemas import FeatureRow, PredictRequest
from .. import metrics
from .manager import ModelManager
from .scoring import feature_columns, subset

ENGINEERED_FROM = len(NUMERIC_FEATURES)  # the engineered features' first column in the model matrix


class Explainer:
    def __init__(self, manager: ModelManager, default_threshold: float) -> None:
        self.manager = manager
        self.default_threshold = default_threshold

    async def explain(self, request: PredictRequest, method: Method, top_k: int | None) -> list[dict[str, Any]]:
        """ExplainResponse's `explanations` as plain dicts: a hundred rows of pydantic models, built and
        validated again on the way out, cost more than the contributions themselves."""
        routing = self.manager.require()
        rows = request.features
        threshold = self.default_threshold if request.threshold is None else request.threshold
        columns = feature_columns(rows)
        groups = routing.assign([row.user_id for row in rows])
        results = await asyncio.gather(*(model.explain(subset(columns, idx), method) for model, _, idx in groups))
        explanations: list[dict[str, Any]] = [{}] * len(rows)
        for (model, _, idx), explained in zip(groups, results):
            metrics.record_explained(model.version, method, len(idx))
            found = explained.contributions
            for k, i in enumerate(idx.tolist()):
                explanations[i] = {
                    "user_id": rows[i].user_id,
                    "item_id": rows[i].item_id,
                    "prediction": int(explained.probabilities[k] >= threshold),
                    "probability": float(explained.probabilities[k]),
                    "model_version": model.version,
                    "base_value": float(found.base[k]),
                    "contributions": _largest(rows[i], explained.matrix[k], found.values[k], top_k),
                }
        return explanations


def _largest(row: FeatureRow, matrix_row: np.ndarray, values: np.ndarray, top_k: int | None) -> list[dict[str, Any]]:
    """ExplainResponse's Contribution, largest |contribution| first."""
    order = np.argsort(-np.abs(values), kind="stable")[:top_k].tolist()
    contributions = values.tolist()
    return [
        {"feature": EXPLAINED_FEATURES[j], "value": _seen(row, matrix_row, j), "contribution": contributions[j]}
        for j in order
    ]


def _seen(row: FeatureRow, matrix_row: np.ndarray, j: int) -> float | str | None:
    """The request's own value for an input (not its float32 copy), the computed one for an engineered feature."""
    name = EXPLAINED_FEATURES[j]
    if j < ENGINEERED_FROM or name == CATEGORY_FEATURE:
        value: float | str | None = getattr(row, name)
        return value
    engineered = float(matrix_row[j])
    return None if np.isnan(engineered) else engineered
