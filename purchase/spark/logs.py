"""An event log read by Spark, from CSV or Parquet, and checked before any work: its columns from the
header (or Parquet's schema), its event types with one pass that stops at the first few unknown."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..training import events
from .frames import fields, for_spark
from .paths import read_table

STRINGS = ("event_type", "product_id", "category_id", "category_code", "brand", "user_id", "user_session")
TIMED = T.StructType(
    [
        T.StructField("event_time", T.TimestampType()),
        *fields(STRINGS, T.StringType()),
        T.StructField("price", T.DoubleType()),
    ]
)


def read_log(spark: SparkSession, path: str) -> DataFrame:
    """The log's columns as the pandas path reads them; ValueError naming what is wrong."""
    raw = read_table(spark, path)
    events.check_columns(raw.columns, path)
    unknown = raw.where(~F.col("event_type").isin(*events.EVENT_TYPES) | F.col("event_type").isNull())
    found = [row.event_type for row in unknown.select("event_type").distinct().limit(5).collect()]
    events.check_event_types(found, path)
    log = raw.select(
        F.col("event_time").cast(T.StringType() if _is_text(raw, "event_time") else T.TimestampType()),
        *(F.col(c).cast(T.StringType()).alias(c) for c in STRINGS),
        F.col("price").cast(T.DoubleType()).alias("price"),
    )
    if _is_text(raw, "event_time"):
        log = log.mapInPandas(_parsed_times, TIMED)  # pandas' parser: the same instants as the pandas path
    return log


def _is_text(frame: DataFrame, column: str) -> bool:
    return isinstance(frame.schema[column].dataType, T.StringType)


def _parsed_times(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for batch in batches:
        batch["event_time"] = events.parse_times(batch["event_time"])
        yield for_spark(batch, TIMED)
