"""The workers of one server meet in files: BENTOML_HOME/purchase_fleet/<server pid>-<its start time>.

BentoML workers are separate processes behind one socket, so a POST /load-model reaches one of them;
files under a folder named after their parent process are enough to agree on what they all serve.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, replace
from pathlib import Path

import anyio

from .target import Target, WorkerState


class FileFleet:
    shares_counts = False

    def __init__(self, directory: Path, worker: int) -> None:
        self.directory = directory
        self.worker = str(worker)
        directory.mkdir(parents=True, exist_ok=True)
        self._target = directory / "target.json"
        self._proposal = directory / "proposal.json"
        self._read: dict[Path, tuple[tuple[int, int, int], Target | None]] = {}  # by the file's stat

    @classmethod
    def for_this_server(cls, home: Path, worker: int) -> FileFleet:
        """Workers of one `bentoml serve` share a parent process, which names their folder. Its start
        time is part of the name because a pid comes back (in containers the server is often pid 1)."""
        root = home / "purchase_fleet"
        _remove_folders_of_stopped_servers(root)
        return cls(root / process_key(os.getppid()), worker)

    async def snapshot(self) -> tuple[Target | None, Target | None]:
        return self._unchanged_or_read(self._target), self._unchanged_or_read(self._proposal)

    def _unchanged_or_read(self, path: Path) -> Target | None:
        """Every worker asks ten times a second: a stat says whether the file is still the one read
        (each write is a new file renamed into place, so a new inode)."""
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        seen = self._read.get(path)
        if seen is None or seen[0] != key:
            seen = self._read[path] = key, _read_target(path)
        return seen[1]

    async def propose(self, target: Target) -> None:
        self._write(self._proposal, target.as_dict())

    async def withdraw(self, change: str) -> None:
        proposal = _read_target(self._proposal)
        if proposal is not None and proposal.change == change:
            self._proposal.unlink(missing_ok=True)

    async def commit(self, target: Target) -> Target:
        """Write the next generation atomically (readers see the old file or the new, never half)."""
        current = _read_target(self._target)
        generation = max(current.generation if current else 0, target.generation) + 1
        committed = replace(target, generation=generation, published_at=time.time())
        self._write(self._target, committed.as_dict())
        self._proposal.unlink(missing_ok=True)
        return committed

    async def report(self, state: WorkerState) -> None:
        self._write(self.directory / f"worker-{self.worker}.json", asdict(state))

    async def live(self) -> list[WorkerState]:
        now = time.time()
        states = []
        for path in sorted(self.directory.glob("worker-*.json")):
            try:
                state = WorkerState.from_dict(json.loads(path.read_text()))
            except (OSError, ValueError, TypeError):
                continue
            if state.alive(now):
                states.append(state)
        return states

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Waits for the lock in a thread, so the event loop keeps serving."""
        with open(self.directory / "lock", "w") as handle:
            await anyio.to_thread.run_sync(fcntl.flock, handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    async def share_counts(self, counts: dict[str, dict[str, float]]) -> None:
        return None  # the server's metrics already sum its workers

    async def fleet_counts(self) -> dict[str, dict[str, float]] | None:
        return None

    async def close(self) -> None:
        return None

    def _write(self, path: Path, data: dict) -> None:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)


def _read_target(path: Path) -> Target | None:
    try:
        return Target.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return None


def process_key(pid: int) -> str:
    """`<pid>-<start time in clock ticks since boot>`, or just the pid where /proc says nothing."""
    try:
        start = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return str(pid)
    return f"{pid}-{start}"


def _remove_folders_of_stopped_servers(root: Path) -> None:
    if not root.is_dir():
        return
    for folder in root.iterdir():
        pid = folder.name.split("-")[0]
        if pid.isdigit() and process_key(int(pid)) != folder.name:
            shutil.rmtree(folder, ignore_errors=True)
