"""The loops that keep a worker in step: with the fleet (answer proposals, switch to what is committed,
say it is alive) and, with FOLLOW_PRODUCTION, with the registry's production version."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import replace

import anyio

from ... import store
from ...errors import FleetUnavailable, PurchaseError
from .. import metrics
from ..fleet import Coordinator, ModelRef, Target
from ..fleet.target import COUNTS_S, HEARTBEAT_S, POLL_S
from .manager import ModelManager
from .traffic import Routing

logger = logging.getLogger(__name__)
PRODUCTION_POLL_S = 1.0


class Follower:
    def __init__(self, manager: ModelManager, fleet: Coordinator, lead: bool, follow_production: bool) -> None:
        self.manager = manager
        self.fleet = fleet
        self.lead = lead  # one worker per server shares its counts and follows the registry
        self.follow_production = follow_production
        self.synced = False  # the fleet's target was looked up once (or could not be)
        self._prepared: tuple[str, Routing] | None = None
        self._failed_generation = 0
        self._failing = False
        self._publishing = False

    def start(self) -> None:
        spawn = self.manager.background.spawn
        spawn(self._follow())
        spawn(self._beat())
        if self.follow_production and self.lead:
            spawn(self._follow_production())

    async def _follow(self) -> None:
        """Every worker, forever. Never waits for the lock, so a worker busy making a change (or
        waiting to) still answers the others' proposals."""
        while True:
            try:
                committed, proposal = await self.fleet.snapshot()
                if committed is not None:
                    await self._catch_up(committed)
                elif not self._publishing:  # a Redis that restarted empty: the fleet's models are ours
                    self._publishing = True
                    self.manager.background.spawn(self._publish_first_target())
                if proposal is not None and proposal.change != self.manager.vote[0]:
                    await self._answer(proposal)
                self._reachable()
            except Exception as exc:  # the loop must outlive any one failure
                self._unreachable(exc)
            self.synced = True
            await asyncio.sleep(POLL_S)

    async def _catch_up(self, target: Target) -> None:
        routing = self.manager.routing
        # Different, not greater: generations start again at 1 when Redis restarts empty.
        if (routing and target.generation == routing.generation) or target.generation == self._failed_generation:
            return
        prepared, self._prepared = self._prepared, None
        try:
            if prepared is not None and target.change and prepared[0] == target.change:
                await self.manager.adopt(replace(prepared[1], generation=target.generation))
            else:
                await self.manager.apply(target)
            self.manager.serve_error = None
        except PurchaseError as exc:
            logger.error("cannot serve generation %d: %s", target.generation, exc.detail)
            self._failed_generation, self.manager.serve_error = target.generation, exc.detail
        await self.manager.report()

    async def _answer(self, proposal: Target) -> None:
        """Phase one of another worker's change: load and check it, and say whether it can serve."""
        try:
            self._prepared = (proposal.change, await self.manager.prepare(proposal))
            self.manager.vote = (proposal.change, None)
        except PurchaseError as exc:
            self.manager.vote = (proposal.change, exc.detail)
        except Exception:
            logger.exception("cannot load the proposed change %s", proposal.change)
            self.manager.vote = (proposal.change, "it failed to load (see this worker's log)")
        await self.manager.report()

    async def _beat(self) -> None:
        shared = -math.inf
        while True:
            try:
                await self.manager.report()
                if self.lead and self.fleet.shares_counts and time.monotonic() - shared >= COUNTS_S:
                    shared = time.monotonic()
                    # Reading every worker's metrics files grows with the series: never on the event loop.
                    await self.fleet.share_counts(await anyio.to_thread.run_sync(metrics.counts_by_version))
            except Exception as exc:
                self._unreachable(exc)
            await asyncio.sleep(HEARTBEAT_S)

    def _unreachable(self, exc: Exception) -> None:
        """Logged once per outage, not ten times a second."""
        if not self._failing:
            self._failing = True
            if isinstance(exc, FleetUnavailable):
                logger.error("%s; serving the current models until it answers", exc.detail)
            else:
                logger.exception("following the fleet failed; retrying")

    def _reachable(self) -> None:
        if self._failing:
            self._failing = False
            logger.info("the fleet answers again")

    async def _publish_first_target(self) -> None:
        """While the fleet has no target, the first worker to see it publishes what it serves, so a
        worker or replica started later joins the fleet's models rather than its own start-up default."""
        try:
            async with self.fleet.exclusive():
                committed, _ = await self.fleet.snapshot()
                routing = self.manager.routing
                if committed is None and routing is not None:
                    published = await self.fleet.commit(routing.target())
                    self.manager.routing = replace(routing, generation=published.generation)
                    await self.manager.report()
        except FleetUnavailable:
            pass  # the follow loop tries again
        finally:
            self._publishing = False

    async def _follow_production(self) -> None:
        """One worker per server: publish each version promoted from now on (a restarted worker must
        not undo a /load-model made since the last promotion)."""
        seen = await anyio.to_thread.run_sync(store.fingerprint)  # first: a change meanwhile is seen next
        last_production = await anyio.to_thread.run_sync(store.production_tag)
        while True:
            await asyncio.sleep(PRODUCTION_POLL_S)
            try:
                now = await anyio.to_thread.run_sync(store.fingerprint)
                if now == seen:  # the store is as it was: nothing to read
                    continue
                seen = now
                production = await anyio.to_thread.run_sync(store.production_tag)
                if production is not None and production != last_production:
                    last_production = production
                    current = self.manager.current
                    if current is None or current.tag != production:
                        await self.manager.load(ModelRef(production))
            except Exception:
                logger.exception("following the production version failed; retrying")
