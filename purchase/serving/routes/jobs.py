"""Batch jobs over HTTP (docs/how-to/batch-jobs.md): submit a file, follow it, cancel it, download its result
and its errors. Thin: the work is in purchase.jobs, and the job runs in a process of its own."""

from __future__ import annotations

from typing import Protocol

import anyio
from fastapi import Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import AwareDatetime, ValidationError

from ... import store
from ...errors import FileTooLarge, InvalidInput, JobNotFound, JobNotReady
from ...examples import SPEC_EXAMPLE
from ...features import ID_FIELDS, REQUIRED_FEATURES
from ...jobs.files import JobFiles, csv_chunks
from ...jobs.schemas import FINISHED, Format, Job, JobList, JobOptions, PathJob, Status, Storage
from ...jobs.submit import Submissions
from ...jobs.table import JobTable, Record
from ...jobs.views import job_view
from ...schemas import TAG_PATTERN, describe_validation_errors
from ...settings import get_settings
from ..edge.route_table import DeclaredRouter
from ..edge.security import Access, Caller
from ..models.manager import ModelManager
from .deps import CALLER, SERVICE, errors

settings = get_settings()
router = DeclaredRouter()
router.limit_body("/jobs", settings.max_job_file_bytes)
router.document_body("PathJob", PathJob)
FILE = {"schema": {"type": "string", "format": "binary"}}
# A file this server takes: the header of the columns it needs, and the spec example's row.
COLUMNS = (*ID_FIELDS, *([] if settings.online_features else REQUIRED_FEATURES))
EXAMPLE_CSV = ",".join(COLUMNS) + "\n" + ",".join(str(SPEC_EXAMPLE["features"][0][c]) for c in COLUMNS) + "\n"
SUBMIT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {**FILE, "example": EXAMPLE_CSV},
            "application/vnd.apache.parquet": FILE,
            "application/x-ndjson": FILE,
            "application/json": {"schema": {"$ref": "#/components/schemas/PathJob"}},
        },
    }
}


# The routes of one job, which POST /jobs's answer links to (so a client or a fuzzer can follow it).
JOB_ROUTES = [
    ("GetJob", "get_job"),
    ("CancelJob", "cancel_job"),
    ("JobResult", "job_result"),
    ("JobErrors", "job_errors"),
    ("DeleteJob", "delete_job"),
]
JOB_LINKS = {name: {"operationId": op, "parameters": {"job_id": "$response.body#/job_id"}} for name, op in JOB_ROUTES}


class Serving(Protocol):
    models: ModelManager
    job_table: JobTable
    job_files: JobFiles
    submissions: Submissions


@router.post(
    "/jobs",
    Access.PREDICT,
    status_code=202,
    response_model=Job,
    responses={
        **errors(400, 401, 403, 404, 413, 429, 503, 507),
        202: {"links": JOB_LINKS},
    },
    openapi_extra=SUBMIT_BODY,
    operation_id="submit_job",
)
async def submit_job(
    request: Request,
    response: Response,
    format: Format | None = Query(None, description="default: from the Content-Type or the content"),
    threshold: float | None = Query(None, ge=0, le=1, description="default: DEFAULT_THRESHOLD"),
    as_of: AwareDatetime | None = Query(None, description="online features as of this time; default: now"),
    model: str | None = Query(None, pattern=TAG_PATTERN, description="a stored tag; default: the version serving"),
    serving: Serving = SERVICE,
    caller: Caller = CALLER,
) -> Job:
    """Queue a file of /predict rows: the file itself as the body (CSV, Parquet or NDJSON), or JSON naming
    a file under DATA_DIR. Answers at once with the job; its columns were checked from the header."""
    content_type = request.headers.get("content-type")
    if content_type is not None and content_type.split(";", 1)[0].strip().lower() == "application/json":
        path_job = _path_job(await _small_body(request))
        tag = await _tag(path_job.model or model, serving)
        record = await serving.submissions.from_path(path_job, tag, caller.key_id)
    else:
        options = JobOptions(format=format, threshold=threshold, as_of=as_of, model=model)
        length = request.headers.get("content-length")
        tag = await _tag(model, serving)
        record = await serving.submissions.upload(
            request.stream(), int(length) if length else None, content_type, options, tag, caller.key_id
        )
    response.headers["Location"] = f"/jobs/{record.job_id}"
    return job_view(record, settings.job_retention_hours)


async def _small_body(request: Request) -> bytes:
    body = b""
    async for data in request.stream():
        body += data
        if len(body) > settings.max_body_bytes:
            raise FileTooLarge(f"Request body larger than {settings.max_body_bytes} bytes")
    return body


def _path_job(body: bytes) -> PathJob:
    try:
        return PathJob.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_errors(exc.errors())) from None


async def _tag(model: str | None, serving: Serving) -> str:
    """The version that scores the whole job: the one named, else the primary serving now."""
    if model is None:
        return serving.models.require().primary.tag
    return str((await anyio.to_thread.run_sync(store.get, model)).tag)


@router.get("/jobs", Access.PREDICT, response_model=JobList, responses=errors(401, 403, 429))
async def list_jobs(
    limit: int = Query(100, ge=1, le=1000, description="the newest jobs first"),
    serving: Serving = SERVICE,
    caller: Caller = CALLER,
) -> JobList:
    """The caller's jobs (an admin key's: everyone's), newest first, and the disk all jobs use against
    JOB_STORAGE_BYTES."""
    submitter = None if caller.sees_all else caller.key_id
    records = await anyio.to_thread.run_sync(serving.job_table.newest, limit, submitter)
    used = await anyio.to_thread.run_sync(serving.job_files.used_bytes)
    storage = Storage(
        used_bytes=used, limit_bytes=settings.job_storage_bytes, retention_hours=settings.job_retention_hours
    )
    return JobList(jobs=[job_view(r, settings.job_retention_hours) for r in records], storage=storage)


async def _record(job_id: str, serving: Serving, caller: Caller) -> Record:
    """Another key's job is answered as one that does not exist: its id tells nothing."""
    record = await anyio.to_thread.run_sync(serving.job_table.get, job_id)
    if record is None or not caller.may_see(record.submitter):
        raise JobNotFound(f"job {job_id[:64]!r}: no such job (or removed after its retention)")
    return record


@router.get(
    "/jobs/{job_id}", Access.PREDICT, response_model=Job, responses=errors(401, 403, 404, 429), operation_id="get_job"
)
async def get_job(job_id: str, serving: Serving = SERVICE, caller: Caller = CALLER) -> Job:
    return job_view(await _record(job_id, serving, caller), settings.job_retention_hours)


@router.post(
    "/jobs/{job_id}/cancel",
    Access.PREDICT,
    response_model=Job,
    responses=errors(401, 403, 404, 409, 429),
    operation_id="cancel_job",
)
async def cancel_job(job_id: str, serving: Serving = SERVICE, caller: Caller = CALLER) -> Job:
    """A queued job never starts; a running one stops within a second (its process is ended)."""
    before = await _record(job_id, serving, caller)
    record = await anyio.to_thread.run_sync(serving.job_table.cancel, job_id, "cancelled by request")
    if record is None:
        raise JobNotFound(f"job {job_id[:64]!r}: no such job")
    if before.status in FINISHED or record.status is not Status.CANCELLED:
        raise JobNotReady(f"job {job_id} has already {record.status.value}: nothing to cancel")
    if record.owner is None:  # never started: no process will tidy it
        await anyio.to_thread.run_sync(serving.job_files.tidy, record)
    return job_view(record, settings.job_retention_hours)


@router.delete(
    "/jobs/{job_id}", Access.PREDICT, status_code=204, responses=errors(401, 403, 404, 429), operation_id="delete_job"
)
async def delete_job(job_id: str, serving: Serving = SERVICE, caller: Caller = CALLER) -> Response:
    """The job and its files, now (a running job is cancelled first)."""
    await _record(job_id, serving, caller)
    await anyio.to_thread.run_sync(serving.job_table.cancel, job_id, "deleted by request")
    await anyio.to_thread.run_sync(serving.job_table.delete, job_id)
    await anyio.to_thread.run_sync(serving.job_files.remove, job_id)
    return Response(status_code=204)


@router.get(
    "/jobs/{job_id}/result",
    Access.PREDICT,
    responses={
        **errors(401, 403, 404, 409, 429),
        200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}},
    },
    operation_id="job_result",
)
async def job_result(
    job_id: str,
    format: Format = Query(Format.CSV, description="csv or parquet"),
    serving: Serving = SERVICE,
    caller: Caller = CALLER,
) -> Response:
    """Scored rows in the input's order: row, user_id, item_id, prediction, probability, confidence."""
    record = await _record(job_id, serving, caller)
    if record.status is not Status.SUCCEEDED:
        raise JobNotReady(f"job {job_id} is {record.status.value}: its result is ready once it has succeeded")
    path = serving.job_files.result(job_id)
    headers = {"X-Model-Version": record.model_tag}
    if format is Format.PARQUET:
        return FileResponse(
            path, media_type="application/vnd.apache.parquet", filename=f"{job_id}.parquet", headers=headers
        )
    if format is Format.CSV:
        headers["Content-Disposition"] = f'attachment; filename="{job_id}.csv"'
        return StreamingResponse(csv_chunks(path), media_type="text/csv", headers=headers)
    raise InvalidInput("format: csv or parquet")


@router.get(
    "/jobs/{job_id}/errors",
    Access.PREDICT,
    responses={**errors(401, 403, 404, 409, 429), 200: {"content": {"text/csv": {}}}},
    operation_id="job_errors",
)
async def job_errors(job_id: str, serving: Serving = SERVICE, caller: Caller = CALLER) -> Response:
    """Refused rows (CSV: row, user_id, item_id, reason), once the job has finished."""
    record = await _record(job_id, serving, caller)
    path = serving.job_files.errors(job_id)
    if record.status not in FINISHED or not path.exists():
        raise JobNotReady(f"job {job_id} is {record.status.value}: no errors file (yet)")
    return FileResponse(path, media_type="text/csv", filename=f"{job_id}-errors.csv")
