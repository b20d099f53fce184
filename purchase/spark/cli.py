"""The Spark commands, locally (Spark's local mode) or on a cluster (spark-submit spark_job.py ...):

python -m purchase.spark features --events log.csv --out examples/          # labelled examples, Parquet
python -m purchase.spark train --events log.csv [--promote]                  # a version in the model store
python -m purchase.spark score --input rows.parquet --out scores/ [--model TAG]  # /predict rows scored

An output that exists is refused unless --overwrite. Errors are one line naming what is wrong.
"""

from __future__ import annotations

import argparse
import sys

from pyspark.errors import PySparkException

from .. import store
from ..errors import PurchaseError
from ..settings import get_settings
from ..training.train import TrainConfig

EXIT_ERRORS = (ValueError, PurchaseError, PySparkException, OSError)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--master", help="Spark master (default: local[*], or what spark-submit sets)")
    parser.add_argument("--partitions", type=int, help="shuffle partitions: the pieces each step splits data into")
    parser.add_argument(
        "--conf", action="append", default=[], metavar="KEY=VALUE", help="a Spark setting, e.g. spark.driver.memory=8g"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    features = commands.add_parser("features", help="derive labelled examples from an event log")
    train = commands.add_parser("train", help="train a version on Spark and save it to the model store")
    for command in (features, train):
        source = command.add_mutually_exclusive_group(required=True)
        source.add_argument("--events", help="event log: CSV (by its suffix) or Parquet, any Hadoop path")
        if command is train:
            source.add_argument("--examples", help="examples written by the features command, instead of --events")
        command.add_argument("--horizon-days", type=int, default=defaults.horizon_days)
        command.add_argument("--warmup-days", type=int, default=defaults.warmup_days)
        command.add_argument("--step-days", type=int, default=defaults.step_days)
        command.add_argument("--seed", type=int, default=defaults.seed, help="also draws the sampled pairs")
    features.add_argument("--out", required=True, help="where the examples go (Parquet)")
    train.add_argument("--workers", type=int, help="XGBoost workers (default: Spark's default parallelism)")
    train.add_argument("--promote", action="store_true", help="mark the new version as the production model")
    train.add_argument("--export", action="store_true", help="also write MODEL_DIR/<name>-<version>.bentomodel")

    score = commands.add_parser("score", help="score a dataset of /predict rows with a stored version")
    score.add_argument("--input", required=True, help="/predict rows: CSV (by its suffix) or Parquet")
    score.add_argument("--out", required=True, help="folder for predictions/ and errors/ (Parquet)")
    score.add_argument("--model", default="production", help="a version's tag, or production (the default)")
    score.add_argument("--threshold", type=float, default=get_settings().default_threshold)
    score.add_argument("--keep", default="", help="comma-separated input columns carried to the output as they are")
    for command in (features, score):
        command.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    args = parser.parse_args(argv)
    if any("=" not in setting for setting in args.conf):
        parser.error("--conf takes KEY=VALUE")
    return args


def main(argv: list[str] | None = None) -> str:
    """Returns the new version's tag (train), else the output path."""
    args = parse_args(argv)
    try:
        return _run(args)
    except EXIT_ERRORS as exc:
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        print(f"error: {lines[0]}", file=sys.stderr)
        raise SystemExit(2) from None


def _run(args: argparse.Namespace) -> str:
    from ..cli.train import register, timed_progress
    from . import commands, session

    progress = timed_progress()
    model = store.get(args.model) if args.command == "score" else None  # an unknown tag: before any work
    conf = dict(setting.split("=", 1) for setting in args.conf)
    spark = session.start(f"purchase-{args.command}", args.master, args.partitions, conf)
    if model is not None:
        return commands.score(spark, args, model, progress)
    if args.command == "features":
        return commands.features(spark, args, progress)
    return register(commands.train(spark, args, progress), args.promote, args.export, progress)
