"""What the tests share besides fixtures: the small training configuration, a trained version, keys."""

from __future__ import annotations

import math
from dataclasses import dataclass

import bentoml
import pandas as pd

from purchase import store
from purchase.features import CATEGORY_FEATURE, COUNT_FEATURES, ID_FIELDS, NUMERIC_FEATURES
from purchase.training.train import TrainConfig, TrainResult

SMALL = TrainConfig(n_users=300, n_days=63, min_category_count=5)
KEYS = {name: f"{name}-key-0123456789" for name in ("auth", "rate", "log", "other")}
ADMIN_KEY = "admin-key-0123456789"


def quiet(_: str) -> None:
    pass


def request_row(row: pd.Series) -> dict[str, object]:
    """A DataFrame example as a /predict item: missing values left out, counts as integers."""
    item: dict[str, object] = {name: str(row[name]) for name in (*ID_FIELDS, CATEGORY_FEATURE)}
    for name in NUMERIC_FEATURES:
        value = row[name]
        if not (isinstance(value, float) and math.isnan(value)):
            item[name] = int(value) if name in COUNT_FEATURES else float(value)
    return item


def prefix_of_a_stored_version(trained: Trained) -> str:
    """A proper prefix that matches exactly one stored version (saved here, if need be, from `trained`)."""
    tag = f"{store.MODEL_NAME}:prefixcheck_version1"
    if not any(str(m.tag) == tag for m in store.versions()):
        bentoml.xgboost.save_model(tag, trained.result.booster, metadata=dict(trained.model.info.metadata))
    return "prefixcheck_versi"


@dataclass
class Trained:
    result: TrainResult
    model: bentoml.Model

    @property
    def version(self) -> str:
        return self.model.tag.version

    def probabilities(self, frame: pd.DataFrame) -> list[float]:
        """The offline pipeline's answer for these rows."""
        return self.result.booster.inplace_predict(self.result.preprocessor.transform(frame)).tolist()
