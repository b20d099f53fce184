"""What the workers of a fleet agree on, and the interface of the place where they agree (files of one
server, or Redis for every replica): a committed target, a proposed change, and each worker's state."""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass, field
from typing import Protocol

POLL_S = 0.1  # how often a worker looks for a proposal or a new target
HEARTBEAT_S = 1.0  # how often a worker says it is alive and what it serves
COUNTS_S = 5.0  # how often a server's lead shares its request counts with the fleet (a read of every metrics file)
LIVE_S = 3.0  # a worker silent for longer has left the fleet
PREPARE_TIMEOUT_S = 10.0  # every live worker loads and checks a proposed version within this
ACK_TIMEOUT_S = 10.0  # ...and switches to a committed one within this


@dataclass(frozen=True)
class ModelRef:
    tag: str
    source_path: str | None = None  # the archive it came from, for /model-info


@dataclass(frozen=True)
class Target:
    """What every worker should serve: the primary, and optionally an A/B candidate and a shadow.
    `change` names the proposal it was agreed as, so a worker that prepared it switches at once."""

    primary: ModelRef
    candidate: ModelRef | None = None
    candidate_share: float = 0.0
    shadow: ModelRef | None = None
    generation: int = 0
    published_at: float = field(default_factory=time.time)
    change: str = ""

    @classmethod
    def from_dict(cls, data: dict) -> Target:
        refs = {k: ModelRef(**data[k]) if data.get(k) else None for k in ("primary", "candidate", "shadow")}
        return cls(**{**data, **refs})

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class WorkerState:
    """One worker's heartbeat: the generation it serves, and its vote on the open proposal."""

    worker: str
    generation: int = 0
    error: str | None = None  # why it cannot serve the committed generation
    vote: str = ""  # the proposal it answered
    vote_error: str | None = None  # None: loaded and checked, ready to switch
    at: float = field(default_factory=time.time)

    @classmethod
    def from_dict(cls, data: dict) -> WorkerState:
        return cls(**data)

    def alive(self, now: float) -> bool:
        return now - self.at < LIVE_S


class Coordinator(Protocol):
    """Where the workers of a fleet meet. Every method may raise FleetUnavailable."""

    worker: str  # this worker's name in the fleet
    shares_counts: bool  # whether share_counts reaches other servers (a server's own metrics sum its workers)

    async def snapshot(self) -> tuple[Target | None, Target | None]:
        """The committed target and the open proposal, if any."""

    async def propose(self, target: Target) -> None: ...

    async def withdraw(self, change: str) -> None:
        """Close the proposal `change` without committing it (nothing else if another is open)."""

    async def commit(self, target: Target) -> Target:
        """Make `target` the next generation (above the committed one and `target.generation`, which
        is what the committing worker serves) and close the proposal; returns it as committed."""

    async def report(self, state: WorkerState) -> None: ...

    async def live(self) -> list[WorkerState]:
        """The states of the workers heard from within LIVE_S."""

    def exclusive(self) -> AbstractAsyncContextManager[None]:
        """One change at a time across the fleet."""

    async def share_counts(self, counts: dict[str, dict[str, float]]) -> None:
        """This server's per-version request counts, for `fleet_counts` (a no-op for one server)."""

    async def fleet_counts(self) -> dict[str, dict[str, float]] | None:
        """Per-version counts summed over every replica; None where the server's own are the fleet's."""

    async def close(self) -> None: ...
