"""The model matrix on Spark: `Preprocessor.transform` (the service's own) applied to each Arrow batch,
one float column per model feature, and XGBoost's probabilities from a booster broadcast once to the
executors and loaded once per Python worker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb
from pyspark import Broadcast
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from ..features import CATEGORY_FEATURE, NUMERIC_FEATURES, Preprocessor
from ..scoring import score_matrix
from .frames import fields

_BOOSTERS: dict[str, xgb.Booster] = {}  # per Python worker: the broadcast's key -> its booster


@dataclass(frozen=True)
class MatrixColumns:
    """Spark column names of the model's features (f0, f1, ...): the feature names hold "=" and spaces."""

    features: tuple[str, ...]

    @classmethod
    def of(cls, preprocessor: Preprocessor) -> MatrixColumns:
        return cls(tuple(f"f{j}" for j in range(preprocessor.num_features)))


def model_matrix(frame: DataFrame, preprocessor: Preprocessor, keep: tuple[str, ...]) -> DataFrame:
    """The feature columns of `frame`'s rows, with the columns named in `keep` alongside."""
    columns = MatrixColumns.of(preprocessor)
    kept = [frame.schema[name] for name in keep]
    schema = T.StructType([*kept, *fields(columns.features, T.FloatType())])

    def transform(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            given = {name: batch[name].to_numpy(np.float64) for name in NUMERIC_FEATURES}
            matrix = preprocessor.transform({**given, CATEGORY_FEATURE: batch[CATEGORY_FEATURE].tolist()})
            out = pd.DataFrame(matrix, columns=list(columns.features))
            for name in reversed(keep):
                out.insert(0, name, batch[name].to_numpy())
            yield out

    return frame.select(*keep, *NUMERIC_FEATURES, CATEGORY_FEATURE).mapInPandas(transform, schema)


def broadcast(frame: DataFrame, booster: xgb.Booster) -> Broadcast[tuple[str, bytes]]:
    """The booster's bytes with a key that names them, so each worker loads them once."""
    return frame.sparkSession.sparkContext.broadcast((uuid.uuid4().hex, bytes(booster.save_raw("ubj"))))


def loaded(model: Broadcast[tuple[str, bytes]]) -> xgb.Booster:
    """The broadcast booster, loaded once per Python worker; one thread, as Spark runs a task per core."""
    key, raw = model.value
    booster = _BOOSTERS.get(key)
    if booster is None:
        booster = xgb.Booster(params={"nthread": 1})
        booster.load_model(bytearray(raw))
        _BOOSTERS[key] = booster
    return booster


def with_probabilities(frame: DataFrame, booster: xgb.Booster, columns: MatrixColumns, name: str) -> DataFrame:
    """`frame` (which holds the feature columns) with XGBoost's probability in a column `name`."""
    model = broadcast(frame, booster)
    schema = T.StructType([*frame.schema.fields, T.StructField(name, T.DoubleType())])
    features = list(columns.features)

    def predict(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            matrix = batch[features].to_numpy(np.float32)
            batch[name] = score_matrix(loaded(model), matrix)
            yield batch

    return frame.mapInPandas(predict, schema)
