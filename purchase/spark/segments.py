"""Each example's segment and weight on Spark, by the pandas path's definitions: `segments.segment_codes`
on each Arrow batch, and `sampling.group_weights` from the (as-of time, segment) row counts, which are
few enough to reach the driver."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..segments import segment_codes
from ..training.sampling import group_weights


def with_weights(examples: DataFrame, shares: tuple[float, ...]) -> DataFrame:
    """`examples` with a `segment` (index of `segments.SEGMENTS`) and a `weight` column."""
    schema = T.StructType([*examples.schema.fields, T.StructField("segment", T.ByteType())])

    def mark(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield batch.assign(segment=segment_codes(batch))

    marked = examples.mapInPandas(mark, schema)
    sizes = marked.groupBy("as_of", "segment").count().withColumnRenamed("count", "size").toPandas()
    weights = group_weights(sizes, shares).rename("weight").reset_index()
    table = examples.sparkSession.createDataFrame(
        weights.assign(segment=weights["segment"].astype("int8")),
        T.StructType(
            [examples.schema["as_of"], T.StructField("segment", T.ByteType()), T.StructField("weight", T.DoubleType())]
        ),
    )
    return marked.join(F.broadcast(table), on=["as_of", "segment"], how="inner")
