"""What a worker serves: the primary version, an optional A/B candidate with its share of users, and
an optional shadow. Users are assigned to the candidate by a stable hash of their id."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..fleet import ModelRef, Target
from .version import ServingModel


def user_bucket(user_id: str) -> float:
    """A stable position in [0, 1) for a user: the same on every worker, process and restart."""
    return int.from_bytes(hashlib.blake2b(user_id.encode(), digest_size=8).digest(), "big") / 2**64


@dataclass(frozen=True)
class Routing:
    """What this worker serves. Replaced whole on every change, so a request sees one consistent set."""

    primary: ServingModel
    candidate: ServingModel | None = None
    candidate_share: float = 0.0
    shadow: ServingModel | None = None
    generation: int = 0

    def goes_to_candidate(self, user_id: str) -> bool:
        return user_bucket(user_id) < self.candidate_share

    def assign(self, user_ids: Sequence[str]) -> list[tuple[ServingModel, str, np.ndarray]]:
        """(model, role, row indexes) for each version that gets rows: the candidate takes its users'."""
        if self.candidate is None:
            return [(self.primary, "primary", np.arange(len(user_ids)))]
        to_candidate = np.array([self.goes_to_candidate(user) for user in user_ids])
        groups = ((self.primary, "primary", ~to_candidate), (self.candidate, "candidate", to_candidate))
        return [(model, role, np.flatnonzero(mask)) for model, role, mask in groups if mask.any()]

    def pinned(self, version: str) -> Routing:
        """Every row to `version` alone (no split, no shadow)."""
        (model,) = [m for m in self.models().values() if m.version == version]
        return Routing(model, generation=self.generation)

    def models(self) -> dict[str, ServingModel]:
        return {m.tag: m for m in (self.primary, self.candidate, self.shadow) if m is not None}

    def roles(self) -> dict[str, str]:
        """{version: role}, for the serving gauge."""
        pairs = (("shadow", self.shadow), ("candidate", self.candidate), ("primary", self.primary))
        return {m.version: role for role, m in pairs if m is not None}

    def target(self) -> Target:
        def ref(m: ServingModel | None) -> ModelRef | None:
            return ModelRef(m.tag, m.source_path) if m else None

        primary = ref(self.primary)
        assert primary is not None
        return Target(primary, ref(self.candidate), self.candidate_share, ref(self.shadow), self.generation)


def routing_for(target: Target, loaded: dict[str, ServingModel], load: Callable[[ModelRef], ServingModel]) -> Routing:
    """The routing that serves `target`, reusing models already `loaded` (blocking: `load` reads the store)."""

    def get(ref: ModelRef | None) -> ServingModel | None:
        if ref is None:
            return None
        serving = loaded.get(ref.tag)
        if serving is not None and serving.source_path == ref.source_path:
            return serving
        return load(ref)

    primary = get(target.primary)
    assert primary is not None
    return Routing(primary, get(target.candidate), target.candidate_share, get(target.shadow), target.generation)
