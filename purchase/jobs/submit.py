"""Taking a job: the file stored (an upload) or found (a path under DATA_DIR), its columns checked from
its header, room on disk checked, then the job queued. Nothing is queued when any check fails."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import anyio

from ..errors import FileTooLarge, InvalidInput, OutsideDataDir, StorageFull
from ..features import ID_FIELDS, REQUIRED_FEATURES
from ..settings import Settings
from .files import JobFiles
from .inputs import PARQUET_MAGIC, check_header, detect
from .schemas import JobOptions, PathJob, Status
from .table import JobTable, Record


class Submissions:
    def __init__(self, table: JobTable, files: JobFiles, settings: Settings) -> None:
        self.table = table
        self.files = files
        self.settings = settings
        self.required = ID_FIELDS if settings.online_features else (*ID_FIELDS, *REQUIRED_FEATURES)

    async def upload(
        self,
        body: AsyncIterator[bytes],
        length: int | None,
        content_type: str | None,
        options: JobOptions,
        tag: str,
        submitter: str,
    ) -> Record:
        """The request's body is the file, written to disk as it arrives."""
        limit = self.settings.max_job_file_bytes
        if length is not None and length > limit:
            raise FileTooLarge(f"file: larger than MAX_JOB_FILE_BYTES ({limit} bytes)")
        room = await self._room(length or 0)
        job_id = uuid.uuid4().hex
        folder = self.files.folder(job_id)
        folder.mkdir(parents=True)
        received = folder / ".upload"
        try:
            size = 0
            async with await anyio.open_file(received, "wb") as out:
                async for data in body:
                    size += len(data)
                    if size > limit:
                        raise FileTooLarge(f"file: larger than MAX_JOB_FILE_BYTES ({limit} bytes)")
                    if size > room:
                        raise StorageFull(self._full())
                    await out.write(data)
            with received.open("rb") as file:
                head = file.read(len(PARQUET_MAGIC))
            fmt = options.format or detect(None, content_type, head)
            path = self.files.upload_path(job_id, fmt)
            os.replace(received, path)
            return await anyio.to_thread.run_sync(self._queue, job_id, path, True, options, tag, submitter)
        except BaseException:
            self.files.remove(job_id)
            raise

    async def from_path(self, request: PathJob, tag: str, submitter: str) -> Record:
        path = self._confined(request.path)
        return await anyio.to_thread.run_sync(self._queue, uuid.uuid4().hex, path, False, request, tag, submitter)

    def _confined(self, given: str) -> Path:
        root = self.settings.data_dir.resolve()
        try:
            resolved = (root / given).resolve()
        except (OSError, ValueError):
            raise InvalidInput("path: not a usable file path") from None
        if not resolved.is_relative_to(root):
            raise OutsideDataDir("path: must point inside DATA_DIR")
        if resolved.is_relative_to(self.files.root.resolve()) or not resolved.is_file():
            raise InvalidInput(f"path: no such file under DATA_DIR: {given[:200]}")
        return resolved

    def _queue(self, job_id: str, path: Path, uploaded: bool, options: JobOptions, tag: str, submitter: str) -> Record:
        fmt = options.format or detect(path.name, None, b"")
        rows_total = check_header(path, fmt, self.required)
        stat = path.stat()
        now = time.time()
        record = Record(
            job_id=job_id,
            status=Status.QUEUED,
            input_path=str(path),
            input_format=fmt,
            input_bytes=stat.st_size,
            input_mtime=stat.st_mtime,
            uploaded=uploaded,
            model_tag=tag,
            threshold=self.settings.default_threshold if options.threshold is None else options.threshold,
            as_of=(options.as_of or datetime.now(UTC)).timestamp(),
            chunk_rows=self.settings.job_chunk_rows,
            rows_total=rows_total,
            created_at=now,
            submitter=submitter,
        )
        self.table.add(record)
        return record

    async def _room(self, incoming: int) -> int:
        """Bytes an upload may still take; StorageFull when `incoming` does not fit."""
        used = await anyio.to_thread.run_sync(self.files.used_bytes)
        room = self.settings.job_storage_bytes - used
        if incoming > room:
            raise StorageFull(self._full())
        return room

    def _full(self) -> str:
        return (
            f"job storage is full (JOB_STORAGE_BYTES={self.settings.job_storage_bytes}): delete finished jobs "
            "(DELETE /jobs/{job_id}) or wait for their retention to end"
        )
