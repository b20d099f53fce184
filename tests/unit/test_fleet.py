"""The two places a fleet meets pass the same contract: files (the workers of one server) and Redis
(every replica; a real redis-server started by the tests). Then the Redis-only parts: the lock that
must still be held at commit, the shared cache level and the fleet's rate limits, with Redis down too."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis as redis_client
import redis.asyncio as aioredis

from devtools.server import ServerProcess, free_port
from purchase.errors import FleetUnavailable
from purchase.serving import metrics
from purchase.serving.edge.fleet_rate_limit import FleetRateLimiter
from purchase.serving.edge.security import RateLimiter
from purchase.serving.fleet import Coordinator, ModelRef, Target, WorkerState
from purchase.serving.fleet.files import FileFleet, process_key
from purchase.serving.fleet.redis_fleet import COUNTS_FORGET_S, PREFIX, RedisFleet
from purchase.serving.fleet.target import HEARTBEAT_S, LIVE_S
from purchase.serving.models.follower import Follower
from purchase.serving.models.manager import ModelManager
from purchase.serving.models.shared_cache import SharedCache
from purchase.settings import Settings

V1, V2 = Target(ModelRef("m:v1")), Target(ModelRef("m:v2"), change="c2")


def client(port: int) -> aioredis.Redis:
    return aioredis.Redis(port=port, socket_timeout=0.5, socket_connect_timeout=0.5, decode_responses=True)


@pytest.fixture(params=["files", "redis"])
def make_fleet(request: pytest.FixtureRequest, tmp_path: Path, redis: ServerProcess) -> Callable[[int], Coordinator]:
    """A factory of worker `n`'s view of one empty fleet (each asyncio.run needs its own client)."""
    if request.param == "redis":
        redis_client.Redis(port=redis.port).flushall()
        return lambda worker: RedisFleet(client(redis.port), worker)
    return lambda worker: FileFleet(tmp_path / "fleet", worker)


def run(scenario: Callable[..., Awaitable[Any]], *fleets: Coordinator) -> Any:
    async def main() -> Any:
        try:
            return await scenario(*fleets)
        finally:
            for fleet in fleets:
                await fleet.close()

    return asyncio.run(main())


def test_a_proposal_is_seen_withdrawn_only_by_its_own_id_and_closed_by_a_commit(make_fleet: Callable) -> None:
    async def scenario(fleet: Coordinator) -> None:
        assert await fleet.snapshot() == (None, None)
        await fleet.propose(V2)
        assert (await fleet.snapshot())[1] == V2
        await fleet.withdraw("another change")
        assert (await fleet.snapshot())[1] == V2
        await fleet.withdraw("c2")
        assert await fleet.snapshot() == (None, None)
        await fleet.propose(V2)
        async with fleet.exclusive():
            committed = await fleet.commit(V2)
        assert committed.generation == 1 and committed.primary == V2.primary
        assert await fleet.snapshot() == (committed, None)

    run(scenario, make_fleet(1))


def test_generations_rise_above_the_committed_one_and_the_committing_worker(make_fleet: Callable) -> None:
    async def scenario(fleet: Coordinator) -> list[int]:
        async with fleet.exclusive():
            first = await fleet.commit(V1)
            second = await fleet.commit(V2)
            above_worker = await fleet.commit(Target(ModelRef("m:v3"), generation=7))
        return [first.generation, second.generation, above_worker.generation]

    assert run(scenario, make_fleet(1)) == [1, 2, 8]


def test_redis_forgets_heartbeats_a_minute_old(redis: ServerProcess) -> None:
    redis_client.Redis(port=redis.port).flushall()

    async def scenario(fleet: RedisFleet) -> set[str]:
        await fleet._client.hset(
            PREFIX + "workers", "gone", json.dumps(asdict(WorkerState("gone", at=time.time() - 61)))
        )
        await fleet._client.hset(
            PREFIX + "workers", "late", json.dumps(asdict(WorkerState("late", at=time.time() - 30)))
        )
        assert await fleet.live() == []
        return set(await fleet._client.hkeys(PREFIX + "workers"))

    assert run(scenario, RedisFleet(client(redis.port), 1)) == {"late"}  # silent, but not yet forgotten


def test_live_workers_are_those_heard_from_lately(make_fleet: Callable) -> None:
    async def scenario(one: Coordinator, two: Coordinator) -> list[WorkerState]:
        await one.report(WorkerState(one.worker, generation=3, vote="c", vote_error="not found"))
        await two.report(WorkerState(two.worker, generation=2, at=time.time() - LIVE_S - 0.1))
        return await one.live()

    fleets = make_fleet(1), make_fleet(2)
    [state] = run(scenario, *fleets)
    assert (state.worker, state.generation, state.vote, state.vote_error) == (fleets[0].worker, 3, "c", "not found")


def test_changes_are_serialized(make_fleet: Callable) -> None:
    async def scenario(one: Coordinator, two: Coordinator) -> list[str]:
        order: list[str] = []

        async def change(fleet: Coordinator, name: str) -> None:
            async with fleet.exclusive():
                order.append(f"{name} in")
                await asyncio.sleep(0.2)
                order.append(f"{name} out")

        await asyncio.gather(change(one, "a"), change(two, "b"))
        return order

    order = run(scenario, make_fleet(1), make_fleet(2))
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])


def test_counts_are_summed_over_servers(redis: ServerProcess) -> None:
    redis_client.Redis(port=redis.port).flushall()

    async def scenario(one: RedisFleet, two: RedisFleet) -> dict | None:
        two.replica = "another-server"
        await one.share_counts({"v1": {"primary_requests": 3.0}})
        await one.share_counts({"v1": {"primary_requests": 5.0}})  # cumulative: replaces, never adds
        await two.share_counts({"v1": {"primary_requests": 2.0}, "v2": {"candidate_requests": 1.0}})
        return await one.fleet_counts()

    fleets = RedisFleet(client(redis.port), 1), RedisFleet(client(redis.port), 1)
    assert run(scenario, *fleets) == {"v1": {"primary_requests": 7.0}, "v2": {"candidate_requests": 1.0}}


def test_a_server_s_counts_are_forgotten_a_while_after_its_last_share(redis: ServerProcess) -> None:
    """Each restart shares under a new name: without a bound the hash grows for ever."""
    shared = redis_client.Redis(port=redis.port)
    shared.flushall()
    stale = {"at": time.time() - COUNTS_FORGET_S - 1, "counts": {"v1": {"primary_requests": 9.0}}}
    shared.hset(PREFIX + "counts", mapping={"gone": json.dumps(stale), "older": json.dumps({"v1": {}})})

    async def scenario(fleet: RedisFleet) -> dict | None:
        await fleet.share_counts({"v1": {"primary_requests": 2.0}})
        return await fleet.fleet_counts()

    assert run(scenario, RedisFleet(client(redis.port), 1)) == {"v1": {"primary_requests": 2.0}}
    assert shared.hkeys(PREFIX + "counts") == [RedisFleet(client(redis.port), 1).replica.encode()]
    assert 0 < shared.ttl(PREFIX + "counts") <= COUNTS_FORGET_S  # a fleet gone altogether leaves nothing


def test_a_commit_after_the_lock_was_lost_changes_nothing(redis: ServerProcess) -> None:
    redis_client.Redis(port=redis.port).flushall()

    async def scenario(fleet: RedisFleet) -> Target | None:
        async with fleet.exclusive():
            await fleet._client.delete(PREFIX + "lock")  # expired while the change went on
            with pytest.raises(FleetUnavailable, match="outlived its lock"):
                await fleet.commit(V2)
        return (await fleet.snapshot())[0]

    assert run(scenario, RedisFleet(client(redis.port), 1)) is None


def test_redis_down_is_fleet_unavailable() -> None:
    async def scenario(fleet: RedisFleet) -> None:
        for call in (fleet.snapshot(), fleet.live(), fleet.report(WorkerState("w"))):
            with pytest.raises(FleetUnavailable, match="Redis"):
                await call
        with pytest.raises(FleetUnavailable):
            async with fleet.exclusive():
                pass

    run(scenario, RedisFleet(client(free_port()), 1))


def test_the_shared_cache_keeps_versions_apart_and_misses_while_redis_is_down(redis: ServerProcess) -> None:
    async def scenario(up: SharedCache, down: SharedCache) -> tuple[list, list, list]:
        keys = [up.key("v1", b"row-a"), up.key("v1", b"row-b")]
        up.put([(keys[0], 0.25)])
        await asyncio.sleep(0.1)  # written behind the answer
        other_version = await up.get([up.key("v2", b"row-a")])
        return await up.get(keys), other_version, await down.get(keys)

    up, down = SharedCache(client(redis.port), 60), SharedCache(client(free_port()), 60)
    found, other_version, while_down = asyncio.run(scenario(up, down))
    assert found == [0.25, None] and other_version == [None] and while_down == [None, None]


def test_the_fleet_bucket_is_shared_and_a_worker_bucket_takes_over_while_redis_is_down(redis: ServerProcess) -> None:
    redis_client.Redis(port=redis.port).flushall()

    async def scenario() -> tuple[list[float], list[float]]:
        one = FleetRateLimiter(client(redis.port), 3, 1.0, fallback=RateLimiter(1, 1.0))
        two = FleetRateLimiter(client(redis.port), 3, 1.0, fallback=RateLimiter(1, 1.0))
        shared = [await limiter.acquire("caller") for limiter in (one, two, one, two)]
        down = FleetRateLimiter(client(free_port()), 3, 1.0, fallback=RateLimiter(1, 1.0))
        return shared, [await down.acquire("caller") for _ in range(2)]

    shared, while_down = asyncio.run(scenario())
    assert shared[:3] == [0.0, 0.0, 0.0] and 0.5 < shared[3] <= 1.0  # three tokens among both workers
    assert while_down[0] == 0.0 and 0.5 < while_down[1] <= 1.0  # the fallback's own bucket of one


def test_a_worker_silent_for_live_s_has_left() -> None:
    now = time.time()
    assert WorkerState("w", at=now - LIVE_S + 0.01).alive(now) and not WorkerState("w", at=now - LIVE_S).alive(now)


def test_one_server_s_folder_is_made_and_stopped_servers_folders_removed(tmp_path: Path) -> None:
    root = tmp_path / "home" / "purchase_fleet"
    fleet = FileFleet.for_this_server(tmp_path / "home", 1)  # a fresh home: its parents are made too
    assert fleet.directory.parent == root and fleet.directory.is_dir()
    assert fleet.directory.name == process_key(os.getppid()) and fleet.worker == "1"
    (fleet.directory / "target.json").write_text("{}")  # this server's, to keep
    stopped = root / "999999999-1"  # no such process
    stopped.mkdir()
    other = root / "not-a-server"
    other.mkdir()
    again = FileFleet.for_this_server(tmp_path / "home", 2)
    assert again.directory == fleet.directory and again.worker == "2"
    assert (fleet.directory / "target.json").exists() and not stopped.exists() and other.exists()


def test_files_skip_an_unreadable_heartbeat_and_stamp_commits(tmp_path: Path) -> None:
    fleet = FileFleet(tmp_path / "fleet", 1)
    (fleet.directory / "worker-0.json").write_text("{not json")

    async def scenario() -> tuple[list[WorkerState], Target]:
        await fleet.report(WorkerState(fleet.worker, generation=4))
        async with fleet.exclusive():
            committed = await fleet.commit(Target(ModelRef("m:v1"), published_at=0.0))
        return await fleet.live(), committed

    before = time.time()
    states, committed = asyncio.run(scenario())
    assert [s.generation for s in states] == [4] and before <= committed.published_at <= time.time()


def test_a_redis_proposal_expires_and_commits_are_stamped(redis: ServerProcess) -> None:
    redis_client.Redis(port=redis.port).flushall()

    async def scenario(fleet: RedisFleet) -> tuple[int, Target]:
        await fleet.propose(V2)
        ttl = await fleet._client.pttl(PREFIX + "proposal")
        async with fleet.exclusive():
            committed = await fleet.commit(Target(ModelRef("m:v1"), published_at=0.0))
        return ttl, committed

    before = time.time()
    ttl, committed = run(scenario, RedisFleet(client(redis.port), 1))
    assert 0 < ttl <= 20_000 and before <= committed.published_at <= time.time()


def test_shared_cache_keys_expire_and_a_failure_is_logged_once(
    redis: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(up: SharedCache, down: SharedCache) -> tuple[tuple[int, float], list, list]:
        key = up.key("v1", b"row")
        started = time.monotonic()
        up.put([(key, 0.5)])
        await asyncio.sleep(0.1)
        ttl = (await up._client.pttl(key), (time.monotonic() - started) * 1000)
        up._breaker.trip()  # while the breaker is open, nothing is read or written
        up.put([(up.key("v1", b"other"), 0.5)])
        await asyncio.sleep(0.1)
        skipped = [await up.get([key]), await up._client.get(up.key("v1", b"other"))]
        misses = [await down.get([key, key]), await down.get([key])]  # the second: the breaker, not Redis
        down.put([(key, 0.5)])
        return ttl, skipped, misses

    up, down = SharedCache(client(redis.port), 600), SharedCache(client(free_port()), 600)
    assert len(up.key("v1", b"row")) == len("purchase:cache:v1:") + 32
    ttl, skipped, misses = asyncio.run(scenario(up, down))
    (left, elapsed_ms) = ttl  # the lifetime set, less the time since the write: at most what has elapsed
    assert (
        600_000 - elapsed_ms - 1 <= left <= 600_000 and skipped == [[None], None] and misses == [[None, None], [None]]
    )
    warnings = [r.getMessage() for r in caplog.records if "shared cache is unavailable" in r.getMessage()]
    assert len(warnings) == 1 and "Connect" in warnings[0]


def test_fleet_buckets_expire_once_full_and_a_failure_is_logged_once(
    redis: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    redis_client.Redis(port=redis.port).flushall()

    async def scenario() -> tuple[int, float]:
        limiter = FleetRateLimiter(client(redis.port), 4, 2.0, fallback=RateLimiter(1, 1.0))
        await limiter.acquire("caller")
        shared = limiter._take.registered_client
        expires_at_ms = int(await shared.execute_command("PEXPIRETIME", "purchase:ratelimit:caller"))
        ttl = (expires_at_ms, float(await shared.hget("purchase:ratelimit:caller", "at")) * 1000)  # Redis's clock
        down = FleetRateLimiter(client(free_port()), 3, 1.0, fallback=RateLimiter(5, 1.0))
        for _ in range(3):
            await down.acquire("caller")
        return ttl

    expires_at_ms, taken_at_ms = asyncio.run(scenario())
    # The lifetime the script gives the key, both ends read from Redis (no time measured here): a full
    # refill (capacity 4 / rate 2 = 2 s) plus a second; 1 ms for rounding to whole milliseconds.
    lifetime_ms = expires_at_ms - taken_at_ms
    assert abs(lifetime_ms - (4 / 2.0 + 1) * 1000) <= 1
    warnings = [r.getMessage() for r in caplog.records if "rate limits are unavailable" in r.getMessage()]
    assert len(warnings) == 1 and "Connect" in warnings[0]


def test_a_server_is_named_by_its_pid_and_start_time() -> None:
    """The start time (clock ticks after boot, as the kernel counts) tells a server from a later
    process that reuses its pid; a process that is gone is named by its pid alone."""
    process = psutil.Process(os.getppid())
    ticks = round((process.create_time() - psutil.boot_time()) * os.sysconf("SC_CLK_TCK"))
    pid, start = process_key(process.pid).split("-")
    assert int(pid) == process.pid and abs(int(start) - ticks) <= 2
    assert process_key(999_999_999) == "999999999"


def test_the_lead_s_heartbeat_reads_the_counts_off_the_event_loop_and_only_to_share_them(
    make_fleet: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading the metrics files grows with the series (tens of ms): on the event loop it stalls every
    request in flight. One server's fleet shares nothing, so it reads nothing."""
    threads: list[int] = []

    def counts() -> dict[str, dict[str, float]]:
        threads.append(threading.get_ident())
        return {"v1": {"primary_requests": 1.0}}

    monkeypatch.setattr(metrics, "counts_by_version", counts)
    fleet = make_fleet(1)

    async def scenario(fleet: Coordinator) -> int:
        follower = Follower(ModelManager(Settings(), fleet), fleet, lead=True, follow_production=False)
        beat = asyncio.ensure_future(follower._beat())
        await asyncio.sleep(HEARTBEAT_S * 2.5)
        beat.cancel()
        return threading.get_ident()

    loop_thread = run(scenario, fleet)
    if fleet.shares_counts:
        assert threads and loop_thread not in threads
    else:
        assert threads == []
