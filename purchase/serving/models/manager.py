"""Model lifecycle in one worker: the routing it serves, and every change to it (load a version,
set the A/B split and shadow), agreed with every other worker of the fleet before anything switches."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace

import anyio

from ... import archives, store
from ...errors import ChangeRefused, FleetUnavailable, InvalidInput, ModelNotLoaded, PurchaseError
from ...settings import Settings
from .. import metrics
from ..background import Background
from ..fleet import Coordinator, ModelRef, Target, WorkerState
from ..fleet.target import ACK_TIMEOUT_S, POLL_S, PREPARE_TIMEOUT_S
from .shared_cache import SharedCache
from .traffic import Routing, routing_for
from .version import ServingModel, load_version

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Changed:
    """A change made across the fleet: what this worker serves now, and how many of the live workers do."""

    routing: Routing
    switched: int
    total: int


class ModelManager:
    """Holds this worker's routing; a change is loaded and checked before anything serves it."""

    def __init__(
        self, settings: Settings, fleet: Coordinator | None = None, shared_cache: SharedCache | None = None
    ) -> None:
        self.settings = settings
        self.fleet = fleet
        self.shared_cache = shared_cache
        self.routing: Routing | None = None
        self.serve_error: str | None = None  # why the fleet's committed target cannot be served here
        self.vote: tuple[str, str | None] = ("", None)  # the last proposal answered, and any refusal
        self.background = Background()
        self._load_lock = asyncio.Lock()

    @property
    def current(self) -> ServingModel | None:
        return self.routing.primary if self.routing else None

    def require(self) -> Routing:
        if self.routing is None:
            raise ModelNotLoaded()
        return self.routing

    def _load(self, ref: ModelRef) -> ServingModel:
        return load_version(store.get(ref.tag), self.settings, ref.source_path, self.shared_cache)

    def _routing_for(self, target: Target) -> Routing:
        return routing_for(target, self.routing.models() if self.routing else {}, self._load)

    def load_initial(self, default_tag: str | None) -> None:
        """Blocking, at start: `default_tag`, else the newest production version that loads (else the newest
        version that does), with AB_MODEL and SHADOW_MODEL. A version that cannot serve is skipped, and logged."""
        primary = None
        for model in store.default_models(default_tag):
            try:
                primary = self._load(ModelRef(str(model.tag)))
                break
            except PurchaseError as exc:
                logger.error("cannot serve %s at start, trying the next version: %s", model.tag, exc.detail)
        if primary is None:
            raise ModelNotLoaded(
                f"the model store holds no servable {store.MODEL_NAME}: serving nothing until /load-model"
            )
        candidate = ModelRef(str(store.get(self.settings.ab_model).tag)) if self.settings.ab_model else None
        shadow = ModelRef(str(store.get(self.settings.shadow_model).tag)) if self.settings.shadow_model else None
        share = self.settings.ab_share if candidate else 0.0
        self.routing = routing_for(
            Target(ModelRef(primary.tag), candidate, share, shadow), {primary.tag: primary}, self._load
        )
        metrics.record_load(ok=True)
        metrics.record_serving({}, self.routing.roles())
        logger.info("serving %s from the model store in %s", self.routing.primary.tag, store.location())

    async def prepare(self, target: Target) -> Routing:
        """Load and check what `target` needs, without serving it."""
        async with self._load_lock:
            return await self._prepare(target)

    async def _prepare(self, target: Target) -> Routing:
        try:
            routing = await anyio.to_thread.run_sync(self._routing_for, target)
        except Exception:
            metrics.record_load(ok=False)
            raise
        metrics.record_load(ok=True)
        return routing

    def switch(self, routing: Routing) -> None:
        """Serve `routing` from the next request on; versions it drops finish their queued requests."""
        previous, self.routing = self.routing, routing
        metrics.record_serving(previous.roles() if previous else {}, routing.roles())
        kept = routing.models()
        for old in (previous.models() if previous else {}).values():
            if old.tag not in kept:
                self.background.spawn(old.close())
        logger.info("serving %s (generation %d)", routing.primary.tag, routing.generation)

    async def adopt(self, routing: Routing) -> None:
        """Serve a routing prepared earlier (phase two of a change)."""
        async with self._load_lock:
            self.switch(routing)

    async def apply(self, target: Target) -> Routing:
        """Serve `target` in this worker; on any error the current routing stays."""
        async with self._load_lock:
            routing = await self._prepare(target)
            self.switch(routing)
        return routing

    def state(self) -> WorkerState:
        assert self.fleet is not None
        generation = self.routing.generation if self.routing else 0
        return WorkerState(self.fleet.worker, generation, self.serve_error, *self.vote)

    async def report(self) -> None:
        if self.fleet is not None:
            await self.fleet.report(self.state())

    async def change(self, edit: Callable[[Target | None], Target]) -> Changed:
        """Two phases: every live worker loads and checks the new target (any refusal or silence ends
        the change with nothing switched), then all switch. Answers once all have, or ACK_TIMEOUT_S."""
        if self.fleet is None:
            return Changed(await self.apply(edit(self.routing.target() if self.routing else None)), 1, 1)
        fleet = self.fleet
        async with fleet.exclusive():
            committed, _ = await fleet.snapshot()
            current = committed or (self.routing.target() if self.routing else None)
            served = self.routing.generation if self.routing else 0
            target = replace(edit(current), generation=served, change=uuid.uuid4().hex)
            routing = await self.prepare(target)  # raises before anything is proposed
            await fleet.propose(target)
            try:
                self.vote = (target.change, None)
                await self.report()
                await self._agreed(target.change)
            except BaseException:
                with suppress(FleetUnavailable):
                    await fleet.withdraw(target.change)
                raise
            committed = await fleet.commit(target)
            routing = replace(routing, generation=committed.generation)
            await self.adopt(routing)
            await self.report()
            switched, total = await self._switched(committed.generation)
        return Changed(routing, switched, total)

    async def _agreed(self, change: str) -> None:
        assert self.fleet is not None
        deadline = time.monotonic() + PREPARE_TIMEOUT_S
        while True:
            states = await self.fleet.live()
            for state in states:
                if state.vote == change and state.vote_error is not None:
                    raise ChangeRefused(f"worker {state.worker} cannot serve it, nothing changed: {state.vote_error}")
            waiting = sorted(s.worker for s in states if s.vote != change)
            if not waiting:
                return
            if time.monotonic() > deadline:
                silent = ", ".join(waiting)
                raise ChangeRefused(f"no answer within {PREPARE_TIMEOUT_S:g} s from {silent}: nothing changed")
            await asyncio.sleep(POLL_S / 4)

    async def _switched(self, generation: int) -> tuple[int, int]:
        """How many live workers serve `generation`, out of how many, once all do or the time is up.
        This server's own workers count even before their first heartbeat (one may still be starting)."""
        assert self.fleet is not None
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while True:
            states = await self.fleet.live()
            switched = sum(s.generation == generation and s.error is None for s in states)
            total = max(len(states), self.settings.api_workers)
            if switched >= total or time.monotonic() > deadline:
                return switched, total
            await asyncio.sleep(POLL_S / 4)

    async def load(self, ref: ModelRef) -> Changed:
        """Make `ref` the primary version everywhere; an A/B candidate or shadow equal to it is dropped."""

        def edit(target: Target | None) -> Target:
            if target is None:
                return Target(ref)
            candidate = None if target.candidate and target.candidate.tag == ref.tag else target.candidate
            shadow = None if target.shadow and target.shadow.tag == ref.tag else target.shadow
            return Target(ref, candidate, target.candidate_share if candidate else 0.0, shadow)

        return await self.change(edit)

    async def load_archive(self, model_path: str) -> Changed:
        path = archives.archive_path(self.settings.model_dir, model_path)
        limits = (self.settings.max_archive_bytes, self.settings.max_archive_members)
        model = await anyio.to_thread.run_sync(archives.import_archive, path, *limits)
        return await self.load(ModelRef(str(model.tag), model_path))

    async def set_traffic(self, candidate: str | None, share: float, shadow: str | None) -> Changed:
        """A/B split and shadow; the primary stays. Tags are resolved (404) before anything changes."""
        candidate_ref = ModelRef(str(store.get(candidate).tag)) if candidate else None
        shadow_ref = ModelRef(str(store.get(shadow).tag)) if shadow else None

        def edit(target: Target | None) -> Target:
            if target is None:
                raise ModelNotLoaded()
            for ref in (candidate_ref, shadow_ref):
                if ref and ref.tag == target.primary.tag:
                    raise InvalidInput(f"{ref.tag} is the primary version already")
            return Target(target.primary, candidate_ref, share if candidate_ref else 0.0, shadow_ref)

        return await self.change(edit)
