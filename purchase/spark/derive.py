"""Labelled examples derived on Spark with `training.events`' own functions: a user's candidate rows
depend on that user's events alone and an item's prices on that item's events alone, so the log is
split into buckets of users and buckets of items, each derived where it lies (no step brings the log to
the driver), and the two sides are joined as `events.with_prices` joins them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, GroupedData
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..features import BEHAVIOUR_FEATURES, CATEGORY_FEATURE, ID_FIELDS, PRICE_FEATURES
from ..training import events
from ..training.sampling import Sampling
from .frames import fields, for_spark

_IDS = fields(ID_FIELDS, T.StringType())
_AS_OF = T.StructField("as_of", T.TimestampType())
CANDIDATES = T.StructType(
    [*_IDS, _AS_OF, *fields(BEHAVIOUR_FEATURES, T.DoubleType()), T.StructField("label", T.ByteType())]
)
PRICES = T.StructType(
    [*_IDS[1:], _AS_OF, *fields(PRICE_FEATURES, T.DoubleType()), T.StructField(CATEGORY_FEATURE, T.StringType())]
)


def as_of_times(log: DataFrame, warmup_days: int, horizon_days: int, step_days: int) -> list[pd.Timestamp]:
    bounds = log.agg(F.min("event_time").alias("first"), F.max("event_time").alias("last")).first()
    if bounds is None or bounds["first"] is None:
        raise ValueError("the event log holds no events")
    first, last = pd.Timestamp(bounds["first"]), pd.Timestamp(bounds["last"])
    return events.times_between(first, last, warmup_days, horizon_days, step_days)


def examples(
    log: DataFrame, times: list[pd.Timestamp], horizon_days: int, buckets: int, sampling: Sampling
) -> DataFrame:
    """The pandas path's `build_examples(log, times, horizon_days, sampling)`, in no particular row order.
    The catalog each user's pairs are drawn from (the items with a usable price at each time) is collected
    to the driver: one id per item and time."""

    def prices(group: pd.DataFrame) -> pd.DataFrame:
        return _each_time(group, times, lambda t: events.item_prices(group, t), PRICES)

    in_effect = _by_bucket(log, "product_id", buckets).applyInPandas(prices, PRICES).persist()
    priced = in_effect.where(F.col("item_price") > 0).select("item_id", "as_of").collect()
    catalogs = {
        t: np.sort(np.array([r.item_id for r in priced if pd.Timestamp(r.as_of) == t], dtype=object)) for t in times
    }

    def candidates(group: pd.DataFrame) -> pd.DataFrame:
        derived = lambda t: events.candidates(group, t, horizon_days, sampling, catalogs[t])  # noqa: E731
        return _each_time(group, times, derived, CANDIDATES)

    rows = _by_bucket(log, "user_id", buckets).applyInPandas(candidates, CANDIDATES)
    joined = rows.join(in_effect, on=["item_id", "as_of"], how="inner")
    return joined.where(F.col("item_price") > 0).select(*events.EXAMPLE_COLUMNS)


def _by_bucket(log: DataFrame, key: str, buckets: int) -> GroupedData:
    return log.groupBy(F.pmod(F.xxhash64(key), F.lit(buckets)).alias("bucket"))


def _each_time(
    group: pd.DataFrame, times: list[pd.Timestamp], derive: Callable[[pd.Timestamp], pd.DataFrame], schema: T.StructType
) -> pd.DataFrame:
    frames = [derive(t) for t in times]
    return for_spark(pd.concat(frames, ignore_index=True), schema)
