"""Outcomes: the live figures' definitions (DeLong's interval, the A/B verdict), the sticky sample of
users, and both outcome logs (SQLite, and a real redis-server) joining purchases to predictions and
summing the rows they drop into daily history."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis as redis_client
from sklearn.metrics import roc_auc_score

from devtools.server import ServerProcess
from purchase.outcomes.history import HISTORY_DAYS, days, expired
from purchase.outcomes.quality import Z_95, compare, delong_interval, quality
from purchase.outcomes.records import Judged, OutcomeLog, Purchase, judged_user
from purchase.outcomes.redis_log import RedisLog
from purchase.outcomes.sqlite_log import SqliteLog
from purchase.serving.models.traffic import user_bucket
from purchase.training.evaluate import evaluate

DAY = 86_400.0


def scores(n: int, signal: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels at a 20 % rate and probabilities that follow them by `signal` (0: none)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(np.float64)
    logit = np.log(0.25) + signal * (y - 0.2) * 4 + rng.normal(0, 1, n)
    return y, 1 / (1 + np.exp(-logit))


def test_delong_s_interval_is_the_pairwise_definition_s() -> None:
    y, p = scores(300, 1.0, 0)
    p[:40] = np.round(p[:40], 1)  # ties count one half
    pos, neg = p[y == 1], p[y == 0]
    pairs = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v_pos, v_neg = pairs.mean(axis=1), pairs.mean(axis=0)
    auc = pairs.mean()
    se = np.sqrt(v_pos.var(ddof=1) / len(pos) + v_neg.var(ddof=1) / len(neg))
    assert delong_interval(y, p) == pytest.approx((auc - Z_95 * se, auc + Z_95 * se), abs=1e-12)
    assert auc == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert delong_interval(np.array([1.0, 0, 0]), np.array([0.9, 0.1, 0.2])) is None  # one positive


def test_live_figures_are_training_s_definitions() -> None:
    y, p = scores(500, 1.0, 1)
    live, offline = quality(y, p), evaluate(y, p)
    assert (live["auc"], live["log_loss"], live["ece"]) == (offline["auc"], offline["log_loss"], offline["ece"])
    assert (live["rows"], live["purchase_rate"]) == (500, y.mean())
    one_class = quality(np.zeros(3), np.array([0.1, 0.2, 0.3]))
    assert one_class["auc"] is None and one_class["log_loss"] == pytest.approx(-np.log([0.9, 0.8, 0.7]).mean())


def test_the_verdict_follows_the_log_loss_at_95_percent() -> None:
    good, noise = scores(4000, 1.5, 2), scores(4000, 0.0, 3)
    assert compare(good, noise, 1000).verdict == "worse"
    assert compare(noise, good, 1000).verdict == "better"
    same = compare(scores(4000, 1.0, 4), scores(4000, 1.0, 5), 1000)
    assert same.verdict == "not yet distinguishable" and same.interval is not None
    assert same.interval[0] < 0 < same.interval[1]
    early = compare(good, noise, 5000)
    assert (early.verdict, early.difference) == ("not yet distinguishable", None)
    assert early.reason == "4000 matured rows in the smaller arm, 5000 needed"


def test_judged_users_are_sticky_a_share_of_all_and_apart_from_the_a_b_split() -> None:
    users = [f"user-{k}" for k in range(20_000)]
    judged = [u for u in users if judged_user(u, 0.1)]
    assert 0.09 < len(judged) / len(users) < 0.11
    assert judged == [u for u in users if judged_user(u, 0.1)]
    assert not any(judged_user(u, 0.0) for u in users) and all(judged_user(u, 1.0) for u in users)
    in_candidate = [user_bucket(u) < 0.5 for u in judged]
    assert 0.45 < sum(in_candidate) / len(judged) < 0.55  # both arms are judged alike


@pytest.fixture(params=["sqlite", "redis"])
def make_log(request: pytest.FixtureRequest, tmp_path: Path, redis: ServerProcess) -> Callable[[], OutcomeLog]:
    retention = 20 * DAY
    if request.param == "redis":
        redis_client.Redis(port=redis.port).flushall()
        return lambda: RedisLog(redis.url.replace("http", "redis"), retention, 7 * DAY, 1.0)
    return lambda: SqliteLog(tmp_path / "outcomes.sqlite", retention, 7 * DAY, 1.0)


def run(make: Callable[[], OutcomeLog], scenario: Callable[[OutcomeLog], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        log = make()
        try:
            return await scenario(log)
        finally:
            await log.close()

    return asyncio.run(main())


def judged(t_days: float, user: str, item: str, p: float = 0.5) -> Judged:
    return Judged(t_days * DAY, user, item, "v1", "primary", 0, p)


def test_a_purchase_within_the_horizon_after_a_prediction_makes_it_positive(make_log: Callable[[], OutcomeLog]) -> None:
    async def scenario(log: OutcomeLog) -> list[tuple[Judged, int]]:
        await log.add([judged(100, "a", "x"), judged(100, "a", "y"), judged(100, "b", "x"), judged(100, "c", "x")])
        await log.add([judged(100, "a", "x", 0.7), judged(90, "d", "x"), judged(104, "e", "x")])
        await log.purchases(
            [
                Purchase("p1", 103 * DAY, "a", "x"),  # within the week: positive
                Purchase("p1", 103 * DAY, "a", "x"),  # the same event again: once
                Purchase("p2", 107 * DAY, "b", "x"),  # the horizon's end is outside it
                Purchase("p3", 99 * DAY, "c", "x"),  # before the prediction
            ],
            110 * DAY,
        )
        await log.purchases([Purchase("p4", 101 * DAY, "c", "y")], 101 * DAY)  # another item
        return await log.matured(95 * DAY, 103 * DAY, 7 * DAY)

    matured = run(make_log, scenario)
    labels = {(r.user_id, r.item_id, r.probability): y for r, y in matured}
    assert labels == {
        ("a", "x", 0.5): 1,
        ("a", "y", 0.5): 0,
        ("b", "x", 0.5): 0,
        ("c", "x", 0.5): 0,
        ("a", "x", 0.7): 1,
    }
    assert len(matured) == 5  # the same prediction made twice is two rows; day 90 and day 104 are outside


def test_the_log_keeps_its_retention_behind_the_newest_prediction_and_reports_its_size(
    make_log: Callable[[], OutcomeLog],
) -> None:
    async def scenario(log: OutcomeLog) -> tuple[int, int, int]:
        await log.add([judged(1, "a", "x"), judged(2, "a", "x")])
        before = (await log.usage()).predictions
        await log.add([judged(21.5, "b", "x")])  # 20 days of retention: day 1 goes, day 2 stays
        usage = await log.usage()
        return before, usage.predictions, usage.bytes

    before, after, size = run(make_log, scenario)
    assert (before, after) == (2, 2) and size > 0


def test_the_event_clock_only_moves_forward(make_log: Callable[[], OutcomeLog]) -> None:
    async def scenario(log: OutcomeLog) -> list[float | None]:
        seen = [await log.events_until()]
        for newest in (5 * DAY, 3 * DAY, 8 * DAY):
            await log.purchases([], newest)
            seen.append(await log.events_until())
        return seen

    assert run(make_log, scenario) == [None, 5 * DAY, 5 * DAY, 8 * DAY]


def test_rows_past_the_retention_are_summed_into_their_day_s_history(make_log: Callable[[], OutcomeLog]) -> None:
    """Each dropped row counted once in its (day, version, arm), with training's definitions of the
    figures that add up: the same as computed on the rows themselves."""
    y, p = scores(400, 1.0, seed=3)
    rows = [
        Judged((1 + k / 200) * DAY, f"u{k}", "x", "v1", "primary" if k % 4 else "candidate", 0, float(q))
        for k, q in enumerate(p)
    ]

    async def scenario(log: OutcomeLog) -> tuple[dict[Any, list[float]], int]:
        await log.add(rows[:200])
        await log.add(rows[200:])
        bought = [Purchase(f"e{k}", r.t + DAY, r.user_id, "x") for k, r in enumerate(rows) if y[k]]
        await log.purchases(bought, 3 * DAY)
        before = await log.history()
        for t in (22.0, 22.8, 23.5):  # 20 days of retention: day 1, the first part of day 2, the rest
            await log.add([judged(t, "z", "x")])
        await log.add([judged(23.6, "z", "x")])  # nothing more to drop: nothing counted twice
        assert before == {}
        return await log.history(), (await log.usage()).predictions

    sums, kept = run(make_log, scenario)
    assert kept == 4
    summaries = days(sums)
    assert {(s.day.toordinal() - 719163, s.version, s.arm) for s in summaries} == {
        (d, "v1", arm) for d in (1, 2) for arm in ("primary", "candidate")
    }
    for s in summaries:
        mine = np.array([int(r.t // DAY) == s.day.toordinal() - 719163 and r.arm == s.arm for r in rows])
        expected = quality(y[mine], p[mine])
        assert s.rows == mine.sum() and s.purchase_rate == pytest.approx(expected["purchase_rate"], abs=1e-12)
        for name in ("mean_probability", "log_loss", "ece"):
            assert getattr(s, name) == pytest.approx(expected[name], abs=1e-9), name


def test_history_past_its_days_is_dropped() -> None:
    keys = [(10, "v1", "primary"), (11, "v1", "primary"), (500, "v2", "job")]
    assert expired(keys, (11 + HISTORY_DAYS + 0.5) * DAY) == [(10, "v1", "primary")]


def test_a_log_drops_history_past_its_days(make_log: Callable[[], OutcomeLog]) -> None:
    async def scenario(log: OutcomeLog) -> list[set[int]]:
        seen = []
        for t in (1.0, 25.0, 30.0, HISTORY_DAYS + 10.0, HISTORY_DAYS + 40.0):  # 20 days of retention
            await log.add([judged(t, "a", "x")])
            seen.append({day for day, _, _ in await log.history()})
        return seen

    # At day 410, day 1 is past 400 days and goes; at day 440, days 25 and 30 go.
    assert run(make_log, scenario) == [set(), {1}, {1}, {25, 30}, {HISTORY_DAYS + 10}]
