"""pandas frames handed back to Spark in the types of its schema. pandas 3 keeps strings in Arrow-backed
columns that PySpark 4.3 cannot convert, so they go back as plain objects (None where missing)."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from pyspark.sql import DataFrame, Row
from pyspark.sql import types as T


def for_spark(frame: pd.DataFrame, schema: T.StructType) -> pd.DataFrame:
    out = frame[schema.fieldNames()].copy()
    for field in schema.fields:
        if isinstance(field.dataType, T.StringType):
            column = out[field.name]
            out[field.name] = column.astype(object).where(column.notna(), None)
        elif isinstance(field.dataType, T.DoubleType):
            out[field.name] = out[field.name].astype("float64")
    return out


def one_row(frame: DataFrame) -> Row:
    """The single row of an aggregate without grouping."""
    row = frame.first()
    if row is None:
        raise ValueError("an aggregate returned no row")
    return row


def fields(names: Iterable[str], kind: T.DataType) -> list[T.StructField]:
    return [T.StructField(name, kind) for name in names]
