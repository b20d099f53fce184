"""Batch scoring on Spark: each Arrow batch of /predict rows goes through the batch jobs' own chunk
scorer (`jobs.scoring.score_chunk`: /predict's row checks, the service's transform and model call),
with the booster broadcast once. Every row comes out once: scored, or refused with its reason."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pyarrow as pa
import xgboost as xgb
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from ..features import ID_FIELDS, REQUIRED_FEATURES, Preprocessor
from ..jobs.inputs import Chunk, check_columns, check_types, values_of
from ..jobs.scoring import Model, ScoredChunk, score_chunk
from .matrix import broadcast, loaded

REQUIRED = (*ID_FIELDS, *REQUIRED_FEATURES)  # no online store here: every model input comes with the row
SCORES = [
    T.StructField("prediction", T.ByteType()),
    T.StructField("probability", T.DoubleType()),
    T.StructField("confidence", T.StringType()),
    T.StructField("reason", T.StringType()),  # null: scored; else why the row was refused
]


def score(
    frame: DataFrame, booster: xgb.Booster, preprocessor: Preprocessor, threshold: float, keep: tuple[str, ...]
) -> DataFrame:
    """`keep`: columns carried through to the output unchecked (keys, dates); the others must be
    /predict's fields. ValueError (--keep) or InvalidInput naming a column that does not fit, before any work."""
    absent = [name for name in keep if name not in frame.columns]
    if absent:
        raise ValueError(f"--keep: no column {absent[0]!r} in the input")
    fields = [name for name in frame.columns if name not in keep]
    check_columns(fields, REQUIRED)
    text = all(isinstance(frame.schema[name].dataType, T.StringType) for name in fields)  # CSV: numbers as text
    if not text:  # text is parsed and checked row by row
        check_types(frame.select(*fields).limit(0).toArrow().schema)
    model = broadcast(frame, booster)
    categories, kept = preprocessor.categories, list(keep)
    schema = T.StructType([*(frame.schema[name] for name in (*ID_FIELDS, *keep)), *SCORES])

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        chunk_model = Model(loaded(model), Preprocessor(categories), threshold, 0.0, None, REQUIRED)
        for batch in batches:
            columns = {name: values_of(name, pa.chunked_array([batch.column(name)])) for name in fields}
            scored = asyncio.run(score_chunk(Chunk(0, batch.num_rows, columns, text), chunk_model))
            yield _rows(batch, scored, kept)

    return frame.mapInArrow(run, schema)


def _rows(batch: pa.RecordBatch, scored: ScoredChunk, keep: list[str]) -> pa.RecordBatch:
    """The scored rows, then the refused ones, each with the input's kept columns."""
    ok, bad = scored.results, scored.refused

    def both(good: pa.ChunkedArray | pa.Array, refused: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
        return pa.chunked_array([*_chunks(good), *_chunks(refused)], good.type)

    def blank(kind: pa.DataType, rows: int) -> pa.Array:
        return pa.nulls(rows, kind)

    columns = [both(ok[name], bad[name]) for name in ID_FIELDS]
    columns += [both(batch.column(name).take(ok["row"]), batch.column(name).take(bad["row"])) for name in keep]
    columns += [
        both(ok[name], blank(ok.schema.field(name).type, bad.num_rows))
        for name in ("prediction", "probability", "confidence")
    ]
    columns.append(both(blank(pa.string(), ok.num_rows), bad["reason"]))
    names = [*ID_FIELDS, *keep, *(field.name for field in SCORES)]
    return pa.RecordBatch.from_arrays([column.combine_chunks() for column in columns], names=names)


def _chunks(values: pa.ChunkedArray | pa.Array) -> list[pa.Array]:
    return values.chunks if isinstance(values, pa.ChunkedArray) else [values]
