"""The two online stores pass the same contract: the embedded SQLite store and Redis (a real
redis-server, started by the tests). Each test runs against both."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import redis as redis_client

from devtools.server import ServerProcess, redis_server
from purchase.errors import StoreUnavailable
from purchase.features import BEHAVIOUR_FEATURES
from purchase.online import backfill as backfill_module
from purchase.online.backfill import backfill, stored_events
from purchase.online.definitions import DAY_S, behaviour_features, price_features
from purchase.online.records import FeatureStore, StoredEvent
from purchase.online.redis_store import RedisStore
from purchase.online.sqlite_store import SqliteStore
from purchase.segments import SEGMENTS, Segment, segment_codes
from purchase.training import events as offline
from purchase.training import synthetic
from purchase.training.sampling import Sampling

T0 = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
LONG = 400 * DAY_S  # retention that keeps everything


def event(days: float, kind: str, item: str, price: float, user: str = "u", session: str | None = "s1",
          event_id: str | None = None, code: str | None = "books.fiction") -> StoredEvent:  # fmt: skip
    t = T0 + days * DAY_S
    return StoredEvent(event_id or f"{user}-{item}-{kind}-{t}", t, kind, user, item, session, price, code)


HISTORY = [
    event(-40, "view", "a", 50.0, session="s0"),  # beyond the window: neither counted nor the base price
    event(-2, "view", "a", 10.0),
    event(-2 + 60 / DAY_S, "cart", "a", 10.0),
    event(-1, "view", "b", 20.0, session="s2", code="toys.games"),
    event(1, "purchase", "a", 8.0, session="s3"),  # after t: the price in effect, not a behaviour
]


@pytest.fixture(params=["sqlite", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path, redis: ServerProcess) -> Callable[[float], FeatureStore]:
    """A factory (each asyncio.run needs its own Redis client) of one empty store of each kind."""
    if request.param == "redis":
        redis_client.Redis(port=redis.port).flushall()
        return lambda retention_s: RedisStore(redis.url.replace("http", "redis"), retention_s, 1.0)
    return lambda retention_s: SqliteStore(tmp_path / "features.sqlite", retention_s, 1.0)


def run(make: Callable[[float], FeatureStore], scenario: Callable[[FeatureStore], Awaitable[Any]],
        retention_s: float = LONG) -> Any:  # fmt: skip
    async def main() -> Any:
        store = make(retention_s)
        try:
            return await scenario(store)
        finally:
            await store.close()

    return asyncio.run(main())


def test_a_lookup_finds_the_window_and_the_prices_around_t(make_store: Callable[[float], FeatureStore]) -> None:
    async def scenario(store: FeatureStore) -> None:
        assert await store.newest() is None
        result = await store.write(HISTORY)
        assert await store.newest() == HISTORY[4].t
        assert (result.stored, result.duplicates, result.expired) == (5, 0, 0)
        found = await store.lookup(["u", "u"], ["a", "b", "c"], T0)
        assert sorted(e.t for e in found.users["u"]) == [h.t for h in HISTORY[1:4]]
        assert {(e.event_type, e.item_id, e.session) for e in found.users["u"]} == {
            ("view", "a", "s1"), ("cart", "a", "s1"), ("view", "b", "s2")
        }  # fmt: skip
        a, b, c = found.items["a"], found.items["b"], found.items["c"]
        assert a.last_before is not None and (a.last_before.t, a.last_before.price) == (HISTORY[2].t, 10.0)
        assert a.first_after is not None and (a.first_after.t, a.first_after.price) == (HISTORY[4].t, 8.0)
        assert a.window_max == 10.0
        assert b.first_after is None and b.window_max == 20.0
        assert b.last_before is not None and b.last_before.category_code == "toys.games"
        assert c.last_before is None and c.first_after is None and c.window_max is None
        assert price_features(a) == {
            "item_price": 8.0, "item_base_price": 10.0, "item_discount_pct": pytest.approx(20.0),
            "item_category": "books",
        }  # fmt: skip
        assert price_features(c) is None
        assert await store.lookup(["nobody"], [], T0) is not None

    run(make_store, scenario)


def test_a_retried_write_changes_nothing(make_store: Callable[[float], FeatureStore]) -> None:
    async def scenario(store: FeatureStore) -> None:
        await store.write(HISTORY)
        before = await store.lookup(["u"], ["a"], T0)
        again = await store.write(HISTORY)
        assert (again.stored, again.duplicates, again.expired) == (0, 5, 0)
        assert await store.lookup(["u"], ["a"], T0) == before

    run(make_store, scenario)


def test_out_of_order_arrival_gives_the_same_answer(make_store: Callable[[float], FeatureStore]) -> None:
    shuffled = HISTORY[:]
    random.Random(1).shuffle(shuffled)

    async def scenario(store: FeatureStore) -> Any:
        for e in shuffled:
            await store.write([e])
        return await store.lookup(["u"], ["a", "b"], T0)

    in_order = run(make_store, lambda store: _write_then_lookup(store, HISTORY))
    found = run(make_store, scenario)
    assert found.items == in_order.items
    assert sorted(found.users["u"], key=lambda e: e.t) == sorted(in_order.users["u"], key=lambda e: e.t)


async def _write_then_lookup(store: FeatureStore, events: list[StoredEvent]) -> Any:
    await store.write(events)
    return await store.lookup(["u"], ["a", "b"], T0)


def test_events_older_than_the_retention_are_not_kept(make_store: Callable[[float], FeatureStore]) -> None:
    async def scenario(store: FeatureStore) -> None:
        first = await store.write([event(-20, "view", "a", 10.0)])
        assert first.stored == 1
        # A newer event moves the store's clock: 10 days of retention no longer cover day -20.
        late = await store.write([event(0, "view", "b", 20.0), event(-15, "view", "a", 30.0)])
        assert (late.stored, late.expired) == (1, 1)
        # The next write of a user or an item prunes what fell behind (idle keys expire after the retention).
        await store.write([event(1.5, "view", "a", 20.0)])
        found = await store.lookup(["u"], ["a"], T0 - 19 * DAY_S)
        assert found.users["u"] == [] and found.items["a"].last_before is None

    run(make_store, scenario, retention_s=10 * DAY_S)


def test_the_store_computes_what_training_derives(make_store: Callable[[float], FeatureStore]) -> None:
    """In-process parity on both backends: every feature of every offline row (1e-9; NaN where NaN), the
    sampled pairs of every segment included, and a user the log never saw as one without events."""
    log = synthetic.generate(n_users=60, n_days=45, seed=5).events
    times = offline.snapshot_times(log, 28, 7, 7)
    arriving = log["user_id"].iloc[0]  # a user whose events all come after the last as-of time: new until then
    log = log[(log["user_id"] != arriving) | (log["event_time"] >= times[-1])]
    examples = offline.build_examples(log, times, 7, Sampling(unviewed_per_user=10, new_user_items=5))
    codes = segment_codes(examples)
    assert all((codes == k).any() for k in range(len(SEGMENTS)))
    new_user = examples[codes == SEGMENTS.index(Segment.NEW_USER)].iloc[:1]
    examples = pd.concat([examples, new_user.assign(user_id="never-seen")]).sort_values(
        ["as_of", "user_id"], kind="stable", ignore_index=True
    )

    async def scenario(store: FeatureStore) -> list[dict[str, Any]]:
        await backfill(store, log, "synthetic")
        online = []
        for (as_of, user), group in examples.groupby(["as_of", "user_id"], sort=False):
            t = as_of.tz_localize("UTC").timestamp()
            items = list(group["item_id"])
            found = await store.lookup([user], items, t)
            for item, values in zip(items, behaviour_features(found.users[user], items, t)):
                online.append(values | (price_features(found.items[item]) or {}))
        return online

    online = pd.DataFrame(run(make_store, scenario))
    ordered = examples.sort_values(["as_of", "user_id"], kind="stable").reset_index(drop=True)
    assert len(online) == len(ordered) > 500
    for name in (*BEHAVIOUR_FEATURES, "item_price", "item_base_price", "item_discount_pct"):
        assert_same(online[name], ordered[name], name)
    assert online["item_category"].tolist() == ordered["item_category"].tolist()


def assert_same(online: pd.Series, offline_values: pd.Series, name: str) -> None:
    a, b = online.to_numpy(dtype=float), offline_values.to_numpy(dtype=float)
    assert (pd.isna(a) == pd.isna(b)).all(), name
    both = ~pd.isna(a)
    assert all(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9) for x, y in zip(a[both], b[both])), name


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[ServerProcess]:
    server = redis_server(tmp_path / "redis.log")
    yield server
    server.stop()


def test_redis_down_is_unavailable_and_recovers_without_a_new_client(own_redis: ServerProcess, tmp_path: Path) -> None:
    async def scenario() -> None:
        store = RedisStore(own_redis.url.replace("http", "redis"), LONG, 0.5)
        assert (await store.write(HISTORY[:2])).stored == 2
        own_redis.stop()
        with pytest.raises(StoreUnavailable):
            await store.write(HISTORY[2:])
        with pytest.raises(StoreUnavailable):
            await store.lookup(["u"], ["a"], T0)
        restarted = redis_server(tmp_path / "again.log", port=own_redis.port)
        try:
            assert (await store.write(HISTORY[2:])).stored == 3
            assert len((await store.lookup(["u"], ["a"], T0)).users["u"]) == 3 - 1  # the server kept nothing
        finally:
            await store.close()
            restarted.stop()

    asyncio.run(scenario())


def test_a_backfill_sends_what_the_store_keeps_and_loads_once(
    make_store: Callable[[float], FeatureStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 days of events, one a day at noon, in batches of 3, into a store that keeps 10 days."""
    monkeypatch.setattr(backfill_module, "BATCH", 3)
    start = pd.Timestamp("2026-10-01 12:00:00")
    log = pd.DataFrame(
        {
            "event_time": [start + pd.Timedelta(days=d) for d in reversed(range(20))],  # any order
            "event_type": "view",
            "user_id": "u",
            "product_id": "a",
            "user_session": None,
            "price": [float(d) for d in reversed(range(1, 21))],
            "category_code": "books.fiction",
        }
    )

    async def scenario(store: FeatureStore) -> tuple[Any, ...]:
        first, again = await backfill(store, log, "log"), await backfill(store, log, "log")
        found = await store.lookup(["u"], ["a"], (start + pd.Timedelta(days=20)).timestamp())
        await store.write([event((start + pd.Timedelta(days=20)).timestamp() / DAY_S - T0 / DAY_S, "view", "b", 1.0)])
        later = await backfill(store, log, "log")  # the store's clock moved a day: the rows keep their ids
        other = await backfill(store, log.assign(product_id="c"), "another-log")
        return first, again, found, later, other

    first, again, found, later, other = run(make_store, scenario, retention_s=10 * DAY_S)
    assert (first.stored, first.duplicates, first.expired) == (11, 0, 9)  # days 9 to 19 are within 10 of day 19
    assert (again.stored, again.duplicates, again.expired) == (0, 11, 9)
    assert (later.stored, later.duplicates, later.expired) == (0, 10, 10)
    assert other.stored == 10
    assert found.items["a"].last_before is not None and found.items["a"].last_before.price == 20.0
    assert sorted(e.t for e in found.users["u"]) == [(start + pd.Timedelta(days=d)).timestamp() for d in range(9, 20)]


def test_backfilled_events_are_named_by_their_row() -> None:
    log = pd.DataFrame(
        {
            "event_time": [pd.Timestamp("2026-10-01 12:00:00")] * 2,
            "event_type": ["view", "cart"],
            "user_id": "u",
            "product_id": "a",
            "user_session": [None, "s"],
            "price": [1, 2],
            "category_code": [None, "x.y"],
        }
    )
    events = list(stored_events(log, "f.csv", first_row=5))
    assert [e.event_id for e in events] == ["f.csv:5", "f.csv:6"]
    assert events[0].t == pd.Timestamp("2026-10-01 12:00:00", tz="UTC").timestamp()
    assert (events[0].session, events[0].category_code, events[1].price) == (None, None, 2.0)
    assert isinstance(events[1].price, float)


def test_an_id_with_a_nul_character_is_answered_for_itself(make_store: Callable[[float], FeatureStore]) -> None:
    """Schemathesis sent one: SQLite's JSON functions cut such a string short, so the lookup answers by position."""

    async def scenario(store: FeatureStore) -> list[str]:
        return list((await store.lookup(["u\x00v"], ["i\x00j", "k"], 10 * DAY_S)).items)

    assert run(make_store, scenario) == ["i\x00j", "k"]
