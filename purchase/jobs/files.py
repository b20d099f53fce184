"""A job's files under DATA_DIR/jobs/<id>: the uploaded input, one results part (and one part of refused
rows) per saved chunk, then the merged result (Parquet) and errors (CSV). Parts are written to a
temporary name and renamed, so a crash never leaves half a part that a resumed job would trust."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from .schemas import Format
from .table import Record

RESULT_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("prediction", pa.int8()),
        ("probability", pa.float64()),
        ("confidence", pa.string()),
    ]
)
ERRORS_SCHEMA = pa.schema(
    [("row", pa.int64()), ("user_id", pa.string()), ("item_id", pa.string()), ("reason", pa.string())]
)
DOWNLOAD_BATCH_ROWS = 65_536


class JobFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def folder(self, job_id: str) -> Path:
        return self.root / job_id

    def upload_path(self, job_id: str, fmt: Format) -> Path:
        return self.folder(job_id) / f"input.{fmt.value}"

    def result(self, job_id: str) -> Path:
        return self.folder(job_id) / "result.parquet"

    def errors(self, job_id: str) -> Path:
        return self.folder(job_id) / "errors.csv"

    def used_bytes(self) -> int:
        total = 0
        for folder, _, names in os.walk(self.root):
            for name in names:
                try:
                    total += (Path(folder) / name).stat().st_size
                except FileNotFoundError:  # removed meanwhile
                    pass
        return total

    def remove(self, job_id: str) -> None:
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def tidy(self, record: Record) -> None:
        """A finished job keeps its result and errors only: no parts, no uploaded input."""
        for kind in ("parts", "refused"):
            shutil.rmtree(self.folder(record.job_id) / kind, ignore_errors=True)
        if record.uploaded:
            Path(record.input_path).unlink(missing_ok=True)

    def save_part(self, job_id: str, start: int, results: pa.Table, refused: pa.Table) -> None:
        for kind, table in (("parts", results), ("refused", refused)):
            if table.num_rows or kind == "parts":
                folder = self.folder(job_id) / kind
                folder.mkdir(parents=True, exist_ok=True)
                temporary = folder / f".{start:012d}.tmp"
                pq.write_table(table, temporary)
                os.replace(temporary, folder / f"{start:012d}.parquet")

    def merge(self, job_id: str) -> None:
        """The parts, in row order, into result.parquet and errors.csv; the parts removed."""
        folder = self.folder(job_id)
        with pq.ParquetWriter(folder / ".result.tmp", RESULT_SCHEMA) as writer:
            for part in sorted((folder / "parts").glob("*.parquet")):
                writer.write_table(pq.read_table(part, schema=RESULT_SCHEMA))
        refused = [pq.read_table(p, schema=ERRORS_SCHEMA) for p in sorted((folder / "refused").glob("*.parquet"))]
        errors = pa.concat_tables(refused) if refused else ERRORS_SCHEMA.empty_table()
        pa_csv.write_csv(errors, folder / ".errors.tmp")
        os.replace(folder / ".result.tmp", self.result(job_id))
        os.replace(folder / ".errors.tmp", self.errors(job_id))
        for kind in ("parts", "refused"):
            shutil.rmtree(folder / kind, ignore_errors=True)


def csv_chunks(result: Path) -> Iterator[bytes]:
    """The result file as CSV, a batch at a time (a download never holds the whole file in memory)."""
    parquet = pq.ParquetFile(result)
    header = True
    for batch in parquet.iter_batches(batch_size=DOWNLOAD_BATCH_ROWS):
        yield _csv(pa.Table.from_batches([batch]), header)
        header = False
    if header:  # no rows: the header alone
        yield _csv(RESULT_SCHEMA.empty_table(), True)


def _csv(table: pa.Table, header: bool) -> bytes:
    out = io.BytesIO()
    pa_csv.write_csv(table, out, pa_csv.WriteOptions(include_header=header))
    return out.getvalue()
