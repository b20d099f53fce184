"""The pipeline on Spark against the pandas path and the service: one local Spark session shared by these
tests, a small synthetic log, real servers, and the commands as users run them (in-process, through
`spark-submit`, and as a subprocess with a model store of its own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
import yaml
from pyspark.sql import SparkSession

from devtools import spark_zip
from devtools.server import ROOT, ServerProcess
from purchase import store
from purchase.examples import SPEC_EXAMPLE
from purchase.features import CATEGORY_FEATURE, ID_FIELDS, NUMERIC_FEATURES
from purchase.segments import segment_codes
from purchase.spark import cli, derive, logs, session
from purchase.spark.metrics import evaluate as spark_evaluate
from purchase.training import events, synthetic
from purchase.training.evaluate import evaluate
from purchase.training.train import TrainConfig
from tests.helpers import Trained, request_row
from tests.integration.conftest import start

KEY = ["as_of", "user_id", "item_id"]
PREDICT_COLUMNS = [*ID_FIELDS, *NUMERIC_FEATURES, CATEGORY_FEATURE]


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    spark = session.start("purchase-tests", "local[2]", partitions=4)
    yield spark
    spark.stop()


@pytest.fixture(scope="module")
def log_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic log, plus a user who only views (no carts: a ratio of NaN) and events without a
    category code or a price."""
    log = synthetic.generate(n_users=150, n_days=60, seed=3).events
    viewer = log[log["event_type"] == "view"].sample(40, random_state=1).assign(user_id="viewer", user_session="s1")
    log = pd.concat([log, viewer], ignore_index=True)
    log.loc[log.sample(300, random_state=2).index, "category_code"] = None
    items = log["product_id"].drop_duplicates()
    log.loc[log["product_id"] == items.iloc[0], "category_code"] = None  # an item without any
    log.loc[log["product_id"] == items.iloc[1], "price"] = None  # an item never priced: no examples
    log.loc[log.sample(100, random_state=3).index, "price"] = None
    path = tmp_path_factory.mktemp("spark-log") / "events.csv"
    log.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def pandas_examples(log_csv: Path) -> pd.DataFrame:
    log = events.read_events(log_csv)
    return events.build_examples(log, events.snapshot_times(log, 28, 7, 7), 7, TrainConfig().sampling)


def in_order(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEY).reset_index(drop=True)


def assert_same_examples(spark_frame: pd.DataFrame, pandas_frame: pd.DataFrame) -> None:
    got, want = in_order(spark_frame), in_order(pandas_frame)
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    for name in ("user_id", "item_id", CATEGORY_FEATURE):
        assert got[name].astype(str).tolist() == want[name].astype(str).tolist(), name
    assert (pd.to_datetime(got["as_of"]) == pd.to_datetime(want["as_of"])).all()
    assert got["label"].tolist() == want["label"].tolist()
    for name in NUMERIC_FEATURES:  # NaN where NaN: assert_allclose compares NaN positions
        np.testing.assert_allclose(got[name].to_numpy(float), want[name].to_numpy(float), rtol=0, atol=1e-9)


def run(*args: str) -> int:
    """A Spark command in-process, on the shared session; its exit status."""
    try:
        cli.main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_spark_examples_equal_the_pandas_examples_from_csv_and_parquet(
    spark: SparkSession, log_csv: Path, pandas_examples: pd.DataFrame, tmp_path: Path
) -> None:
    assert pandas_examples["cart_to_purchase_ratio"].isna().any()  # the NaN positions are compared too
    assert (pandas_examples[CATEGORY_FEATURE] == "unknown").any()
    never_priced = pd.read_csv(log_csv).groupby("product_id")["price"].count().eq(0)
    assert never_priced.sum() == 1 and never_priced.idxmax() not in set(pandas_examples["item_id"])
    assert (pandas_examples["item_discount_pct"] > 0).any()  # promotions: the price rule is exercised
    assert {0, 1} <= set(segment_codes(pandas_examples))  # the sampled pairs are compared too
    parquet = tmp_path / "events.parquet"
    events.read_events(log_csv).to_parquet(parquet)  # event times as timestamps, not text
    for path in (log_csv, parquet):
        log = logs.read_log(spark, str(path))
        times = derive.as_of_times(log, 28, 7, 7)
        assert times == sorted(pandas_examples["as_of"].unique())
        spark_examples = derive.examples(log, times, 7, 4, TrainConfig().sampling).toPandas()
        assert_same_examples(spark_examples, pandas_examples)


def test_the_features_command_writes_the_examples_and_refuses_an_existing_output(
    spark: SparkSession, log_csv: Path, pandas_examples: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "examples"
    assert run("features", "--events", str(log_csv), "--out", str(out)) == 0
    assert_same_examples(pd.read_parquet(out), pandas_examples)
    written = sorted(p.name for p in out.iterdir())

    code = run("features", "--events", str(log_csv), "--out", str(out))
    error = capsys.readouterr().err.strip()
    assert code == 2 and error == f"error: {out} exists: pass --overwrite to replace it"
    assert sorted(p.name for p in out.iterdir()) == written  # untouched
    assert run("features", "--events", str(log_csv), "--out", str(out), "--overwrite") == 0


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda log: log.drop(columns=["price"]), "missing columns ['price']"),
        (lambda log: log.assign(event_type=log["event_type"].where(log.index != 5, "wishlist")), "['wishlist']"),
    ],
    ids=["missing-column", "unknown-event-type"],
)
def test_a_bad_log_fails_before_any_work_with_one_line(
    spark: SparkSession, log_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture, edit: object, message: str
) -> None:
    bad = tmp_path / "bad.csv"
    edit(pd.read_csv(log_csv)).to_csv(bad, index=False)  # type: ignore[operator]
    for command in (["features", "--out", str(tmp_path / "out")], ["train"]):
        code = run(command[0], "--events", str(bad), *command[1:])
        lines = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith(f"error: {bad}: ") and message in lines[0]
    assert not (tmp_path / "out").exists()


def test_train_takes_a_log_or_examples_not_both(capsys: pytest.CaptureFixture) -> None:
    assert run("train", "--events", "log.csv", "--examples", "examples/") == 2
    assert "argument --examples: not allowed with argument --events" in capsys.readouterr().err
    assert run("train") == 2
    assert "one of the arguments --events --examples is required" in capsys.readouterr().err


def test_spark_metrics_equal_scikit_learns(spark: SparkSession) -> None:
    """With the rows' segment weights, as both paths measure the overall figures."""
    rng = np.random.default_rng(0)
    p = np.round(rng.uniform(size=4000), 2)  # ties between rows: ranks must count them together
    y = (rng.uniform(size=4000) < p).astype(np.int8)
    w = rng.choice([0.5, 1.0, 3.0], size=4000)
    p[:3] = [0.0, 1.0, 0.5]  # clipped the same way
    frame = spark.createDataFrame(pd.DataFrame({"label": y, "score": p, "weight": w}))
    got, want = spark_evaluate(frame, "label", "score", "weight"), evaluate(y, p, w)
    assert set(got) == set(want)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, rel=0, abs=1e-9), name


def predict_rows(test_rows: pd.DataFrame) -> pd.DataFrame:
    """Rows as /predict takes them (missing values empty), with two the service would refuse."""
    rows = test_rows.head(400)[PREDICT_COLUMNS].copy()
    rows["user_id"], rows["item_id"] = rows["user_id"].astype(object), rows["item_id"].astype(object)
    rows.loc[rows.index[7], "item_price"] = -1.0
    rows.loc[rows.index[11], CATEGORY_FEATURE] = None
    return rows


def test_batch_scores_equal_the_services_from_parquet_and_csv(
    spark: SparkSession, server: ServerProcess, v1: Trained, test_rows: pd.DataFrame, tmp_path: Path
) -> None:
    rows = predict_rows(test_rows)
    good = rows.drop(index=[rows.index[7], rows.index[11]])
    answer = requests.post(server.url + "/predict", json={"features": [request_row(r) for _, r in good.iterrows()]})
    assert answer.status_code == 200 and answer.json()["model_version"] == v1.version
    served = pd.DataFrame(answer.json()["predictions"])
    assert served["prediction"].nunique() == 2  # both classes: the comparison can fail

    rows.to_parquet(tmp_path / "rows.parquet")
    rows.to_csv(tmp_path / "rows.csv", index=False)
    for source in ("rows.parquet", "rows.csv"):
        out = tmp_path / f"scores-{source}"
        assert run("score", "--input", str(tmp_path / source), "--out", str(out), "--model", str(v1.model.tag)) == 0
        scored = pd.read_parquet(out / "predictions")
        assert len(scored) == len(good)
        merged = served.merge(scored, on=list(ID_FIELDS), suffixes=("_served", "_spark"), validate="one_to_one")
        assert len(merged) == len(good)
        np.testing.assert_allclose(merged["probability_spark"], merged["probability_served"], rtol=0, atol=1e-6)
        assert (merged["prediction_spark"] == merged["prediction_served"]).all()
        assert (merged["confidence_spark"] == merged["confidence_served"]).all()
        refused = pd.read_parquet(out / "errors").sort_values("reason")
        assert refused["reason"].tolist() == [
            f"{CATEGORY_FEATURE}: required",
            "item_price: must be greater than 0",
        ]


def test_scoring_refuses_an_unknown_tag_a_missing_column_and_an_existing_output(
    spark: SparkSession, v1: Trained, test_rows: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    rows = predict_rows(test_rows)
    rows.to_parquet(tmp_path / "rows.parquet")
    rows.drop(columns=["item_price"]).to_parquet(tmp_path / "no-price.parquet")
    (tmp_path / "taken").mkdir()
    cases = [
        ("rows.parquet", "scores-1", "purchase_model:nope", "error: Model not found: purchase_model:nope"),
        ("no-price.parquet", "scores-2", str(v1.model.tag), "error: file: required column 'item_price' is missing"),
        ("rows.parquet", "taken", str(v1.model.tag), f"error: {tmp_path / 'taken'} exists: pass --overwrite"),
    ]
    for source, out, tag, message in cases:
        code = run("score", "--input", str(tmp_path / source), "--out", str(tmp_path / out), "--model", tag)
        lines = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith(message), lines
    assert not (tmp_path / "scores-1").exists() and not (tmp_path / "scores-2").exists()
    assert list((tmp_path / "taken").iterdir()) == []


def test_spark_submit_scores_with_the_package_zip(v1: Trained, test_rows: pd.DataFrame, tmp_path: Path) -> None:
    """As on a cluster: the application file and the package as --py-files, from a folder without it."""
    predict_rows(test_rows).to_parquet(tmp_path / "rows.parquet")
    package = spark_zip.build(tmp_path / "purchase.zip")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    command = [
        str(Path(sys.executable).with_name("spark-submit")),
        *(
            "--master",
            "local[1]",
            "--conf",
            "spark.driver.bindAddress=127.0.0.1",
            "--conf",
            "spark.driver.host=127.0.0.1",
        ),
        *("--py-files", str(package), str(ROOT / "spark_job.py")),
        *(
            "score",
            "--input",
            str(tmp_path / "rows.parquet"),
            "--out",
            str(tmp_path / "out"),
            "--model",
            str(v1.model.tag),
        ),
    ]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "398 rows scored" in done.stdout and "2 refused" in done.stdout
    assert len(pd.read_parquet(tmp_path / "out" / "predictions")) == 398


@pytest.mark.timeout(900)  # trains on Spark in a process of its own
def test_a_spark_trained_version_is_stored_like_a_pandas_one_and_served(
    tmp_path_factory: pytest.TempPathFactory, log_csv: Path, v1: Trained
) -> None:
    home = tmp_path_factory.mktemp("spark-home")
    env = {**os.environ, "BENTOML_HOME": str(home)}
    command = [sys.executable, "-m", "purchase.spark", "--partitions", "4", "train", "--events", str(log_csv)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "training XGBoost on Spark" in done.stdout and "logistic_regression" in done.stdout
    listed = subprocess.run(
        [str(Path(sys.executable).with_name("bentoml")), "models", "list", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    (model,) = json.loads(listed.stdout)
    folder = home / "models" / "purchase_model" / model["tag"].split(":")[1]
    info = yaml.safe_load((folder / "model.yaml").read_text())
    assert info["labels"]["stage"] == store.CANDIDATE
    assert set(info["metadata"]) == set(v1.model.info.metadata)  # the same record as a pandas-trained version
    assert info["metadata"]["config"]["engine"] == "spark"
    assert info["metadata"]["best_rounds"] < 400  # early stopping stopped it
    assert (folder / "report" / "index.html").is_file()

    served = start(tmp_path_factory, "spark-served", {"BENTOML_HOME": str(home)}, "/readyz")
    try:
        answer = requests.post(served.url + "/predict", json=SPEC_EXAMPLE, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["model_version"] == model["tag"].split(":")[1]
        health = requests.get(served.url + "/model-info", timeout=30).json()
        assert health["stage"] == store.CANDIDATE and health["metrics"] == info["metadata"]["metrics"]
    finally:
        served.stop()
