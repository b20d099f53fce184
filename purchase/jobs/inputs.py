"""A job's input file: its format, its columns checked from the header (or Parquet's schema) before the
job is queued, its rows counted, and its rows read in chunks of a fixed size, so a resumed job
starts again exactly at a chunk it had not saved."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ..errors import InvalidInput
from .rows import COLUMNS, RULES
from .schemas import Format

SUFFIXES = {
    ".csv": Format.CSV,
    ".parquet": Format.PARQUET,
    ".pq": Format.PARQUET,
    ".ndjson": Format.NDJSON,
    ".jsonl": Format.NDJSON,
}
MEDIA_TYPES = {
    "text/csv": Format.CSV,
    "application/vnd.apache.parquet": Format.PARQUET,
    "application/x-parquet": Format.PARQUET,
    "application/x-ndjson": Format.NDJSON,
    "application/jsonl": Format.NDJSON,
}
PARQUET_MAGIC = b"PAR1"
MAX_HEADER_BYTES = 1 << 20  # an NDJSON file's first line
UNREADABLE = (pa.ArrowException, OSError, ValueError)


def detect(name: str | None, content_type: str | None, head: bytes) -> Format:
    """From the file name, else the Content-Type, else Parquet's magic bytes."""
    if name and (found := SUFFIXES.get(Path(name).suffix.lower())):
        return found
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if found := MEDIA_TYPES.get(media_type):
        return found
    if head.startswith(PARQUET_MAGIC):
        return Format.PARQUET
    raise InvalidInput("format: unknown; give format=csv, parquet or ndjson (or a .csv, .parquet or .ndjson name)")


def check_header(path: Path, fmt: Format, required: Collection[str]) -> int | None:
    """Refuse a file whose columns do not fit, reading its header only; the row count when that is free."""
    try:
        if fmt is Format.PARQUET:
            parquet = pq.ParquetFile(path)
            check_types(parquet.schema_arrow)
            check_columns(parquet.schema_arrow.names, required)
            return int(parquet.metadata.num_rows)
        if fmt is Format.CSV:
            with _csv_reader(path) as reader:
                check_columns(reader.schema.names, required)
            return None
        check_columns(list(_first_object(path)), required)
        return None
    except UNREADABLE as exc:
        raise InvalidInput(f"file: not a readable {fmt.value} file ({first_line(exc, path)})") from None


def check_columns(names: list[str], required: Collection[str]) -> None:
    unknown = [name for name in names if name not in RULES]
    if unknown:
        raise InvalidInput(f"file: unknown column {unknown[0]!r} (the columns are /predict's fields)")
    if len(set(names)) != len(names):
        raise InvalidInput(f"file: column {next(n for n in names if names.count(n) > 1)!r} appears twice")
    missing = [name for name in COLUMNS if name in required and name not in names]
    if missing:
        raise InvalidInput(f"file: required column {missing[0]!r} is missing")


def check_types(schema: pa.Schema) -> None:
    for column in schema:
        rule = RULES.get(column.name)
        if rule is None or pa.types.is_null(column.type):
            continue
        fits = (
            pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
            if rule.kind == "string"
            else pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
        )
        if not fits:
            wanted = "strings" if rule.kind == "string" else "numbers"
            raise InvalidInput(f"file: column {column.name!r} holds {column.type}, not {wanted}")


def _first_object(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        for line in file:
            if len(line) > MAX_HEADER_BYTES:
                raise ValueError("first line too long")
            if line.strip():
                first = orjson.loads(line)
                if not isinstance(first, dict):
                    raise ValueError("the first line is not a JSON object")
                return first
    raise ValueError("no rows")


def count_rows(path: Path, fmt: Format) -> int:
    if fmt is Format.PARQUET:
        return int(pq.ParquetFile(path).metadata.num_rows)
    if fmt is Format.CSV:
        with _csv_reader(path) as reader:
            return sum(batch.num_rows for batch in reader)
    with path.open("rb") as file:
        return sum(1 for line in file if line.strip())


@dataclass
class Chunk:
    start: int  # the first row's number in the file (data rows, from 0)
    size: int
    columns: dict[str, Any]
    text: bool  # numbers as strings (CSV)
    refused: dict[int, str] = field(default_factory=dict)  # rows unreadable before any check


def chunks(path: Path, fmt: Format, size: int, skip: int = 0) -> Iterator[Chunk]:
    """Chunks of `size` rows (the last may be shorter), starting at row `skip` (a multiple of `size`)."""
    if fmt is Format.NDJSON:
        yield from _ndjson_chunks(path, size, skip)
        return
    if fmt is Format.CSV:
        with _csv_reader(path) as reader:
            yield from _arrow_chunks(reader, size, skip, text=True)
    else:
        yield from _arrow_chunks(pq.ParquetFile(path).iter_batches(batch_size=size), size, skip, text=False)


def _arrow_chunks(batches: Iterable[pa.RecordBatch], size: int, skip: int, text: bool) -> Iterator[Chunk]:
    start = 0
    for table in _rebatched(batches, size):
        if start >= skip:
            columns = {name: values_of(name, table.column(name)) for name in table.column_names}
            yield Chunk(start, table.num_rows, columns, text)
        start += table.num_rows


def _rebatched(batches: Iterable[pa.RecordBatch], size: int) -> Iterator[pa.Table]:
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        while count >= size:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, size)
            rest = table.slice(size)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending)


def values_of(name: str, column: pa.ChunkedArray) -> Any:
    """Numbers as float64 (NaN: missing); strings as Arrow arrays. A number column read as text (CSV) is
    converted at once when every value parses, else left as text for the row checks to name the bad rows."""
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return pc.cast(column, pa.float64()).to_numpy()  # nulls become NaN: missing
    if RULES[name].kind != "string":
        try:
            numbers = pc.cast(column, pa.float64()).to_numpy()
        except pa.ArrowInvalid:
            return column.to_numpy(zero_copy_only=False)
        if not np.isnan(numbers[pc.is_valid(column).to_numpy()]).any():  # "nan" is not a number here
            return numbers
        return column.to_numpy(zero_copy_only=False)
    return column


def _ndjson_chunks(path: Path, size: int, skip: int) -> Iterator[Chunk]:
    start, rows = 0, []
    with path.open("rb") as file:
        for line in file:
            if not line.strip():
                continue
            rows.append(line)
            if len(rows) == size:
                if start >= skip:
                    yield _ndjson_chunk(start, rows)
                start, rows = start + size, []
    if rows and start >= skip:
        yield _ndjson_chunk(start, rows)


def _ndjson_chunk(start: int, lines: list[bytes]) -> Chunk:
    columns: dict[str, list[Any]] = {name: [None] * len(lines) for name in COLUMNS}
    refused: dict[int, str] = {}
    for i, line in enumerate(lines):
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            refused[i] = "row: not valid JSON"
            continue
        if not isinstance(row, dict):
            refused[i] = "row: not a JSON object"
            continue
        for name, value in row.items():
            if name not in columns:
                refused[i] = f"{name}: unknown field"
                break
            columns[name][i] = value
    return Chunk(start, len(lines), dict(columns), text=False, refused=refused)


def _csv_reader(path: Path) -> Any:
    """Every column read as text (numbers are parsed and checked row by row); an empty cell is missing."""
    convert = pa_csv.ConvertOptions(column_types={name: pa.string() for name in COLUMNS}, strings_can_be_null=True)
    return pa_csv.open_csv(path, convert_options=convert)


def first_line(exc: Exception, path: Path) -> str:
    """An error's first line, short, with the file named but not where it lies on the server."""
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return line.replace(str(path.parent) + "/", "")[:200]
