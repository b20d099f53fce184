"""A job's input files: the header checks that refuse a file before it is queued, and chunks that cover
every row once, in order, whatever the format and wherever a resumed job starts."""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from purchase.errors import InvalidInput
from purchase.features import ID_FIELDS, REQUIRED_FEATURES
from purchase.jobs.inputs import check_header, chunks, count_rows, detect
from purchase.jobs.schemas import Format

ALL = (*ID_FIELDS, *REQUIRED_FEATURES)


def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "item_id": [f"i{i % 7}" for i in range(n)],
            "view_count_7d": [i % 5 for i in range(n)],
            "item_price": [1.0 + i for i in range(n)],
            "item_base_price": [2.0 + i for i in range(n)],
            "item_discount_pct": [10.0] * n,
            "item_category": ["books"] * n,
        }
    )


def write(data: pd.DataFrame, fmt: Format, folder: Path) -> Path:
    path = folder / f"rows.{fmt.value}"
    if fmt is Format.CSV:
        data.to_csv(path, index=False)
    elif fmt is Format.PARQUET:
        pq.write_table(pa.Table.from_pandas(data, preserve_index=False), path, row_group_size=7)
    else:
        path.write_bytes(b"\n".join(orjson.dumps(row) for row in data.to_dict("records")) + b"\n\n")
    return path


@pytest.mark.parametrize("fmt", list(Format))
@pytest.mark.parametrize("size", [1, 10, 23, 100])
def test_chunks_cover_every_row_once_in_order_from_any_chunk(tmp_path: Path, fmt: Format, size: int) -> None:
    data = frame(23)
    path = write(data, fmt, tmp_path)
    assert count_rows(path, fmt) == 23
    for skip in range(0, 23, size):
        read = list(chunks(path, fmt, size, skip))
        assert [c.start for c in read] == list(range(skip, 23, size))
        assert all(c.size == min(size, 23 - c.start) for c in read)
        users = [u for c in read for u in c.columns["user_id"]]
        assert [str(u) for u in users] == list(data.user_id[skip:])
        prices = [float(p) for c in read for p in c.columns["item_price"]]
        assert prices == list(data.item_price[skip:])


@pytest.mark.parametrize("fmt", list(Format))
def test_header_checks_name_the_column(tmp_path: Path, fmt: Format) -> None:
    path = write(frame(3).drop(columns=["item_price"]), fmt, tmp_path)
    with pytest.raises(InvalidInput, match="required column 'item_price' is missing"):
        check_header(path, fmt, ALL)
    assert check_header(path, fmt, ID_FIELDS) == (3 if fmt is Format.PARQUET else None)  # ids only: fine
    path = write(frame(3).rename(columns={"view_count_7d": "views_7d"}), fmt, tmp_path)
    with pytest.raises(InvalidInput, match="unknown column 'views_7d'"):
        check_header(path, fmt, ID_FIELDS)


def test_unreadable_files_and_wrong_types_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "rows.csv"
    text.write_text("user_id,item_id\nu,i\n")
    with pytest.raises(InvalidInput, match="file: not a readable parquet file"):
        check_header(text, Format.PARQUET, ID_FIELDS)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InvalidInput, match="file: not a readable csv file"):
        check_header(empty, Format.CSV, ID_FIELDS)
    not_object = tmp_path / "rows.ndjson"
    not_object.write_text("[1, 2]\n")
    with pytest.raises(InvalidInput, match="file: not a readable ndjson file"):
        check_header(not_object, Format.NDJSON, ID_FIELDS)
    twice = tmp_path / "twice.csv"
    twice.write_text("user_id,item_id,user_id\nu,i,u\n")
    with pytest.raises(InvalidInput, match="column 'user_id' appears twice"):
        check_header(twice, Format.CSV, ID_FIELDS)
    typed = tmp_path / "typed.parquet"
    pq.write_table(pa.table({"user_id": ["u"], "item_id": ["i"], "item_price": ["cheap"]}), typed)
    with pytest.raises(InvalidInput, match="column 'item_price' holds string, not numbers"):
        check_header(typed, Format.PARQUET, ID_FIELDS)


def test_ndjson_rows_that_cannot_be_read_are_refused_alone(tmp_path: Path) -> None:
    path = tmp_path / "rows.ndjson"
    path.write_text('{"user_id": "u", "item_id": "i"}\n{not json\n[1]\n{"user_id": "u", "colour": "red"}\n')
    (chunk,) = chunks(path, Format.NDJSON, 10)
    assert chunk.refused == {1: "row: not valid JSON", 2: "row: not a JSON object", 3: "colour: unknown field"}


def test_format_from_name_then_media_type_then_content() -> None:
    assert detect("x.PARQUET", "text/csv", b"") is Format.PARQUET
    assert detect(None, "application/x-ndjson; charset=utf-8", b"") is Format.NDJSON
    assert detect(None, "application/octet-stream", b"PAR1") is Format.PARQUET
    with pytest.raises(InvalidInput, match="format: unknown"):
        detect(None, "application/octet-stream", b"user_id")
