"""Several replicas acting as one through Redis (REDIS_URL): two `bentoml serve` servers of two workers
each, one Redis of their own (this file stops and restarts it). Replica A shares the tests' model
store; replica B has a copy of it made at its start (the image-per-version path), so a version saved
later exists on A only."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import requests

from devtools.server import ServerProcess, redis_server
from purchase import store
from purchase.examples import SPEC_CURL
from purchase.serving.fleet.target import COUNTS_S, HEARTBEAT_S
from purchase.serving.models.traffic import user_bucket
from tests.helpers import Trained, request_row
from tests.integration.conftest import start
from tests.integration.test_faults import worker_pids
from tests.integration.test_lifecycle import load, post
from tests.integration.test_service import cache_rows

REPLICA_ENV = {"API_WORKERS": "2", "ONLINE_FEATURES": "false", "ENABLE_CACHING": "true", "CACHE_SIZE": "1000"}


@dataclass
class Fleet:
    redis: ServerProcess
    a: ServerProcess
    b: ServerProcess
    folder: Path
    extra: list[ServerProcess] = field(default_factory=list)

    @property
    def servers(self) -> tuple[ServerProcess, ServerProcess]:
        return self.a, self.b

    def restart_redis(self) -> None:
        self.redis = redis_server(self.folder / "redis-again.log", port=self.redis.port)


def copied_store(folder: Path) -> Path:
    """A BENTOML_HOME holding a copy of the tests' models as they are now."""
    home = folder / "home-b"
    shutil.copytree(Path(os.environ["BENTOML_HOME"]) / "models", home / "models", symlinks=False)
    return home


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory, v1: Trained, v2: Trained) -> Iterator[Fleet]:
    folder = tmp_path_factory.mktemp("replicas")
    redis = redis_server(folder / "redis.log")
    env = {**REPLICA_ENV, "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0", "DEFAULT_MODEL": str(v1.model.tag)}
    a = start(tmp_path_factory, "replica-a", env, "/readyz")
    b = start(tmp_path_factory, "replica-b", {**env, "BENTOML_HOME": str(copied_store(folder))}, "/readyz")
    running = Fleet(redis, a, b, folder)
    deadline = time.monotonic() + 60  # /readyz answered for one worker of each; the other may still start
    while load(a, v1.model.tag)["workers_total"] < 4:
        assert time.monotonic() < deadline, "the four workers never joined the fleet"
        time.sleep(0.5)
    yield running
    for server in (a, b, *running.extra, running.redis):
        server.stop()


@pytest.fixture
def replicas(fleet: Fleet, v1: Trained) -> Fleet:
    """Each test starts with v1 alone on both replicas, with Redis up."""
    if fleet.redis.process.poll() is not None:
        fleet.restart_redis()
    answer = load(fleet.a, v1.model.tag)
    assert answer["workers_switched"] == answer["workers_total"] == 4
    cleared = post(fleet.a, "/traffic", {})
    assert cleared.status_code == 200, cleared.text
    return fleet


def serving(server: ServerProcess, n: int = 24) -> dict[str, set[str]]:
    """{worker: versions it answered with} over n requests (the kernel spreads them over workers)."""
    seen: dict[str, set[str]] = {}
    with ThreadPoolExecutor(6) as pool:
        for answer in pool.map(lambda _: post(server, "/predict", SPEC_CURL), range(n)):
            assert answer.status_code == 200, answer.text
            seen.setdefault(answer.headers["x-worker"], set()).add(answer.json()["model_version"])
    return seen


def every_worker(server: ServerProcess, rounds: int = 10) -> dict[str, set[str]]:
    """`serving`, repeated until both workers have answered (at most `rounds` rounds of 12 requests)."""
    seen: dict[str, set[str]] = {}
    for _ in range(rounds):
        for worker, versions in serving(server, 12).items():
            seen.setdefault(worker, set()).update(versions)
        if len(seen) == 2:
            break
    return seen


def test_swaps_under_load_reach_every_worker_of_every_replica(
    replicas: Fleet, v1: Trained, v2: Trained, test_rows: pd.DataFrame
) -> None:
    """(a) 10 swaps under 16 clients over both replicas: no failed request, every answer is the named
    version's own, and every request sent to any worker of either replica after a swap's answer is
    answered by the new version (the answer comes once every worker has switched)."""
    rows = [request_row(r) for _, r in test_rows.iloc[:40].iterrows()]
    expected = {v.version: v.probabilities(test_rows.iloc[:40]) for v in (v1, v2)}
    stop, failures, answers = threading.Event(), [], Counter[str]()

    def client(k: int) -> None:
        server, n = replicas.servers[k % 2], 0
        while not stop.is_set() and n < 2000:
            n += 1
            row = k % len(rows)
            response = post(server, "/predict", {"features": [rows[row]], "return_probabilities": True})
            if response.status_code != 200:
                failures.append(response.text)
                continue
            body = response.json()
            version = body["model_version"]
            answers[version] += 1
            if abs(body["predictions"][0]["probability"] - expected[version][row]) > 1e-6:
                failures.append(f"row {row} answered by {version} with another version's probability")

    with ThreadPoolExecutor(16) as pool:
        clients = [pool.submit(client, k) for k in range(16)]
        try:
            for swap in range(10):
                new = (v2, v1)[swap % 2]
                answer = load(replicas.servers[swap % 2], new.model.tag)
                assert answer["workers_switched"] == answer["workers_total"] == 4
                for server in replicas.servers:  # every request sent after the answer gets the new version
                    seen = every_worker(server)
                    assert len(seen) == 2 and all(v == {new.version} for v in seen.values()), f"swap {swap}: {seen}"
        finally:
            stop.set()
        for c in clients:
            c.result()
    assert failures == []
    assert answers[v1.version] > 0 and answers[v2.version] > 0


def test_a_change_one_replica_cannot_load_fails_everywhere(replicas: Fleet, v1: Trained) -> None:
    """(b) A version saved after replica B started exists on A only: loading it fails with 409 naming
    B's worker, and every worker of both replicas still serves v1."""
    only_on_a = store.save(v1.result.booster, v1.result.preprocessor, v1.result.metadata, promote=False)
    response = post(replicas.a, "/load-model", {"model_tag": str(only_on_a.tag)})
    assert response.status_code == 409, response.text
    assert "nothing changed" in response.json()["detail"] and "not found" in response.json()["detail"].lower()
    for server in replicas.servers:
        assert set().union(*serving(server).values()) == {v1.version}
    traffic = post(replicas.b, "/traffic", {"shadow": str(only_on_a.tag)})
    assert traffic.status_code == 404, traffic.text  # B's own store does not have it either
    after = load(replicas.b, v1.model.tag)  # and the fleet still takes changes
    assert after["workers_switched"] == 4


def test_the_ab_split_is_the_same_on_every_replica(replicas: Fleet, v1: Trained, v2: Trained) -> None:
    """(c) Sticky per user, and the same user gets the same version whichever replica answers."""
    split = post(replicas.b, "/traffic", {"candidate": str(v2.model.tag), "candidate_share": 0.5})
    assert split.status_code == 200, split.text
    assert split.json()["workers_switched"] == split.json()["workers_total"] == 4
    for n in range(30):
        user = f"user_{n:06d}"
        body = {"features": [{**SPEC_CURL["features"][0], "user_id": user}]}
        versions = {post(server, "/predict", body).json()["model_version"] for server in replicas.servers}
        assert versions == {v2.version if user_bucket(user) < 0.5 else v1.version}, user


def settled(read: Callable[[], float]) -> float:
    """The value once it has stayed the same for longer than each lead takes to share its counts."""
    value, deadline = read(), time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(COUNTS_S + HEARTBEAT_S)
        value, previous = read(), value
        if value == previous:
            return value
    raise AssertionError(f"the fleet's counts never settled (last {value})")


def test_model_info_counts_requests_of_the_whole_fleet(replicas: Fleet, v1: Trained) -> None:
    def primary_requests() -> float:
        info = requests.get(replicas.b.url + "/model-info", timeout=10).json()
        return info["versions"].get(v1.version, {}).get("primary_requests", 0.0)

    before = settled(primary_requests)  # earlier tests' requests may still be on their way to Redis
    for _ in range(20):
        assert post(replicas.a, "/predict", SPEC_CURL).status_code == 200
    deadline = time.monotonic() + 5
    while primary_requests() < before + 20 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert primary_requests() == before + 20  # counted on A, seen from B


def test_the_shared_cache_answers_across_replicas(replicas: Fleet, test_rows: pd.DataFrame) -> None:
    """Rows scored on A are answered on B from the shared level (B's own LRU never saw them)."""
    rows = [request_row(r) for _, r in test_rows.iloc[200:230].iterrows()]
    first = post(replicas.a, "/predict", {"features": rows, "return_probabilities": True})
    time.sleep(0.5)  # the shared level is written behind the answer
    hits_before = cache_rows(replicas.b, "shared").get("hit", 0.0)
    second = post(replicas.b, "/predict", {"features": rows, "return_probabilities": True})
    assert second.json()["predictions"] == first.json()["predictions"]
    assert cache_rows(replicas.b, "shared").get("hit", 0.0) == hits_before + len(rows)


def test_a_replica_started_later_serves_the_current_target_and_a_frozen_one_blocks_nothing(
    replicas: Fleet, tmp_path_factory: pytest.TempPathFactory, v1: Trained, v2: Trained
) -> None:
    assert load(replicas.a, v2.model.tag)["workers_total"] == 4
    env = {**REPLICA_ENV, "API_WORKERS": "1", "REDIS_URL": replicas.a.env["REDIS_URL"]}
    late = start(tmp_path_factory, "replica-c", {**env, "DEFAULT_MODEL": str(v1.model.tag)}, "/readyz")
    replicas.extra.append(late)
    assert set().union(*serving(late, 6).values()) == {v2.version}  # the fleet's, not its own default
    assert load(replicas.a, v1.model.tag)["workers_total"] == 5
    # Frozen, it stops answering proposals and heartbeats: the next change waits until it has left
    # the fleet (LIVE_S), then goes on; nothing is split.
    frozen = [late.process.pid, *worker_pids(late)]
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        answer = load(replicas.b, v2.model.tag)
        assert answer["workers_switched"] == answer["workers_total"] == 4
        for server in replicas.servers:
            assert set().union(*serving(server).values()) == {v2.version}
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGKILL)
        late.stop()


def test_redis_stopped_under_load_then_back(replicas: Fleet, v1: Trained, v2: Trained) -> None:
    """(e) Predictions keep answering from local state (never a 500), admin changes answer 503 with
    Retry-After, and once Redis is back (empty) the fleet takes changes again without a restart."""
    stop, statuses = threading.Event(), Counter[int]()

    def client(k: int) -> None:
        n = 0
        while not stop.is_set() and n < 3000:
            n += 1
            statuses[post(replicas.servers[k % 2], "/predict", SPEC_CURL).status_code] += 1

    with ThreadPoolExecutor(4) as pool:
        clients = [pool.submit(client, k) for k in range(4)]
        try:
            time.sleep(0.5)
            replicas.redis.stop()
            time.sleep(1.0)
            for server in replicas.servers:
                refused = post(server, "/load-model", {"model_tag": str(v2.model.tag)})
                assert refused.status_code == 503, refused.text
                assert refused.headers["retry-after"] == "1" and "Redis" in refused.json()["detail"]
            time.sleep(1.0)
            replicas.restart_redis()
            time.sleep(1.0)
        finally:
            stop.set()
        for c in clients:
            c.result()
    assert set(statuses) == {200} and statuses[200] > 50, statuses
    deadline = time.monotonic() + 10  # heartbeats come back within HEARTBEAT_S
    while (answer := post(replicas.a, "/load-model", {"model_tag": str(v2.model.tag)})).json().get(
        "workers_total"
    ) != 4 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert answer.status_code == 200 and answer.json()["workers_switched"] == 4, answer.text
    for server in replicas.servers:
        assert set().union(*serving(server).values()) == {v2.version}


@pytest.fixture(scope="session")
def limited(tmp_path_factory: pytest.TempPathFactory, fleet: Fleet, v1: Trained) -> Iterator[list[ServerProcess]]:
    """Two more replicas of two workers, limited to RATE_LIMIT fleet-wide (their own Redis database)."""
    env = {**REPLICA_ENV, "REDIS_URL": f"redis://127.0.0.1:{fleet.redis.port}/1", "RATE_LIMIT": f"{RATE}/second"}
    servers = [start(tmp_path_factory, f"limited-{k}", env, "/readyz") for k in range(2)]
    yield servers
    for server in servers:
        server.stop()


RATE = 40


def accepted_within(calls: list[tuple[float, int]]) -> tuple[int, float]:
    ok = [t for t, status in calls if status == 200]
    assert {status for _, status in calls} <= {200, 429}
    return len(ok), max(ok) - min(ok)


@pytest.mark.parametrize("connections", [1, 8])
def test_the_rate_limit_holds_across_replicas_and_workers(limited: list[ServerProcess], connections: int) -> None:
    """(d) 2 replicas x 2 workers let RATE_LIMIT through, within 10%, over one connection or many."""
    time.sleep(1.5)  # a full bucket: the burst below is RATE tokens
    calls: list[tuple[float, int]] = []
    deadline = time.monotonic() + 3.0

    def client(k: int) -> None:
        with requests.Session() as session:  # keep-alive: one connection, pinned to one worker
            while time.monotonic() < deadline:
                answer = session.post(limited[k % 2].url + "/predict", json=SPEC_CURL, timeout=10)
                calls.append((time.monotonic(), answer.status_code))

    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(client, range(connections)))
    accepted, span = accepted_within(calls)
    allowed = RATE + RATE * span  # the burst, then the refill
    # Fewer calls than that (a slow machine) must all pass: the lower bound follows what was sent.
    assert 0.9 * min(allowed, len(calls)) <= accepted <= 1.1 * allowed, (accepted, allowed, len(calls))
