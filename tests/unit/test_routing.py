"""What a worker serves: routing built from a target, loaded versions reused, roles and references."""

from __future__ import annotations

import pytest

from purchase.serving.fleet import ModelRef, Target
from purchase.serving.models.traffic import Routing, routing_for, user_bucket
from purchase.serving.models.version import ServingModel, load_version
from purchase.settings import Settings
from tests.helpers import Trained


@pytest.fixture(scope="module")
def loaded(v1: Trained, v2: Trained) -> dict[str, ServingModel]:
    return {str(t.model.tag): load_version(t.model, Settings()) for t in (v1, v2)}


def test_a_routing_reuses_loaded_versions_and_loads_the_others(
    v1: Trained, v2: Trained, loaded: dict[str, ServingModel]
) -> None:
    tag1, tag2 = str(v1.model.tag), str(v2.model.tag)
    calls: list[ModelRef] = []

    def load(ref: ModelRef) -> ServingModel:
        calls.append(ref)
        return load_version(v2.model, Settings(), ref.source_path)

    routing = routing_for(Target(ModelRef(tag1), ModelRef(tag2), 0.25, None, 7), {tag1: loaded[tag1]}, load)
    assert routing.primary is loaded[tag1] and routing.candidate is not None and routing.shadow is None
    assert (routing.candidate_share, routing.generation, calls) == (0.25, 7, [ModelRef(tag2)])
    shadowed = routing_for(Target(ModelRef(tag1), None, 0.0, ModelRef(tag2)), dict(loaded), load)
    assert (shadowed.candidate, shadowed.shadow) == (None, loaded[tag2])
    # The same version from an archive is another source: loaded anew, so /model-info names the archive.
    again = routing_for(Target(ModelRef(tag1, "models/a.bentomodel")), {tag1: loaded[tag1]}, load)
    assert again.primary is not loaded[tag1] and again.primary.source_path == "models/a.bentomodel"
    assert again.target().primary == ModelRef(again.primary.tag, "models/a.bentomodel")  # /model-info names it


def test_a_routing_knows_its_models_roles_and_target(v1: Trained, v2: Trained, loaded: dict[str, ServingModel]) -> None:
    primary, other = loaded[str(v1.model.tag)], loaded[str(v2.model.tag)]
    ab = Routing(primary, other, 0.5, None, 3)
    assert ab.models() == {primary.tag: primary, other.tag: other}
    assert ab.roles() == {primary.version: "primary", other.version: "candidate"}
    target = ab.target()
    assert target == Target(ModelRef(primary.tag), ModelRef(other.tag), 0.5, None, 3, target.published_at)
    shadowed = Routing(primary, None, 0.0, other)
    assert shadowed.roles() == {primary.version: "primary", other.version: "shadow"}
    target = shadowed.target()
    assert (target.candidate, target.shadow, target.candidate_share) == (None, ModelRef(other.tag), 0.0)
    assert Routing(primary).models() == {primary.tag: primary}


def test_rows_go_to_the_primary_alone_without_a_candidate_and_a_pin_takes_every_row(
    loaded: dict[str, ServingModel],
) -> None:
    primary, other = loaded.values()
    [(model, role, rows)] = Routing(primary, None, 0.0, other).assign(["a", "b", "c"])
    assert (model, role, rows.tolist()) == (primary, "primary", [0, 1, 2])
    pinned = Routing(primary, other, 0.5, None, 4).pinned(other.version)
    assert (pinned.primary, pinned.candidate, pinned.shadow, pinned.generation) == (other, None, None, 4)
    with pytest.raises(ValueError):
        Routing(primary).pinned(other.version)


def test_a_share_takes_the_users_whose_bucket_is_below_it(loaded: dict[str, ServingModel]) -> None:
    primary = next(iter(loaded.values()))
    at = Routing(primary, primary, user_bucket("a"))
    assert not at.goes_to_candidate("a")  # [0, share): a bucket equal to the share stays
    assert Routing(primary, primary, user_bucket("a") + 1e-12).goes_to_candidate("a")


def test_users_are_split_by_a_stable_bucket() -> None:
    buckets = [user_bucket(f"user_{i:06d}") for i in range(2000)]
    assert all(0.0 <= b < 1.0 for b in buckets)
    assert user_bucket("user_000001") == user_bucket("user_000001") != user_bucket("user_000002")
    assert 0.45 < sum(b < 0.5 for b in buckets) / len(buckets) < 0.55  # about the share asked for
    # Pinned: a change of hash would move users between versions in a running A/B test.
    assert (user_bucket("user_000123"), user_bucket("a")) == (0.590854779588868, 0.25379361057584854)
