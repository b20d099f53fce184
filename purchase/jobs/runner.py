"""In every worker: start queued jobs while fewer than JOB_CONCURRENCY run, each in a process of its own
(purchase.jobs.work); keep the jobs it runs alive in the table, end those cancelled, take over jobs whose
worker stopped, and remove finished jobs past their retention."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import anyio

from ..settings import Settings
from . import metrics
from .files import JobFiles
from .schemas import FINISHED, Status
from .table import JobTable, Record

logger = logging.getLogger("purchase.jobs")
POLL_S = 0.5
SWEEP_EVERY_S = 60.0  # or a quarter of the retention, when shorter


class JobRunner:
    def __init__(self, table: JobTable, files: JobFiles, settings: Settings, worker: int) -> None:
        self.table = table
        self.files = files
        self.settings = settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{worker}"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._counted: dict[str, tuple[int, int]] = {}  # rows done and refused, as last counted
        self._swept = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                await anyio.to_thread.run_sync(self.tick)
            except Exception:  # the table or the disk failed this time: the next poll tries again
                logger.exception("job runner")
            await asyncio.sleep(POLL_S)

    def tick(self) -> None:
        for job_id, process in list(self.processes.items()):
            record = self.table.get(job_id)
            if record is not None:
                self._count(record)
            ours = record is not None and record.status is Status.RUNNING and record.owner == self.owner
            if ours and process.poll() is None:
                continue
            del self.processes[job_id]
            self._counted.pop(job_id, None)
            if record is not None and record.status in FINISHED:
                metrics.record_finished(record.status)
            if ours:  # the process ended without finishing the job: resumed later, or failed
                reason = f"its process stopped (exit {process.returncode})"
                self.table.release(job_id, self.owner, reason, self.settings.job_max_attempts)
                continue
            process.kill()  # finished, cancelled, deleted or taken over: stop now, whatever chunk it is in
            process.wait()
            if record is None:
                self.files.remove(job_id)
            elif record.status in FINISHED:
                self.files.tidy(record)
        if self.processes:  # no write transaction each poll while this worker runs nothing
            self.table.heartbeat(self.owner, list(self.processes))
        queued, running = self.table.active()  # a read: with no job anywhere, nothing to write
        if running:
            for job_id in self.table.recover(self.settings.job_stale_s, self.settings.job_max_attempts):
                logger.warning("job %s: its worker stopped; queued again to resume (or failed)", job_id)
        claimed = self.table.claim(self.owner, self.settings.job_concurrency) if queued else None
        if claimed is not None:
            logger.info("job %s: started (attempt %d)", claimed.job_id, claimed.attempts)
            self.processes[claimed.job_id] = subprocess.Popen(
                [sys.executable, "-m", "purchase.jobs.work", claimed.job_id, self.owner]
            )
            self._counted[claimed.job_id] = claimed.rows_done, claimed.rows_failed  # a resumed job's rows
            queued, running = self.table.active()
        metrics.record_active(queued, running)
        if time.monotonic() - self._swept > min(SWEEP_EVERY_S, self.settings.job_retention_hours * 900):
            self._swept = time.monotonic()
            self.sweep()

    def _count(self, record: Record) -> None:
        done, failed = self._counted.get(record.job_id, (record.rows_done, record.rows_failed))
        new_failed = record.rows_failed - failed
        metrics.record_rows(scored=record.rows_done - done - new_failed, refused=new_failed)
        self._counted[record.job_id] = record.rows_done, record.rows_failed

    def sweep(self) -> None:
        """Finished jobs past JOB_RETENTION_HOURS: their files and their row."""
        for record in self.table.finished_before(time.time() - self.settings.job_retention_hours * 3600):
            self.files.remove(record.job_id)
            self.table.delete(record.job_id)
            logger.info("job %s: removed after its retention", record.job_id)

    async def stop(self) -> None:
        """At shutdown: end the processes and queue their jobs again, to resume at once after a restart."""
        if self._task is not None:
            self._task.cancel()
        for job_id, process in self.processes.items():
            process.send_signal(signal.SIGTERM)
            process.wait()
            self.table.release(job_id, self.owner, "the server stopped", self.settings.job_max_attempts + 1)
