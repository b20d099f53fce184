"""Keeps every worker of one server on the same models: a shared target file, acknowledgements, a lock.

BentoML workers are separate processes behind one socket, so a POST /load-model reaches one of them.
That worker loads and checks the model, then publishes the fleet's new target; every worker watches
the target (one stat call every POLL_S), loads what it names and acknowledges. The publishing worker
answers once every worker has acknowledged, or after ACK_TIMEOUT_S, saying how many have.
Files live in BENTOML_HOME/purchase_fleet/<server pid>-<its start time>: one folder per running server.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import anyio

POLL_S = 0.1
ACK_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ModelRef:
    tag: str
    source_path: str | None = None  # the archive it came from, for /model-info


@dataclass(frozen=True)
class Target:
    """What every worker should serve: the primary, and optionally an A/B candidate and a shadow."""

    primary: ModelRef
    candidate: ModelRef | None = None
    candidate_share: float = 0.0
    shadow: ModelRef | None = None
    generation: int = 0
    published_at: float = field(default_factory=time.time)

    @classmethod
    def from_dict(cls, data: dict) -> Target:
        refs = {k: ModelRef(**data[k]) if data.get(k) else None for k in ("primary", "candidate", "shadow")}
        return cls(**{**data, **refs})


class Fleet:
    def __init__(self, directory: Path, worker: int, workers: int) -> None:
        self.directory = directory
        self.worker = worker
        self.workers = workers
        directory.mkdir(parents=True, exist_ok=True)
        self._target = directory / "target.json"
        self._seen_mtime = 0

    @classmethod
    def for_this_server(cls, home: Path, worker: int, workers: int) -> Fleet:
        """Workers of one `bentoml serve` share a parent process, which names their folder. Its start
        time is part of the name because a pid comes back (in containers the server is often pid 1)."""
        root = home / "purchase_fleet"
        _remove_folders_of_stopped_servers(root)
        return cls(root / _process_key(os.getppid()), worker, workers)

    def read(self) -> Target | None:
        try:
            return Target.from_dict(json.loads(self._target.read_text()))
        except FileNotFoundError:
            return None

    def changed(self) -> bool:
        """True once after each new publication (cheap enough to ask ten times a second)."""
        try:
            mtime = self._target.stat().st_mtime_ns
        except FileNotFoundError:
            return False
        if mtime == self._seen_mtime:
            return False
        self._seen_mtime = mtime
        return True

    def publish(self, target: Target) -> Target:
        """Write the next generation atomically (readers see the old file or the new, never half)."""
        current = self.read()
        target = Target(
            **{**target.__dict__, "generation": (current.generation if current else 0) + 1, "published_at": time.time()}
        )
        tmp = self._target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(target)))
        os.replace(tmp, self._target)
        return target

    def acknowledge(self, generation: int, error: str | None = None) -> None:
        ack = {"generation": generation, "pid": os.getpid(), "error": error}
        tmp = self.directory / f"worker-{self.worker}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(ack))
        os.replace(tmp, self.directory / f"worker-{self.worker}.json")

    def acknowledged(self, generation: int) -> int:
        """Workers serving `generation` (or a later one) without error."""
        count = 0
        for path in self.directory.glob("worker-*.json"):
            try:
                ack = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            count += ack["generation"] >= generation and ack["error"] is None
        return count

    def wait_for(self, generation: int, timeout_s: float = ACK_TIMEOUT_S) -> int:
        """Blocking: how many workers serve `generation`, once all do or the time is up."""
        deadline = time.monotonic() + timeout_s
        while (switched := self.acknowledged(generation)) < self.workers and time.monotonic() < deadline:
            time.sleep(POLL_S / 4)
        return switched

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """One model change at a time across all workers of this server (waits in a thread)."""
        with open(self.directory / "lock", "w") as handle:
            await anyio.to_thread.run_sync(fcntl.flock, handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _process_key(pid: int) -> str:
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
        if pid.isdigit() and _process_key(int(pid)) != folder.name:
            shutil.rmtree(folder, ignore_errors=True)
