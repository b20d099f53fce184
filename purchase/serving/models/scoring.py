"""Scoring a /predict request: the rows go to the version their user is routed to (A/B), a shadow
version scores them too without touching the answer, and each row gets its class and confidence."""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...errors import PurchaseError
from ...features import CATEGORY_FEATURE, NUMERIC_FEATURES
from ...schemas import FeatureRow, PredictRequest
from ...scoring import classes_at, confidence
from ...segments import segment_codes
from .. import metrics
from ..background import Background
from .manager import ModelManager
from .traffic import Routing
from .version import ServingModel

MODEL_INPUTS = (*NUMERIC_FEATURES, CATEGORY_FEATURE)
_model_inputs_of = operator.attrgetter(*MODEL_INPUTS)


def feature_columns(rows: Sequence[FeatureRow]) -> dict[str, Sequence[object]]:
    """Validated request rows → the columns `Preprocessor.transform` takes (None stays missing)."""
    return dict(zip(MODEL_INPUTS, zip(*map(_model_inputs_of, rows))))


def subset(columns: dict[str, Sequence[object]], rows: np.ndarray) -> dict[str, Sequence[object]]:
    return {name: [values[i] for i in rows] for name, values in columns.items()}


@dataclass(frozen=True)
class Scored:
    """A scored request, row for row in the request's order."""

    rows: Sequence[FeatureRow]
    probabilities: list[float]
    classes: list[int]
    confidence: list[str]
    model_version: str  # the version that scored every row, or the primary's when two did
    row_versions: list[str] | None  # during an A/B test only: the version of each row
    segments: np.ndarray  # each row's index in `segments.SEGMENTS`


class Scorer:
    def __init__(self, manager: ModelManager, default_threshold: float) -> None:
        self.manager = manager
        self.default_threshold = default_threshold
        self._background: Background = manager.background

    async def predict(self, request: PredictRequest, version: str | None = None) -> Scored:
        """Rows routed as the fleet's target says, or all to `version` (one this worker serves)."""
        routing = self.manager.require()
        if version is not None:
            routing = routing.pinned(version)
        rows = request.features
        threshold = self.default_threshold if request.threshold is None else request.threshold
        columns = feature_columns(rows)
        segments = segment_codes(columns)
        row_versions: list[str] | None = None
        if routing.candidate is None:
            probabilities = await routing.primary.score(columns)
            metrics.record_scored(routing.primary.version, "primary", probabilities, threshold, segments)
        else:
            probabilities, row_versions = await self._split(routing, rows, columns, threshold, segments)
        classes = classes_at(probabilities, threshold)
        if routing.shadow is not None:
            self._background.spawn(self._shadow(routing.shadow, columns, classes, threshold))
        as_list = probabilities.tolist()
        model_version = routing.primary.version
        if row_versions is not None and len(set(row_versions)) == 1:
            model_version = row_versions[0]
        levels = confidence(as_list, threshold)
        return Scored(rows, as_list, classes.tolist(), levels, model_version, row_versions, segments)

    async def _split(
        self,
        routing: Routing,
        rows: Sequence[FeatureRow],
        columns: dict[str, Sequence[object]],
        threshold: float,
        segments: np.ndarray,
    ) -> tuple[np.ndarray, list[str]]:
        """A/B: each user's rows go to the candidate when the user's bucket falls in its share."""
        probabilities = np.empty(len(rows))
        versions = [""] * len(rows)
        groups = routing.assign([row.user_id for row in rows])
        scores = await asyncio.gather(*(m.score(subset(columns, idx)) for m, _, idx in groups))
        for (model, role, idx), p in zip(groups, scores):
            probabilities[idx] = p
            for i in idx:
                versions[i] = model.version
            metrics.record_scored(model.version, role, p, threshold, segments[idx])
        return probabilities, versions

    async def _shadow(
        self, shadow: ServingModel, columns: dict[str, Sequence[object]], answered: np.ndarray, threshold: float
    ) -> None:
        """Score the same rows with the shadow version; record agreement, never touch the response."""
        try:
            probabilities = await shadow.score(columns)
        except PurchaseError:
            return  # a shadow's failure or overload is its own business
        classes = metrics.record_scored(shadow.version, "shadow", probabilities, threshold)
        metrics.record_shadow(shadow.version, int((classes == answered).sum()), len(classes))
