"""Model lifecycle in one worker: the routing it serves, and every change to it (load a version,
set the A/B split and shadow), published to the other workers of the server through the fleet."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

import anyio

from .. import archives, store
from ..errors import InvalidInput, ModelNotLoaded, PurchaseError
from ..settings import Settings
from . import metrics
from .background import Background
from .fleet import Fleet, ModelRef, Target
from .loaded import ServingModel, load_version
from .routing import Routing, routing_for

logger = logging.getLogger(__name__)


class ModelManager:
    """Holds this worker's routing; a change is loaded and checked before anything serves it."""

    def __init__(self, settings: Settings, fleet: Fleet | None = None) -> None:
        self.settings = settings
        self.fleet = fleet
        self.routing: Routing | None = None
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
        return load_version(store.get(ref.tag), self.settings, ref.source_path)

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
        logger.info("serving %s", self.routing.primary.tag)

    async def apply(self, target: Target) -> Routing:
        """Serve `target` in this worker; on any error the current routing stays."""
        async with self._load_lock:
            try:
                routing = await anyio.to_thread.run_sync(self._routing_for, target)
            except Exception:
                metrics.record_load(ok=False)
                raise
            metrics.record_load(ok=True)
            previous, self.routing = self.routing, routing
            metrics.record_serving(previous.roles() if previous else {}, routing.roles())
        kept = routing.models()
        for old in (previous.models() if previous else {}).values():
            if old.tag not in kept:
                self.background.spawn(old.close())
        logger.info("serving %s (generation %d)", routing.primary.tag, routing.generation)
        return routing

    async def change(self, edit: Callable[[Target | None], Target]) -> tuple[Routing, int]:
        """Apply `edit` to the fleet's target here, publish it, and wait for every worker.
        Returns the new routing and how many workers serve it."""
        if self.fleet is None:
            return await self.apply(edit(self.routing.target() if self.routing else None)), 1
        async with self.fleet.exclusive():
            current = self.fleet.read() or (self.routing.target() if self.routing else None)
            routing = await self.apply(edit(current))  # raises before anything is published
            published = self.fleet.publish(routing.target())
            self.routing = routing = replace(routing, generation=published.generation)
            self.fleet.acknowledge(published.generation)
            switched = await anyio.to_thread.run_sync(self.fleet.wait_for, published.generation)
        return routing, switched

    async def load(self, ref: ModelRef) -> tuple[Routing, int]:
        """Make `ref` the primary version everywhere; an A/B candidate or shadow equal to it is dropped."""

        def edit(target: Target | None) -> Target:
            if target is None:
                return Target(ref)
            candidate = None if target.candidate and target.candidate.tag == ref.tag else target.candidate
            shadow = None if target.shadow and target.shadow.tag == ref.tag else target.shadow
            return Target(ref, candidate, target.candidate_share if candidate else 0.0, shadow)

        return await self.change(edit)

    async def load_archive(self, model_path: str) -> tuple[Routing, int]:
        path = archives.archive_path(self.settings.model_dir, model_path)
        limits = (self.settings.max_archive_bytes, self.settings.max_archive_members)
        model = await anyio.to_thread.run_sync(archives.import_archive, path, *limits)
        return await self.load(ModelRef(str(model.tag), model_path))

    async def set_traffic(self, candidate: str | None, share: float, shadow: str | None) -> tuple[Routing, int]:
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
