"""One job, in a process of its own (`python -m purchase.jobs.work JOB_ID OWNER`), started by a worker's
runner at a lower CPU priority: online requests keep the cores, and cancelling is ending a process.
It saves a part per chunk and records its progress after each, so a restart resumes after the last."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from .. import store
from ..errors import PurchaseError, StoreUnavailable
from ..features import ID_FIELDS, REQUIRED_FEATURES
from ..online import open_store
from ..online.filling import FeatureFiller
from ..outcomes import open_log
from ..outcomes.records import Judged, OutcomeLog, judged_user
from ..settings import Settings, get_settings
from .files import JobFiles
from .inputs import UNREADABLE, chunks, count_rows, first_line
from .schemas import Status
from .scoring import Model, ScoredChunk, StoreFailed, score_chunk, tally
from .table import JobTable, Record, SqliteJobTable

logger = logging.getLogger("purchase.jobs")


class Stopped(Exception):
    """The job is no longer this process's: cancelled, taken over, or its worker is gone."""


class Failed(Exception):
    """The job cannot complete; the message is the reason it reports."""


def places(settings: Settings) -> tuple[JobTable, JobFiles]:
    """The table (Redis with REDIS_URL, else SQLite) and the files (DATA_DIR/jobs, shared by replicas)."""
    root = settings.data_dir / "jobs"
    if settings.redis_url:
        from .redis_table import RedisJobTable

        return RedisJobTable(settings.redis_url), JobFiles(root)
    return SqliteJobTable(root / "jobs.sqlite"), JobFiles(root)


async def run(record: Record, owner: str, settings: Settings, table: JobTable, files: JobFiles) -> None:
    path = Path(record.input_path)
    stat = path.stat() if path.exists() else None
    if stat is None or stat.st_size != record.input_bytes or stat.st_mtime != record.input_mtime:
        raise Failed("the input file changed or disappeared since the job was submitted")
    bento_model = store.get(record.model_tag)
    booster, preprocessor = store.load(bento_model)
    booster.set_param({"nthread": 1})  # one core at most, and at a lower priority
    feature_store = open_store(settings)
    outcomes = Outcomes(open_log(settings), record, bento_model.tag.version or "", settings.outcome_share)
    model = Model(
        booster,
        preprocessor,
        record.threshold,
        record.as_of,
        FeatureFiller(feature_store) if feature_store is not None else None,
        ID_FIELDS if feature_store is not None else (*ID_FIELDS, *REQUIRED_FEATURES),
    )
    total = record.rows_total if record.rows_total is not None else count_rows(path, record.input_format)
    _save(table, record, owner, rows_total=total)
    done, failed, tallies = record.rows_done, record.rows_failed, record.tallies()
    parent = os.getppid()
    try:
        for chunk in chunks(path, record.input_format, record.chunk_rows, skip=done):
            if os.getppid() != parent:
                raise Stopped  # the worker died: another takes the job over once it is stale
            scored = await score_chunk(chunk, model)
            files.save_part(record.job_id, chunk.start, scored.results, scored.refused)
            done, failed = done + chunk.size, failed + scored.refused.num_rows
            tallies = tally(tallies, scored.probabilities, record.threshold)
            _save(table, record, owner, rows_done=done, rows_failed=failed, summary=json.dumps(tallies))
            await outcomes.note(scored)
            if failed > settings.job_max_bad_row_share * total:
                files.merge(record.job_id)  # the errors file, to see why
                raise Failed(
                    f"{failed} rows refused, more than JOB_MAX_BAD_ROW_SHARE={settings.job_max_bad_row_share:g}"
                    f" of {total}: see the errors file"
                )
    finally:
        if feature_store is not None:
            await feature_store.close()
        await outcomes.close()
    files.merge(record.job_id)
    _save(table, record, owner, status=Status.SUCCEEDED)


class Outcomes:
    """The judged users' rows of each chunk, to the outcome log as /predict's are (arm `job`, the time
    the job's as_of). Written once the chunk's progress is saved, so a resumed job records no row twice;
    a log that cannot be reached loses them, said once."""

    def __init__(self, log: OutcomeLog | None, record: Record, version: str, share: float) -> None:
        self.log, self.record, self.version, self.share = log, record, version, share
        self.lost = 0

    async def note(self, scored: ScoredChunk) -> None:
        if self.log is None:
            return
        users, items = scored.results.column("user_id").to_pylist(), scored.results.column("item_id").to_pylist()
        judged = [
            Judged(self.record.as_of, user, item, self.version, "job", int(segment), float(p))
            for user, item, segment, p in zip(users, items, scored.segments, scored.probabilities.tolist())
            if judged_user(user, self.share)
        ]
        if not judged:
            return
        try:
            await self.log.add(judged)
        except StoreUnavailable as exc:
            if not self.lost:
                logger.warning("job %s: outcomes not recorded (%s)", self.record.job_id, exc.detail)
            self.lost += len(judged)

    async def close(self) -> None:
        if self.lost:
            logger.warning("job %s: %d rows' outcomes not recorded", self.record.job_id, self.lost)
        if self.log is not None:
            await self.log.close()


def _save(table: JobTable, record: Record, owner: str, **changes: object) -> None:
    if not table.update(record.job_id, owner, **changes):
        raise Stopped


def main(job_id: str, owner: str) -> int:
    settings = get_settings()
    os.nice(settings.job_nice)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    table, files = places(settings)
    record = table.get(job_id)
    if record is None or record.owner != owner or record.status is not Status.RUNNING:
        return 0
    try:
        asyncio.run(run(record, owner, settings, table, files))
    except Stopped:
        logger.info("job %s stopped: no longer this process's to run", job_id)
    except (Failed, StoreFailed) as exc:
        table.update(job_id, owner, status=Status.FAILED, reason=str(exc))
    except PurchaseError as exc:  # the version was deleted, or cannot be served
        table.update(job_id, owner, status=Status.FAILED, reason=exc.detail)
    except UNREADABLE as exc:
        reason = f"the input file cannot be read: {first_line(exc, Path(record.input_path))}"
        table.update(job_id, owner, status=Status.FAILED, reason=reason)
    logger.info("job %s: %s", job_id, (table.get(job_id) or record).status)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
