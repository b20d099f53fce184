"""One chunk of a job scored: rows checked as /predict checks them, features left out filled from the
online store as of the job's time, then the service's transform and scoring core (purchase.scoring)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import xgboost as xgb

from ..features import BEHAVIOUR_FEATURES, CATEGORY_FEATURE, ID_FIELDS, NUMERIC_FEATURES, PRICE_FEATURES, Preprocessor
from ..online.filling import FeatureFiller, Source
from ..schemas import SparseFeatureRow, StorePredictRequest
from ..scoring import classes_at, confidence, score_matrix
from ..segments import matrix_segment_codes
from .files import ERRORS_SCHEMA, RESULT_SCHEMA
from .inputs import Chunk
from .rows import check

HISTOGRAM_BINS = 10


class StoreFailed(Exception):
    """The online store could not be reached: the chunk's features cannot be completed."""


@dataclass
class Model:
    booster: xgb.Booster
    preprocessor: Preprocessor
    threshold: float
    as_of: float
    filler: FeatureFiller | None  # None: online features off, every model input must be in the file
    required: Collection[str]


@dataclass(frozen=True)
class ScoredChunk:
    results: pa.Table
    refused: pa.Table
    probabilities: np.ndarray
    segments: np.ndarray  # each scored row's index in segments.SEGMENTS


async def score_chunk(chunk: Chunk, model: Model) -> ScoredChunk:
    checked = check(chunk.columns, chunk.size, chunk.text, model.required)
    refused = {**checked.refused, **chunk.refused}  # unreadable rows: their own reason first
    keep = np.array([i for i in range(chunk.size) if i not in refused], dtype=np.int64)
    columns = {name: checked.numbers[name][keep] for name in NUMERIC_FEATURES}
    columns |= {name: checked.strings[name][keep] for name in (*ID_FIELDS, CATEGORY_FEATURE)}
    if model.filler is not None:
        unfilled = await _fill(columns, model)
        refused |= {int(keep[i]): reason for i, reason in unfilled.items()}
        kept = np.array([i for i in range(len(keep)) if i not in unfilled], dtype=np.int64)
        keep = keep[kept]
        columns = {name: values[kept] for name, values in columns.items()}
    columns[CATEGORY_FEATURE][columns[CATEGORY_FEATURE] == None] = ""  # noqa: E711  (missing: no category set)
    matrix = model.preprocessor.transform(columns)
    probabilities = score_matrix(model.booster, matrix)
    results = pa.Table.from_arrays(
        [
            pa.array(chunk.start + keep),
            pa.array(columns["user_id"], pa.string(), from_pandas=True),
            pa.array(columns["item_id"], pa.string(), from_pandas=True),
            pa.array(classes_at(probabilities, model.threshold)),
            pa.array(probabilities),
            pa.array(confidence(probabilities.tolist(), model.threshold), pa.string()),
        ],
        schema=RESULT_SCHEMA,
    )
    refused_rows = _refused_table(chunk, checked.strings, refused)
    return ScoredChunk(results, refused_rows, probabilities, matrix_segment_codes(matrix))


async def _fill(columns: dict[str, np.ndarray], model: Model) -> dict[int, str]:
    """Features the file left empty, from the store (the filler /predict uses); the rows it cannot complete."""
    assert model.filler is not None
    missing = np.fromiter((c is None for c in columns[CATEGORY_FEATURE]), bool, len(columns[CATEGORY_FEATURE]))
    for name in (*BEHAVIOUR_FEATURES, *PRICE_FEATURES):
        missing |= np.isnan(columns[name])
    gaps = np.flatnonzero(missing).tolist()
    if not gaps:
        return {}
    names = (*ID_FIELDS, *NUMERIC_FEATURES, CATEGORY_FEATURE)
    rows = []
    for i in gaps:
        given: dict[str, Any] = {
            name: columns[name][i]
            for name in names
            if columns[name][i] is not None and columns[name][i] == columns[name][i]
        }
        rows.append(SparseFeatureRow.model_construct(set(given), **given))
    request = StorePredictRequest.model_construct(
        features=rows, as_of=datetime.fromtimestamp(model.as_of, UTC), threshold=None, return_probabilities=True
    )
    unfilled: dict[int, str] = {}
    completed, source = await model.filler.complete(request, unfilled)
    if source is Source.UNAVAILABLE:
        raise StoreFailed("the online feature store could not be reached")
    for i, row in zip(gaps, completed.features):
        for name in names:
            value = getattr(row, name)
            columns[name][i] = np.nan if value is None and name in NUMERIC_FEATURES else value
    return {gaps[k]: reason for k, reason in unfilled.items()}


def _refused_table(chunk: Chunk, strings: dict[str, np.ndarray], refused: dict[int, str]) -> pa.Table:
    order = sorted(refused)
    return pa.Table.from_arrays(
        [
            pa.array([chunk.start + i for i in order], pa.int64()),
            pa.array([strings["user_id"][i] for i in order], pa.string()),
            pa.array([strings["item_id"][i] for i in order], pa.string()),
            pa.array([refused[i] for i in order], pa.string()),
        ],
        schema=ERRORS_SCHEMA,
    )


def tally(
    tallies: dict[str, list[float]] | None, probabilities: np.ndarray, threshold: float
) -> dict[str, list[float]]:
    """The running summary a job keeps with its progress: counts per class and per tenth of probability."""
    tallies = tallies or {"per_class": [0, 0], "histogram": [0] * HISTOGRAM_BINS, "probability_sum": [0.0]}
    positive = int((probabilities >= threshold).sum())
    tallies["per_class"] = [tallies["per_class"][0] + len(probabilities) - positive, tallies["per_class"][1] + positive]
    bins = np.minimum((probabilities * HISTOGRAM_BINS).astype(int), HISTOGRAM_BINS - 1)
    tallies["histogram"] = (np.asarray(tallies["histogram"]) + np.bincount(bins, minlength=HISTOGRAM_BINS)).tolist()
    tallies["probability_sum"] = [tallies["probability_sum"][0] + float(probabilities.sum())]
    return tallies
