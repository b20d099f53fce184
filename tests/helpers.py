"""What the tests share besides fixtures: the small training configuration, a trained version, keys."""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import bentoml
import cloudpickle
import pandas as pd
import requests
from requests.adapters import HTTPAdapter

from purchase import store
from purchase.features import CATEGORY_FEATURE, COUNT_FEATURES, ID_FIELDS, NUMERIC_FEATURES
from purchase.training.train import Dataset, TrainConfig, TrainResult, load_dataset

SMALL = TrainConfig(n_users=300, n_days=63, min_category_count=5)
# One key per test that spends its rate-limit bucket, so the tests' limits stay apart.
USERS = ("auth", "rate", "log", "other", "client", "owner", "stranger", "pages")
KEYS = {name: f"{name}-key-0123456789" for name in USERS}
ADMIN_KEY = "admin-key-0123456789"


class _FromAddress(HTTPAdapter):
    def __init__(self, host: str) -> None:
        self.host = host
        super().__init__()

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        super().init_poolmanager(*args, source_address=(self.host, 0), **kwargs)  # type: ignore[arg-type]


def from_address(host: str) -> requests.Session:
    """A session whose connections leave from another loopback address (all of 127/8 is local), so a test
    that empties its client address's rate-limit bucket leaves the other tests' bucket alone."""
    session = requests.Session()
    session.mount("http://", _FromAddress(host))
    return session


def quiet(_: str) -> None:
    pass


def small_dataset(config: TrainConfig) -> Dataset:
    """`load_dataset(config)` on synthetic data; kept on disk between runs when PURCHASE_TEST_CACHE names a
    folder. `make mutate` sets it: every mutant's test run would otherwise generate the same data again
    (the tests of data generation and feature derivation call those functions themselves)."""
    folder = os.environ.get("PURCHASE_TEST_CACHE")
    if not folder:
        return load_dataset(config, None, quiet)
    path = Path(folder) / f"dataset-{hashlib.sha256(repr(config).encode()).hexdigest()[:16]}.pickle"
    if path.exists():
        return cast(Dataset, cloudpickle.loads(path.read_bytes()))
    made = load_dataset(config, None, quiet)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(cloudpickle.dumps(made))
    os.replace(tmp, path)
    return made


def request_row(row: pd.Series) -> dict[str, object]:
    """A DataFrame example as a /predict item: missing values left out, counts as integers."""
    item: dict[str, object] = {name: str(row[name]) for name in (*ID_FIELDS, CATEGORY_FEATURE)}
    for name in NUMERIC_FEATURES:
        value = row[name]
        if not (isinstance(value, float) and math.isnan(value)):
            item[name] = int(value) if name in COUNT_FEATURES else float(value)
    return item


def saved_as_older(trained: Trained, version: str, without: str = "") -> str:
    """`trained`'s booster saved again as `version` (once), its metadata `without` one key: a version as
    an older training stored it. Returns the tag."""
    tag = f"{store.MODEL_NAME}:{version}"
    if not store.exists(tag):
        metadata = {k: v for k, v in trained.model.info.metadata.items() if k != without}
        bentoml.xgboost.save_model(tag, trained.result.booster, metadata=metadata)
    return tag


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


def declared_metrics() -> list[Any]:
    """Every Prometheus collector the service declares (some appear at /metrics only once used)."""
    from purchase.jobs import metrics as jobs
    from purchase.serving import metrics
    from purchase.serving.monitoring import outcomes

    return [*vars(metrics._counters()).values(), *outcomes._gauges().values(), *vars(jobs._metrics()).values()]
