"""What each Spark command does, between its arguments and the modules that do the work."""

from __future__ import annotations

import argparse
from pathlib import PurePosixPath

import bentoml
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from .. import store
from ..training.train import Progress, TrainConfig, TrainResult, check_split_times
from . import derive, fit, logs, paths, scoring, session


def examples_of(spark: SparkSession, args: argparse.Namespace, progress: Progress) -> DataFrame:
    log = logs.read_log(spark, args.events).persist(StorageLevel.MEMORY_AND_DISK)
    times = derive.as_of_times(log, args.warmup_days, args.horizon_days, args.step_days)
    check_split_times(times)
    buckets = session.shuffle_partitions(spark)
    progress(f"deriving features at {len(times)} as-of times in {buckets} buckets of users and of items")
    return derive.examples(log, times, args.horizon_days, buckets, TrainConfig(seed=args.seed).sampling)


def features(spark: SparkSession, args: argparse.Namespace, progress: Progress) -> str:
    paths.refuse_existing(spark, args.out, args.overwrite)
    paths.write(examples_of(spark, args, progress), args.out)
    progress(f"wrote the examples to {args.out}")
    return str(args.out)


def train(spark: SparkSession, args: argparse.Namespace, progress: Progress) -> TrainResult:
    config = TrainConfig(
        seed=args.seed, horizon_days=args.horizon_days, warmup_days=args.warmup_days, step_days=args.step_days
    )
    if args.examples:
        examples, source = spark.read.parquet(args.examples), f"examples:{PurePosixPath(args.examples).name}"
    else:
        examples, source = examples_of(spark, args, progress), f"events:{PurePosixPath(args.events).name}"
    workers = args.workers or spark.sparkContext.defaultParallelism
    return fit.fit(examples, config, source, workers, progress)


def score(spark: SparkSession, args: argparse.Namespace, model: bentoml.Model, progress: Progress) -> str:
    booster, preprocessor = store.load(model)
    paths.refuse_existing(spark, args.out, args.overwrite)
    keep = tuple(name.strip() for name in args.keep.split(",") if name.strip())
    rows = paths.read_table(spark, args.input)
    scored = scoring.score(rows, booster, preprocessor, args.threshold, keep).persist(StorageLevel.MEMORY_AND_DISK)
    refused = F.col("reason").isNotNull()
    out = args.out.rstrip("/")  # a URI's "//" must stay: not a path to normalize
    paths.write(scored.where(~refused).drop("reason"), f"{out}/predictions")
    paths.write(scored.where(refused).drop("prediction", "probability", "confidence"), f"{out}/errors")
    counts = {bool(row[0]): int(row[1]) for row in scored.groupBy(refused).count().collect()}
    progress(
        f"{model.tag}: {counts.get(False, 0):,} rows scored into {out}/predictions, "
        f"{counts.get(True, 0):,} refused into {out}/errors"
    )
    scored.unpersist()
    return out
