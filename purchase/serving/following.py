"""The loops that keep a worker in step: with the other workers of its server (the fleet's target)
and, with FOLLOW_PRODUCTION, with the registry's production version."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import anyio

from .. import store
from ..errors import PurchaseError
from .fleet import POLL_S, Fleet, ModelRef, Target
from .lifecycle import ModelManager

logger = logging.getLogger(__name__)
PRODUCTION_POLL_S = 1.0


class Follower:
    def __init__(self, manager: ModelManager, fleet: Fleet, follow_production: bool) -> None:
        self.manager = manager
        self.fleet = fleet
        self.follow_production = follow_production

    def start(self) -> None:
        spawn = self.manager.background.spawn
        spawn(self._follow_fleet())
        spawn(self._publish_first_target())  # a task of its own: it may wait for the lock
        if self.follow_production and self.fleet.worker == 1:
            spawn(self._follow_production())

    async def _follow_fleet(self) -> None:
        """Every worker, forever: serve what the fleet publishes. Never waits for the lock, so a worker
        busy publishing (or waiting to) still acknowledges the others' changes."""
        while True:
            await asyncio.sleep(POLL_S)
            try:
                if self.fleet.changed():
                    await self._catch_up(self.fleet.read())
            except Exception:  # the loop must outlive any one failure
                logger.exception("following the fleet failed; retrying")

    async def _catch_up(self, target: Target | None) -> None:
        routing = self.manager.routing
        if target is None or (routing and target.generation <= routing.generation):
            return
        try:
            await self.manager.apply(target)
        except PurchaseError as exc:
            logger.error("cannot serve generation %d: %s", target.generation, exc.detail)
            self.fleet.acknowledge(target.generation, error=exc.detail)
            return
        self.fleet.acknowledge(target.generation)

    async def _publish_first_target(self) -> None:
        """The first worker up publishes what it serves, so a worker restarted later (after a crash)
        rejoins the fleet's models rather than its own start-up default."""
        if self.manager.routing is None:
            return
        async with self.fleet.exclusive():
            routing = self.manager.routing
            if self.fleet.read() is None and routing is not None:
                published = self.fleet.publish(routing.target())
                self.manager.routing = replace(routing, generation=published.generation)
                self.fleet.acknowledge(published.generation)

    async def _follow_production(self) -> None:
        """One worker per server: publish each version promoted from now on (a restarted worker must
        not undo a /load-model made since the last promotion)."""
        last_production = await anyio.to_thread.run_sync(store.production_tag)
        while True:
            await asyncio.sleep(PRODUCTION_POLL_S)
            try:
                production = await anyio.to_thread.run_sync(store.production_tag)
                if production is not None and production != last_production:
                    last_production = production
                    current = self.manager.current
                    if current is None or current.tag != production:
                        await self.manager.load(ModelRef(production))
            except Exception:
                logger.exception("following the production version failed; retrying")
