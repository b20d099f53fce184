"""Scoring a request in-process, with a real model: classes, confidence, A/B routing."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from purchase.examples import SPEC_CURL
from purchase.schemas import PredictRequest
from purchase.serving import metrics
from purchase.serving.models.manager import ModelManager
from purchase.serving.models.scoring import Scored, Scorer, confidence
from purchase.serving.models.traffic import Routing, user_bucket
from purchase.serving.models.version import load_version
from purchase.settings import Settings
from tests.helpers import Trained


def test_confidence_rule() -> None:
    p = np.array([0.78, 0.65, 0.55, 0.1, 0.35, 0.45, 1.0, 0.0])
    assert confidence(p, 0.5) == ["high", "medium", "low", "high", "medium", "low", "high", "high"]
    assert confidence(np.array([0.0, 1.0]), 0.0) == ["low", "high"]
    assert confidence(np.array([1.0]), 1.0) == ["high"]  # no room above the threshold: p = 1 is certain


def test_confidence_at_the_exact_boundaries() -> None:
    """Margins of exactly 0.5 and 0.2 belong to the higher level. The inputs are chosen so the margin is
    exact in binary: at threshold 0.5, p = 0.6 gives 0.1999..., which is honestly "low"."""
    assert confidence([0.75], 0.5) == ["high"]  # 0.25 / 0.5, above the threshold
    assert confidence([0.125], 0.25) == ["high"]  # 0.125 / 0.25, below it
    assert confidence([0.2], 0.0) == ["medium"]  # 0.2 / 1.0, above
    assert confidence([0.5], 0.625) == ["medium"]  # 0.125 / 0.625, below
    assert confidence([0.6], 0.5) == ["low"]


def scorer_of(*models: Trained, share: float = 0.0) -> Scorer:
    settings = Settings()
    manager = ModelManager(settings)
    loaded = [load_version(trained.model, settings) for trained in models]
    manager.routing = Routing(loaded[0], loaded[1] if len(loaded) > 1 else None, share)
    return Scorer(manager, settings.default_threshold)


def request(threshold: float | None, users: tuple[str, ...] = ("user_000123",)) -> PredictRequest:
    rows = [{**SPEC_CURL["features"][0], "user_id": user} for user in users]
    return PredictRequest.model_validate({"features": rows, "threshold": threshold})


def test_a_probability_equal_to_the_threshold_is_a_purchase(v1: Trained) -> None:
    scorer = scorer_of(v1)
    before = metrics.counts_by_version().get(v1.version, {}).get("primary_requests", 0)
    first = asyncio.run(scorer.predict(request(None)))
    assert metrics.counts_by_version()[v1.version]["primary_requests"] - before == 1
    assert first.rows == request(None).features and type(first.classes[0]) is int
    p = first.probabilities[0]
    at = asyncio.run(scorer.predict(request(p)))
    assert (at.probabilities, at.classes, at.confidence) == ([p], [1], ["low"])
    above = asyncio.run(scorer.predict(request(min(1.0, p + 1e-9))))
    assert above.classes == [0]


def test_the_default_threshold_applies_when_none_is_given(v1: Trained) -> None:
    scorer = scorer_of(v1)
    p = asyncio.run(scorer.predict(request(None))).probabilities[0]
    scorer.default_threshold = p
    assert asyncio.run(scorer.predict(request(None))).classes == [1]
    scorer.default_threshold = min(1.0, p + 1e-9)
    assert asyncio.run(scorer.predict(request(None))).classes == [0]


def test_an_ab_split_sends_each_user_to_one_version_and_names_it(v1: Trained, v2: Trained) -> None:
    users = tuple(f"user_{i:06d}" for i in range(40))
    before = metrics.counts_by_version()
    scored = asyncio.run(scorer_of(v1, v2, share=0.5).predict(request(None, users)))
    after = metrics.counts_by_version()
    for version, role in ((v1.version, "primary_requests"), (v2.version, "candidate_requests")):
        assert after[version][role] - before.get(version, {}).get(role, 0) == 1
    expected = [v2.version if user_bucket(u) < 0.5 else v1.version for u in users]
    assert scored.row_versions == expected and len(set(expected)) == 2
    assert scored.model_version == v1.version  # both scored rows: the answer names the primary
    only_candidate = asyncio.run(scorer_of(v1, v2, share=1.0).predict(request(None, users)))
    assert only_candidate.model_version == v2.version and set(only_candidate.row_versions or []) == {v2.version}
    one_row = asyncio.run(scorer_of(v1, v2, share=1.0).predict(request(None)))
    assert (one_row.model_version, one_row.row_versions) == (v2.version, [v2.version])
    for version, trained in ((v1.version, v1), (v2.version, v2)):
        rows = [i for i, v in enumerate(expected) if v == version]
        row = request(None, users).features[0]
        direct = trained.result.booster.inplace_predict(
            trained.result.preprocessor.transform(
                {
                    name: [getattr(row, name)]
                    for name in ("item_price", "item_base_price", "item_discount_pct", "item_category")
                }
            )
        )
        assert [scored.probabilities[i] for i in rows] == pytest.approx([float(direct[0])] * len(rows), abs=1e-7)


def test_a_shadow_scores_every_row_and_counts_agreement_without_changing_the_answer(v1: Trained, v2: Trained) -> None:
    settings = Settings()
    manager = ModelManager(settings)
    manager.routing = Routing(load_version(v1.model, settings), shadow=load_version(v2.model, settings))
    users = tuple(f"shadow_user_{i}" for i in range(7))
    before = metrics.counts_by_version().get(v2.version, {})

    async def predict_and_drain() -> Scored:
        scored = await Scorer(manager, 0.5).predict(request(None, users))
        await asyncio.sleep(0.2)  # the shadow scores in the background
        return scored

    scored = asyncio.run(predict_and_drain())
    alone = asyncio.run(scorer_of(v1).predict(request(None, users)))
    assert (scored.probabilities, scored.model_version, scored.row_versions) == (alone.probabilities, v1.version, None)
    after = metrics.counts_by_version()[v2.version]
    agreed = after.get("shadow_agreed", 0) - before.get("shadow_agreed", 0)
    disagreed = after.get("shadow_disagreed", 0) - before.get("shadow_disagreed", 0)
    shadow_classes = asyncio.run(scorer_of(v2).predict(request(None, users))).classes
    assert (agreed, disagreed) == (
        sum(a == b for a, b in zip(shadow_classes, scored.classes)),
        sum(a != b for a, b in zip(shadow_classes, scored.classes)),
    )
    assert after.get("shadow_requests", 0) - before.get("shadow_requests", 0) == 1
